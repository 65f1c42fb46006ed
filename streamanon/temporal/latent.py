"""Per-track blending of synthetic faces across frames, separate from the generator.

Like a diffusers scheduler next to its UNet, the smoother knows nothing about the network and
the network nothing about time. Two ways to use it:

* Inside a generator (its latents): a generator that accepts a :class:`LatentSmoother`
  calls, per face, ``warm_start`` before sampling (restart from the previous face mixed with
  the track's fixed noise) and ``step`` after it (blend with the previous result), both in
  the aligned face frame, with ``motion`` measured by :func:`aligned_motion`.
* Around any generator (its output): :class:`FaceBlender` blends each patch with the track's
  previous face in the track's aligned frame (:mod:`.aligned`); the pipeline does this.

The blend weight falls as the face turns or changes expression (``motion``); state is per
track, started fresh at a track's birth and dropped at scene cuts and fallback covers.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

import cv2
import numpy as np

from ..types import FaceCrop, FacePatch
from .anchor import TrackAnchors
from .config import TemporalConfig
from .pertrack import PerTrackState
from .running import TrackRunningMean


def blend_weight(max_weight: float, motion, scale: float):
    """Weight of the previous frame: ``max_weight`` when still, a third of it at ``scale``
    (a float for a float ``motion``, a map for a motion map)."""
    w = max_weight * np.exp(-math.log(3.0) * np.maximum(motion, 0.0) / scale)
    return float(w) if np.ndim(w) == 0 else w.astype(np.float32)


def aligned_motion(previous: np.ndarray | None, current: np.ndarray | None, size: float) -> float:
    """Mean landmark displacement in the aligned frame, as a fraction of its side (per frame).

    Head motion in the picture is removed by the alignment: what remains is turning and
    expression, which is what makes a blended face ghost. Unknown: treated as fast (inf)."""
    if previous is None or current is None or previous.shape != current.shape:
        return math.inf
    return float(np.linalg.norm(current - previous, axis=-1).mean() / size)


def aligned_motion_map(previous: np.ndarray | None, current: np.ndarray | None, side: int,
                       radius: float) -> np.ndarray | float:
    """:func:`aligned_motion` per pixel of the ``side`` x ``side`` aligned frame: the mean
    displacement of the landmarks within about ``radius`` (fraction of the side) of each pixel,
    falling back to the whole face's mean far from any landmark.

    A mouth that opens moves a tenth of the mesh: averaged over the whole face it barely lowers
    the blend weight, and the blend then holds the mouth back. Locally it moves the weight
    where the face changes and keeps cheeks and brow steady. ``radius`` 0: the whole-face mean."""
    whole = aligned_motion(previous, current, side)
    if radius <= 0 or not math.isfinite(whole):
        return whole
    disp = (np.linalg.norm(current - previous, axis=-1) / side).astype(np.float32)
    x = np.clip(np.round(current[:, 0]).astype(int), 0, side - 1)
    y = np.clip(np.round(current[:, 1]).astype(int), 0, side - 1)
    total = np.zeros((side, side), np.float32)
    count = np.zeros((side, side), np.float32)
    np.add.at(total, (y, x), disp)
    np.add.at(count, (y, x), 1.0)
    sigma = radius * side
    total = cv2.GaussianBlur(total, (0, 0), sigma)
    count = cv2.GaussianBlur(count, (0, 0), sigma)
    floor = 0.05 * float(count.max())  # where few landmarks are near, the whole face's mean
    return (total + floor * whole) / (count + floor)


@runtime_checkable
class LatentSmoother(Protocol):
    """What a generator may accept (``generator.generate(batch, smoother=...)`` or in its
    constructor) to make its faces steady: one call pair per face and frame."""

    def warm_start(self, track_id: int, noise: np.ndarray, motion: float) -> tuple[np.ndarray, float]:
        """(starting latent, starting time in [0, 1]) for a flow/diffusion sampler."""
        ...

    def step(self, track_id: int, latents: np.ndarray, motion: float) -> np.ndarray:
        """The track's latents blended with its previous ones; remembers the result."""
        ...


