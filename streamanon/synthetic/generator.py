"""The synthetic face generator: align, condition, denoise, warp back, colour-match.

``generate(batch)`` = ``finish(prepare(batch), denoise(prepare(batch)))``. ``denoise`` returns
faces in the aligned canonical frame, so a temporal smoother can sit between the sampler and
the warp back (e.g. blend a track's previous output and restart from an intermediate time).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import cv2
import numpy as np

from ..config import AnonymizerConfig
from ..errors import ConfigError, GeneratorError
from ..generators.baseline import fallback_patch
from ..types import FaceCrop, FacePatch
from . import align
from .conditions import CHANNELS, assemble, inpaint_mask, lowfreq_cells, masked_surroundings, mesh_maps, upsample_cells
from .domain import refusal
from .fill import fill_from_outside
from .sampler import EulerFlowSampler, identity_noise

log = logging.getLogger(__name__)

CORE = 0.5
"""Pipeline mask level from which a pixel counts as face: never shown to the network."""


@dataclass(frozen=True)
class SyntheticConfig:
    """Knobs of the synthetic mode beyond :class:`~streamanon.config.AnonymizerConfig`."""

    steps: int = 2
    """Euler steps of the flow sampler (1, 2 or 4)."""
    weights: str | None = None
    """Path to a .safetensors file (its .json sidecar beside it); None: the packaged model."""
    seed_scale: float = 0.5
    """Size of the seeded random identity shape added at degree >= 1 (0: mean shape only)."""
    outline: float = AnonymizerConfig.degree_outline
    """Share of the degree's shape move on the face outline (``anonymizer.degree_outline``)."""
    mask_scale: float = 1.15
    """Inpainting region relative to the face oval (the model was trained with 1.05-1.3)."""
    colour_match: bool = True
    """Pull the generated face's low-frequency colour onto the original's (skin tone, light)."""
    engine_dir: str = "engines"
    """Where ONNX exports and TensorRT engines are cached."""
    precision: str = "auto"
    """auto (fp16 on CUDA, fp32 on CPU), fp16 or fp32."""
    max_batch: int = 16
    """Largest batch of faces per network call (TensorRT profile maximum)."""


@dataclass(eq=False)
class PreparedBatch:
    """Everything ``denoise`` and ``finish`` need; ``index`` maps rows to crops."""

    crops: Sequence[FaceCrop]
    index: list[int] = field(default_factory=list)
    matrices: list[np.ndarray] = field(default_factory=list)
    masks: list[np.ndarray] = field(default_factory=list)        # hard canonical inpainting masks
    cells: list[np.ndarray] = field(default_factory=list)        # original low-frequency colour
    skins: list[np.ndarray] = field(default_factory=list)        # where both faces are skin
    ovals: list[np.ndarray] = field(default_factory=list)        # the drawn shape's face oval
    drawn: list[np.ndarray] = field(default_factory=list)        # the drawn mesh (aligned frame, N x 2)
    cond: np.ndarray | None = None                                # (B, 13, R, R) network conditions
    noise: np.ndarray | None = None                               # (B, 3, R, R) identity noise
    skipped: dict[int, str] = field(default_factory=dict)        # crop index -> reason


SKIN_SCALE = 0.95
"""Face oval scale (no forehead raise) over which skin colour is measured."""
EDGE_MARGIN = 0.04
"""The invented region stays this far (fraction of the frame) inside the canonical frame, so
its feathered edge lies where the network drew pixels: the new face never ends in a hard line
at the frame border (the forehead top, on close faces). Beyond it, inside the pipeline's mask,
the patch is filled from the pixels around that region (:mod:`.fill`), none of its own."""
EDGE_RAMP = 0.08
"""Where the invented region meets the canonical frame's edge (the jaw or the forehead of a
close face), the new face fades out over this much of the frame instead of the mask's short
feather, so the cut is not a straight line."""

DRAWN = 0.99
"""Share of the network's face in a pixel from which the fill beyond it reads that pixel."""

REUSE_FEATHER = 0.03
"""Feather (fraction of the frame) of :meth:`SyntheticFaceGenerator.face_weight`."""


def _edge_ramp(resolution: int, margin: float, ramp: float) -> np.ndarray:
    """(R, R) weight: 0 within ``margin`` of the frame's edge, rising to 1 over ``ramp``."""
    d = np.minimum(np.arange(resolution), np.arange(resolution)[::-1]).astype(np.float32) + 0.5
    edge = np.clip((d - margin) / max(ramp, 1e-6), 0.0, 1.0)
    return np.minimum(edge[:, None], edge[None, :])


def _interior(resolution: int, margin: float) -> np.ndarray:
    inside = np.zeros((resolution, resolution), np.float32)
    m = int(np.ceil(margin))
    inside[m:resolution - m, m:resolution - m] = 1.0
    return inside


