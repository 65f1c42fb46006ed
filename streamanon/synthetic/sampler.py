"""Few-step Euler sampling of the rectified flow, separate from the model (as in diffusers).

The flow runs from noise (t = 1) to the face (t = 0): ``x_t = (1 - t) x_0 + t * noise`` and the
model predicts ``v = noise - x_0``. The identity seed is the initial noise, drawn with NumPy so
that every backend (torch, ONNX Runtime, TensorRT) starts from the same numbers.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ..errors import ConfigError

# velocity(x_t, t, conditions) on numpy float32 arrays, batched; implemented by each backend.
VelocityFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def identity_noise(seeds: Sequence[int], resolution: int) -> np.ndarray:
    """(B, 3, R, R) float32 standard normal noise, a pure function of each seed."""
    out = np.empty((len(seeds), 3, resolution, resolution), np.float32)
    for i, seed in enumerate(seeds):
        rng = np.random.Generator(np.random.PCG64(int(seed) & 0xFFFFFFFFFFFFFFFF))
        out[i] = rng.standard_normal((3, resolution, resolution), dtype=np.float32)
    return out


def timesteps(steps: int, shift: float = 1.0) -> np.ndarray:
    """``steps + 1`` times from 1 to 0; ``shift`` > 1 spends more steps near the noise end."""
    if steps < 1:
        raise ConfigError(f"sampling steps: expected >= 1, got {steps}")
    t = np.linspace(1.0, 0.0, steps + 1)
    t = shift * t / (1 + (shift - 1) * t)
    return t.astype(np.float32)


class EulerFlowSampler:
    """Integrates the flow with ``steps`` Euler steps (1, 2 or 4 in practice)."""

    def __init__(self, steps: int = 2, shift: float = 1.0) -> None:
        self.steps = steps
        self.shift = shift
        self.times = timesteps(steps, shift)

    def sample(self, velocity: VelocityFn, noise: np.ndarray, cond: np.ndarray,
               start: np.ndarray | None = None, start_time: float = 1.0) -> np.ndarray:
        """Faces in [-1, 1], (B, 3, R, R). ``start``/``start_time`` resume from a partly
        denoised state (a temporal smoother may blend latents between frames and restart)."""
        x = noise.astype(np.float32) if start is None else start.astype(np.float32)
        times = self.times[self.times <= start_time + 1e-6]
        if times[0] < start_time - 1e-6:
            times = np.concatenate([[np.float32(start_time)], times])
        b = x.shape[0]
        for t0, t1 in zip(times[:-1], times[1:]):
            v = velocity(x, np.full((b,), t0, np.float32), cond)
            x = x + (t1 - t0) * v
        return np.clip(x, -1.0, 1.0)
