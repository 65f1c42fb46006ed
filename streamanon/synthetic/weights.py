"""Shipped generator weights: one safetensors file plus a JSON sidecar with its SHA-256.

The safetensors file holds the UNet (``unet.*``, fp16 to stay small) and the shape model
(``shape.*``, fp32); the sidecar holds the architecture, the hash and training facts. Loading
checks the hash first and refuses a file that does not match.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import BackendUnavailableError, GeneratorError
from .degree import ShapeModel
from .model import ModelConfig

DEFAULT_NAME = "face_flow_cpu_preview"


class WeightsIntegrityError(GeneratorError):
    """The weights file is missing, unreadable or does not match its recorded hash."""


def default_weights_path() -> Path:
    return Path(__file__).resolve().parent.parent / "weights" / f"{DEFAULT_NAME}.safetensors"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True, eq=False)
class GeneratorWeights:
    path: Path
    sha256: str
    model: ModelConfig
    unet: dict[str, np.ndarray]
    shape: ShapeModel
    info: dict

    def torch_state(self) -> dict:
        """State dict for :class:`~streamanon.synthetic.model.FlowUNet` (float32 tensors)."""
        import torch

        return {k: torch.from_numpy(v.astype(np.float32)) for k, v in self.unet.items()}


def save_weights(path: Path, model_config: ModelConfig, state: dict, shape: ShapeModel, info: dict) -> str:
    """Write ``path`` (.safetensors) and ``path.with_suffix('.json')``; returns the SHA-256."""
    from safetensors.numpy import save_file

    tensors = {f"unet.{k}": v.detach().cpu().numpy().astype(np.float16) for k, v in state.items()}
    tensors.update(shape.tensors())
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"format": "streamanon-face-flow-1"})
    path.chmod(0o644)  # safetensors writes 0600; the package must be readable by all
    digest = sha256_file(path)
    sidecar = {"file": path.name, "sha256": digest, "bytes": path.stat().st_size,
               "model": model_config.to_dict(), **info}
    path.with_suffix(".json").write_text(json.dumps(sidecar, indent=2, default=list) + "\n")
    return digest


def load_weights(path: str | Path | None = None) -> GeneratorWeights:
    """Load and hash-check the weights (the packaged default when ``path`` is None)."""
    try:
        from safetensors.numpy import load_file
    except ImportError as exc:
        raise BackendUnavailableError("synthetic", "synthetic", str(exc)) from None

    p = Path(path) if path else default_weights_path()
    side = p.with_suffix(".json")
    if not p.exists() or not side.exists():
        raise WeightsIntegrityError(f"generator weights not found: expected {p} and {side.name}")
    try:
        meta = json.loads(side.read_text())
    except (OSError, ValueError) as exc:
        raise WeightsIntegrityError(f"cannot read {side}: {exc}") from None
    digest = sha256_file(p)
    if digest != meta.get("sha256"):
        raise WeightsIntegrityError(f"weights hash mismatch for {p.name}: expected {meta.get('sha256')}, "
                                    f"got {digest} (file corrupted or replaced)")
    tensors = load_file(str(p))
    unet = {k[5:]: v for k, v in tensors.items() if k.startswith("unet.")}
    shape = ShapeModel.from_tensors(tensors)
    info = {k: v for k, v in meta.items() if k not in ("model",)}
    return GeneratorWeights(p, digest, ModelConfig.from_dict(meta["model"]), unet, shape, info)
