"""Reused faces: where the identity check covers a drawn face, the track's farthest recent face
that passed a check is drawn in its place, on this frame, and checked itself.

    reuse = FaceReuse(frames=30)
    patches, events, reused = reuse.replace(index, patches, crops, events, generator, check, leaving_with)
    reuse.remember(index, patches, crops, generator, check)   # the faces that passed this frame

Why: a face the check covers was drawn near the person in this frame's pose and expression;
a second earlier the same identity (same seed, same shape) was drawn farther from them. The
blur disc that covered it read to a recogniser as another person, so each cover was two
identity switches inside a track (talking_vox, salt s6: 12 covered frames in two stretches,
four switches). The earlier face, kept in the aligned face frame, is warped onto this frame's
face by the generator's own warp back (alignment, mask, colour match of this frame), the
face proper only (the hair and background around it stay this frame's drawing), and only from
a frame whose pose and expression were about this one's (``MAX_SHAPE_CHANGE``) and whose
shape was this one's (faces drawn before an escalation of the degree are dropped): its
outline then lies where this frame's does. It leaves only if the check finds it at least
``verify_distance`` plus the hysteresis band from the person *in this frame*, as it would
leave (with every other patch on and around it), else the cover stays. One kept face is
tried per covered face, the farthest: on dance_464x560 (salt s6) the second and third
farthest passed once in 19 tries (about 40 ms each on 2 CPU cores, the check's embeddings).
Nothing is kept past the track or the window: faces are held in memory for at most
``frames`` frames.

The generator must keep what it drew in its last call (``aligned_face(track_id)``) and draw
the last call's faces again with other aligned faces (``redraw``):
:class:`~streamanon.temporal.latent.LatentSmoothedGenerator` does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Mapping, Protocol, Sequence

import numpy as np

from ..errors import ConfigError
from ..failsafe import FallbackEvent
from ..types import FaceCrop, FacePatch
from .align import umeyama

log = logging.getLogger(__name__)

MAX_SHAPE_CHANGE = 0.02
"""A kept face is tried only where the person's mesh then and now differ by at most this
(``shape_change``): drawn in another turn or expression, its cheek edge and the hair or
background beside it land inside this frame's face (music_video_720p frame 194: a blue band
of the wall across the cheek of a face kept from a frame where the head was turned less)."""
REASON = "identity_check"
"""The fallback reason whose cover a reused face may replace (not ``identity_check_error``:
a check that cannot run cannot pass the reused face either)."""


class Redrawing(Protocol):
    def aligned_face(self, track_id: int) -> np.ndarray | None: ...

    def redraw(self, faces: Mapping[int, np.ndarray]) -> dict[int, FacePatch]: ...


class Checking(Protocol):
    measured: dict[int, float]

    def passes_again(self, crop: FaceCrop, patch: FacePatch, leaving: np.ndarray) -> bool: ...


@dataclass(frozen=True)
class Kept:
    index: int
    """Frame index the face was drawn for."""
    distance: float
    """The check's distance from the person then."""
    face: np.ndarray
    """The face in the aligned face frame, as the generator drew it."""
    landmarks: np.ndarray
    """The person's mesh then (crop pixels): pose and expression, to compare with the frame's."""


def shape_change(before: np.ndarray, after: np.ndarray) -> float:
    """Mean distance between two meshes of a face once a similarity maps one onto the other
    (head turn and expression remain; place, size and roll do not), over the face's width."""
    a, b = np.asarray(before, np.float64)[:, :2], np.asarray(after, np.float64)[:, :2]
    if a.shape != b.shape or len(a) < 3:
        return float("inf")
    m = umeyama(a, b)
    moved = a @ m[:, :2].T + m[:, 2]
    return float(np.linalg.norm(moved - b, axis=1).mean() / max(float(np.ptp(b[:, 0])), 1e-6))


