"""The denoiser: a diffusers ``UNet2DModel`` predicting flow velocity, conditions concatenated.

Pixel space, made cheap by a pixel-unshuffle: an R x R RGB image becomes (3 u^2) channels at
R/u, so a 128 px face costs what a 64 px UNet costs while the output keeps 128 px detail.
The model knows nothing about sampling; :mod:`.sampler` owns the time steps.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from ..errors import ConfigError
from .conditions import NUM_CHANNELS


@dataclass(frozen=True)
class ModelConfig:
    """Architecture; stored next to the weights so a checkpoint rebuilds itself."""

    resolution: int = 128
    """Side of the canonical face frame (pixels)."""
    unshuffle: int = 2
    """Pixel-unshuffle factor: the UNet runs at resolution / unshuffle."""
    grid: int = 6
    """Low-frequency colour cells across the frame (the only trace of the original face pixels)."""
    block_out_channels: tuple[int, ...] = (32, 64, 128)
    layers_per_block: int = 1
    attention_levels: tuple[int, ...] = (2,)
    """Indices of UNet levels with self-attention (0 is the highest resolution)."""
    norm_num_groups: int = 8
    prediction: str = "x0"
    """What the UNet outputs: ``x0`` (the clean face; robust when training is short) or
    ``velocity``. Either way :meth:`FlowUNet.forward` returns the flow velocity."""
    cond_channels: int = field(default=NUM_CHANNELS)

    def __post_init__(self) -> None:
        if self.resolution % (self.unshuffle * 2 ** (len(self.block_out_channels) - 1)):
            raise ConfigError(f"model.resolution {self.resolution} must divide by unshuffle x 2^(levels-1)")
        if self.prediction not in ("x0", "velocity"):
            raise ConfigError(f"model.prediction: expected x0 or velocity, got {self.prediction!r}")
        if any(c % self.norm_num_groups for c in self.block_out_channels):
            raise ConfigError("model.block_out_channels must divide by norm_num_groups")

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        names = set(cls.__dataclass_fields__)
        unknown = set(data) - names
        if unknown:
            raise ConfigError(f"model: unknown key(s) {sorted(unknown)}; expected {sorted(names)}")
        data = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)


class FlowUNet(nn.Module):
    """velocity = f(x_t, t, conditions); x_t and velocity are (B, 3, R, R), t in [0, 1]."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        from diffusers import UNet2DModel

        self.config = config
        u = config.unshuffle
        levels = len(config.block_out_channels)
        down = tuple("AttnDownBlock2D" if i in config.attention_levels else "DownBlock2D" for i in range(levels))
        up = tuple("AttnUpBlock2D" if (levels - 1 - i) in config.attention_levels else "UpBlock2D"
                   for i in range(levels))
        self.unet = UNet2DModel(
            sample_size=config.resolution // u,
            in_channels=(3 + config.cond_channels) * u * u,
            out_channels=3 * u * u,
            block_out_channels=config.block_out_channels,
            layers_per_block=config.layers_per_block,
            down_block_types=down,
            up_block_types=up,
            norm_num_groups=config.norm_num_groups,
            attention_head_dim=32,
            add_attention=True,
        )
        self.pack = nn.PixelUnshuffle(u) if u > 1 else nn.Identity()
        self.unpack = nn.PixelShuffle(u) if u > 1 else nn.Identity()

    def raw(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """The UNet's own output (x0 or velocity, per ``config.prediction``)."""
        h = self.pack(torch.cat([x, cond], 1))
        steps = t.reshape(-1).to(h.dtype) * 1000.0
        if steps.shape[0] == 1 and h.shape[0] > 1:
            steps = steps.expand(h.shape[0])
        return self.unpack(self.unet(h, steps).sample)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Flow velocity ``v = noise - x0`` at ``x_t``."""
        out = self.raw(x, t, cond)
        if self.config.prediction == "velocity":
            return out
        tt = t.reshape(-1, 1, 1, 1).to(out.dtype).clamp(min=1e-3)
        return (x - out) / tt


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
