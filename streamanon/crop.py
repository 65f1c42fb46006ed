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
        x0, y0, x1, y1 = square_region(t.box, COVER_CROP_SCALE if (cover or t.coasting) else CROP_SCALE, w, h)
        offset = np.array([x0, y0], dtype=np.float32)
        local_box = (t.box[0] - x0, t.box[1] - y0, t.box[2] - x0, t.box[3] - y0)
        landmarks = None if t.landmarks is None else t.landmarks - offset
        scale = config.baseline_scale if (cover or t.coasting) else config.scale
        if t.coasting:
            scale += COAST_SCALE_BONUS
        mask = face_mask((y1 - y0, x1 - x0), landmarks, local_box, scale, config.forehead, config.feather,
                         solid_inside=cover or t.coasting)
        crops.append(FaceCrop(track_id=t.track_id, seed=t.seed, box=(x0, y0, x1, y1),
                              image=np.ascontiguousarray(image[y0:y1, x0:x1]), mask=mask,
                              landmarks=landmarks, coasting=t.coasting))
    return crops
