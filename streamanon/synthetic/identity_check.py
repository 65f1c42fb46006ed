"""Identity check (optional): before a drawn face leaves, a face recogniser compares it with
the person it replaces; a face still within reach of the person gets the fail-closed cover.

    check = IdentityCheck(DlibFaceModel(), every=4, min_distance=0.62)
    patches, events = check.verify(patches, crops, leaving)   # one stream, every frame, in order

Why: the generator sees no inner-face pixels, yet on real video a drawn face sometimes keeps
enough of the person (outline, hair, a 3/4 view) for dlib to match it (MODEL_CARD.md: leak
frames on three of eight clips with the identity guard on). Drawing is the risky step, so its
result is checked like any other failure and covered when in doubt.

Cost: two dlib embeddings per checked face, batched (dlib's ResNet run in torch,
:mod:`streamanon.evaluation.dlib_resnet`: 15-22 ms for one on 2 CPU cores, 11 ms each in a
pair; 190 ms in dlib's own runtime, which the eval's attacker keeps), four more, batched, for
a face passing near the limit (``BOX_BAND``; ``SMALL_FACE_PX``: small faces are judged more
strictly).
A face is checked on its first drawn frame and then every ``every`` frames; a face whose
distance came within ``NEAR_BAND`` of the limit (a failed one too) is checked again on its
next drawn frame. A failed face stays covered until it clears the limit by ``RECHECK_BAND``
(hysteresis: a face hovering at the limit would otherwise flip between drawn and covered
every frame), and, with ``hold``, for at least that many drawn frames, unchecked: the drawn
face came near the person in this pose, and each switch between drawn face and cover is a
visible jump (and an identity switch to a recogniser).
dlib is also the eval's attacker, so dlib leak figures with the check on are optimistic by
construction (MODEL_CARD.md).

With ``views`` (opt-in, ``anonymizer.verify_views``) the drawn face is compared with the
person in this frame *and* in the views kept from the track's earlier checks (up to
``views`` embeddings, each at least ``VIEW_SPREAD`` from the others): an attacker holding
many pictures of the person matches the drawn face with the nearest of them, and a drawn
face 0.62 from this frame's face was 0.59 from the same person a second earlier
(talking_d3). It is off by default: on the 16 clips it covered 5.5 times as many faces
(MODEL_CARD.md). Up to ``REDRAW_VIEWS`` views are kept either way: a new identity for a
stuck face (``stuck``, ``IdentityGuard.redraw``) is chosen far from all of them. Views are
held in memory for the life of the track only and never written anywhere.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Collection, Protocol, Sequence

import numpy as np

from ..errors import ConfigError
from ..failsafe import FallbackEvent
from ..generators import fallback_patch
from ..types import FaceCrop, FacePatch

log = logging.getLogger(__name__)
RECHECK_BAND = 0.05
"""A failed face stays covered until it reaches ``min_distance`` plus this (hysteresis)."""
NEAR_BAND = 0.1
"""A face closer than its limit plus this is checked again on its next drawn frame, whatever
its size: a 220-270 px face moving fast (music_video_720p, the singer, frames 184-195) passed
with 0.70 at frame 192 and read 0.574 in the eval three frames later, between checks (with
0.05 here: a leak frame; with 0.1 the check caught it at frame 194). dlib's reading of a drawn
face moves by up to 0.15 from frame to frame there. The gap between the check's reading and
the eval's on that face (up to 0.11: 0.846 vs 0.732 at frame 187) is the box the drawn face is
embedded at, not the smoothed mesh lagging the head: the person embedded at the raw mesh's
box reads within 0.02 of the smoothed one (landmarks 0.1-2.7 % of the face width apart,
frames 180-196)."""
VIEW_SPREAD = 0.1
"""A new view is kept only this far from every kept one (other poses and expressions)."""
REDRAW_VIEWS = 8
"""Views of the person kept per track even when the check compares with this frame only: a
new identity (``IdentityGuard.redraw``) is chosen far from all of them."""
STUCK_AFTER = 3
"""A face that failed this many checks in a row is stuck: the pipeline asks the identity
guard for a new identity for it (``IdentityGuard.redraw``) rather than covering it on."""
REDRAW_MARGIN = 0.1
"""A new identity is taken only if it is this much beyond ``min_distance`` from every view
of the person; otherwise the cover stands (talking_d10, salt v3: the best of 12 fresh
candidates was 0.65-0.71 from her, and drawing it doubled re-ID against covering)."""


SMALL_FACE_PX = 160
"""Faces narrower than this (mesh width, pixels) are judged more strictly: on small faces
dlib's distance depends on the box more than the limit's margin over the attacker's 0.6.
One drawn face of about 90 px (crowd_walk_1080p frame 60) read 0.675 at the mesh box,
0.55-0.70 at squares around it and 0.598 in the eval, whose leak check embeds the anonymized
face at the box its detector finds there (a leak frame the check had passed); on the talking
clips' 200-300 px faces the nearest of those boxes is 0.005 closer on average. So a small face
(1) must reach the limit plus ``SMALL_FACE_MARGIN``; (2) when it passes at the mesh box by
less than ``BOX_BAND``, is measured again at the boxes other detectors give
(``attacker_rects``), every gallery box against every probe box, and judged by the nearest
(now the rule for every face: ``BOX_BAND``); (3) is checked again on its next drawn frame
while within ``NEAR_BAND`` of the limit (a face passing with 0.67 drew 0.57 four frames
later: dance_464x560 frame 55; now the rule for every face too)."""
BOX_BAND = 0.1
"""A face passing at the mesh box by less than this is measured at ``attacker_rects`` too.
First for small faces only; since, for every face: on music_video_720p (salt s6) the singer's
250 px drawn face passed the check at frame 200 and read 0.59 at the eval's YuNet box (a leak
frame), the box gap ``NEAR_BAND`` describes. With every face measured so (six clips, salt s6):
that leak frame gone; check covers talking_vox 7 -> 15, talking_d3 0 -> 6, music 18 -> 19,
s32, d10 and dance unchanged; identity stability vox 0.89 -> 0.83 (switches 2 -> 4), d3 0.84
-> 0.83 (0 -> 2); the LBP attacker's re-ID vox 0.88 -> 0.77, d3 0.25 -> 0.24."""
SMALL_FACE_MARGIN = 0.02
"""What the nearest of three boxes still missed (music_video_720p frame 30, a face drawn in
the hole of other tracks' covers). 0.04 covered that too, but also the demo's 105-145 px
portrait in 89 of its 90 frames (and 84-90 with two of five other salts; 0.02: none), its
drawn faces sitting 0.66-0.70 from her."""


