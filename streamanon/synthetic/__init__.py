"""Synthetic faces: a few-step conditional flow model trained by the project (see MODEL_CARD.md).

``create_synthetic_generator(config)`` loads the packaged weights (hash-checked), picks the
backend (``torch``, ``onnx`` or ``tensorrt``) and returns a
:class:`~streamanon.generators.base.FaceGenerator`. Extra knobs live in
:class:`~streamanon.synthetic.generator.SyntheticConfig`.
"""

from __future__ import annotations

from ..config import AnonymizerConfig
from .generator import SyntheticConfig, SyntheticFaceGenerator

__all__ = ["SyntheticConfig", "SyntheticFaceGenerator", "create_synthetic_generator", "resolve_backend"]


def resolve_backend(backend: str, device: str) -> str:
    """``anonymizer.backend`` as run: ``auto`` is onnx on CPU and torch on CUDA."""
    if backend != "auto":
        return backend
    return "torch" if device == "cuda" else "onnx"


def create_synthetic_generator(config: AnonymizerConfig, synthetic: SyntheticConfig | None = None):
    """The synthetic generator for ``config`` (mode, degree, backend, device, fallback)."""
    from .backends import create_backend
    from ..config import fallback_kind
    from .weights import load_weights

    synthetic = synthetic or SyntheticConfig(weights=config.weights, outline=config.degree_outline)
    weights = load_weights(synthetic.weights)
    backend = create_backend(resolve_backend(config.backend, config.device), weights, device=config.device,
                             precision=synthetic.precision, engine_dir=synthetic.engine_dir,
                             max_batch=synthetic.max_batch)
    return SyntheticFaceGenerator(weights, backend, degree=config.degree, config=synthetic,
                                  fallback=fallback_kind(config), min_face_px=config.min_face_px,
                                  max_yaw=config.max_yaw)
