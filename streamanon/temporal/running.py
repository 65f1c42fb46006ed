"""Per-track running means of things that belong to the person, not to the frame."""

from __future__ import annotations

import numpy as np

from .pertrack import PerTrackState


class TrackRunningMean(PerTrackState):
    """Mean of a per-frame value over about ``frames`` frames of each track: equal weights
    from the track's birth until ``frames``, then an exponential average of that length."""

    _STORES = ("_means",)

    def __init__(self, frames: int) -> None:
        if frames < 0:
            raise ValueError(f"running mean frames: expected 0 (off) or more, got {frames}")
        self.frames = int(frames)
        self._means: dict[int, tuple[np.ndarray, int]] = {}

    def update(self, track_id: int, value: np.ndarray) -> np.ndarray:
        """The track's mean with ``value`` (this frame's) included; remembers it. With
        ``frames`` 0 or 1, or a value of another shape than before, ``value`` itself."""
        kept = self._means.get(track_id)
        if self.frames <= 1 or kept is None or kept[0].shape != np.shape(value):
            self._means[track_id] = (value, 1)
            return value
        mean, count = kept
        count = min(count + 1, self.frames)
        mean = (mean + (value - mean) / count).astype(np.asarray(value).dtype)
        self._means[track_id] = (mean, count)
        return mean