def _small(crop: FaceCrop) -> bool:
    lm = crop.landmarks
    return lm is not None and float(np.ptp(lm[:, 0])) < SMALL_FACE_PX


class Embedder(Protocol):
    def embed(self, image: np.ndarray, rect: tuple[float, float, float, float],
              landmarks: np.ndarray | None = None) -> np.ndarray: ...


def embed_faces(embedder: Embedder, faces: Sequence[tuple[np.ndarray, tuple[float, float, float, float]]]) -> list[np.ndarray]:
    """``embedder.embed(image, rect)`` of each face, in one batch where the embedder has
    ``embed_many`` (``DlibFaceModel``: the ResNet run once for all)."""
    many = getattr(embedder, "embed_many", None)
    if many is None:
        return [embedder.embed(image, rect) for image, rect in faces]
    return list(many(faces))


def face_rect(crop: FaceCrop) -> tuple[float, float, float, float]:
    """The face's box in crop coordinates, from its mesh."""
    lm = crop.landmarks[:, :2]
    return float(lm[:, 0].min()), float(lm[:, 1].min()), float(lm[:, 0].max()), float(lm[:, 1].max())


INNER_FACE = (33, 263, 70, 300, 1, 61, 291, 152)
"""Mesh points of the eye corners, brows, nose tip, mouth corners and chin."""


def attacker_rects(crop: FaceCrop) -> list[tuple[float, float, float, float]]:
    """Boxes a face detector might put round this face besides the mesh's bounds (crop
    coordinates; empty without a full 478-point mesh): a square 1.2 x the mesh width, raised
    by 3 % of its height (YuNet's box as the eval squares it for dlib), and a tight square
    over brows, eyes, nose, mouth and chin (dlib's own detector)."""
    lm = crop.landmarks
    if lm is None or len(lm) != 478:
        return []
    x0, y0, x1, y1 = face_rect(crop)
    inner = lm[list(INNER_FACE), :2].astype(np.float64)
    return [_square((x0 + x1) / 2, (y0 + y1) / 2 - 0.03 * (y1 - y0), 1.2 * (x1 - x0)),
            _square(*inner.mean(0), 1.1 * float(np.ptp(inner, axis=0).max()))]


def _square(cx: float, cy: float, side: float) -> tuple[float, float, float, float]:
    return (float(cx - side / 2), float(cy - side / 2), float(cx + side / 2), float(cy + side / 2))


