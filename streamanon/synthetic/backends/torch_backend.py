"""PyTorch backend: CPU (fp32) or CUDA (fp16)."""

from __future__ import annotations

import numpy as np

from ...errors import BackendUnavailableError


class TorchBackend:
    name = "torch"

    def __init__(self, weights, device: str = "cpu", fp16: bool = False) -> None:
        try:
            import diffusers  # noqa: F401  (the UNet's blocks)
            import torch
        except ImportError as exc:
            raise BackendUnavailableError("torch", "synthetic", str(exc)) from None
        from ..model import FlowUNet

        if device == "cuda" and not torch.cuda.is_available():
            raise BackendUnavailableError("torch", "synthetic", "device cuda asked for but CUDA is not available")
        self.torch = torch
        self.device = torch.device(device)
        self.dtype = torch.float16 if (fp16 and device == "cuda") else torch.float32
        self.model = FlowUNet(weights.model)
        self.model.load_state_dict(weights.torch_state())
        self.model.to(self.device, self.dtype).eval()

    @classmethod
    def from_module(cls, model, device: str = "cpu") -> "TorchBackend":
        """Wrap an in-memory model (training sheets, tests)."""
        import torch

        self = cls.__new__(cls)
        self.torch, self.device, self.dtype, self.model = torch, torch.device(device), torch.float32, model.eval()
        return self

    def velocity(self, x: np.ndarray, t: np.ndarray, cond: np.ndarray) -> np.ndarray:
        torch = self.torch
        with torch.inference_mode():
            args = [torch.from_numpy(np.ascontiguousarray(a)).to(self.device, self.dtype) for a in (x, t, cond)]
            return self.model(*args).float().cpu().numpy()
