"""Blend face patches back into the frame: ``compose(image, patches) -> image``."""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from .letterbox import picture_area
from .types import FacePatch


DRAWN_CORE = 0.95
"""Blend-mask level from which a drawn (not fallback) patch's pixels are the generator's own:
the synthetic generator never sees the input where the pipeline's mask is 0.5 or more, and
draws or heavily blurs everything there."""


def compose(image: np.ndarray, patches: Sequence[FacePatch], drawn_cores: bool = False) -> np.ndarray:
    """A new frame with every patch alpha-blended into its box; ``image`` is left untouched.

    Letterbox and pillarbox bars (``letterbox.picture_area``) are left black: a patch reaching
    past the picture's edge would otherwise show there as a halo (nothing can be recognised in
    pixels that dark). Fallback patches are blended last so that nothing drawn later can
    uncover them. With ``drawn_cores`` (synthetic mode: non-fallback patches are generated
    faces), not over the core of a drawn face: its pixels there were invented without seeing
    the input, so a cover on top (a false detection beside the face, a duplicate box) would
    only hide the new face. There at most ``1 - DRAWN_CORE`` of the input shows through.
    Covering modes leave it off: their patches are made from the input (a blur), not invented.
    """
    out = image.copy()
    drawn = [p for p in patches if not p.fallback] if drawn_cores else []
    area = picture_area(image) if patches else None
    for patch in sorted(patches, key=lambda p: p.fallback):
        x0, y0, x1, y1 = patch.box
        region = out[y0:y1, x0:x1]
        mask = _outside_drawn_cores(patch, drawn) if patch.fallback and drawn else patch.mask
        mask = _inside_picture(mask, patch.box, area)
        # uint8 in, uint8 out, one pass (5x faster than float32 temporaries on a 460 px face)
        region[...] = cv2.blendLinear(region, np.ascontiguousarray(patch.image), 1.0 - mask, mask)
    return out


def _inside_picture(mask: np.ndarray, box: tuple[int, int, int, int],
                    area: tuple[int, int, int, int]) -> np.ndarray:
    """``mask`` cleared outside ``area`` (the picture inside the bars)."""
    x0, y0, x1, y1 = box
    ax0, ay0, ax1, ay1 = area
    if x0 >= ax0 and y0 >= ay0 and x1 <= ax1 and y1 <= ay1:
        return mask
    inside = np.zeros_like(mask)
    iy0, iy1, ix0, ix1 = max(ay0 - y0, 0), max(ay1 - y0, 0), max(ax0 - x0, 0), max(ax1 - x0, 0)
    inside[iy0:iy1, ix0:ix1] = mask[iy0:iy1, ix0:ix1]
    return inside


def _outside_drawn_cores(cover: FacePatch, drawn: Sequence[FacePatch]) -> np.ndarray:
    """``cover``'s mask, cleared where it lies over the core of a drawn face."""
    mask = cover.mask
    cx0, cy0, cx1, cy1 = cover.box
    for face in drawn:
        fx0, fy0, fx1, fy1 = face.box
        ix0, iy0, ix1, iy1 = max(cx0, fx0), max(cy0, fy0), min(cx1, fx1), min(cy1, fy1)
        if ix0 >= ix1 or iy0 >= iy1:
            continue
        core = face.mask[iy0 - fy0:iy1 - fy0, ix0 - fx0:ix1 - fx0]
        keep = 1.0 - np.clip((core - DRAWN_CORE) / (1.0 - DRAWN_CORE), 0.0, 1.0)
        if mask is cover.mask:
            mask = mask.copy()
        mask[iy0 - cy0:iy1 - cy0, ix0 - cx0:ix1 - cx0] *= keep.astype(np.float32)
    return mask
