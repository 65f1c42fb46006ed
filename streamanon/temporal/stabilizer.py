"""The two temporal stages the pipeline calls, one on each side of its analyze/render split.

``TemporalAnalyzer`` (analysis thread): ``scene_cut(image)``, ``reassociate(frame, tracks)``,
``smooth_landmarks(frame, tracks, cut)``. ``TemporalRenderer`` (render thread):
``steady_masks(crops, measured, cut)`` and ``steady_faces(patches, crops)``. With
``enabled: false`` every call hands its input back unchanged.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Mapping, Sequence

import cv2
import numpy as np

from ..config import MaskConfig
from ..crop import region_mask
from ..types import FaceCrop, FacePatch, Track, VideoFrame
from . import aligned
from .anchor import TrackAnchors
from .config import TemporalConfig
from .landmarks import LandmarkSmoother
from .latent import (FaceBlender, LatentSmoothedGenerator, StagedGenerator, TrackLatentSmoother,
                     aligned_motion, usable_patches)
from .masks import ColourSmoother, MaskSmoother, guard
from .memory import IdentityMemory
from .running import TrackRunningMean
from .scenecut import SceneCutDetector

COLOUR_WORK = 64
"""Side (pixels) about which a face's mean colour is measured."""
MASK_WORK = 128
"""Side (pixels) at most at which masks are smoothed and guarded before one resize back."""


class TemporalAnalyzer:
    def __init__(self, config: TemporalConfig) -> None:
        self.enabled = config.enabled
        self.cuts = SceneCutDetector(config)
        self.memory = IdentityMemory(config)
        self.landmarks = LandmarkSmoother(config)
        self.cut_frames: list[int] = []

    def scene_cut(self, frame: VideoFrame) -> bool:
        """True when ``frame`` starts a new shot."""
        if not self.enabled:
            return False
        cut = self.cuts.update(frame.image)
        if cut:
            self.cut_frames.append(frame.index)
        return cut

    def reassociate(self, frame: VideoFrame, tracks: Sequence[Track], cut: bool = False) -> tuple[Track, ...]:
        """Tracks whose seed is a returning person's earlier one, where that applies."""
        if not self.enabled:
            return tuple(tracks)
        return self.memory.update(frame.image, tuple(tracks), frame.time, cut)

    def smooth_landmarks(self, frame: VideoFrame, tracks: Sequence[Track], cut: bool) -> tuple[Track, ...]:
        if not self.enabled:
            return tuple(tracks)
        if cut:
            self.landmarks.reset()
        return self.landmarks.smooth(tracks, frame.time)


@dataclass
class _TrackFrame:
    """A track's aligned frame and where the current frame sits in it."""

    reference: np.ndarray | None
    matrix: np.ndarray | None = None
    landmarks: np.ndarray | None = None
    motion: float = float("inf")