def blended(crop: FaceCrop, patch: FacePatch) -> np.ndarray:
    """The crop as it will leave: the patch blended over the original with its mask."""
    alpha = patch.mask[..., None]
    return (patch.image * alpha + crop.image * (1.0 - alpha)).round().astype(np.uint8)


def drawn_embedding(embedder: Embedder, crop: FaceCrop, patch: FacePatch) -> np.ndarray:
    """The drawn face as it will leave, embedded at the mesh box."""
    return embedder.embed(blended(crop, patch), face_rect(crop))


class IdentityCheck:
    """One per stream: when each drawn face is next due, and which ones failed."""

    def __init__(self, embedder: Embedder, every: int = 4, min_distance: float = 0.62,
                 cover: str = "blur", color: tuple[int, int, int] = (0, 0, 0), views: int = 0,
                 hold: int = 0) -> None:
        if every < 1:
            raise ConfigError(f"anonymizer.verify_every: expected 0 (off) or at least 1, got {every}")
        if not 0.0 < min_distance < 2.0:
            raise ConfigError(f"anonymizer.verify_distance: expected 0 < d < 2, got {min_distance}")
        if views < 0:
            raise ConfigError(f"anonymizer.verify_views: expected 0 (this frame only) or more, got {views}")
        if hold < 0:
            raise ConfigError(f"anonymizer.verify_hold: expected 0 (no hold) or more frames, got {hold}")
        self.embedder, self.every, self.min_distance = embedder, int(every), float(min_distance)
        self.max_views, self.hold = int(views), int(hold)
        self.redraw_distance = self.min_distance + REDRAW_MARGIN
        """How far a new identity for a stuck face must be from every view of the person."""
        self.cover, self.color = cover, color
        self._due: dict[int, int] = {}  # track id -> drawn frames until its next check
        self._failed: set[int] = set()  # tracks covered by their last check (kept while present)
        self._held: dict[int, int] = {}  # track id -> drawn frames it stays covered, unchecked
        self._views: dict[int, list[np.ndarray]] = {}  # track id -> the person's kept embeddings
        self._person: dict[int, np.ndarray] = {}  # track id -> the person at its last check
        self._strikes: dict[int, int] = {}  # track id -> checks failed in a row
        self.distances: dict[int, float] = {}
        """Last measured distance per track (for reports and tests)."""
        self.measured: dict[int, float] = {}
        """Tracks whose drawn face was measured and passed in the last ``verify``, and how far."""
        self.judged: set[int] = set()
        """Tracks whose drawn face was measured in the last ``verify`` (passed or not)."""
        self._people: dict[tuple, np.ndarray] = {}  # (track, box) -> the person this frame

    def verify(self, patches: Sequence[FacePatch], crops: Sequence[FaceCrop],
               leaving: np.ndarray | None = None) -> tuple[list[FacePatch], list[FallbackEvent]]:
        """``patches`` with drawn faces that fail (or failed and are not re-checked) covered.

        ``leaving`` is the frame as it would leave with every patch composed: each drawn face
        is judged there, with whatever the other patches put on and around it (a cover of
        another track over its hair changes what a recogniser sees: music_video_720p frame
        30, drawn over the original 0.62 or more from the singer, 0.59 inside the grey discs
        of the close-up's coasting tracks). None: each patch blended over its own crop."""
        out: list[FacePatch] = []
        events: list[FallbackEvent] = []
        drawn = set()
        self.measured, self._people, self.judged = {}, {}, set()
        for patch, crop in zip(patches, crops):
            if patch.fallback or crop.landmarks is None:
                out.append(patch)
                continue
            track = crop.track_id
            drawn.add(track)
            reason = self._judge(track, crop, patch, leaving)
            if reason is None:
                out.append(patch)
            else:
                out.append(fallback_patch(crop, self.cover, self.color))
                events.append(FallbackEvent(track, reason))
        for track in set(self._due) - drawn:  # not drawn this frame: checked again when it is
            self._due.pop(track)
            self._held.pop(track, None)
            self.distances.pop(track, None)
        present = {c.track_id for c in crops}
        self._failed &= present  # gone: forgotten
        self._views = {t: v for t, v in self._views.items() if t in present}
        self._person = {t: v for t, v in self._person.items() if t in present}
        self._strikes = {t: n for t, n in self._strikes.items() if t in present}
        return out, events

    def stuck(self, crops: Sequence[FaceCrop]) -> list[FaceCrop]:
        """The crops whose drawn face failed the last ``STUCK_AFTER`` checks in a row."""
        return [c for c in crops if self._strikes.get(c.track_id, 0) >= STUCK_AFTER]

    def views(self, track: int) -> list[np.ndarray]:
        """The person as the track's checks saw them: at the last check, then the kept views
        that differ from it."""
        last = self._person.get(track)
        kept = self._views.get(track, [])
        if last is None:
            return list(kept)
        return [last, *(v for v in kept if np.linalg.norm(v - last) >= VIEW_SPREAD)]

    def forgive(self, track: int) -> None:
        """A new identity was drawn for ``track``: count its failures afresh. (It stays failed
        until a check clears the hysteresis band, so the new face must pass with room.)"""
        self._strikes.pop(track, None)
        self._held.pop(track, None)
        self._due[track] = 0

    def _judge(self, track: int, crop: FaceCrop, patch: FacePatch, leaving: np.ndarray | None) -> str | None:
        held = self._held.get(track, 0)
        if held > 0:  # failed a few frames ago: stays covered without a check
            self._held[track] = held - 1
            return "identity_check"
        due = self._due.get(track, 0)
        if due > 0:  # passed its last check with room to spare
            self._due[track] = due - 1
            return None
        base = self._limit(crop)
        limit = base + (RECHECK_BAND if track in self._failed else 0.0)
        self.judged.add(track)
        try:
            distance = self._distance(track, crop, patch, leaving, limit)
        except Exception as exc:  # a check that cannot run must not let the face through
            log.warning("identity check failed for track %d: %s", track, exc)
            self._due[track], self.distances[track] = 0, float("nan")
            self._failed.add(track)
            return "identity_check_error"  # not a strike: no new identity cures a broken check
        self.distances[track] = distance
        near = distance < base + NEAR_BAND
        self._due[track] = 0 if near else self.every - 1
        if distance < limit:
            self._failed.add(track)
            self._strikes[track] = self._strikes.get(track, 0) + 1
            self._held[track] = max(0, self.hold - 1)  # this frame is the first of the hold
            return "identity_check"
        self._failed.discard(track)
        self._strikes.pop(track, None)
        self.measured[track] = distance
        return None

    def passes_again(self, crop: FaceCrop, patch: FacePatch, leaving: np.ndarray) -> bool:
        """Whether another face for a track this frame's check covered (an earlier drawn face:
        :mod:`.face_reuse`) clears the check by the hysteresis band, measured as ``verify`` does
        in ``leaving``; the track's own state (due, failed, strikes) is left as it is."""
        limit = self._limit(crop) + RECHECK_BAND
        try:
            return self._distance(crop.track_id, crop, patch, leaving, limit) >= limit
        except Exception as exc:  # a check that cannot run lets nothing through
            log.warning("identity check of a reused face failed for track %d: %s", crop.track_id, exc)
            return False

    def _distance(self, track: int, crop: FaceCrop, patch: FacePatch, leaving: np.ndarray | None,
                  limit: float) -> float:
        """Nearest distance of the drawn face to the person, this frame or a kept view; on a
        face that passes ``limit`` at the mesh box by less than ``BOX_BAND``, the
        nearest over the other boxes too (which can only lower it: a face already failing
        is not measured again)."""
        rect = face_rect(crop)
        if leaving is None:
            out = blended(crop, patch)
        else:
            x0, y0, x1, y1 = crop.box
            out = np.ascontiguousarray(leaving[y0:y1, x0:x1])
        (person,), (drawn,) = self._embed(crop, out, [rect])
        self._person[track] = person
        views = self._views.setdefault(track, [])
        distance = min(float(np.linalg.norm(drawn - v)) for v in [person, *views[-self.max_views:]]) \
            if self.max_views else float(np.linalg.norm(drawn - person))
        if all(np.linalg.norm(person - v) >= VIEW_SPREAD for v in views):
            views.append(person)
            del views[:-max(self.max_views, REDRAW_VIEWS)]  # oldest first out
        if limit <= distance < self._limit(crop) + BOX_BAND:
            more_people, more_faces = self._embed(crop, out, attacker_rects(crop))
            people, faces = [person, *more_people], [drawn, *more_faces]
            # every pairing: an attacker's gallery and probe boxes come from separate detections
            distance = min(distance, *(float(np.linalg.norm(f - q)) for f in faces for q in people))
        return distance

    def _embed(self, crop: FaceCrop, out: np.ndarray, rects: Sequence[tuple]) -> tuple[list, list]:
        """(the person, the drawn face ``out``) embedded at each of ``rects``, in one batch; the
        person's embeddings are kept for the frame (a reused face is judged against them too)."""
        missing = [r for r in rects if (crop.track_id, r) not in self._people]
        embedded = embed_faces(self.embedder, [(crop.image, r) for r in missing] + [(out, r) for r in rects])
        self._people.update({(crop.track_id, r): e for r, e in zip(missing, embedded)})
        return [self._people[(crop.track_id, r)] for r in rects], embedded[len(missing):]

    def _limit(self, crop: FaceCrop) -> float:
        """The distance a drawn face must reach: ``min_distance``, plus ``SMALL_FACE_MARGIN``
        on a small face."""
        return self.min_distance + (SMALL_FACE_MARGIN if _small(crop) else 0.0)