class TrackLatentSmoother(PerTrackState):
    """:class:`LatentSmoother` for flow samplers (``EulerFlowSampler.sample(start=, start_time=)``).

    ``warm_start`` mixes the previous frame's face with the track's own noise at time ``s``:
    ``x_s = (1 - s) * previous + s * noise``, i.e. the sampler re-noises the last face part way
    and denoises it under the new conditions (SDEdit). The restart time rises back to 1 (pure
    noise, a fresh face) as motion grows, so fast changes are not held back.
    """

    _STORES = ("_previous", "_landmarks")

    def __init__(self, config: TemporalConfig) -> None:
        self.config = config
        self._previous: dict[int, np.ndarray] = {}
        self._landmarks: dict[int, np.ndarray] = {}
        self._appearance = TrackRunningMean(config.appearance_frames)

    def reset(self, track_ids: Sequence[int] | None = None) -> None:
        super().reset(track_ids)
        self._appearance.reset(track_ids)

    def keep_only(self, track_ids: Sequence[int]) -> None:
        super().keep_only(track_ids)
        self._appearance.keep_only(track_ids)

    def appearance(self, track_id: int, condition: np.ndarray) -> np.ndarray:
        """The track's running mean of a slow condition (the face's low-frequency colour) over
        about ``appearance_frames`` frames, this frame's included; remembers it."""
        return self._appearance.update(track_id, condition)

    def motion(self, track_id: int, aligned_landmarks: np.ndarray | None, size: float) -> np.ndarray | float:
        """:func:`aligned_motion_map` since this track's last call (a ``size`` x ``size`` map, or
        a float: the whole face's, or inf when unknown); remembers the landmarks."""
        previous = self._landmarks.get(track_id)
        if aligned_landmarks is not None:
            self._landmarks[track_id] = aligned_landmarks
        return aligned_motion_map(previous, aligned_landmarks, int(size), self.config.motion_radius)

    def warm_start(self, track_id: int, noise: np.ndarray, motion) -> tuple[np.ndarray, float]:
        previous = self._previous.get(track_id)
        c = self.config
        if previous is None or previous.shape != noise.shape or c.warm_start >= 1.0:
            return noise, 1.0
        w = blend_weight(1.0, float(np.mean(motion)), c.face_motion_scale)
        s = 1.0 - w * (1.0 - c.warm_start)
        return ((1.0 - s) * previous + s * noise).astype(noise.dtype), s

    def step(self, track_id: int, latents: np.ndarray, motion) -> np.ndarray:
        """``latents`` (C, H, W) blended with the track's previous ones; ``motion`` a float or
        an (H, W) map."""
        previous = self._previous.get(track_id)
        out = latents
        if previous is not None and previous.shape == latents.shape:
            w = blend_weight(self.config.face_weight, motion, self.config.face_motion_scale)
            out = (w * previous + (1.0 - w) * latents).astype(latents.dtype)
        self._previous[track_id] = out
        return out


class FaceBlender(PerTrackState):
    """Output blending for any generator, in each track's aligned frame (see :mod:`.aligned`).

    Only pixels the previous patch generated (its mask) are mixed in, never pixels a generator
    may have copied from the input around the face."""

    _STORES = ("_previous",)

    def __init__(self, config: TemporalConfig) -> None:
        self.config = config
        self._previous: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def step(self, track_id: int, face: np.ndarray, mask: np.ndarray, motion: float) -> np.ndarray:
        """Change to add to ``face`` (float32, aligned frame) so it follows the track's past."""
        previous = self._previous.get(track_id)
        delta = np.zeros_like(face, dtype=np.float32)
        if previous is not None and previous[0].shape == face.shape:
            w = blend_weight(self.config.face_weight, motion, self.config.face_motion_scale)
            p_face, p_mask = previous
            delta = (w * np.minimum(p_mask, mask))[..., None] * (p_face - face)
        self._previous[track_id] = (face + delta, mask)
        return delta


def usable_patches(patches: Sequence[FacePatch], crops: Sequence[FaceCrop]) -> list[tuple[FacePatch, FaceCrop]]:
    """Pairs worth blending: generated (not fallback) faces of live tracks."""
    return [(p, c) for p, c in zip(patches, crops) if not p.fallback and not c.coasting]


@runtime_checkable
class StagedGenerator(Protocol):
    """A generator split like :class:`streamanon.synthetic.generator.SyntheticFaceGenerator`:
    ``prepare`` (align, condition; the result has ``crops``, ``index``, ``matrices``, ``cond``
    and ``noise``), ``denoise`` (sampler, from ``start`` at ``start_time``) and ``finish``."""

    name: str

    def prepare(self, batch: Sequence[FaceCrop]) -> Any: ...

    def denoise(self, prepared: Any, start: np.ndarray | None = None, start_time: float = 1.0) -> np.ndarray: ...

    def finish(self, prepared: Any, aligned: np.ndarray) -> list[FacePatch]: ...

    # Optional: ``appearance_channels``, a slice of ``prepared.cond``'s channels that change
    # slowly for one person (skin tone, light), averaged per track by the smoother; and
    # ``identity_shape(crop)`` with ``prepare(batch, identity_tracks)``: the person's shape
    # coordinates, averaged per track and handed back to ``prepare`` by track id.