class SyntheticFaceGenerator:
    name = "synthetic"
    max_forehead = 0.06
    """Largest forehead extension of the pipeline's mask (``mask.forehead``, fraction of face
    height) that the canonical frame holds: the pipeline caps its mask to it in this mode."""

    appearance_channels = slice(CHANNELS.index("low_r"), CHANNELS.index("low_b") + 1)
    """The low-frequency colour conditions: a temporal smoother may average them per track."""

    def __init__(self, weights, backend, degree: float = 1.0, config: SyntheticConfig = SyntheticConfig(),
                 fallback: str = "solid", min_face_px: float = 0.0, max_yaw: float = float("inf")) -> None:
        if not 0.0 <= config.outline <= 1.0:
            raise ConfigError(f"anonymizer.degree_outline: expected 0 <= x <= 1, got {config.outline}")
        self.weights, self.backend, self.degree, self.config = weights, backend, float(degree), config
        self.min_face_px, self.max_yaw = float(min_face_px), float(max_yaw)
        self.res = weights.model.resolution
        self.grid = weights.model.grid
        self.sampler = EulerFlowSampler(config.steps)
        self.fallback = fallback
        # Where in the canonical frame a face may be invented, and how it fades out at the edge.
        self._inside = _interior(self.res, EDGE_MARGIN * self.res)
        self._fade = _edge_ramp(self.res, EDGE_MARGIN * self.res, EDGE_RAMP * self.res)

    def refuses(self, crop: FaceCrop, drawn_before: bool = False) -> str | None:
        """Why this face should get the cover rather than a drawn face (see ``domain``)."""
        return refusal(crop.landmarks, self.min_face_px, self.max_yaw, drawn_before)

    def identity_shape(self, crop: FaceCrop) -> np.ndarray | None:
        """The face's identity shape coordinates (what ``degree`` moves away from), for a
        temporal smoother to average per track; None without a face mesh."""
        if crop.landmarks is None or len(crop.landmarks) != 478:
            return None
        return self.weights.shape.identity_of(crop.landmarks[:, :2])

    # 1. Alignment and conditions -------------------------------------------------------------
    def prepare(self, batch: Sequence[FaceCrop],
                identity_tracks: Mapping[int, np.ndarray] | None = None) -> PreparedBatch:
        """``identity_tracks``: per track id, the track's mean :meth:`identity_shape`; the drawn
        shape is moved past the mean by it rather than by each frame's own (``degree`` doc)."""
        p = PreparedBatch(crops=batch)
        conds, seeds = [], []
        for i, crop in enumerate(batch):
            if crop.landmarks is None or len(crop.landmarks) != 478:
                p.skipped[i] = "no 478-point face mesh"
                continue
            try:
                track_shape = None if identity_tracks is None else identity_tracks.get(crop.track_id)
                cond, m, mask, cells, skin, oval, drawn = self._conditions(crop, track_shape)
            except GeneratorError as exc:
                p.skipped[i] = str(exc)
                continue
            p.index.append(i)
            p.matrices.append(m)
            p.masks.append(mask)
            p.cells.append(cells)
            p.skins.append(skin)
            p.ovals.append(oval)
            p.drawn.append(drawn)
            conds.append(cond)
            seeds.append(crop.seed)
        if conds:
            p.cond = np.stack(conds)
            p.noise = identity_noise(seeds, self.res)
        return p

    def _conditions(self, crop: FaceCrop, identity_track: np.ndarray | None = None):
        r = self.res
        lm_crop = crop.landmarks[:, :2].astype(np.float32)
        m = align.estimate(lm_crop, self.weights.shape.template, r)
        if not np.all(np.isfinite(m)):
            raise GeneratorError("alignment failed")
        lm = align.apply(m, lm_crop)
        degree = self.degree if crop.degree is None else crop.degree
        new_lm = self.weights.shape.anonymize(lm, degree, crop.seed, self.config.seed_scale, identity_track,
                                              self.config.outline)
        # The region to invent: original face, moved face and the pipeline's own mask, together.
        mask = np.maximum(inpaint_mask(lm, r, self.config.mask_scale), inpaint_mask(new_lm, r, self.config.mask_scale))
        core = (crop.mask >= CORE).astype(np.float32)
        pipeline_mask = align.warp_to_canonical(core, m, r, border=cv2.BORDER_CONSTANT)
        mask = np.maximum(mask, (pipeline_mask > 0.0).astype(np.float32)) * self._inside
        # Privacy: blank the face in *crop* pixels before any resampling, so interpolation at the
        # mask edge cannot carry inner-face pixels into the surroundings channels.
        crop_mask = align.warp_to_crop(mask, m, crop.image.shape[:2], border=cv2.BORDER_CONSTANT)
        crop_mask = cv2.dilate(((crop_mask > 0.0) | (core > 0)).astype(np.uint8), np.ones((5, 5), np.uint8))
        blanked = masked_surroundings(crop.image, crop_mask.astype(np.float32))
        surroundings = masked_surroundings(align.warp_to_canonical(blanked, m, r), mask)
        # Low-frequency colour: the only use of inner-face pixels, reduced to grid x grid cells.
        # (Anti-aliased first, so fine texture cannot alias into the cells as moire.) The network
        # gets them over the inpainting region, as in training; the colour match afterwards
        # uses them over the original face oval only: over the whole region, a moved face wider
        # than the original put background in the edge cells and the match tinted the new
        # face's cheeks with it (green on a green screen). Cells without skin get its mean.
        scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
        smooth = align.warp_to_canonical(cv2.GaussianBlur(crop.image, (0, 0), max(0.8, 0.8 / scale)), m, r)
        skin = inpaint_mask(lm, r, SKIN_SCALE, forehead=0.0)
        oval = inpaint_mask(new_lm, r, SKIN_SCALE, forehead=0.0)
        cond = assemble(mesh_maps(new_lm, r), lowfreq_cells(smooth, mask, self.grid), surroundings, mask)
        return cond, m, mask, lowfreq_cells(smooth, skin, self.grid), skin * oval, oval, new_lm

    # 2. Denoising in the aligned frame -------------------------------------------------------
    def denoise(self, prepared: PreparedBatch, start: np.ndarray | None = None,
                start_time: float = 1.0) -> np.ndarray:
        """Aligned faces (B, 3, R, R) in [-1, 1]; batched over all faces of the frame."""
        if prepared.cond is None:
            return np.zeros((0, 3, self.res, self.res), np.float32)
        mb = self.config.max_batch
        outs = []
        for s in range(0, len(prepared.cond), mb):
            init = None if start is None else start[s:s + mb]
            outs.append(self.sampler.sample(self.backend.velocity, prepared.noise[s:s + mb],
                                            prepared.cond[s:s + mb], init, start_time))
        return np.concatenate(outs)

    # 3. Colour match and warp back -------------------------------------------------------------
    def finish(self, prepared: PreparedBatch, aligned: np.ndarray) -> list[FacePatch]:
        patches: dict[int, FacePatch] = {}
        for row, i in enumerate(prepared.index):
            crop = prepared.crops[i]
            face = ((aligned[row].transpose(1, 2, 0) + 1.0) * 127.5).clip(0, 255).astype(np.float32)
            mask = prepared.masks[row]
            if self.config.colour_match:
                # Measured where the original and the new face are both skin (see _conditions).
                diff = prepared.cells[row] - lowfreq_cells(face, prepared.skins[row], self.grid)
                face = face + upsample_cells(diff, self.res) * mask[..., None]
            face = face.clip(0, 255).astype(np.uint8)
            h, w = crop.image.shape[:2]
            m = prepared.matrices[row]
            feather = max(1.0, 0.02 * self.res)
            soft = cv2.GaussianBlur(cv2.erode(mask, np.ones((3, 3), np.uint8), iterations=max(1, int(feather))),
                                    (0, 0), feather) * self._fade
            soft = align.warp_to_crop(soft, m, (h, w), border=cv2.BORDER_CONSTANT)[..., None]
            # New pixels where the face was invented, the crop's own pixels elsewhere: blending
            # with the pipeline's (wider, feathered) mask then changes nothing outside ours.
            generated = align.warp_to_crop(face, m, (h, w)).astype(np.float32)
            # Where the pipeline's mask reaches past what the network drew (beyond the canonical
            # frame: below a close face's chin, a high forehead), never the crop's own pixels:
            # a fill from what is known around it, the drawn face and the crop outside the mask.
            drawn = soft[..., 0] >= DRAWN
            source = np.where(drawn[..., None], generated, crop.image.astype(np.float32))
            under = fill_from_outside(source, (drawn | (crop.mask <= 0.0)).astype(np.float32))
            image = (soft * generated + (1 - soft) * under).round().clip(0, 255).astype(np.uint8)
            blend = np.maximum(soft[..., 0], crop.mask).astype(np.float32)
            patches[i] = FacePatch(crop.track_id, crop.box, image, np.clip(blend, 0, 1))
        for i, reason in prepared.skipped.items():
            log.debug("face %d covered: %s", i, reason)
            patches[i] = fallback_patch(prepared.crops[i], self.fallback)
        return [patches[i] for i in range(len(prepared.crops))]

    def face_weight(self, prepared: PreparedBatch, row: int) -> np.ndarray:
        """(R, R) weight in [0, 1] of the drawn face proper (its shape's face oval, feathered
        inward) against the hair and background the network invented around it: where another
        face of the track is put in (:meth:`...temporal.latent.LatentSmoothedGenerator.redraw`),
        the surroundings stay this frame's."""
        feather = REUSE_FEATHER * self.res
        return cv2.GaussianBlur(cv2.erode(prepared.ovals[row], np.ones((3, 3), np.uint8),
                                          iterations=max(1, int(feather))), (0, 0), feather)

    def generate(self, batch: Sequence[FaceCrop]) -> list[FacePatch]:
        prepared = self.prepare(batch)
        return self.finish(prepared, self.denoise(prepared))
