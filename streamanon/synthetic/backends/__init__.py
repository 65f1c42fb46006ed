"""Inference backends for the flow UNet, behind one interface.

A backend computes ``velocity(x_t, t, cond)`` for a whole batch (all faces of a frame) on
NumPy float32 arrays; the sampler does the rest. Heavy packages are imported lazily; a
missing one raises :class:`~streamanon.errors.BackendUnavailableError`.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ...errors import ConfigError


class VelocityBackend(Protocol):
    name: str

    def velocity(self, x: np.ndarray, t: np.ndarray, cond: np.ndarray) -> np.ndarray:
        ...


def create_backend(kind: str, weights, device: str = "cpu", precision: str = "auto",
                   engine_dir: str = "engines", max_batch: int = 16) -> VelocityBackend:
    """``kind``: torch, onnx or tensorrt. ``precision`` auto means fp16 on CUDA, fp32 on CPU."""
    fp16 = precision == "fp16" or (precision == "auto" and device == "cuda")
    if kind == "torch":
        from .torch_backend import TorchBackend

        return TorchBackend(weights, device=device, fp16=fp16)
    if kind == "onnx":
        from .onnx_backend import OnnxBackend

        return OnnxBackend(weights, device=device, engine_dir=engine_dir)
    if kind == "tensorrt":
        from .tensorrt_backend import TensorRTBackend

        return TensorRTBackend(weights, engine_dir=engine_dir, fp16=fp16, max_batch=max_batch)
    raise ConfigError(f"synthetic backend: expected torch, onnx or tensorrt, got {kind!r}")