class LatentSmoothedGenerator:
    """Runs a :class:`StagedGenerator` with a :class:`TrackLatentSmoother` between its sampler
    and its warp back: the smoother plays the scheduler's part, the generator the UNet's."""

    def __init__(self, generator: StagedGenerator, smoother: TrackLatentSmoother,
                 shapes: TrackRunningMean | None = None, anchors: TrackAnchors | None = None) -> None:
        self.generator = generator
        self.smoother = smoother
        self.shapes = shapes
        self.anchors = anchors
        self.name = generator.name
        self._last: tuple[Any, np.ndarray, dict[int, int]] | None = None  # prepared, aligned, track -> row

    def refuses(self, crop: FaceCrop, drawn_before: bool = False) -> str | None:
        """The wrapped generator's own refusal (it decides which faces it draws)."""
        refuses = getattr(self.generator, "refuses", None)
        return None if refuses is None else refuses(crop, drawn_before)

    def generate(self, batch: Sequence[FaceCrop]) -> list[FacePatch]:
        g = self.generator
        self._last = None
        prepared = self._prepare(batch)
        if getattr(prepared, "cond", None) is None:
            return g.finish(prepared, g.denoise(prepared))
        size = float(prepared.noise.shape[-1])
        slow = getattr(g, "appearance_channels", None)  # conditions the smoother may average
        rows = []
        for row, i in enumerate(prepared.index):
            crop = prepared.crops[i]
            if slow is not None:
                prepared.cond[row, slow] = self.smoother.appearance(crop.track_id, prepared.cond[row, slow])
            lm = None if crop.landmarks is None else _apply(prepared.matrices[row], crop.landmarks[:, :2])
            motion = self.smoother.motion(crop.track_id, lm, size)
            start, t0 = self.smoother.warm_start(crop.track_id, prepared.noise[row], motion)
            if t0 >= 1.0 and self.anchors is not None:  # from the track's anchor face, moved to this mesh
                start, t0 = self.anchors.start(crop.track_id, prepared.noise[row], _drawn(prepared, row))
            rows.append((crop.track_id, motion, start, round(float(t0), 4)))
        aligned = np.empty_like(prepared.noise)
        for t0 in sorted({r[3] for r in rows}):  # one sampler call per starting time
            picked = [k for k, r in enumerate(rows) if r[3] == t0]
            part = copy.copy(prepared)
            part.cond, part.noise = prepared.cond[picked], prepared.noise[picked]
            start = None if t0 >= 1.0 else np.stack([rows[k][2] for k in picked])
            aligned[picked] = g.denoise(part, start=start, start_time=min(t0, 1.0))
        for k, (tid, motion, _, _) in enumerate(rows):
            aligned[k] = self.smoother.step(tid, aligned[k], motion)
        self._last = (prepared, aligned, {r[0]: k for k, r in enumerate(rows)})
        return g.finish(prepared, aligned)

    def aligned_face(self, track_id: int) -> np.ndarray | None:
        """The face drawn for ``track_id`` in the last ``generate`` call, in the aligned frame."""
        if self._last is None or track_id not in self._last[2]:
            return None
        return self._last[1][self._last[2][track_id]]

    def anchor(self, track_ids: Sequence[int]) -> None:
        """The faces drawn for ``track_ids`` in the last ``generate`` call become their tracks'
        anchors (where a track has none yet and the generator says which mesh it drew from)."""
        if self.anchors is None or self._last is None:
            return
        prepared, aligned, rows = self._last
        for t in track_ids:
            mesh = _drawn(prepared, rows[t]) if t in rows else None
            if mesh is not None:
                self.anchors.remember(t, aligned[rows[t]], mesh)

    def redraw(self, faces: Mapping[int, np.ndarray]) -> dict[int, FacePatch]:
        """Patches of the last ``generate`` call's faces drawn with ``faces`` (aligned frame, by
        track id) in place of what was drawn: this frame's alignment, mask and colour match
        around another face, and this frame's drawn surroundings around it where the generator
        says where the face proper is (``face_weight(prepared, row)``). Tracks not drawn in that
        call are left out."""
        if self._last is None:
            return {}
        prepared, aligned, rows = self._last
        wanted = {t: f for t, f in faces.items() if t in rows and f.shape == aligned.shape[1:]}
        if not wanted:
            return {}
        other = aligned.copy()
        weight = getattr(self.generator, "face_weight", None)  # the face proper only, if it says where
        for t, face in wanted.items():
            k = rows[t]
            w = 1.0 if weight is None else weight(prepared, k)
            other[k] = w * face + (1.0 - w) * aligned[k]
        patches = self.generator.finish(prepared, other)
        return {p.track_id: p for p in patches if p.track_id in wanted and not p.fallback}

    def _prepare(self, batch: Sequence[FaceCrop]) -> Any:
        """The generator's ``prepare``, given each live track's mean identity shape where the
        generator reads one (``identity_shape``) and a shape mean is kept."""
        measure = getattr(self.generator, "identity_shape", None)
        if self.shapes is None or measure is None:
            return self.generator.prepare(batch)
        tracks = {}
        for crop in batch:
            shape = None if crop.coasting else measure(crop)
            if shape is not None:
                tracks[crop.track_id] = self.shapes.update(crop.track_id, shape)
        return self.generator.prepare(batch, identity_tracks=tracks)


def _drawn(prepared: Any, row: int) -> np.ndarray | None:
    """The mesh the generator drew row ``row`` from (aligned frame), if it says."""
    drawn = getattr(prepared, "drawn", None)
    return None if not drawn else drawn[row]


def _apply(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    return (points @ m[:, :2].T + m[:, 2]).astype(np.float32)
