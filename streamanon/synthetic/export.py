"""Export the flow UNet: ONNX (dynamic batch) and TensorRT engines built from it.

File names carry the weights hash so a stale export is never picked up by mistake; the ONNX
file also records the hash in its metadata (``streamanon_weights_sha256``).
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

from ..errors import BackendUnavailableError, GeneratorError

log = logging.getLogger(__name__)
OPSET = 17


def onnx_path_for(weights, engine_dir: str | Path = "engines") -> Path:
    return Path(engine_dir) / f"face_flow_{weights.sha256[:12]}_r{weights.model.resolution}.onnx"


def read_onnx_hash(path: Path) -> str | None:
    try:
        import onnx
    except ImportError as exc:
        raise BackendUnavailableError("onnx", "onnx", str(exc)) from None
    model = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}.get("streamanon_weights_sha256")


def export_onnx(weights, path: Path) -> Path:
    """Trace the UNet (inputs x, t, cond; output v; dynamic batch) to ``path`` with fp32 weights."""
    try:
        import diffusers  # noqa: F401  (the UNet's blocks)
        import onnx
        import torch
    except ImportError as exc:
        raise BackendUnavailableError("onnx", "synthetic", f"exporting the model needs torch, diffusers and onnx: {exc}") from None
    from .model import FlowUNet

    model = FlowUNet(weights.model)
    model.load_state_dict(weights.torch_state())
    model.eval()
    r = weights.model.resolution
    x = torch.zeros(2, 3, r, r)
    t = torch.full((2,), 0.5)
    cond = torch.zeros(2, weights.model.cond_channels, r, r)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GeneratorError(f"cannot export the ONNX model to {path.parent}: {exc.strerror or exc}") from None
    tmp = path.with_suffix(f".{os.getpid()}.tmp.onnx")  # renamed into place: a reader never sees half a file
    axes = {name: {0: "batch"} for name in ("x", "t", "cond", "v")}
    # Tracing warns where Python sees a tensor's shape (diffusers' asserts, the time-step
    # broadcast); with a dynamic batch those branches hold for every batch the backends feed
    # (t always has one value per face), so the warnings say nothing a user can act on.
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(model, (x, t, cond), str(tmp), input_names=["x", "t", "cond"], output_names=["v"],
                          dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    proto = onnx.load(str(tmp))
    entry = proto.metadata_props.add()
    entry.key, entry.value = "streamanon_weights_sha256", weights.sha256
    onnx.save(proto, str(tmp))
    os.replace(tmp, path)
    log.info("exported %s", path)
    return path


def export(weights, fmt: str, engine_dir: str | Path = "engines", fp16: bool = True, max_batch: int = 16) -> Path:
    """``streamanon export``: ``onnx`` or ``tensorrt`` (the engine is built from the ONNX file)."""
    onnx_path = onnx_path_for(weights, engine_dir)
    if fmt == "onnx":
        return export_onnx(weights, onnx_path)
    if fmt == "tensorrt":
        from .backends.tensorrt_backend import build_engine

        if not onnx_path.exists():
            export_onnx(weights, onnx_path)
        return build_engine(weights, onnx_path, Path(engine_dir), fp16=fp16, max_batch=max_batch)
    raise GeneratorError(f"export format: expected onnx or tensorrt, got {fmt!r}")
