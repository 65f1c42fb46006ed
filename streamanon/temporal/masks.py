"""Steady blend masks and skin tone per track.

* :class:`MaskSmoother` blends a track's mask with its previous ones in the track's aligned
  frame (so a moving face does not smear its mask) with a weight that falls with motion.
  The result is never below the per-frame mask (``guard``): smoothing can make an edge
  calmer (holding it out where the measured mesh jitters inward), never uncover anything.
* :class:`ColourSmoother` keeps the mean colour of a track's generated face on a slow
  exponential average, so the skin tone does not pulse. ``cells`` does the same for a
  generator's colour conditions (the grid of mean colours it matches), if it wants to.
"""

from __future__ import annotations


import numpy as np

from .config import TemporalConfig
from .pertrack import PerTrackState
from .latent import blend_weight


def guard(smoothed: np.ndarray, per_frame: np.ndarray) -> np.ndarray:
    """``smoothed``, but nowhere below the per-frame mask: smoothing may only add cover, so no
    pixel shows more of the original than per-frame processing would show."""
    return np.maximum(smoothed, per_frame).astype(np.float32)


class MaskSmoother(PerTrackState):
    """Exponential average of masks in the aligned frame, per track."""

    _STORES = ("_previous",)

    def __init__(self, config: TemporalConfig) -> None:
        self.config = config
        self._previous: dict[int, np.ndarray] = {}

    def step(self, track_id: int, aligned_mask: np.ndarray, motion: float) -> np.ndarray:
        """Change to add to ``aligned_mask`` (aligned frame) to follow the track's past masks."""
        previous = self._previous.get(track_id)
        delta = np.zeros_like(aligned_mask)
        if previous is not None and previous.shape == aligned_mask.shape:
            w = blend_weight(self.config.mask_weight, motion, self.config.face_motion_scale)
            delta = w * (previous - aligned_mask)
        self._previous[track_id] = aligned_mask + delta
        return delta


class ColourSmoother(PerTrackState):
    """Slow average of each track's mean face colour (RGB)."""

    _STORES = ("_mean",)

    def __init__(self, config: TemporalConfig) -> None:
        self.weight = config.colour_weight
        self._mean: dict[int, np.ndarray] = {}

    def step(self, track_id: int, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """RGB shift (3,) that brings the face's mean colour (under ``mask``) to the average."""
        w = mask.astype(np.float64).reshape(-1)
        total = float(w.sum())
        if total < 1.0:
            return np.zeros(3, np.float32)
        mean = (image.reshape(-1, 3) * w[:, None]).sum(0) / total  # (no BLAS call: tiny arrays)
        previous = self._mean.get(track_id)
        smoothed = mean if previous is None else self.weight * previous + (1.0 - self.weight) * mean
        self._mean[track_id] = smoothed
        return (smoothed - mean).astype(np.float32)
