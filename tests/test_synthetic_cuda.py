"""The PyTorch backend on a CUDA device. Runs only where torch sees one (never in CI here)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
if not torch.cuda.is_available():
    pytest.skip("CUDA tests need a CUDA device", allow_module_level=True)

from streamanon.synthetic import resolve_backend  # noqa: E402
from streamanon.synthetic.backends import create_backend  # noqa: E402
from streamanon.synthetic.generator import SyntheticConfig, SyntheticFaceGenerator  # noqa: E402
from streamanon.synthetic.testing import synthetic_crop  # noqa: E402
from streamanon.synthetic.weights import load_weights  # noqa: E402

pytestmark = pytest.mark.gpu


def test_cuda_velocity_matches_the_cpu_in_fp32_and_fp16():
    w = load_weights()
    cpu = create_backend("torch", w, device="cpu")
    r = w.model.resolution
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 3, r, r)).astype(np.float32)
    t = rng.random(3).astype(np.float32)
    c = rng.uniform(-1, 1, (3, w.model.cond_channels, r, r)).astype(np.float32)
    ref = cpu.velocity(x, t, c)
    fp32 = create_backend("torch", w, device="cuda", precision="fp32").velocity(x, t, c)
    fp16 = create_backend("torch", w, device="cuda").velocity(x, t, c)  # auto: fp16 on CUDA
    scale = np.abs(ref).max()  # velocities reach tens; CUDA convolutions run in TF32 by default
    assert np.abs(fp32 - ref).max() < 1e-3 * scale
    assert np.abs(fp16 - ref).max() < 1e-2 * scale and np.abs(fp16 - ref).mean() < 1e-3 * scale
    assert resolve_backend("auto", "cuda") == "torch"


def test_cuda_generator_draws_the_same_face_as_the_cpu():
    """Whole generate() (align, conditions, two Euler steps, warp back) on both devices: the same
    face to within a few grey levels, in the same place."""
    w = load_weights()
    crops = [synthetic_crop(w.shape.template, size=200, seed=i, face_seed=i) for i in range(2)]
    drawn = {}
    for device in ("cpu", "cuda"):
        gen = SyntheticFaceGenerator(w, create_backend("torch", w, device=device, precision="fp32"),
                                     config=SyntheticConfig(steps=2))
        drawn[device] = gen.generate(crops)
    for a, b in zip(drawn["cpu"], drawn["cuda"]):
        diff = np.abs(a.image.astype(np.int16) - b.image.astype(np.int16))
        assert a.box == b.box and not a.fallback and not b.fallback
        assert diff.mean() < 1.0 and np.percentile(diff, 99.9) <= 8
        assert np.abs(a.mask - b.mask).max() < 1e-3
