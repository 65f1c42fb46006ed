"""Cut a crop and a blend mask for every tracked face: ``cut_faces(image, tracks, ...)``."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .config import MaskConfig
from .geometry import square_region
from .mask import face_mask
from .types import FaceCrop, Track

CROP_SCALE = 1.8
"""Side of the square region around a face, relative to its box's larger side."""
COVER_CROP_SCALE = 2.3
"""The same for covering modes and coasting faces, whose masks reach further out."""
COAST_SCALE_BONUS = 0.15
"""Extra mask scale for coasting tracks, whose position is a prediction."""


def cut_faces(image: np.ndarray, tracks: Sequence[Track], config: MaskConfig, cover: bool) -> list[FaceCrop]:
    """One :class:`FaceCrop` per track; ``cover`` selects the generous masks of covering modes."""
    h, w = image.shape[:2]
    crops = []
    for t in tracks:
        x0, y0, x1, y1 = region = crop_region(t, w, h, cover)
        offset = np.array([x0, y0], dtype=np.float32)
        landmarks = None if t.landmarks is None else t.landmarks - offset
        crops.append(FaceCrop(track_id=t.track_id, seed=t.seed, box=region,
                              image=np.ascontiguousarray(image[y0:y1, x0:x1]),
                              mask=region_mask(t, region, config, cover),
                              landmarks=landmarks, coasting=t.coasting))
    return crops


def later_crops(frames: Sequence[tuple[np.ndarray, Sequence[Track]]], track_ids: Sequence[int],
                config: MaskConfig, count: int) -> dict[int, list[FaceCrop]]:
    """Up to ``count`` crops per track in ``track_ids`` from ``frames`` (images with their
    tracks, oldest first: the frames a lookahead holds), spread over the frames where the face
    is measured (not coasting, with a mesh), the last of them included."""
    out: dict[int, list[FaceCrop]] = {}
    if count < 1:
        return out
    for track_id in track_ids:
        seen = [(image, t) for image, tracks in frames for t in tracks
                if t.track_id == track_id and not t.coasting and t.landmarks is not None]
        if not seen:
            continue
        picks = sorted({int(round(k)) for k in np.linspace(0, len(seen) - 1, count + 1)[1:]}) \
            if len(seen) > count else range(len(seen))
        out[track_id] = [cut_faces(seen[k][0], [seen[k][1]], config, cover=False)[0] for k in picks]
    return out


def crop_region(track: Track, width: int, height: int, cover: bool) -> tuple[int, int, int, int]:
    """The integer square region of the frame cut around ``track``'s face."""
    return square_region(track.box, COVER_CROP_SCALE if (cover or track.coasting) else CROP_SCALE, width, height)


def region_mask(track: Track, region: tuple[int, int, int, int], config: MaskConfig, cover: bool,
                shape: tuple[int, int] | None = None) -> np.ndarray:
    """The blend mask of ``track``'s face inside ``region`` (frame pixels ``(x0, y0, x1, y1)``),
    drawn at the region's size or at ``shape`` (height, width) when given."""
    x0, y0, x1, y1 = region
    out_h, out_w = shape if shape is not None else (y1 - y0, x1 - x0)
    fx, fy = out_w / (x1 - x0), out_h / (y1 - y0)
    offset = np.array([x0, y0], dtype=np.float32)
    factor = np.array([fx, fy], dtype=np.float32)
    local_box = ((track.box[0] - x0) * fx, (track.box[1] - y0) * fy, (track.box[2] - x0) * fx, (track.box[3] - y0) * fy)
    landmarks = None if track.landmarks is None else (track.landmarks - offset) * factor
    scale = config.baseline_scale if (cover or track.coasting) else config.scale
    if track.coasting:
        scale += COAST_SCALE_BONUS
    return face_mask((out_h, out_w), landmarks, local_box, scale, config.forehead, config.feather,
                     solid_inside=cover or track.coasting)
