"""Scene-cut detection on downscaled frames: ``SceneCutDetector.update(image) -> bool``.

Each frame is reduced to a small picture and a hue-saturation-value histogram (a few
hundred numbers; nothing is kept but the last one). A cut is declared when the histogram
distance (Hellinger) between consecutive frames jumps above the threshold *and* the small
pictures differ a lot, so a fast pan (similar colours) or a light flicker (similar layout)
alone does not count.
"""

from __future__ import annotations

import cv2
import numpy as np

from .config import TemporalConfig

THUMB = (64, 36)
"""Size of the downscaled frame (width, height)."""
BINS = (16, 8, 8)
"""Hue, saturation and value bins of the histogram."""
MIN_PIXEL_CHANGE = 18.0
"""Mean absolute change of the grey thumbnail (0..255) a cut needs as well."""


def signature(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(normalized HSV histogram, grey thumbnail) of an RGB frame."""
    step = max(1, min(image.shape[0] // (4 * THUMB[1]), image.shape[1] // (4 * THUMB[0])))
    small = cv2.resize(image[::step, ::step], THUMB, interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, list(BINS), [0, 180, 0, 256, 0, 256]).ravel()
    hist = hist / max(float(hist.sum()), 1.0)
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return hist.astype(np.float32), grey


def hellinger(a: np.ndarray, b: np.ndarray) -> float:
    """Hellinger distance of two normalized histograms, 0 (same) to 1 (disjoint)."""
    bc = float(np.sqrt(a * b).sum())
    return float(np.sqrt(max(0.0, 1.0 - bc)))


class SceneCutDetector:
    """One per stream. ``update`` is called once per frame, in order."""

    def __init__(self, config: TemporalConfig) -> None:
        self.threshold = config.cut_threshold
        self.min_gap = config.cut_min_gap
        self._previous: tuple[np.ndarray, np.ndarray] | None = None
        self._since_cut = 10**9
        self.last_distance = 0.0

    def update(self, image: np.ndarray) -> bool:
        """True when ``image`` starts a new shot (never for the first frame)."""
        current = signature(image)
        previous, self._previous = self._previous, current
        self._since_cut += 1
        if previous is None:
            return False
        self.last_distance = hellinger(previous[0], current[0])
        pixel_change = float(np.abs(previous[1] - current[1]).mean())
        cut = (self.last_distance > self.threshold and pixel_change > MIN_PIXEL_CHANGE
               and self._since_cut > self.min_gap)
        if cut:
            self._since_cut = 0
        return cut