class TemporalRenderer:
    def __init__(self, config: TemporalConfig, mask_config: MaskConfig, cover: bool) -> None:
        self.enabled = config.enabled
        self.size = config.aligned_size
        self.mask_config = mask_config
        self.cover = cover
        self.masks = MaskSmoother(config)
        self.faces = FaceBlender(config)
        self.colour = ColourSmoother(config)
        self.latents = TrackLatentSmoother(config)
        self.anchors = TrackAnchors(config.anchor_start)
        self.shapes = TrackRunningMean(config.identity_shape_frames)
        self.latent_smoothing = False
        self._smoothed: LatentSmoothedGenerator | None = None
        self._frames: dict[int, _TrackFrame] = {}

    def smooth_latents(self, generator):
        """``generator`` run with per-track latent smoothing when it is split into stages
        (:class:`~.latent.StagedGenerator`); any other generator is returned as it is and its
        output is blended in ``steady_faces`` instead."""
        if not self.enabled or self.cover or not isinstance(generator, StagedGenerator):
            return generator
        self.latent_smoothing = True
        self._smoothed = LatentSmoothedGenerator(generator, self.latents,
                                                 self.shapes if self.shapes.frames > 1 else None,
                                                 self.anchors if self.anchors.enabled else None)
        return self._smoothed

    def steady_masks(self, crops: Sequence[FaceCrop], measured: Sequence[Track], cut: bool) -> list[FaceCrop]:
        """Crops whose masks follow their track's past masks, never below this frame's own."""
        if not self.enabled:
            return list(crops)
        if cut:
            self._reset()
        alive = [c.track_id for c in crops]
        for part in (self.masks, self.faces, self.colour, self.latents, self.shapes, self.anchors):
            part.keep_only(alive)
        self._frames = {k: v for k, v in self._frames.items() if k in set(alive)}
        by_id = {t.track_id: t for t in measured}
        out = []
        for crop in crops:
            f = self._locate(crop)
            out.append(dataclasses.replace(crop, mask=self._steady_mask(crop, f, by_id.get(crop.track_id))))
        return out

    def _steady_mask(self, crop: FaceCrop, f: "_TrackFrame", measured: Track | None) -> np.ndarray:
        """Worked at no more than ``MASK_WORK`` pixels across (masks are smooth), resized once."""
        h, w = crop.mask.shape
        k = min(1.0, MASK_WORK / max(h, w))
        small = (max(1, round(h * k)), max(1, round(w * k)))
        mask = cv2.resize(crop.mask, small[::-1], interpolation=cv2.INTER_AREA) if k < 1 else crop.mask
        m = f.matrix @ np.diag([w / small[1], h / small[0], 1.0]) if k < 1 else f.matrix
        delta = self.masks.step(crop.track_id, aligned.warp_in(mask, m, self.size), f.motion)
        smoothed = np.clip(mask + aligned.warp_out(delta, m, small), 0.0, 1.0)
        per_frame = mask if measured is None else np.maximum(
            mask, region_mask(measured, crop.box, self.mask_config, self.cover, shape=small))
        out = guard(smoothed, per_frame)
        return cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR) if k < 1 else out

    def steady_faces(self, patches: Sequence[FacePatch], crops: Sequence[FaceCrop]) -> list[FacePatch]:
        """Generated faces blended with their track's previous ones (covers pass unchanged)."""
        if not self.enabled or self.cover:
            return list(patches)
        keep = {id(p) for p, _ in usable_patches(patches, crops)}
        out = []
        for patch, crop in zip(patches, crops):
            f = self._frames.get(crop.track_id)
            if id(patch) not in keep or f is None:
                self.forget_faces([crop.track_id])
                out.append(patch)
                continue
            shape = patch.mask.shape
            face = patch.image.astype(np.float32)
            if not self.latent_smoothing:  # blend the output, the generator's latents were not
                a_face = aligned.warp_in(patch.image, f.matrix, self.size).astype(np.float32)
                a_mask = aligned.warp_in(patch.mask.astype(np.float32), f.matrix, self.size)
                face += aligned.warp_out(self.faces.step(crop.track_id, a_face, a_mask, f.motion), f.matrix, shape)
            step = max(1, max(shape) // COLOUR_WORK)  # the mean colour needs no full resolution
            shift = self.colour.step(crop.track_id, face[::step, ::step], patch.mask[::step, ::step])
            if np.abs(shift).max() >= 0.25:
                face += shift[None, None, :] * patch.mask[..., None]
            face += 0.5
            image = np.clip(face, 0, 255, out=face).astype(np.uint8)
            out.append(dataclasses.replace(patch, image=image))
        return out

    def keep_anchors(self, cleared: Mapping[int, float], minimum: float, covered: Sequence[int]) -> None:
        """Anchor faces (``temporal.anchor_start``; :mod:`.anchor`): a track whose face the
        identity check measured ``minimum`` or more from the person this frame (``cleared``:
        track id -> distance) keeps that face as its anchor, unless it has one; a track whose
        face the check covered loses its anchor (drawn from it, the face came too near)."""
        if self._smoothed is None or not self.anchors.enabled:
            return
        self.anchors.reset(list(covered))
        self._smoothed.anchor([t for t, d in cleared.items() if d >= minimum])

    def forget_faces(self, track_ids: Sequence[int], identity: bool = False) -> None:
        """Start these tracks' face, colour and latent blending afresh (a cover, or a new
        identity drawn for them: blending with the old one would carry it into the new);
        ``identity``: their drawn identity changes (a raised degree, a new seed), so their
        anchor faces go too."""
        for part in (self.faces, self.colour, self.latents) + ((self.anchors,) if identity else ()):
            part.reset(list(track_ids))

    def _locate(self, crop: FaceCrop) -> _TrackFrame:
        """The crop's map into its track's aligned frame, and motion since the last frame."""
        f = self._frames.get(crop.track_id)
        has_mesh = crop.landmarks is not None and len(crop.landmarks) > max(aligned.RIGID)
        if f is None or (f.reference is None) == has_mesh:  # birth, or the mesh came or went
            for part in (self.masks, self.faces, self.colour):
                part.reset([crop.track_id])
            ref = aligned.reference_shape(crop.landmarks, self.size) if has_mesh else None
            f = self._frames[crop.track_id] = _TrackFrame(ref)
        m = aligned.to_aligned(crop.landmarks if has_mesh else None, f.reference, crop.mask.shape, self.size)
        lm = aligned.apply(m, crop.landmarks) if has_mesh else None
        f.motion = aligned_motion(f.landmarks, lm, self.size) if has_mesh else 0.0
        f.matrix, f.landmarks = m, lm
        return f

    def _reset(self) -> None:
        self._frames.clear()
        for part in (self.masks, self.faces, self.colour, self.latents, self.shapes, self.anchors):
            part.reset()
