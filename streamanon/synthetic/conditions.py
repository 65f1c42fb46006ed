"""What the generator sees, built in the canonical face frame. Privacy first.

Conditions, channel by channel (``CHANNELS``):

* 6 mesh maps (face oval, eyes, irises, brows, nose, lips): pose, expression, gaze; no pixels.
* 3 low-frequency colour channels: the face region reduced to a ``grid`` x ``grid`` image of
  mask-averaged colours (skin tone, lighting), upsampled smoothly. Nothing finer passes.
* 3 surroundings channels: the crop outside the inpainting mask (hair, ears, background);
  exactly zero inside the mask.
* 1 mask channel: 1 where the face is to be generated.

The original inner-face pixels reach the network only through the ``grid`` x ``grid`` cell
means; ``tests/test_synthetic_privacy.py`` checks this on the exact network input.
"""

from __future__ import annotations

import cv2
import numpy as np

from . import mesh_topology as topo

CHANNELS = ("oval", "eyes", "irises", "brows", "nose", "lips",
            "low_r", "low_g", "low_b", "sur_r", "sur_g", "sur_b", "mask")
NUM_CHANNELS = len(CHANNELS)
_SHIFT = 4  # sub-pixel precision for cv2 drawing
_ONE = 1 << _SHIFT


def _pts(lm: np.ndarray, loop) -> np.ndarray:
    return np.round(lm[list(loop)] * _ONE).astype(np.int32)


def _edges(canvas: np.ndarray, lm: np.ndarray, edges, thickness: int) -> None:
    lines = np.round(lm * _ONE).astype(np.int32)[np.asarray(edges)]  # (E, 2 ends, xy)
    cv2.polylines(canvas, list(lines), False, 1.0, thickness, cv2.LINE_AA, _SHIFT)


def mesh_maps(lm: np.ndarray, resolution: int) -> np.ndarray:
    """Six (R, R) float32 maps drawn from the mesh in canonical pixels: geometry only."""
    r = resolution
    t = max(1, round(r / 128))
    maps = np.zeros((6, r, r), np.float32)
    cv2.polylines(maps[0], [_pts(lm, topo.OVAL_LOOP)], True, 1.0, t, cv2.LINE_AA, _SHIFT)
    for loop in (topo.LEFT_EYE_LOOP, topo.RIGHT_EYE_LOOP):
        cv2.fillPoly(maps[1], [_pts(lm, loop)], 0.5, cv2.LINE_AA, _SHIFT)
        cv2.polylines(maps[1], [_pts(lm, loop)], True, 1.0, t, cv2.LINE_AA, _SHIFT)
    for iris in (topo.LEFT_IRIS, topo.RIGHT_IRIS):
        ring = lm[list(iris)]
        centre = lm[iris[0] - 1]  # 468 / 473 are the iris centres, just before the ring points
        radius = float(np.linalg.norm(ring - centre, axis=1).mean())
        c = tuple(int(v) for v in np.round(centre * _ONE))
        cv2.circle(maps[2], c, max(1, int(round(radius * _ONE))), 1.0, -1, cv2.LINE_AA, _SHIFT)
    _edges(maps[3], lm, topo.LEFT_BROW_EDGES + topo.RIGHT_BROW_EDGES, t + 1)
    _edges(maps[4], lm, topo.NOSE_EDGES, t)
    cv2.fillPoly(maps[5], [_pts(lm, topo.LIPS_INNER_LOOP)], 0.5, cv2.LINE_AA, _SHIFT)
    cv2.polylines(maps[5], [_pts(lm, topo.LIPS_OUTER_LOOP), _pts(lm, topo.LIPS_INNER_LOOP)], True, 1.0,
                  t, cv2.LINE_AA, _SHIFT)
    return np.clip(maps, 0.0, 1.0)


def inpaint_mask(lm: np.ndarray, resolution: int, scale: float = 1.15, forehead: float = 0.12) -> np.ndarray:
    """Hard (R, R) float32 mask: the face-oval hull grown by ``scale`` and raised at the top."""
    oval = lm[list(topo.OVAL_LOOP)].astype(np.float64)
    centre = oval.mean(0)
    grown = (oval - centre) * scale + centre
    height = oval[:, 1].max() - oval[:, 1].min()
    raised = grown - np.array([0.0, forehead * height])
    hull = cv2.convexHull(np.round(np.concatenate([grown, raised]) * _ONE).astype(np.int32))
    mask = np.zeros((resolution, resolution), np.uint8)
    cv2.fillConvexPoly(mask, hull, 1, cv2.LINE_8, _SHIFT)
    return mask.astype(np.float32)


def lowfreq_cells(image: np.ndarray, mask: np.ndarray, grid: int) -> np.ndarray:
    """(grid, grid, 3) mask-weighted mean colour per cell of the frame, in [0, 255].

    Cells without face pixels take the mean colour of the whole face region.
    """
    r = image.shape[0]
    w = (mask > 0.5).astype(np.float64)
    weighted = image.astype(np.float64) * w[..., None]
    starts = np.linspace(0, r, grid + 1).round().astype(int)[:-1]

    def per_cell(a: np.ndarray) -> np.ndarray:  # sums over each cell's rows and columns
        return np.add.reduceat(np.add.reduceat(a, starts, axis=0), starts, axis=1)

    sums, counts = per_cell(weighted), per_cell(w)
    total = counts.sum()
    face_mean = sums.sum((0, 1)) / total if total > 0 else image.mean((0, 1))
    cells = np.where(counts[..., None] < 1, face_mean, sums / np.maximum(counts, 1)[..., None])
    return cells.astype(np.float32)


def upsample_cells(cells: np.ndarray, resolution: int) -> np.ndarray:
    """Smooth (R, R, 3) image from grid cells (bilinear between cell centres)."""
    return cv2.resize(cells, (resolution, resolution), interpolation=cv2.INTER_LINEAR)


def masked_surroundings(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The image with every pixel under the (hard) mask set to zero."""
    keep = (mask <= 0.0).astype(image.dtype)
    return image * keep[..., None]


def assemble(maps: np.ndarray, cells: np.ndarray, surroundings: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Stack the network conditions (13, R, R) float32; colours scaled to [-1, 1]."""
    r = mask.shape[0]
    low = upsample_cells(cells, r).transpose(2, 0, 1) / 127.5 - 1.0
    sur = surroundings.astype(np.float32).transpose(2, 0, 1) / 127.5 - 1.0
    hard = (mask > 0.0).astype(np.float32)
    sur = sur * (1.0 - hard)[None]  # zero (not -1) inside the mask
    return np.concatenate([maps, low, sur, hard[None]], 0).astype(np.float32)


def build_conditions(image: np.ndarray, lm: np.ndarray, mask: np.ndarray, grid: int) -> np.ndarray:
    """Conditions for one canonical-frame face (training path: everything from one image)."""
    r = image.shape[0]
    return assemble(mesh_maps(lm, r), lowfreq_cells(image, mask, grid), masked_surroundings(image, mask), mask)
