"""Give a returning person their earlier synthetic identity: ``IdentityMemory.update(...)``.

Each track carries a *signature*: a few numbers describing what surrounds the face and the
face's proportions, averaged over the track's life. No image, crop or face embedding of a
recognizer is kept:

* colour histograms (hue, saturation, value; 8 x 4 x 4 bins) of the clothing below the face
  and of the hair above it, from 32 x 32 thumbnails that are dropped at once;
* six ratios of the face mesh (eye width, nose length, mouth width, face width and height,
  brow height, each over the distance between the eyes).

When a track is lost (coasting, ended, or left behind at a scene cut) its identity seed and
signature stay in memory for ``memory_seconds``. A new track whose signature at birth is
within ``memory_threshold`` of a remembered one takes over that seed for its whole life, so
the same synthetic face comes back; the decision is taken once, at birth, so no identity
ever switches inside a track. Everything lives in this object (one per stream) and is gone
when it is.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np

from ..types import Track
from .config import TemporalConfig
from .scenecut import hellinger

HIST_BINS = (8, 4, 4)
SIGNATURE_EVERY = 3
"""Frames between signature updates of a live track (the birth frame always counts)."""
MIN_OBSERVATIONS = 3
"""Signature updates a track needs before it can be remembered."""
GEOMETRY_WEIGHT = 0.5
"""Weight of the face-ratio distance next to the clothing and hair histogram distances."""
AMBIGUITY_RATIO = 0.6
"""A match must be this much closer than any other candidate or live track (ratio test):
in a scene where everyone's signature looks alike (a dark audience) nobody is re-associated."""
NEAR_COASTING = 1.5
"""A track still coasting in the same shot may only pass its identity to a new track within
this many face sizes of it (the detector lost and re-found the same face)."""
# Mesh points for the ratios: eye corners, nose bridge and tip, mouth corners, face sides,
# forehead top, chin, brow middles.
_EYE_R, _EYE_L = (33, 133), (362, 263)
_NOSE, _MOUTH, _SIDES, _VERT, _BROWS = (168, 1), (61, 291), (234, 454), (10, 152), (105, 334)


MIN_VISIBLE = 0.5
"""Share of a clothing or hair region that must lie inside the frame for its histogram to
count: a close-up's clothing region lies below the frame, and two such faces must not look
alike for having nothing there."""


@dataclass
class Signature:
    """Each part is None where it could not be seen (out of frame, no mesh); parts are
    averaged over the observations that saw them and compared only where both did."""

    clothing: np.ndarray | None
    hair: np.ndarray | None
    ratios: np.ndarray | None
    counts: tuple[int, int, int] = (1, 1, 1)

    def merge(self, other: "Signature") -> None:
        """Running mean with another observation of the same track, part by part."""
        parts, counts = [], []
        for mine, theirs, n in zip((self.clothing, self.hair, self.ratios),
                                   (other.clothing, other.hair, other.ratios), self.counts):
            if theirs is None:
                parts.append(mine)
                counts.append(n)
            elif mine is None:
                parts.append(theirs)
                counts.append(1)
            else:
                parts.append(mine + (theirs - mine) / (n + 1))
                counts.append(n + 1)
        self.clothing, self.hair, self.ratios = parts
        self.counts = tuple(counts)

    @property
    def count(self) -> int:
        """Observations of the best-seen part."""
        return max(self.counts)

    def distance(self, other: "Signature") -> float:
        """0 (alike) .. 1; 1 when the two have no part in common."""
        weights, values = [], []
        for weight, a, b in ((0.6, self.clothing, other.clothing), (0.4, self.hair, other.hair)):
            if a is not None and b is not None:
                weights.append(weight)
                values.append(hellinger(a, b))
        d = float(np.dot(weights, values) / sum(weights)) if weights else None
        if self.ratios is not None and other.ratios is not None:
            geo = min(float(np.abs(np.log(self.ratios / other.ratios)).mean()) * 4.0, 1.0)
            return geo if d is None else (d + GEOMETRY_WEIGHT * geo) / (1.0 + GEOMETRY_WEIGHT)
        return 1.0 if d is None else d


