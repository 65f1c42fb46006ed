"""Synthetic generator: interface, batching, determinism, degree, fallbacks, weights hash."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

pytest.importorskip("torch")

from streamanon.config import AnonymizerConfig  # noqa: E402
from streamanon.generators import create_generator  # noqa: E402
from streamanon.generators.base import FaceGenerator  # noqa: E402
from streamanon.synthetic import SyntheticConfig  # noqa: E402
from streamanon.synthetic.backends import create_backend  # noqa: E402
from streamanon.synthetic.generator import SyntheticFaceGenerator  # noqa: E402
from streamanon.synthetic.testing import synthetic_crop, tiny_weights  # noqa: E402
from streamanon.synthetic.weights import WeightsIntegrityError, load_weights  # noqa: E402


@pytest.fixture(scope="module")
def weights():
    return tiny_weights()


@pytest.fixture(scope="module")
def generator(weights):
    return SyntheticFaceGenerator(weights, create_backend("torch", weights), degree=1.0)


def test_one_patch_per_crop_in_order_with_fallback_for_faces_without_mesh(generator, weights):
    t = weights.shape.template
    crops = [synthetic_crop(t, seed=1, track_id=4), synthetic_crop(t, seed=2, track_id=9, with_landmarks=False),
             synthetic_crop(t, size=96, seed=3, track_id=2)]
    patches = generator.generate(crops)
    assert isinstance(generator, FaceGenerator)
    assert [p.track_id for p in patches] == [4, 9, 2]
    assert [p.box for p in patches] == [c.box for c in crops]
    assert [p.fallback for p in patches] == [False, True, False]
    for crop, patch in zip(crops, patches):
        assert patch.image.shape == crop.image.shape and patch.mask.shape == crop.mask.shape
        if not patch.fallback:  # the blend mask covers at least the pipeline's face mask
            assert np.all(patch.mask >= crop.mask - 1e-6)
    # The generated face differs from the original inside the mask.
    inner = crops[0].mask > 0.5
    assert np.abs(patches[0].image[inner].astype(int) - crops[0].image[inner].astype(int)).mean() > 10


def test_same_seed_same_face_other_seed_other_face_and_batching_changes_nothing(generator, weights):
    t = weights.shape.template
    a = synthetic_crop(t, seed=1, face_seed=77)
    b = synthetic_crop(t, seed=1, face_seed=78)
    other = synthetic_crop(t, seed=6, face_seed=5)
    alone = generator.generate([a])[0].image
    batched = generator.generate([other, a, b])
    assert np.array_equal(generator.generate([a])[0].image, alone)
    assert np.abs(batched[1].image.astype(int) - alone.astype(int)).max() <= 1
    assert np.abs(batched[2].image.astype(int) - alone.astype(int)).mean() > 1.0


def test_aligned_output_is_exposed_for_a_temporal_smoother(generator, weights):
    crop = synthetic_crop(weights.shape.template, seed=2)
    prepared = generator.prepare([crop])
    aligned = generator.denoise(prepared)
    r = weights.model.resolution
    assert aligned.shape == (1, 3, r, r) and aligned.min() >= -1 and aligned.max() <= 1
    # Restarting from the finished state at t = 0 is a no-op: the smoother can blend and resume.
    assert np.array_equal(generator.denoise(prepared, start=aligned, start_time=0.0), aligned)
    patch = generator.finish(prepared, aligned)[0]
    assert np.array_equal(patch.image, generator.generate([crop])[0].image)


def test_degree_moves_face_geometry_not_pose(weights):
    crop = synthetic_crop(weights.shape.template, seed=4)
    maps = {}
    for degree in (0.0, 1.0, 2.0):
        g = SyntheticFaceGenerator(weights, create_backend("torch", weights), degree=degree,
                                   config=SyntheticConfig(seed_scale=0.0))
        maps[degree] = g.prepare([crop]).cond[0, :6]
    d1 = np.abs(maps[1.0] - maps[0.0]).mean()
    d2 = np.abs(maps[2.0] - maps[0.0]).mean()
    assert 0 < d1 < d2
    # a crop's own degree (a face the identity check escalated) overrides the generator's
    from dataclasses import replace

    g = SyntheticFaceGenerator(weights, create_backend("torch", weights), degree=0.0,
                               config=SyntheticConfig(seed_scale=0.0))
    np.testing.assert_array_equal(g.prepare([replace(crop, degree=2.0)]).cond[0, :6], maps[2.0])


def test_weights_are_hash_checked(tmp_path):
    w = load_weights()
    assert len(w.sha256) == 64 and w.path.stat().st_size < 30e6
    bad = tmp_path / w.path.name
    shutil.copy(w.path, bad)
    shutil.copy(w.path.with_suffix(".json"), bad.with_suffix(".json"))
    data = bytearray(bad.read_bytes())
    data[-10] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(WeightsIntegrityError, match="hash mismatch"):
        load_weights(bad)
    with pytest.raises(WeightsIntegrityError, match="not found"):
        load_weights(tmp_path / "missing.safetensors")


def test_mode_synthetic_builds_through_the_generator_factory():
    g = create_generator(AnonymizerConfig(mode="synthetic", backend="torch"))
    assert g.name == "synthetic"


def test_no_original_pixel_left_under_the_pipeline_mask_even_past_the_canonical_frame():
    """A real face cut with a tall forehead mask (0.25: higher than the canonical frame reaches):
    where the network drew nothing, the patch is filled from around it, never the crop's own
    pixels (tests/test_synthetic_fill.py: nor anything computed from them)."""
    from skimage import data

    from streamanon.config import Config
    from streamanon.crop import cut_faces
    from streamanon.pipeline import Anonymizer
    from streamanon.types import VideoFrame

    config = Config().override({"anonymizer.mode": "synthetic", "temporal.enabled": False})
    anonymizer = Anonymizer(config)
    image = data.astronaut()
    analysis = anonymizer.analyze(VideoFrame(image=image, index=0))
    crops = cut_faces(image, analysis.tracks, config.mask, cover=False)
    assert anonymizer.mask.forehead < config.mask.forehead == 0.25  # the pipeline caps it itself
    patch = anonymizer.generator.generate(crops)[0]
    anonymizer.close()
    crop = crops[0]
    core = crop.mask >= 0.5
    same = np.abs(patch.image.astype(int) - crop.image.astype(int)).sum(-1) <= 3
    assert not patch.fallback and patch.mask[core].min() >= 0.5
    assert same[core].mean() < 0.01


def test_weights_from_the_config_are_loaded_and_hash_checked(tmp_path, capsys, face_clip):
    from streamanon.cli import main
    from streamanon.config import AnonymizerConfig
    from streamanon.generators import create_generator

    own = tmp_path / "trained.safetensors"
    shutil.copy(load_weights().path, own)
    shutil.copy(load_weights().path.with_suffix(".json"), own.with_suffix(".json"))
    gen = create_generator(AnonymizerConfig(mode="synthetic", weights=str(own), guard_candidates=0, verify_every=0))
    assert gen.weights.path == own
    data = bytearray(own.read_bytes())
    data[-10] ^= 0xFF
    own.write_bytes(bytes(data))
    with pytest.raises(WeightsIntegrityError, match="hash mismatch"):
        create_generator(AnonymizerConfig(mode="synthetic", weights=str(own)))
    # The CLI names the file it could not find and fails before writing anything.
    out = tmp_path / "out.mp4"
    code = main(["run", str(face_clip), "-o", str(out), "--weights", str(tmp_path / "nope.safetensors"), "--quiet"])
    assert code != 0 and not out.exists()
    assert "nope.safetensors" in capsys.readouterr().err
