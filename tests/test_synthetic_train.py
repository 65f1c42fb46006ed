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


def _tiny_config(tmp_path: Path, faces: int, sample_every: int, extra: str = "") -> Path:
    """A 64 px, two-level model trained on every second one of the first ``2 * faces`` faces."""
    images = tmp_path / "faces"
    images.mkdir()
    for p in sorted(FACES.iterdir())[:2 * faces:2]:
        shutil.copy(p, images / p.name)
    cfg = tmp_path / "train.yaml"
    cfg.write_text(f"""
data: {{images: {images}, cache: {tmp_path / 'cache'}, holdout: 4}}
model: {{resolution: 64, unshuffle: 2, grid: 6, block_out_channels: [16, 32], attention_levels: [1]}}
train: {{out: {tmp_path / 'run'}, steps: 2, batch_size: 4, checkpoint_every: 1, sample_every: {sample_every},
         log_every: 1, threads: 1, {extra}}}
""")
    return cfg


@pytest.mark.skipif(not FACES.exists(), reason="needs ../shared/data/faces (UTKFace)")
def test_tiny_training_run_resumes_and_packages(tmp_path):
    from streamanon.cli import main
    from streamanon.synthetic.weights import load_weights

    cfg = _tiny_config(tmp_path, faces=20, sample_every=2)
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


@pytest.mark.skipif(not FACES.exists(), reason="needs ../shared/data/faces (UTKFace)")
def test_worker_processes_draw_the_same_batches_whatever_their_count(tmp_path):
    """Batch k comes from its own seed (seed, k): 1 and 2 workers train on the same data, so the
    two runs log the same losses; a resumed run continues with step 3's batch."""
    import numpy as np

    from streamanon.cli import main

    cfg = _tiny_config(tmp_path, faces=12, sample_every=5, extra="workers: 1")
    assert main(["train", "--config", str(cfg), "--steps", "3"]) == 0
    two = tmp_path / "two.yaml"
    two.write_text(cfg.read_text().replace("workers: 1", "workers: 2").replace(str(tmp_path / "run"),
                                                                              str(tmp_path / "run2")))
    assert main(["train", "--config", str(two), "--steps", "2"]) == 0
    assert main(["train", "--config", str(two), "--steps", "3"]) == 0  # resumes at step 2
    logs = [[json.loads(line) for line in (tmp_path / run / "train.jsonl").read_text().splitlines()]
            for run in ("run", "run2")]
    assert [r["step"] for r in logs[1]] == [1, 2, 3]
    np.testing.assert_allclose([r["loss"] for r in logs[0]], [r["loss"] for r in logs[1]], rtol=1e-4)


@pytest.mark.skipif(not FACES.exists(), reason="needs ../shared/data/faces (UTKFace)")
def test_a_new_run_can_start_from_shipped_weights_of_the_same_architecture(tmp_path):
    import numpy as np

    from streamanon.cli import main
    from streamanon.errors import ConfigError
    from streamanon.synthetic.train import load_run_config, train
    from streamanon.synthetic.weights import load_weights

    cfg = _tiny_config(tmp_path, faces=12, sample_every=5)
    first = tmp_path / "first.safetensors"
    assert main(["train", "--config", str(cfg), "--package", str(first)]) == 0
    tuned = tmp_path / "tuned.yaml"  # learning rate 0: the started run keeps the weights it loaded
    tuned.write_text(cfg.read_text().replace(str(tmp_path / "run"), str(tmp_path / "tuned"))
                     .replace("threads: 1,", f"threads: 1, lr: 0.0, init_from: {first},"))
    out = tmp_path / "tuned.safetensors"
    assert main(["train", "--config", str(tuned), "--steps", "1", "--package", str(out)]) == 0
    w0, w1 = load_weights(first), load_weights(out)
    assert w1.info["training"]["init_from"] == {"file": first.name, "sha256": w0.sha256, "step": 2}
    assert w1.info["training"]["step"] == 1
    assert all(np.array_equal(w0.unet[k], w1.unet[k]) for k in w0.unet)
    wide = tmp_path / "wide.yaml"
    wide.write_text(tuned.read_text().replace("[16, 32]", "[16, 48]").replace(str(tmp_path / "tuned"),
                                                                               str(tmp_path / "wide")))
    with pytest.raises(ConfigError, match="expected the architecture"):
        train(load_run_config(wide))


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


