"""ONNX Runtime backend (CUDA execution provider where present, else CPU). The default on CPU.

The ONNX file carries the weights hash in its name and metadata. It is looked for in
``engine_dir`` (where ``streamanon export --format onnx`` puts it, ``engines/``), then in the
user cache (:func:`streamanon.cache.cache_dir`, ``onnx/``); when neither has it, it is
exported once into the cache (about 3-6 s, needs torch and diffusers: the `synthetic`
extra), never into the working directory.
A file whose recorded hash differs is refused.

ONNX Runtime's worker threads busy-wait ("spin") after each run by default, waiting for the
next one. Here the next work is not the network's: the face conditions, the warp back, the
detector and the encoder run on the same cores between runs, and the spinning threads take
them. The session is made with spinning off (``ALLOW_SPINNING``).
"""

from __future__ import annotations

import os

import numpy as np

from ...errors import BackendUnavailableError, GeneratorError


ALLOW_SPINNING = "0"
"""``session.intra_op.allow_spinning``. One 497 x 451 px face of talking_d10 in a process whose
detector has run (as in every ``streamanon run``), 2 cores: with spinning (ONNX Runtime's
default) 44 ms per face, 24 of them in the numpy and OpenCV work of the conditions; without,
30 ms (conditions 6). Timed alone on the benchmark's 200 px crops
(``benchmarks/bench_generator.py``, no detector loaded) spinning was as fast or faster (13-17
against 17-20 ms per face): what it costs is the other work on the same cores. Whole ``streamanon
run`` figures: ``THREAD_ENVIRONMENT`` in :mod:`streamanon.cli`."""


class OnnxBackend:
    name = "onnx"

    def __init__(self, weights, device: str = "cpu", engine_dir: str = "engines", threads: int = 0) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise BackendUnavailableError("onnx", "onnx", str(exc)) from None
        from ...cache import cache_dir
        from ..export import export_onnx, onnx_path_for, read_onnx_hash

        path = onnx_path_for(weights, engine_dir)
        if not path.exists():
            path = onnx_path_for(weights, cache_dir() / "onnx")
            if not path.exists():
                export_onnx(weights, path)
        recorded = read_onnx_hash(path)
        if recorded != weights.sha256:
            raise GeneratorError(f"ONNX model {path} was exported from other weights: expected "
                                 f"{weights.sha256[:16]}, got {str(recorded)[:16]}")
        providers = ["CPUExecutionProvider"]
        if device == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise BackendUnavailableError("onnx", "onnx", "device cuda asked for but onnxruntime has no "
                                              "CUDAExecutionProvider (install onnxruntime-gpu)")
            providers.insert(0, "CUDAExecutionProvider")
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.add_session_config_entry("session.intra_op.allow_spinning", ALLOW_SPINNING)
        n = threads or int(os.environ.get("STREAMANON_THREADS", "0") or 0)
        if n:
            opts.intra_op_num_threads = n
        self.session = ort.InferenceSession(str(path), opts, providers=providers)
        self.path = path

    def velocity(self, x: np.ndarray, t: np.ndarray, cond: np.ndarray) -> np.ndarray:
        feed = {"x": np.ascontiguousarray(x, np.float32), "t": np.ascontiguousarray(t, np.float32),
                "cond": np.ascontiguousarray(cond, np.float32)}
        return self.session.run(["v"], feed)[0]
