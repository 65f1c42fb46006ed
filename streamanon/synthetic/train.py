"""``streamanon train``: conditional rectified-flow training of the face generator.

Reads a YAML config (``configs/train_*.yaml``) with sections ``data``, ``model``, ``train``.
Resumable: the run folder keeps ``checkpoint.pt`` (model, EMA, optimizer, step, RNG state);
running the same config again continues. Logs go to ``train.jsonl``, sample sheets
(holdout faces, 1/2/4 Euler steps) to ``samples/``. The same config trains a bigger model on a
GPU by changing ``model`` and ``train.device``.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import ConfigError
from .conditions import CHANNELS
from .model import ModelConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataConfig:
    images: str = "../shared/data/faces/utkface_crop_part1"
    cache: str = "scratch/synth/cache"
    holdout: int = 300


@dataclass(frozen=True)
class TrainConfig:
    out: str = "scratch/synth/runs/default"
    steps: int = 3000
    batch_size: int = 32
    lr: float = 2e-4
    weight_decay: float = 0.0
    warmup: int = 100
    schedule: Literal["constant", "cosine"] = "constant"
    """Learning rate after warm-up: constant, or cosine down to ``lr_final`` x lr at ``steps``
    (a resumed run with more ``steps`` continues the curve from where it stands)."""
    lr_final: float = 0.05
    ema_decay: float = 0.999
    mask_loss_weight: float = 4.0
    """Extra loss weight inside the inpainting mask (surroundings are given, the face is not)."""
    feature_loss_weight: float = 0.0
    """Extra loss weight on the eyes, irises and lips (their mesh maps, widened by
    ``FEATURE_GROW`` px): a face's expression lives in a few pixels there, which the squared
    error over the whole face weighs little. 0: off (the shipped step-16,000 weights)."""
    t_one_prob: float = 0.25
    """Share of samples trained at t = 1 exactly, the state a 1-step sampler starts from."""
    checkpoint_every: int = 200
    sample_every: int = 200
    log_every: int = 10
    max_minutes: float = 0.0
    """Stop (with a checkpoint) after this much wall time in this invocation; 0: no limit."""
    device: str = "cpu"
    threads: int = 2
    workers: int = 0
    """Processes rendering batches ahead of the training step (``data.StepBatches``); 0: render
    in the training loop, as the CPU runs did. With workers, the batch of step ``k`` is drawn
    from the seed ``(seed, k)``: the data differ from a run with 0 workers, not with the count."""
    init_from: str = ""
    """Shipped weights (.safetensors) a new run starts from instead of random weights:
    fine-tuning. Ignored once the run has a checkpoint; the architecture must match."""
    seed: int = 0
    mixed_precision: bool = False
    """bf16 autocast on CUDA."""
    adversarial_weight: float = 0.0
    """0: mean squared error only. Above 0: also a patch discriminator's hinge loss on the
    predicted face (composited into its surroundings), scaled to this share of the squared
    error's gradient at the last layer (``discriminator.balance``). For fine-tuning a trained
    model: the squared error alone predicts a soft average face."""
    discriminator_lr: float = 2e-4
    """Adam learning rate of the discriminator (``adversarial_weight`` above 0 only)."""


def learning_rate(tc: TrainConfig, step: int) -> float:
    """Warm-up, then the configured schedule."""
    warm = min(1.0, (step + 1) / max(1, tc.warmup))
    if tc.schedule == "constant" or step < tc.warmup:
        return tc.lr * warm
    progress = min(1.0, (step - tc.warmup) / max(1, tc.steps - tc.warmup))
    return tc.lr * (tc.lr_final + (1 - tc.lr_final) * 0.5 * (1 + math.cos(math.pi * progress)))


FEATURE_GROW = 3
"""Pixels (at 128 px) the eye, iris and lip maps are widened by for ``feature_loss_weight``."""
FEATURE_CHANNELS = (CHANNELS.index("eyes"), CHANNELS.index("irises"), CHANNELS.index("lips"))


def loss_weight(cond, mask_weight: float, feature_weight: float):
    """Per-pixel loss weight (B, 1, H, W) from the conditions: 1 everywhere, plus
    ``mask_weight`` inside the inpainting mask, plus ``feature_weight`` over the eyes, irises
    and lips (widened by ``FEATURE_GROW`` px at 128 px, scaled with the resolution)."""
    import torch.nn.functional as F

    weight = 1.0 + mask_weight * cond[:, -1:]
    if feature_weight > 0:
        features = cond[:, list(FEATURE_CHANNELS)].amax(1, keepdim=True).clamp(0, 1)
        grow = max(1, round(FEATURE_GROW * cond.shape[-1] / 128))
        features = F.max_pool2d(features, 2 * grow + 1, stride=1, padding=grow)
        weight = weight + feature_weight * features
    return weight


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def load_run_config(path: str | Path, overrides: dict | None = None) -> RunConfig:
    import yaml

    from ..config import from_dict

    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read training config {path}: {exc.strerror or exc}") from None
    unknown = set(raw) - {"data", "model", "train"}
    if unknown:
        raise ConfigError(f"{Path(path).name}: unknown section(s) {sorted(unknown)}; expected data, model, train")
    for dotted, value in (overrides or {}).items():
        section, _, key = dotted.partition(".")
        raw.setdefault(section, {})[key] = value
    return RunConfig(data=from_dict(DataConfig, raw.get("data", {}), "data"),
                     model=ModelConfig.from_dict(raw.get("model", {})),
                     train=from_dict(TrainConfig, raw.get("train", {}), "train"))


def prepare(cfg: RunConfig):
    """Mesh cache, aligned crops, shape statistics: computed once, reused by every run."""
    from . import align, data as tdata

    cache = Path(cfg.data.cache)
    cache.mkdir(parents=True, exist_ok=True)
    path = tdata.build_aligned_cache(Path(cfg.data.images), cache, cfg.model.resolution)
    faces = tdata.FaceSet.load(path)
    mirror = align.mirror_index(faces.template)
    return faces, mirror


def _sheet(model, faces, idx, cfg: RunConfig, device) -> np.ndarray:
    """Rows: original, network surroundings, mesh maps, 1, 2 and 4 Euler steps."""
    import torch

    from .data import FaceBatches
    from .sampler import EulerFlowSampler, identity_noise

    batches = FaceBatches(faces, idx, cfg.model.resolution, cfg.model.grid, np.arange(478), 0, augment=False)
    target, cond = batches.render(idx)
    noise = identity_noise(list(range(len(idx))), cfg.model.resolution)

    def velocity(x, t, c):
        with torch.no_grad():
            return model(torch.from_numpy(x).to(device), torch.from_numpy(t).to(device),
                         torch.from_numpy(c).to(device)).float().cpu().numpy()

    rows = [target, cond[:, 9:12], np.clip(cond[:, :6].max(1, keepdims=True).repeat(3, 1) * 2 - 1, -1, 1)]
    rows += [EulerFlowSampler(n).sample(velocity, noise, cond) for n in (1, 2, 4)]
    grid = np.concatenate([np.concatenate(list(r.transpose(0, 2, 3, 1)), 1) for r in rows], 0)
    return ((grid + 1) * 127.5).clip(0, 255).astype(np.uint8)


def train(cfg: RunConfig) -> Path:
    """Train (or resume) until ``train.steps``; returns the run folder."""
    import cv2
    import torch

    from .data import FaceBatches, StepBatches
    from .discriminator import Adversary
    from .model import FlowUNet, count_parameters

    tc = cfg.train
    if tc.adversarial_weight > 0 and cfg.model.prediction != "x0":
        raise ConfigError(f"train.adversarial_weight needs model.prediction: x0 (the discriminator "
                          f"judges the predicted face), got {cfg.model.prediction!r}")
    torch.set_num_threads(tc.threads)
    device = torch.device(tc.device)
    out = Path(tc.out)
    (out / "samples").mkdir(parents=True, exist_ok=True)
    faces, mirror = prepare(cfg)
    train_idx, hold_idx = faces.split(cfg.data.holdout)
    torch.manual_seed(tc.seed)  # the initial weights: a run is reproducible from its config
    model = FlowUNet(cfg.model).to(device)
    ema = copy.deepcopy(model).eval()
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    adversary = Adversary(cfg.model.cond_channels, tc.adversarial_weight, tc.discriminator_lr, device) \
        if tc.adversarial_weight > 0 else None
    step, ckpt, started_from = 0, out / "checkpoint.pt", None
    batches = FaceBatches(faces, train_idx, cfg.model.resolution, cfg.model.grid, mirror, tc.seed)
    gen = torch.Generator().manual_seed(tc.seed)
    if not ckpt.exists() and tc.init_from:
        started_from = _start_from(model, ema, cfg)
    if ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["optimizer"])
        step, started_from = state["step"], state.get("init_from")
        batches.rng.bit_generator.state = state["data_rng"]
        gen.set_state(state["torch_rng"].cpu())  # map_location moved it to the device
        if adversary is not None:
            adversary.load(state.get("discriminator"))
        log.info("resumed %s at step %d", ckpt, step)
    (out / "config.json").write_text(json.dumps({"model": cfg.model.to_dict(), "train": tc.__dict__,
                                                  "data": cfg.data.__dict__}, indent=2, default=list))
    log.info("model: %.2f M parameters; %d training faces, %d held out",
             count_parameters(model) / 1e6, len(train_idx), len(hold_idx))
    sheet_idx = hold_idx[:8]
    started = time.time()
    logf = open(out / "train.jsonl", "a")

    def save() -> None:
        tmp = ckpt.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "ema": ema.state_dict(), "optimizer": opt.state_dict(),
                    "step": step, "data_rng": batches.rng.bit_generator.state, "torch_rng": gen.get_state(),
                    "model_config": cfg.model.to_dict(), "template": faces.template, "init_from": started_from,
                    **({"discriminator": adversary.state()} if adversary is not None else {})}, tmp)
        tmp.replace(ckpt)

    losses = []
    stream = _batch_stream(batches, StepBatches(faces, train_idx, cfg.model.resolution, cfg.model.grid, mirror,
                                                tc.seed, tc.batch_size), tc, step, device)
    while step < tc.steps:
        t_start = time.time()
        target, cond = next(stream)
        x0 = target.to(device, non_blocking=True)
        c = cond.to(device, non_blocking=True)
        b = x0.shape[0]
        noise = torch.randn(x0.shape, generator=gen).to(device)
        t = torch.rand(b, generator=gen)
        t = torch.where(torch.rand(b, generator=gen) < tc.t_one_prob, torch.ones_like(t), t).to(device)
        xt = (1 - t[:, None, None, None]) * x0 + t[:, None, None, None] * noise
        for g in opt.param_groups:
            g["lr"] = learning_rate(tc, step)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=tc.mixed_precision and device.type == "cuda"):
            pred = model.raw(xt, t, c)
        target = x0 if cfg.model.prediction == "x0" else noise - x0
        weight = loss_weight(c, tc.mask_loss_weight, tc.feature_loss_weight)
        loss = ((pred.float() - target) ** 2 * weight).mean() / weight.mean()
        total = loss
        if adversary is not None:
            total = loss + adversary.generator_term(model, loss, pred.float(), x0, c)
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        decay = min(tc.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1 - decay)
        if adversary is not None:
            adversary.step(pred.detach().float(), x0, c)
        losses.append(loss.detach())  # read at the log: no GPU sync every step
        if step % tc.log_every == 0:
            rec = {"step": step, "loss": float(torch.stack(losses).mean()), "sec_per_step": time.time() - t_start,
                   "lr": opt.param_groups[0]["lr"], "time": time.time(),
                   **(adversary.report() if adversary is not None else {})}
            logf.write(json.dumps(rec) + "\n")
            logf.flush()
            log.info("step %d loss %.4f (%.2f s/step)", step, rec["loss"], rec["sec_per_step"])
            losses = []
        timed_out = tc.max_minutes > 0 and time.time() - started > tc.max_minutes * 60
        if step % tc.checkpoint_every == 0 or step == tc.steps or timed_out:
            save()
        if step % tc.sample_every == 0 or step == tc.steps or timed_out:
            sheet = _sheet(ema, faces, sheet_idx, cfg, device)
            cv2.imwrite(str(out / "samples" / f"step_{step:06d}.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
        if timed_out:
            log.info("stopping after %.1f minutes at step %d (resume by running again)", tc.max_minutes, step)
            break
    stream.close()  # stops the DataLoader's workers
    logf.close()
    return out


def _start_from(model, ema, cfg: RunConfig) -> dict:
    """Load shipped weights into a new run's model and EMA; returns what they were."""
    from .weights import load_weights

    w = load_weights(cfg.train.init_from)
    if w.model.to_dict() != cfg.model.to_dict():
        raise ConfigError(f"train.init_from {w.path.name}: expected the architecture of this config's model "
                          f"section {cfg.model.to_dict()}, got {w.model.to_dict()}")
    state = w.torch_state()
    model.load_state_dict(state)  # both copy the tensors: one conversion serves both
    ema.load_state_dict(state)
    log.info("new run starts from %s (step %s)", w.path, w.info.get("training", {}).get("step"))
    return {"file": w.path.name, "sha256": w.sha256, "step": w.info.get("training", {}).get("step")}


