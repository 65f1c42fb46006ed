"""TensorRT backend: an engine built from the ONNX export, cached in ``engines/``.

Written against the TensorRT 10 Python API (``tensorrt``) with torch CUDA tensors as device
buffers. TensorRT cannot be installed on the development machine, so this module is tested
only where ``tensorrt`` imports and CUDA exists (``tests/test_synthetic_tensorrt.py``).

The cache key covers everything that makes an engine invalid: weights hash, input shapes
(resolution, batch profile), precision, TensorRT version and GPU (name, compute capability).
The key is stored next to the engine; a load whose key differs fails loudly.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np

from ...errors import BackendUnavailableError, GeneratorError

log = logging.getLogger(__name__)


def _imports():
    try:
        import tensorrt as trt
        import torch
    except ImportError as exc:
        raise BackendUnavailableError("tensorrt", "tensorrt", str(exc)) from None
    if not torch.cuda.is_available():
        raise BackendUnavailableError("tensorrt", "tensorrt", "no CUDA device")
    return trt, torch


def engine_key(weights, fp16: bool, max_batch: int) -> dict:
    trt, torch = _imports()
    props = torch.cuda.get_device_properties(0)
    return {"weights_sha256": weights.sha256, "resolution": weights.model.resolution,
            "cond_channels": weights.model.cond_channels, "batch_min": 1, "batch_opt": min(4, max_batch),
            "batch_max": max_batch, "precision": "fp16" if fp16 else "fp32", "tensorrt": trt.__version__,
            "gpu": props.name, "compute_capability": f"{props.major}.{props.minor}"}


def engine_path(engine_dir: Path, key: dict) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return engine_dir / f"face_flow_{key['weights_sha256'][:12]}_{digest}.engine"


def build_engine(weights, onnx_path: Path, engine_dir: Path, fp16: bool = True, max_batch: int = 16) -> Path:
    """Parse the ONNX file, build a serialized engine with a dynamic batch profile, save it."""
    trt, _ = _imports()
    key = engine_key(weights, fp16, max_batch)
    out = engine_path(engine_dir, key)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise GeneratorError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 1 << 30)
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    r, c = key["resolution"], key["cond_channels"]
    for name, shape in (("x", (3, r, r)), ("t", ()), ("cond", (c, r, r))):
        profile.set_shape(name, (1, *shape), (key["batch_opt"], *shape), (max_batch, *shape))
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise GeneratorError("TensorRT engine build failed (see TensorRT log)")
    engine_dir.mkdir(parents=True, exist_ok=True)
    out.write_bytes(bytes(serialized))
    out.with_suffix(".json").write_text(json.dumps(key, indent=2) + "\n")
    log.info("built TensorRT engine %s", out)
    return out


class TensorRTBackend:
    name = "tensorrt"

    def __init__(self, weights, engine_dir: str = "engines", fp16: bool = True, max_batch: int = 16,
                 build: bool = True) -> None:
        trt, torch = _imports()
        self.torch = torch
        key = engine_key(weights, fp16, max_batch)
        path = engine_path(Path(engine_dir), key)
        if not path.exists():
            if not build:
                raise GeneratorError(f"no TensorRT engine for this model and GPU: expected {path} "
                                     "(run `streamanon export --format tensorrt`)")
            from ..export import export

            path = export(weights, "tensorrt", engine_dir, fp16=fp16, max_batch=max_batch)
        stored = json.loads(path.with_suffix(".json").read_text())
        if stored != key:
            diff = {k: (key.get(k), stored.get(k)) for k in set(key) | set(stored) if key.get(k) != stored.get(k)}
            raise GeneratorError(f"TensorRT engine {path.name} does not match (expected, got): {diff}")
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = runtime.deserialize_cuda_engine(path.read_bytes())
        if self.engine is None:
            raise GeneratorError(f"TensorRT could not deserialize {path} (built by another TensorRT version?)")
        self.context = self.engine.create_execution_context()
        self.max_batch = max_batch
        self.stream = torch.cuda.Stream()
        self.path = path

    def velocity(self, x: np.ndarray, t: np.ndarray, cond: np.ndarray) -> np.ndarray:
        torch = self.torch
        b = x.shape[0]
        if b > self.max_batch:  # split large batches to fit the profile
            parts = [self.velocity(x[i:i + self.max_batch], t[i:i + self.max_batch], cond[i:i + self.max_batch])
                     for i in range(0, b, self.max_batch)]
            return np.concatenate(parts)
        with torch.cuda.stream(self.stream):
            feeds = {"x": torch.from_numpy(np.ascontiguousarray(x, np.float32)).cuda(),
                     "t": torch.from_numpy(np.ascontiguousarray(t, np.float32)).cuda(),
                     "cond": torch.from_numpy(np.ascontiguousarray(cond, np.float32)).cuda()}
            out = torch.empty_like(feeds["x"])
            for name, tensor in feeds.items():
                self.context.set_input_shape(name, tuple(tensor.shape))
                self.context.set_tensor_address(name, tensor.data_ptr())
            self.context.set_tensor_address("v", out.data_ptr())
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise GeneratorError("TensorRT execution failed")
            self.stream.synchronize()
            return out.cpu().numpy()
