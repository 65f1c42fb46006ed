"""Small builders for tests and benchmarks: a random-init tiny model and a synthetic face crop."""

from __future__ import annotations

import cv2
import numpy as np

from ..types import FaceCrop
from . import mesh_topology as topo
from .model import ModelConfig
from .weights import GeneratorWeights, load_weights

TINY = ModelConfig(resolution=64, unshuffle=2, grid=6, block_out_channels=(16, 32), layers_per_block=1,
                   attention_levels=(1,), norm_num_groups=8)


def tiny_weights(config: ModelConfig = TINY, seed: int = 0) -> GeneratorWeights:
    """Random-init weights of a tiny model with the packaged shape model (template, degree)."""
    import torch

    from .model import FlowUNet

    torch.manual_seed(seed)
    state = FlowUNet(config).state_dict()
    shipped = load_weights()
    return GeneratorWeights(path=shipped.path, sha256=f"tiny{seed:060d}", model=config,
                            unet={k: v.numpy() for k, v in state.items()}, shape=shipped.shape, info={})


def synthetic_crop(template: np.ndarray, size: int = 160, seed: int = 0, track_id: int = 0,
                   face_seed: int = 1234, with_landmarks: bool = True) -> FaceCrop:
    """A textured crop with a plausible 478-point mesh (scaled, rotated template) and its mask."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    image = cv2.GaussianBlur(image, (0, 0), 1.0)
    ang = np.deg2rad(rng.normal(0, 8))
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    lm = ((template - 0.5) @ rot.T) * size * 0.9 + size / 2 + rng.normal(0, 2, 2)
    mask = np.zeros((size, size), np.float32)
    cv2.fillPoly(mask, [np.round(lm[list(topo.OVAL_LOOP)]).astype(np.int32)], 1.0)
    mask = cv2.GaussianBlur(mask, (0, 0), 3.0)
    return FaceCrop(track_id=track_id, seed=face_seed, box=(10, 20, 10 + size, 20 + size), image=image,
                    mask=mask, landmarks=lm.astype(np.float32) if with_landmarks else None)