def _batch_stream(batches, step_batches, tc: TrainConfig, step: int, device):
    """(target, conditions) tensors for each step from ``step`` on: rendered here with the run's
    RNG (``workers: 0``), or by a DataLoader's worker processes, batch ``k`` from seed (seed, k)."""
    import torch

    if tc.workers <= 0:
        while True:
            target, cond = batches.sample(tc.batch_size)
            yield torch.from_numpy(target), torch.from_numpy(cond)
    import cv2

    loader = torch.utils.data.DataLoader(step_batches, batch_size=None, sampler=range(step, tc.steps),
                                         num_workers=tc.workers, prefetch_factor=4, pin_memory=device.type == "cuda")
    # Workers are forked and render one batch each. OpenCV's thread pool must be gone before the
    # fork: a child that touches a copied pool (even to shrink it) can hang on its locks.
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield from loader
    finally:
        cv2.setNumThreads(threads)


def package(cfg: RunConfig, dest: Path, info: dict | None = None) -> str:
    """Write the run's EMA weights and the shape model as shipped weights; returns the SHA-256."""
    import torch

    from .degree import ShapeModel
    from .weights import save_weights

    faces, _ = prepare(cfg)
    train_idx, _ = faces.split(cfg.data.holdout)
    state = torch.load(Path(cfg.train.out) / "checkpoint.pt", map_location="cpu", weights_only=False)
    shape_path = Path(cfg.data.cache) / f"shape_model_{cfg.model.resolution}.npz"
    if shape_path.exists():
        shape = ShapeModel.from_tensors(dict(np.load(shape_path)))
    else:
        shape = ShapeModel.fit(faces.landmarks[train_idx], faces.template)
        np.savez(shape_path, **shape.tensors())
    meta = {"training": {"data": "UTKFace crop_part1 (non-commercial research licence)",
                         "faces": int(len(train_idx)), "holdout": int(cfg.data.holdout), "step": int(state["step"]),
                         "batch_size": cfg.train.batch_size, "config": cfg.train.out,
                         **({"init_from": state["init_from"]} if state.get("init_from") else {})}}
    meta.update(info or {})
    return save_weights(dest, cfg.model, state["ema"], shape, meta)
