"""One-Euro smoothing of face landmarks, per track: ``LandmarkSmoother.smooth(tracks, time)``.

The One-Euro filter (Casiez et al., CHI 2012) is a low-pass filter whose cutoff rises with
speed: a still face is smoothed hard (no jitter in the crop, mask or alignment), a fast head
turn raises the cutoff so the points follow without lag. Speed is measured in face sizes per
second, so the same settings fit small and large faces.

Only the mesh landmarks are smoothed; the box and detector keypoints stay as the tracker
made them. Masks built from smoothed landmarks are guarded by the per-frame mask
(:mod:`.masks`), so smoothing can never uncover a face.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from ..synthetic.mesh_topology import (LEFT_EYE_LOOP, LEFT_IRIS, LIPS_INNER_LOOP, LIPS_OUTER_LOOP, RIGHT_EYE_LOOP,
                                       RIGHT_IRIS)
from ..types import Track
from .config import TemporalConfig

EYE_CORNERS = (33, 133, 362, 263)
"""Left out of the expression points: they anchor the face's alignment, which stays calm."""
EXPRESSION_POINTS = tuple(sorted(set(LIPS_OUTER_LOOP + LIPS_INNER_LOOP + LEFT_EYE_LOOP + RIGHT_EYE_LOOP
                                     + LEFT_IRIS + RIGHT_IRIS) - set(EYE_CORNERS)))
"""Mesh points of the lips, eyelids and irises (expression and gaze)."""


def min_cutoffs(count: int, face: float, expression: float) -> np.ndarray:
    """Per-point still-face cutoff, shape (count, 1): ``expression`` for the expression points."""
    out = np.full((count, 1), face, dtype=np.float64)
    out[[i for i in EXPRESSION_POINTS if i < count]] = expression
    return out


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    """Exponential smoothing factor of a first-order low-pass at ``cutoff`` Hz."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, dtype=np.float64))
    return 1.0 / (1.0 + tau / dt)


@dataclass
class OneEuroFilter:
    """Vectorized One-Euro filter over an array of points (any shape)."""

    min_cutoff: float | np.ndarray
    """Hz; an array broadcasts per point (e.g. shape (N, 1))."""
    beta: float
    d_cutoff: float
    x: np.ndarray | None = None
    dx: np.ndarray | None = None

    def reset(self) -> None:
        self.x, self.dx = None, None

    def __call__(self, value: np.ndarray, dt: float, scale: float = 1.0) -> np.ndarray:
        """Filtered ``value``; ``scale`` divides speeds (e.g. face size, so speeds are relative)."""
        value = np.asarray(value, dtype=np.float64)
        if self.x is None or self.x.shape != value.shape:
            self.x, self.dx = value.copy(), np.zeros_like(value)
            return value.copy()
        dx = (value - self.x) / dt
        self.dx = self.dx + _alpha(self.d_cutoff, dt) * (dx - self.dx)
        speed = np.abs(self.dx) / max(scale, 1e-6)
        if value.ndim >= 2:  # one speed per point (x and y together)
            speed = np.linalg.norm(self.dx, axis=-1, keepdims=True) / max(scale, 1e-6)
        a = _alpha(self.min_cutoff + self.beta * speed, dt)
        self.x = self.x + a * (value - self.x)
        return self.x.copy()


class LandmarkSmoother:
    """One filter per track; tracks that end are forgotten, new tracks start unfiltered."""

    def __init__(self, config: TemporalConfig) -> None:
        self.config = config
        self._filters: dict[int, OneEuroFilter] = {}
        self._last_time: float | None = None

    def reset(self) -> None:
        """Forget every track's filter (a scene cut)."""
        self._filters.clear()

    def smooth(self, tracks: tuple[Track, ...] | list[Track], time: float | None) -> tuple[Track, ...]:
        """The tracks with their landmarks smoothed; ``time`` in seconds (None: assume the
        configured frame rate). Coasting tracks are left as the tracker predicted them."""
        dt = self._step(time)
        alive = {t.track_id for t in tracks}
        for tid in list(self._filters):
            if tid not in alive:
                del self._filters[tid]
        out = []
        for t in tracks:
            if t.landmarks is None or t.coasting:
                out.append(t)
                continue
            f = self._filters.get(t.track_id)
            if f is None:
                c = self.config
                cutoffs = min_cutoffs(len(t.landmarks), c.landmark_min_cutoff, c.landmark_expression_cutoff)
                f = self._filters[t.track_id] = OneEuroFilter(cutoffs, c.landmark_beta, c.landmark_d_cutoff)
            size = max(t.box[2] - t.box[0], t.box[3] - t.box[1], 1.0)
            smoothed = f(t.landmarks, dt, scale=size).astype(np.float32)
            out.append(dataclasses.replace(t, landmarks=smoothed))
        return tuple(out)

    def _step(self, time: float | None) -> float:
        default = 1.0 / self.config.fps_fallback
        if time is None or self._last_time is None:
            self._last_time = time
            return default
        dt = time - self._last_time
        self._last_time = time
        return dt if 1e-4 < dt < 1.0 else default