@pytest.mark.skipif(not FACES.exists(), reason="needs ../shared/data/faces (UTKFace)")
def test_adversarial_fine_tuning_keeps_its_discriminator_across_resumes(tmp_path):
    import torch

    from streamanon.cli import main

    cfg = _tiny_config(tmp_path, faces=12, sample_every=5, extra="adversarial_weight: 0.5")
    assert main(["train", "--config", str(cfg)]) == 0
    first = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)["discriminator"]["net"]
    assert main(["train", "--config", str(cfg), "--steps", "3"]) == 0
    log = [json.loads(line) for line in (tmp_path / "run" / "train.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3]
    assert all(r["adv_d"] > 0 and r["adv_scale"] > 0 for r in log)
    later = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)["discriminator"]["net"]
    # The resumed run trained the saved discriminator on: one more step moved it a little.
    moved = [float((later[k] - first[k]).abs().max()) for k in first if first[k].is_floating_point()]
    assert 0 < max(moved) < 0.1


def test_adversarial_fine_tuning_needs_a_face_predicting_model(tmp_path):
    from streamanon.errors import ConfigError
    from streamanon.synthetic.train import load_run_config, train

    cfg = tmp_path / "velocity.yaml"
    cfg.write_text(f"model: {{prediction: velocity}}\ntrain: {{out: {tmp_path / 'run'}, adversarial_weight: 1.0}}\n")
    with pytest.raises(ConfigError, match="prediction: x0"):
        train(load_run_config(cfg))
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_adversarial_balance_matches_the_gradient_sizes_at_the_last_layer():
    import torch

    from streamanon.synthetic.discriminator import balance, generator_loss, hinge_losses

    layer = torch.nn.Linear(4, 4)
    x = torch.randn(8, 4)
    out = layer(x)
    rec, adv = (out ** 2).mean(), 30.0 * out.sum()
    scale = balance(rec, adv, layer.weight)
    g_rec = torch.autograd.grad(rec, layer.weight, retain_graph=True)[0]
    g_adv = torch.autograd.grad(scale * adv, layer.weight)[0]
    assert float(g_adv.norm()) == pytest.approx(float(g_rec.norm()), rel=1e-3)
    # Patches outside the face (weight 0) count for nothing on either side of the game.
    real, fake = torch.full((1, 1, 2, 2), 5.0), torch.full((1, 1, 2, 2), -5.0)
    real[..., 0, 0], fake[..., 0, 0] = -3.0, 3.0
    face = torch.tensor([[[[0.0, 1.0], [1.0, 1.0]]]])
    assert float(hinge_losses(real, fake, face)) == 0.0
    assert float(hinge_losses(real, fake, torch.ones_like(face))) == pytest.approx(8.0 / 4)
    assert float(generator_loss(fake, face)) == pytest.approx(5.0)


def test_feature_loss_weight_falls_on_the_eyes_and_lips_of_the_mesh():
    """The extra weight covers the drawn eyes and mouth (and follows the mouth as it opens),
    not the forehead or cheeks; with 0 the weight is the old one (1, plus the mask's)."""
    import numpy as np
    import torch

    from streamanon.synthetic import mesh_topology as topo
    from streamanon.synthetic.conditions import build_conditions, inpaint_mask
    from streamanon.synthetic.train import loss_weight
    from streamanon.synthetic.weights import load_weights

    template = load_weights().shape.template.astype(np.float64)

    def weight(lm, feature):
        lm = lm * 128
        image = np.full((128, 128, 3), 128, np.uint8)
        cond = build_conditions(image, lm, inpaint_mask(lm, 128), grid=6)
        return loss_weight(torch.from_numpy(cond)[None], 4.0, feature)[0, 0].numpy(), cond, lm

    plain, cond, lm = weight(template, 0.0)
    np.testing.assert_allclose(plain, 1.0 + 4.0 * cond[-1])
    heavy, _, lm = weight(template, 6.0)
    at = lambda p: heavy[int(round(p[1])), int(round(p[0]))]  # noqa: E731
    mouth = lm[list(topo.LIPS_INNER_LOOP)].mean(0)
    eye = lm[list(topo.LEFT_EYE_LOOP)].mean(0)
    brows = lm[list(topo.LEFT_BROW_EDGES[0])].mean(0)
    forehead = brows + (brows - eye) * 1.5
    cheek = (lm[list(topo.OVAL_LOOP)].mean(0) + eye) / 2 + np.array([0.0, 12.0])
    assert at(mouth) == pytest.approx(1 + 4 + 6) and at(eye) == pytest.approx(1 + 4 + 6)
    for p in (forehead, cheek):
        assert heavy[int(round(p[1])), int(round(p[0]))] == plain[int(round(p[1])), int(round(p[0]))]
    assert (heavy > plain).mean() < 0.2  # a few features, not the face

    opened = template.copy()  # lower lip and chin down by 8 % of the face: the weight follows
    below = opened[:, 1] > template[list(topo.LIPS_INNER_LOOP), 1].mean()
    opened[below, 1] += 0.08
    gaping, _, lm2 = weight(opened, 6.0)
    lip_rows = lambda w: np.nonzero((w > 5.5).any(1))[0].max()  # noqa: E731
    assert lip_rows(gaping) >= lip_rows(heavy) + 8
