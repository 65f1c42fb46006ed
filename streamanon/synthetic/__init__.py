"""Synthetic face generator (diffusion). Not trained yet: asking for it fails clearly."""

from __future__ import annotations

from ..config import AnonymizerConfig
from ..errors import ConfigError


def create_synthetic_generator(config: AnonymizerConfig):
    raise ConfigError("mode 'synthetic' is not available yet: the face generator has not shipped; "
                      "use --mode blur, pixelate or solid")
