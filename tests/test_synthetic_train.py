"""``streamanon train`` on a handful of real faces: runs, logs, samples, resumes, packages."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("mediapipe")

FACES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "faces" / "utkface_crop_part1"
pytestmark = pytest.mark.shared


@pytest.mark.skipif(not FACES.exists(), reason="needs ../shared/data/faces (UTKFace)")
def test_tiny_training_run_resumes_and_packages(tmp_path):
    from streamanon.cli import main
    from streamanon.synthetic.weights import load_weights

    images = tmp_path / "faces"
    images.mkdir()
    for p in sorted(FACES.iterdir())[:40:2]:
        shutil.copy(p, images / p.name)
    cfg = tmp_path / "train.yaml"
    cfg.write_text(f"""
data: {{images: {images}, cache: {tmp_path / 'cache'}, holdout: 4}}
model: {{resolution: 64, unshuffle: 2, grid: 6, block_out_channels: [16, 32], attention_levels: [1]}}
train: {{out: {tmp_path / 'run'}, steps: 2, batch_size: 4, checkpoint_every: 1, sample_every: 2, log_every: 1, threads: 1}}
""")
    assert main(["train", "--config", str(cfg)]) == 0
    log = [json.loads(line) for line in (tmp_path / "run" / "train.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2]
    assert (tmp_path / "run" / "samples" / "step_000002.png").exists()
    # Running again with more steps resumes from step 2 instead of starting over.
    out = tmp_path / "w.safetensors"
    assert main(["train", "--config", str(cfg), "--steps", "3", "--package", str(out)]) == 0
    log = [json.loads(line) for line in (tmp_path / "run" / "train.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3]
    w = load_weights(out)
    assert w.model.resolution == 64 and w.info["training"]["step"] == 3


def test_unknown_training_keys_are_rejected(tmp_path):
    from streamanon.errors import ConfigError
    from streamanon.synthetic.train import load_run_config

    cfg = tmp_path / "bad.yaml"
    cfg.write_text("train: {stepz: 3}\n")
    with pytest.raises(ConfigError, match="stepz"):
        load_run_config(cfg)
    cfg.write_text("model: {width: 3}\n")
    with pytest.raises(ConfigError, match="width"):
        load_run_config(cfg)


def test_cosine_schedule_warms_up_then_falls_to_the_final_rate():
    from streamanon.synthetic.train import TrainConfig, learning_rate

    tc = TrainConfig(lr=1e-3, warmup=10, steps=110, schedule="cosine", lr_final=0.05)
    rates = [learning_rate(tc, s) for s in range(110)]
    assert rates[0] == pytest.approx(1e-4) and rates[9] == pytest.approx(1e-3)
    assert all(b <= a for a, b in zip(rates[10:], rates[11:]))  # falls monotonically after warm-up
    assert rates[60] == pytest.approx(1e-3 * (0.05 + 0.95 * 0.5), rel=1e-6)  # half way
    assert learning_rate(tc, 110) == pytest.approx(5e-5)
    assert learning_rate(TrainConfig(lr=1e-3, warmup=10, steps=110), 100) == 1e-3  # constant
