"""Shape model behind --degree: identity moves, pose, expression and gaze stay."""

from __future__ import annotations

import numpy as np
import pytest

from streamanon.synthetic import align
from streamanon.synthetic.degree import eye_openness, mouth_openness, normalise
from streamanon.synthetic.weights import load_weights


@pytest.fixture(scope="module")
def shape():
    return load_weights().shape


def _face(shape, seed):
    """A plausible face: template plus a random identity, rotated and scaled into a crop."""
    rng = np.random.default_rng(seed)
    coeffs = rng.standard_normal(len(shape.sigma)) * shape.sigma
    unit = shape.template + (coeffs @ shape.basis).reshape(-1, 2)
    m = align.umeyama(np.array([[0, 0], [1, 0], [0, 1]]), np.array([[20, 30], [150, 40], [10, 160]]))
    return align.apply(m, unit)


def test_degree_zero_keeps_geometry_and_one_reaches_the_mean_identity(shape):
    lm = _face(shape, 1)
    assert np.allclose(shape.anonymize(lm, 0.0, seed=3, seed_scale=0.0), lm, atol=1e-4)
    c0 = shape.identity_coefficients(normalise(lm, shape.template))
    c1 = shape.identity_coefficients(normalise(shape.anonymize(lm, 1.0, seed=3, seed_scale=0.0), shape.template))
    c2 = shape.identity_coefficients(normalise(shape.anonymize(lm, 2.0, seed=3, seed_scale=0.0), shape.template))
    assert np.linalg.norm(c0) > 0.05
    assert np.linalg.norm(c1) < 0.25 * np.linalg.norm(c0)
    assert np.linalg.norm(c2 + c0) < 0.35 * np.linalg.norm(c0)  # past the mean: the anti-face


def test_expression_and_gaze_are_kept(shape):
    lm = _face(shape, 2)
    out = shape.anonymize(lm, 1.5, seed=9, seed_scale=0.5)
    assert abs(mouth_openness(out) - mouth_openness(lm)) < 0.03
    assert abs(eye_openness(out) - eye_openness(lm)) < 0.05
    for a, b, centre in ((33, 133, 468), (362, 263, 473)):
        rel = lambda p: np.dot(p[centre] - p[a], p[b] - p[a]) / np.dot(p[b] - p[a], p[b] - p[a])  # noqa: E731
        assert abs(rel(out) - rel(lm)) < 1e-3


def test_seed_picks_a_different_random_identity(shape):
    lm = _face(shape, 3)
    a = shape.anonymize(lm, 1.0, seed=1)
    assert np.allclose(a, shape.anonymize(lm, 1.0, seed=1))
    assert np.abs(a - shape.anonymize(lm, 1.0, seed=2)).mean() > 0.1