class FaceReuse:
    """One per stream: each track's recent faces that passed a check, for ``frames`` frames."""

    def __init__(self, frames: int) -> None:
        if frames < 0:
            raise ConfigError(f"anonymizer.verify_reuse: expected 0 (off) or more frames, got {frames}")
        self.frames = int(frames)
        self._kept: dict[int, list[Kept]] = {}

    def candidate(self, track_id: int, index: int, landmarks: np.ndarray | None = None) -> Kept | None:
        """The track's face farthest from the person among those kept from the last ``frames``
        frames (before ``index``) in a pose and expression within ``MAX_SHAPE_CHANGE`` of
        ``landmarks`` (this frame's mesh; None: any); None without one."""
        recent = [k for k in self._kept.get(track_id, ()) if index - self.frames <= k.index < index
                  and (landmarks is None or shape_change(k.landmarks, landmarks) <= MAX_SHAPE_CHANGE)]
        return max(recent, key=lambda k: k.distance, default=None)

    def replace(self, index: int, patches: Sequence[FacePatch], crops: Sequence[FaceCrop],
                events: Sequence[FallbackEvent], generator: Redrawing, check: Checking,
                leaving_with: Callable[[Sequence[FacePatch]], np.ndarray],
                ) -> tuple[list[FacePatch], list[FallbackEvent], list[int]]:
        """``patches`` with the check's covers replaced by reused faces that pass, the events
        left, and the tracks whose face was reused. ``leaving_with(patches)``: the frame as it
        would leave with those patches."""
        covered = {e.track_id for e in events if e.reason == REASON}
        by_track = {c.track_id: c for c in crops}
        faces = {t: k.face for t in covered if t in by_track
                 and (k := self.candidate(t, index, by_track[t].landmarks)) is not None}
        try:
            accepted = dict(generator.redraw(faces)) if faces else {}
        except Exception as exc:  # fail closed: a face that cannot be drawn again keeps its cover
            log.warning("drawing kept faces again failed for tracks %s: %s", sorted(faces), exc)
            accepted = {}

        def frame_with(chosen: Mapping[int, FacePatch]) -> list[FacePatch]:
            return [chosen.get(p.track_id, p) if p.track_id in covered else p for p in patches]

        while accepted:  # judged as they leave; any that fails is the cover again, the rest judged anew
            leaving = leaving_with(frame_with(accepted))
            failing = [t for t, p in accepted.items() if not check.passes_again(by_track[t], p, leaving)]
            if not failing:
                break
            for t in failing:
                accepted.pop(t)
        left = [e for e in events if not (e.reason == REASON and e.track_id in accepted)]
        return frame_with(accepted), left, sorted(accepted)

    def remember(self, index: int, patches: Sequence[FacePatch], crops: Sequence[FaceCrop], generator: Redrawing,
                 check: Checking, forget: Sequence[int] = ()) -> None:
        """Keep the drawn faces the check measured and passed this frame; forget tracks not in
        ``patches``, the faces of the tracks in ``forget`` (drawn in another shape from the next
        frame on: an earlier face's outline would lie inside the new one's mask) and faces older
        than the window."""
        present = set(p.track_id for p in patches) - set(forget)
        self._kept = {t: [k for k in kept if k.index >= index - self.frames]
                      for t, kept in self._kept.items() if t in present}
        for patch, crop in zip(patches, crops):
            distance = check.measured.get(patch.track_id)
            if patch.fallback or distance is None or crop.landmarks is None:
                continue
            face = generator.aligned_face(patch.track_id)
            if face is not None:
                kept = Kept(index, distance, face.copy(), crop.landmarks.copy())
                self._kept.setdefault(patch.track_id, []).append(kept)


def create_face_reuse(frames: int, check, generator) -> FaceReuse | None:
    """``anonymizer.verify_reuse`` (0, no identity check, or a generator that cannot draw an
    earlier face again: none)."""
    reuse = FaceReuse(frames)  # validates
    if frames == 0 or check is None or not hasattr(generator, "redraw"):
        return None
    return reuse
