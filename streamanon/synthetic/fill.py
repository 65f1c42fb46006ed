"""Fill a region from the pixels around it, never reading the pixels inside it.

``fill_from_outside(image, known)`` is a push-pull interpolation (a pyramid of known-weighted
means, coarse levels filling the holes of fine ones, as in the Lumigraph's hole filling): each
unknown pixel gets a smooth blend of the known pixels nearest it, and an unknown pixel's own
value has weight zero at every level. The synthetic generator uses it where the pipeline's
mask reaches past the face the network drew (below a close face's chin, beyond the canonical
frame): what shows there continues the drawn chin into the neck and clothes around it, where
a heavy blur of the whole region used to lay a flat, dark band under every chin.
"""

from __future__ import annotations

import cv2
import numpy as np

_EPS = 1e-6


def fill_from_outside(image: np.ndarray, known: np.ndarray, max_side: int = 160) -> np.ndarray:
    """``image`` (H, W, C) float32 with its pixels where ``known`` (H, W) is 0 replaced from the
    known ones around them; known pixels (``known`` == 1) keep their value. ``known`` may be
    fractional (a pixel's weight). With nothing known, the result is mid-grey. The fill is
    computed at most ``max_side`` pixels across (it is smooth): a 600 px crop takes 6-10 ms on
    this project's 2-core machine (20 at full resolution; the heavy blur it replaced, 3), a
    900 px one 28 (43; 8)."""
    if image.ndim != 3 or known.shape != image.shape[:2]:
        raise ValueError(f"fill_from_outside: expected (H, W, C) and (H, W), got {image.shape} and {known.shape}")
    w = np.clip(known.astype(np.float32), 0.0, 1.0)
    if w.max() <= 0.0:
        return np.full(image.shape, 127.5, np.float32)
    h, wd = w.shape
    own = np.ascontiguousarray(image, np.float32)
    w3 = cv2.merge([w] * own.shape[2]).reshape(own.shape)
    premultiplied = cv2.multiply(own, w3)  # cv2 element-wise: 2.9 -> 1.6 ms (600 px) against numpy
    factor = max(h, wd) / max_side
    if factor > 1.0:  # area means of weight and premultiplied colour: unknown pixels still weigh 0
        size = (max(1, round(wd / factor)), max(1, round(h / factor)))
        small_w = cv2.resize(w, size, interpolation=cv2.INTER_AREA)
        small = cv2.resize(premultiplied, size, interpolation=cv2.INTER_AREA).reshape(size[1], size[0], -1)
        est = cv2.resize(_push_pull(small, small_w), (wd, h), interpolation=cv2.INTER_LINEAR).reshape(own.shape)
    else:
        est = _push_pull(premultiplied, w)
    return cv2.add(cv2.multiply(cv2.subtract(own, est), w3), est).reshape(own.shape)  # w own + (1 - w) est: 5.9 -> 2.1 ms


def _push_pull(premultiplied: np.ndarray, w: np.ndarray) -> np.ndarray:
    levels = [(premultiplied, w)]
    while min(levels[-1][1].shape) > 2:  # push: premultiplied means, level by level
        s, ws = levels[-1]
        levels.append((cv2.pyrDown(s), cv2.pyrDown(ws)))
    s, ws = levels[-1]
    total = float(ws.sum())
    mean = (s.reshape(-1, s.shape[-1]).sum(0) / total).astype(np.float32)
    est = np.where(ws[..., None] > _EPS, s / np.maximum(ws, _EPS)[..., None], mean)
    for s, ws in reversed(levels[:-1]):  # pull: each level's own means where it has weight
        up = cv2.pyrUp(est, dstsize=(ws.shape[1], ws.shape[0]))
        if up.ndim == 2:
            up = up[..., None]
        own = s / np.maximum(ws, _EPS)[..., None]
        a = np.clip(ws, 0.0, 1.0)[..., None]
        est = a * own + (1.0 - a) * up
    return est.astype(np.float32)
