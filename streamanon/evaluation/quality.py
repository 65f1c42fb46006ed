"""Image quality of the anonymized face: sharpness and seams at the mask border.

Both are ratios to the original at the same pixels, so 1.0 always means "like the input":
- **sharpness** = var(Laplacian of the anonymized face) / var(Laplacian of the original face),
  over the face square (dlib rect). Blur and solid give about 0; an untouched copy 1.
- **seam** = mean gradient magnitude of the anonymized frame on the border band of the
  changed region / the same for the original on the same band. The changed region is where
  the two frames differ by more than ``threshold`` grey levels around the face (so no mask
  from the run is needed); the band is ``band`` x face size wide. 1.0: the border is as
  smooth as the original there; 2.0: edges twice as strong (a visible seam). Faces where
  nothing changed have no border, and no seam value.
- **collateral** = share of the frame, outside every evaluated face (its square grown 2x),
  where the anonymized frame differs from the original by more than ``threshold`` grey
  levels: covers put where there is no face (false detections, stale tracks). Measured at
  quarter resolution; 0 is ideal (codec noise stays far below the threshold).
"""

from __future__ import annotations

import cv2
import numpy as np

Box = tuple[float, float, float, float]


def _region(shape: tuple[int, ...], rect: Box, grow: float) -> tuple[int, int, int, int]:
    h, w = shape[:2]
    x0, y0, x1, y1 = rect
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, grow * max(x1 - x0, y1 - y0) / 2
    return (max(0, int(cx - half)), max(0, int(cy - half)), min(w, int(np.ceil(cx + half))),
            min(h, int(np.ceil(cy + half))))


def _grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)


def laplacian_variance(image: np.ndarray) -> float:
    """Variance of the Laplacian of the grey image (higher is sharper)."""
    if image.size == 0:
        return 0.0
    return float(cv2.Laplacian(_grey(image), cv2.CV_32F, ksize=3).var())


def sharpness(original: np.ndarray, anonymized: np.ndarray, rect: Box) -> tuple[float, float]:
    """Laplacian variance of the face square in the original and the anonymized frame."""
    x0, y0, x1, y1 = _region(original.shape, rect, 1.0)
    return laplacian_variance(original[y0:y1, x0:x1]), laplacian_variance(anonymized[y0:y1, x0:x1])


def changed_mask(original: np.ndarray, anonymized: np.ndarray, threshold: float = 20.0) -> np.ndarray:
    """Pixels (bool) where the anonymized crop differs from the original, cleaned of noise."""
    diff = np.abs(_grey(original) - _grey(anonymized))
    diff = cv2.GaussianBlur(diff, (0, 0), 1.5)
    mask = (diff > threshold).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
    return mask.astype(bool)


def seam(original: np.ndarray, anonymized: np.ndarray, rect: Box, band: float = 0.04,
         threshold: float = 20.0) -> float | None:
    """Seam ratio at the border of the changed region around ``rect`` (see module doc)."""
    x0, y0, x1, y1 = _region(original.shape, rect, 1.8)
    orig, anon = original[y0:y1, x0:x1], anonymized[y0:y1, x0:x1]
    if orig.shape[0] < 8 or orig.shape[1] < 8:
        return None
    mask = changed_mask(orig, anon, threshold)
    if mask.mean() < 0.01:
        return None
    width = max(1, int(round(band * max(rect[2] - rect[0], rect[3] - rect[1]))))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    m8 = mask.astype(np.uint8)
    ring = (cv2.dilate(m8, kernel) - cv2.erode(m8, kernel)).astype(bool)
    # The crop's own edge is not a seam: keep the band away from it.
    ring[:2, :] = ring[-2:, :] = False
    ring[:, :2] = ring[:, -2:] = False
    if ring.sum() < 8:
        return None
    g_orig, g_anon = _gradient(orig), _gradient(anon)
    return float(g_anon[ring].mean() / max(float(g_orig[ring].mean()), 1.0))


def _gradient(image: np.ndarray) -> np.ndarray:
    grey = _grey(image)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    return np.sqrt(gx * gx + gy * gy)


def collateral(original: np.ndarray, anonymized: np.ndarray, rects: list, threshold: float = 20.0,
               grow: float = 2.0) -> float:
    """Share of the frame outside the grown face squares that the anonymization changed."""
    h, w = original.shape[:2]
    f = 4 if min(h, w) >= 64 else 1
    small = (max(1, w // f), max(1, h // f))
    o = cv2.resize(original, small, interpolation=cv2.INTER_AREA)
    a = cv2.resize(anonymized, small, interpolation=cv2.INTER_AREA)
    changed = changed_mask(o, a, threshold)
    outside = np.ones(changed.shape, bool)
    for rect in rects:
        x0, y0, x1, y1 = _region(original.shape, rect, grow)
        outside[y0 // f:(y1 + f - 1) // f, x0 // f:(x1 + f - 1) // f] = False
    return float((changed & outside).sum() / changed.size)


def summarize(samples: list, frames: list | None = None) -> dict:
    """Clip figures from face samples carrying ``sharp_orig``, ``sharp_anon`` and ``seam``."""
    so = np.array([s.sharp_orig for s in samples], dtype=np.float64)
    sa = np.array([s.sharp_anon for s in samples], dtype=np.float64)
    seams = np.array([s.seam for s in samples if s.seam is not None], dtype=np.float64)
    return {
        "sharpness_ratio": float(sa.sum() / so.sum()) if len(so) and so.sum() > 0 else None,
        "sharpness_original": float(so.mean()) if len(so) else None,
        "sharpness_anonymized": float(sa.mean()) if len(sa) else None,
        "seam_ratio": float(np.median(seams)) if len(seams) else None,
        "seam_faces": int(len(seams)),
        "collateral": float(np.mean([f.collateral for f in frames])) if frames else None,
        "collateral_max": float(np.max([f.collateral for f in frames])) if frames else None,
    }
