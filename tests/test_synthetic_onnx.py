"""ONNX export and the ONNX Runtime backend agree with torch; stale exports are refused."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from streamanon.errors import GeneratorError  # noqa: E402
from streamanon.synthetic.backends import create_backend  # noqa: E402
from streamanon.synthetic.export import export_onnx, onnx_path_for, read_onnx_hash  # noqa: E402
from streamanon.synthetic.generator import SyntheticFaceGenerator  # noqa: E402
from streamanon.synthetic.testing import synthetic_crop, tiny_weights  # noqa: E402


@pytest.fixture(scope="module")
def weights():
    return tiny_weights(seed=1)


def test_onnx_matches_torch_at_several_batch_sizes(weights, tmp_path):
    torch_b = create_backend("torch", weights)
    onnx_b = create_backend("onnx", weights, engine_dir=str(tmp_path))
    assert read_onnx_hash(onnx_path_for(weights, tmp_path)) == weights.sha256
    r = weights.model.resolution
    rng = np.random.default_rng(0)
    for b in (1, 3):
        x = rng.standard_normal((b, 3, r, r)).astype(np.float32)
        t = rng.random(b).astype(np.float32)
        c = rng.standard_normal((b, weights.model.cond_channels, r, r)).astype(np.float32)
        ref = torch_b.velocity(x, t, c)
        assert np.abs(onnx_b.velocity(x, t, c) - ref).max() < 1e-3 * max(1.0, np.abs(ref).max())


def test_onnx_generator_gives_the_same_faces_as_torch(weights, tmp_path):
    crops = [synthetic_crop(weights.shape.template, seed=s, face_seed=s) for s in (1, 2)]
    a = SyntheticFaceGenerator(weights, create_backend("torch", weights)).generate(crops)
    b = SyntheticFaceGenerator(weights, create_backend("onnx", weights, engine_dir=str(tmp_path))).generate(crops)
    for pa, pb in zip(a, b):
        assert np.abs(pa.image.astype(int) - pb.image.astype(int)).max() <= 2


def test_onnx_file_from_other_weights_is_refused(weights, tmp_path):
    other = tiny_weights(seed=2)
    export_onnx(other, onnx_path_for(weights, tmp_path))  # wrong model under this model's name
    with pytest.raises(GeneratorError, match="exported from other weights"):
        create_backend("onnx", weights, engine_dir=str(tmp_path))