class ShapeEscalation:
    """One per stream: the identities (seeds) the identity check has covered, drawn ``step``
    farther past the mean shape (``FaceCrop.degree``) from their next frame on, once more
    each time the check measures the raised face and covers it too, up to ``times`` steps.

    The identity seed stays, so the drawn person mostly stays too; the new shape is farther
    from the person's, and is checked like any other. On talking_s32 (salt s6) the whole clip
    drawn at degree 3 instead of 2 needed no cover from the check (28 before); degree 3 for
    every face costs expression on other clips (MODEL_CARD.md), hence only where the check
    found a face too close. Kept by seed, not by track: a person the identity memory gives
    their earlier seed when they come back (a new track) is drawn at the raised degree again
    instead of being caught by the check a second time."""

    def __init__(self, degree: float, step: float, times: int = 1) -> None:
        if step < 0:
            raise ConfigError(f"anonymizer.verify_escalate: expected 0 (off) or more, got {step}")
        if times < 1:
            raise ConfigError(f"anonymizer.verify_escalate_times: expected 1 or more, got {times}")
        self.base, self.step, self.times = float(degree), float(step), int(times)
        self._levels: dict[int, int] = {}  # seed -> steps taken
        self._shown: dict[int, int] = {}  # track id -> seed, for the crops of the last frame

    @property
    def degree(self) -> float:
        """The degree after one step."""
        return self.base + self.step

    def apply(self, crops: Sequence[FaceCrop]) -> list[FaceCrop]:
        """``crops``, those showing an escalated identity with their raised degree."""
        self._shown = {c.track_id: c.seed for c in crops}
        return [replace(c, degree=self.base + self.step * self._levels[c.seed]) if c.seed in self._levels else c
                for c in crops]

    def update(self, events: Sequence[FallbackEvent], judged: Collection[int] | None = None) -> list[int]:
        """Escalate the identities the check covered this frame (events of the frame whose
        crops ``apply`` saw last), an identity already raised only where the check measured
        it this frame (``judged``: track ids; None: every cover counts), not where it held the
        cover without a look; returns the tracks raised."""
        covered = {e.track_id for e in events if e.reason == "identity_check"}
        raised = []
        for t in sorted(covered & set(self._shown)):
            level = self._levels.get(self._shown[t], 0)
            if level < self.times and (level == 0 or judged is None or t in judged):
                self._levels[self._shown[t]] = level + 1
                raised.append(t)
        return raised


