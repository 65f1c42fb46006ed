"""ONNX export and the ONNX Runtime backend agree with torch; stale exports are refused."""

from __future__ import annotations

import warnings

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


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Exports of the tiny test models stay out of the user's cache."""
    monkeypatch.setenv("STREAMANON_CACHE", str(tmp_path / "cache"))


def test_onnx_matches_torch_at_several_batch_sizes(weights, tmp_path):
    torch_b = create_backend("torch", weights)
    export_onnx(weights, onnx_path_for(weights, tmp_path))  # as `streamanon export` does
    onnx_b = create_backend("onnx", weights, engine_dir=str(tmp_path))
    assert onnx_b.path == onnx_path_for(weights, tmp_path) and read_onnx_hash(onnx_b.path) == weights.sha256
    r = weights.model.resolution
    rng = np.random.default_rng(0)
    for b in (1, 3):
        x = rng.standard_normal((b, 3, r, r)).astype(np.float32)
        t = rng.random(b).astype(np.float32)
        c = rng.standard_normal((b, weights.model.cond_channels, r, r)).astype(np.float32)
        ref = torch_b.velocity(x, t, c)
        assert np.abs(onnx_b.velocity(x, t, c) - ref).max() < 1e-3 * max(1.0, np.abs(ref).max())


def test_export_is_quiet(weights, tmp_path):
    """The first synthetic run exports the model into the user's cache: the tracer's warnings
    about shape-dependent branches (harmless for the batches the backends feed, as the test
    above checks) must not reach the user's terminal."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        export_onnx(weights, onnx_path_for(weights, tmp_path))
    shown = [w for w in caught if not issubclass(w.category, DeprecationWarning)]  # Python hides those
    assert [f"{w.category.__name__}: {str(w.message)[:80]}" for w in shown] == []


def test_onnx_session_does_not_spin_between_runs(weights, tmp_path):
    """Its threads would busy-wait on the cores the conditions, detector and encoder use."""
    backend = create_backend("onnx", weights, engine_dir=str(tmp_path))
    options = backend.session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


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


def test_auto_backend_is_onnx_on_cpu_and_torch_on_cuda():
    from streamanon.synthetic import resolve_backend

    assert resolve_backend("auto", "cpu") == "onnx" and resolve_backend("auto", "cuda") == "torch"
    assert resolve_backend("torch", "cpu") == "torch"


def test_missing_export_goes_to_the_user_cache_not_the_working_directory(weights, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    backend = create_backend("onnx", weights)  # engine_dir "engines" (relative): nothing there
    assert backend.path == onnx_path_for(weights, tmp_path / "cache" / "onnx")
    assert read_onnx_hash(backend.path) == weights.sha256
    assert not (tmp_path / "engines").exists()
    assert create_backend("onnx", weights).path == backend.path  # found again, not re-exported
    assert [p.name for p in backend.path.parent.iterdir()] == [backend.path.name]  # no temporary left
