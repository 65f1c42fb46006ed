"""Face generators behind one interface, chosen by mode."""

from __future__ import annotations

from ..config import AnonymizerConfig
from ..errors import BackendUnavailableError, ConfigError
from .base import FaceGenerator
from .baseline import BlurGenerator, PixelateGenerator, SolidGenerator, fallback_patch


def create_generator(config: AnonymizerConfig) -> FaceGenerator:
    """The generator for ``config.mode``. Heavy backends are imported only when asked for."""
    if config.mode == "blur":
        return BlurGenerator(strength=config.blur_strength)
    if config.mode == "pixelate":
        return PixelateGenerator(blocks=config.pixel_blocks)
    if config.mode == "solid":
        return SolidGenerator(color=config.solid_color)
    if config.mode == "synthetic":
        from ..synthetic import create_synthetic_generator  # lazy: needs torch or onnxruntime

        try:
            return create_synthetic_generator(config)
        except BackendUnavailableError as exc:  # the default mode: say how to do without it
            hint = "or cover faces instead of replacing them: --mode blur (anonymizer.mode: blur)"
            raise BackendUnavailableError(exc.backend, exc.extra, f"{exc.detail}; {hint}" if exc.detail else hint) from None
    raise ConfigError(f"unknown mode {config.mode!r}; expected synthetic, blur, pixelate or solid")


__all__ = ["FaceGenerator", "create_generator", "fallback_patch",
           "BlurGenerator", "PixelateGenerator", "SolidGenerator"]