def create_shape_escalation(degree: float, step: float, check: IdentityCheck | None,
                            times: int = 1) -> ShapeEscalation | None:
    """``anonymizer.verify_escalate`` and ``verify_escalate_times`` (0 or no identity check: none)."""
    if check is None or step == 0:
        return None
    return ShapeEscalation(degree, step, times)


def dlib_recogniser(feature: str, off: str):
    """dlib's face recogniser for ``feature``, its ResNet run in torch (the same descriptors
    as dlib's own runtime, about 9x faster: :mod:`streamanon.evaluation.dlib_resnet`); without
    dlib, the typed error naming the ``synthetic`` extra and the setting ``off`` that turns
    the feature off."""
    from ..errors import BackendUnavailableError
    from ..evaluation.faces import DlibFaceModel

    try:
        return DlibFaceModel(runtime="torch")
    except BackendUnavailableError as exc:
        raise BackendUnavailableError(f"{feature} (dlib)", "synthetic", f"{exc}; or turn it off: {off}") from None


def create_identity_check(every: int, min_distance: float, cover: str,
                          color: tuple[int, int, int], views: int = 0, hold: int = 0) -> IdentityCheck | None:
    """The check for ``anonymizer.verify_every`` (0: none). Needs dlib (synthetic extra)."""
    if every == 0:
        return None
    model = dlib_recogniser("identity check", "anonymizer.verify_every: 0")
    return IdentityCheck(model, every, min_distance, cover, color, views, hold)
