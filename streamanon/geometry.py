"""Small geometric helpers shared by stages: boxes, regions, rotations."""

from __future__ import annotations

import numpy as np

Box = tuple[float, float, float, float]


def box_iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def box_center_size(box: Box) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = box
    return (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0


def box_from_center(cx: float, cy: float, w: float, h: float) -> Box:
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def square_region(box: Box, scale: float, width: int, height: int) -> tuple[int, int, int, int]:
    """Integer square region of side ``scale * max(w, h)`` around the box, clipped to the frame."""
    cx, cy, w, h = box_center_size(box)
    half = scale * max(w, h) / 2
    x0 = min(width - 1, int(np.floor(max(0.0, cx - half))))
    y0 = min(height - 1, int(np.floor(max(0.0, cy - half))))
    x1 = max(x0 + 1, int(np.ceil(min(float(width), cx + half))))
    y1 = max(y0 + 1, int(np.ceil(min(float(height), cy + half))))
    return x0, y0, x1, y1


def rotate_points_back(points: np.ndarray, rotation: int, upright_shape: tuple[int, ...]) -> np.ndarray:
    """Map points found on ``np.rot90(image, rotation // 90)`` (counter-clockwise) back to the stored image."""
    k = (rotation // 90) % 4
    h, w = upright_shape[:2]  # shape of the rotated (upright) view
    x, y = points[:, 0], points[:, 1]
    if k == 0:
        out = np.stack([x, y], axis=1)
    elif k == 1:  # rot90 counter-clockwise: stored (r, c) -> upright (W-1-c, r)
        out = np.stack([h - y, x], axis=1)
    elif k == 2:
        out = np.stack([w - x, h - y], axis=1)
    else:
        out = np.stack([y, w - x], axis=1)
    return out.astype(np.float32)
