"""The aligned face frame of one track, where masks and faces are blended across frames.

A track's frame is fixed at its birth: the first mesh, centred and scaled so that its face
oval spans ``OVAL_SPAN`` of a square of side ``size``. Each later frame is mapped onto it by a
similarity (rotation, scale, shift) fitted on rigid mesh points, so head motion in the picture
disappears and what is left in the aligned frame is turning and expression. Faces without a
mesh use the crop square itself (the crop is centred on the tracked box).
"""

from __future__ import annotations

import cv2
import numpy as np

OVAL_SPAN = 0.6
# Rigid points: face oval, eye corners, nose bridge and tip (not the lips or the brows).
RIGID = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152,
         148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
         33, 133, 362, 263, 168, 6, 197, 195, 5, 4, 1)


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 least-squares similarity mapping ``src`` points onto ``dst`` (Umeyama, no reflection)."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    var = max(float((s ** 2).sum()) / len(src), 1e-9)
    u, sig, vt = np.linalg.svd(d.T @ s / len(src))
    e = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        e[1, 1] = -1
    r = u @ e @ vt
    scale = float((sig * np.diag(e)).sum()) / var
    return np.hstack([scale * r, (mu_d - scale * r @ mu_s)[:, None]])


def reference_shape(landmarks: np.ndarray, size: int) -> np.ndarray:
    """A track's first mesh placed in its aligned frame (rigid points only)."""
    pts = landmarks[list(RIGID)].astype(np.float64)
    lo, hi = pts.min(0), pts.max(0)
    scale = OVAL_SPAN * size / max(float((hi - lo).max()), 1e-3)
    return (pts - (lo + hi) / 2) * scale + size / 2


def to_aligned(landmarks: np.ndarray | None, reference: np.ndarray | None, crop_shape: tuple[int, int],
               size: int) -> np.ndarray:
    """2x3 map from crop pixels to the aligned frame."""
    if landmarks is not None and reference is not None and len(landmarks) > max(RIGID):
        return similarity(landmarks[list(RIGID)], reference)
    h, w = crop_shape
    s = size / max(h, w)
    return np.array([[s, 0.0, (size - s * w) / 2], [0.0, s, (size - s * h) / 2]])


def warp_in(image: np.ndarray, m: np.ndarray, size: int) -> np.ndarray:
    return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def warp_out(image: np.ndarray, m: np.ndarray, crop_shape: tuple[int, int]) -> np.ndarray:
    h, w = crop_shape
    return cv2.warpAffine(image, cv2.invertAffineTransform(m), (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT)


def apply(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ m[:, :2].T + m[:, 2]