def _histogram(image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray | None:
    h, w = image.shape[:2]
    x0, y0 = int(max(0, box[0])), int(max(0, box[1]))
    x1, y1 = int(min(w, box[2])), int(min(h, box[3]))
    area = max((box[2] - box[0]) * (box[3] - box[1]), 1.0)
    if x1 - x0 < 2 or y1 - y0 < 2 or (x1 - x0) * (y1 - y0) < MIN_VISIBLE * area:
        return None
    thumb = cv2.resize(image[y0:y1, x0:x1], (32, 32), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(thumb, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, list(HIST_BINS), [0, 180, 0, 256, 0, 256]).ravel()
    return (hist / max(float(hist.sum()), 1.0)).astype(np.float32)


def _ratios(landmarks: np.ndarray | None) -> np.ndarray | None:
    if landmarks is None or len(landmarks) < 468:
        return None
    p = landmarks.astype(np.float64)

    def dist(pair: tuple[int, int]) -> float:
        return float(np.linalg.norm(p[pair[0]] - p[pair[1]]))

    eyes = float(np.linalg.norm(p[list(_EYE_R)].mean(0) - p[list(_EYE_L)].mean(0)))
    if eyes < 2.0:
        return None
    brow = float(np.linalg.norm(p[list(_BROWS)].mean(0) - p[list(_EYE_R + _EYE_L)].mean(0)))
    values = np.array([dist(_EYE_R) + dist(_EYE_L), dist(_NOSE), dist(_MOUTH), dist(_SIDES), dist(_VERT), brow])
    return np.maximum(values / eyes, 1e-3)


def signature(image: np.ndarray, track: Track) -> Signature:
    """What surrounds ``track``'s face in ``image``, and its proportions."""
    x0, y0, x1, y1 = track.box
    fw, fh = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    clothing = (cx - fw, y1 + 0.3 * fh, cx + fw, y1 + 1.5 * fh)
    hair = (x0 - 0.2 * fw, y0 - 0.45 * fh, x1 + 0.2 * fw, y0 + 0.1 * fh)
    return Signature(_histogram(image, clothing), _histogram(image, hair), _ratios(track.landmarks))


@dataclass
class _Remembered:
    seed: int
    signature: Signature
    lost_at: float
    box: tuple[float, float, float, float]
    present: bool = True
    """Still coasting in the tracker, in the same shot: only a nearby new track may take it."""


class IdentityMemory:
    """One per stream: live signatures by track id, lost ones by seed, adopted seeds."""

    def __init__(self, config: TemporalConfig) -> None:
        self.window = config.memory_seconds
        self.threshold = config.memory_threshold
        self.fps = config.fps_fallback
        self._live: dict[int, Signature] = {}
        self._seeds: dict[int, int] = {}  # live track id -> seed it shows (own or adopted)
        self._lost: dict[int, _Remembered] = {}  # track id -> remembered identity
        self._frames = 0
        self.adoptions: list[tuple[int, int]] = []
        """(new track id, earlier track id) for every re-association, for the report and tests."""

    def update(self, image: np.ndarray, tracks: tuple[Track, ...], time: float | None,
               cut: bool = False) -> tuple[Track, ...]:
        """``tracks`` with the seeds of returning people replaced by their earlier ones;
        ``cut``: this frame starts a new shot (positions of earlier tracks mean nothing)."""
        now = time if time is not None else self._frames / self.fps
        self._frames += 1
        if self.window <= 0:
            return tuple(tracks)
        alive = {t.track_id for t in tracks if not t.coasting}
        present = {t.track_id for t in tracks}
        self._remember_lost(alive, now, {t.track_id: t.box for t in tracks})
        self._lost = {k: v for k, v in self._lost.items() if now - v.lost_at <= self.window and k not in alive}
        for k, entry in self._lost.items():
            entry.present = entry.present and k in present and not cut
        out = []
        for t in tracks:
            if t.track_id not in self._seeds:  # a birth (tracks are present every frame they live)
                sig = signature(image, t)
                self._live[t.track_id] = sig
                self._seeds[t.track_id] = self._adopt(t, sig)
            elif not t.coasting and self._frames % SIGNATURE_EVERY == 0:
                self._live[t.track_id].merge(signature(image, t))
            seed = self._seeds[t.track_id]
            out.append(t if seed == t.seed else dataclasses.replace(t, seed=seed))
        for tid in list(self._seeds):
            if tid not in present:
                self._seeds.pop(tid)
                self._live.pop(tid, None)
        return tuple(out)

    def _remember_lost(self, alive: set[int], now: float, boxes: dict[int, tuple]) -> None:
        for tid, sig in self._live.items():
            if tid not in alive and tid not in self._lost and sig.count >= MIN_OBSERVATIONS:
                self._lost[tid] = _Remembered(self._seeds[tid], dataclasses.replace(sig), now,
                                              boxes.get(tid, (0.0, 0.0, 1.0, 1.0)), tid in boxes)

    def _adopt(self, track: Track, sig: Signature) -> int:
        """The seed for a new track: a remembered one that matches clearly, else its own."""
        shown = {self._seeds[t] for t in self._live if t in self._seeds and t not in self._lost}
        distances = []
        for tid, entry in self._lost.items():
            if entry.seed in shown or (entry.present and not _near(entry.box, track.box)):
                continue
            distances.append((entry.signature.distance(sig), tid))
        # Live tracks (and ineligible entries) count as rivals in the ratio test.
        rivals = [self._live[t].distance(sig) for t in self._live if t not in self._lost and t != track.track_id]
        distances.sort()
        if not distances or distances[0][0] >= self.threshold:
            return track.seed
        best_d, best = distances[0]
        others = [d for d, _ in distances[1:]] + rivals
        if others and best_d >= AMBIGUITY_RATIO * min(others):
            return track.seed
        entry = self._lost.pop(best)
        self.adoptions.append((track.track_id, best))
        return entry.seed


def _near(a: tuple, b: tuple) -> bool:
    size = max(a[2] - a[0], a[3] - a[1], b[2] - b[0], b[3] - b[1], 1.0)
    ca = ((a[0] + a[2]) / 2, (a[1] + a[3]) / 2)
    cb = ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
    return float(np.hypot(ca[0] - cb[0], ca[1] - cb[1])) <= NEAR_COASTING * size
