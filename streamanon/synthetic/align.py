"""Similarity alignment between a face crop and the canonical face frame.

The canonical frame is a square of side ``resolution``; a *template* is the mean MediaPipe
mesh (478 points) in unit coordinates, placed so that the face oval spans ``OVAL_WIDTH`` of the
frame and the surroundings (hair, ears, background) fill the rest.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import GeneratorError, check

OVAL_WIDTH = 0.66
OVAL_CENTER = (0.5, 0.54)
# Eye centres (mean of the eye contour points) and mouth centre, for the bootstrap.
LEFT_EYE = (33, 133, 159, 145)
RIGHT_EYE = (263, 362, 386, 374)
MOUTH = (13, 14, 61, 291)
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
             377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)


def umeyama(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 similarity (rotation, uniform scale, translation) mapping ``src`` onto ``dst``."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    var = (s ** 2).sum() / len(src)
    if var < 1e-9:
        raise GeneratorError("landmarks are degenerate (all points coincide)")
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    e = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        e[1, 1] = -1
    r = u @ e @ vt
    scale = (sig * np.diag(e)).sum() / var
    t = mu_d - scale * r @ mu_s
    return np.hstack([scale * r, t[:, None]])


def apply(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to (N, 2) points."""
    return (points @ m[:, :2].T + m[:, 2]).astype(np.float32)


def invert(m: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(np.asarray(m, np.float64))


def bootstrap_template(points: np.ndarray) -> np.ndarray:
    """Mean mesh of a face set, in unit canonical coordinates (two rounds of Procrustes)."""
    check(points.ndim == 3 and points.shape[1:] == (478, 2), GeneratorError, "mesh set shape",
          "(N, 478, 2)", points.shape)
    anchors = np.array([[0.35, 0.4], [0.65, 0.4], [0.5, 0.72]])
    aligned = []
    for p in points:
        key = np.stack([p[list(LEFT_EYE)].mean(0), p[list(RIGHT_EYE)].mean(0), p[list(MOUTH)].mean(0)])
        aligned.append(apply(umeyama(key, anchors), p))
    mean = np.mean(aligned, axis=0)
    for _ in range(2):
        mean = np.mean([apply(umeyama(p, mean), p) for p in points], axis=0)
    return place(mean)


def place(shape: np.ndarray) -> np.ndarray:
    """Scale and shift a mesh so its face oval spans ``OVAL_WIDTH`` centred at ``OVAL_CENTER``."""
    oval = shape[list(FACE_OVAL)]
    width = oval[:, 0].max() - oval[:, 0].min()
    centre = (oval.max(0) + oval.min(0)) / 2
    return ((shape - centre) * (OVAL_WIDTH / width) + np.array(OVAL_CENTER)).astype(np.float32)


def mirror_index(template: np.ndarray) -> np.ndarray:
    """For each mesh point, the index of its left-right mirror point."""
    flipped = template.copy()
    flipped[:, 0] = 1.0 - flipped[:, 0]
    d = ((template[None, :, :] - flipped[:, None, :]) ** 2).sum(-1)
    return d.argmin(1).astype(np.int64)


def estimate(landmarks: np.ndarray, template: np.ndarray, resolution: int) -> np.ndarray:
    """2x3 similarity from crop pixels to the canonical frame of side ``resolution``."""
    check(landmarks.shape[0] == template.shape[0], GeneratorError, "landmark count",
          template.shape[0], landmarks.shape[0])
    return umeyama(landmarks[:, :2], template * resolution)


def warp_to_canonical(image: np.ndarray, m: np.ndarray, resolution: int,
                      border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
    return cv2.warpAffine(image, m, (resolution, resolution), flags=cv2.INTER_AREA
                          if m[0, 0] ** 2 + m[0, 1] ** 2 < 1 else cv2.INTER_LINEAR, borderMode=border)


def warp_to_crop(image: np.ndarray, m: np.ndarray, size: tuple[int, int],
                 border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
    """Warp a canonical-frame image back into a crop of ``size`` = (height, width)."""
    h, w = size
    return cv2.warpAffine(image, invert(m), (w, h), flags=cv2.INTER_LINEAR, borderMode=border)
