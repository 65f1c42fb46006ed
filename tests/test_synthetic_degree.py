"""Shape model behind --degree: identity moves, pose, expression and gaze stay."""

from __future__ import annotations

import numpy as np
import pytest

from streamanon.synthetic import align
from streamanon.errors import ConfigError
from streamanon.synthetic import mesh_topology as topo
from streamanon.synthetic.degree import eye_openness, mouth_openness, normalise, outline_weights
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


def test_track_identity_equal_to_the_frames_own_changes_nothing(shape):
    lm = _face(shape, 4)
    own = shape.identity_of(lm)
    for alpha in (0.5, 1.0, 2.0):
        np.testing.assert_allclose(shape.anonymize(lm, alpha, seed=5, identity_track=own),
                                   shape.anonymize(lm, alpha, seed=5), atol=1e-4)
    with pytest.raises(ValueError, match="identity_track: expected shape"):
        shape.anonymize(lm, 2.0, seed=5, identity_track=own[:3])


INNER = [1, 13, 14, 133, 362, 33, 263, 61, 291]  # nose tip, lips' middle, eye and mouth corners


def test_outline_zero_keeps_the_persons_outline_and_moves_the_inner_face_as_before(shape):
    oval = list(topo.OVAL_LOOP)
    for seed in (1, 2, 3):
        lm = _face(shape, seed)
        full = shape.anonymize(lm, 2.0, seed=7)
        kept = shape.anonymize(lm, 2.0, seed=7, outline=0.0)
        half = shape.anonymize(lm, 2.0, seed=7, outline=0.5)
        width = np.ptp(lm[oval, 0])
        assert np.abs(full[oval] - lm[oval]).max() > 0.01 * width  # the degree does move the outline
        np.testing.assert_allclose(kept[oval], lm[oval], atol=1e-3 * width)
        np.testing.assert_allclose(half[oval] - lm[oval], 0.5 * (full[oval] - lm[oval]), atol=1e-3 * width)
        np.testing.assert_allclose(kept[INNER], full[INNER], atol=1e-3 * width)
        # the identity shape still moves far: most of what the full move does
        c0 = shape.identity_of(lm)
        moved = [np.linalg.norm((shape.identity_of(o) - c0) / shape.sigma) for o in (full, kept)]
        assert moved[1] > 0.6 * moved[0], moved
        assert abs(mouth_openness(kept) - mouth_openness(lm)) < 0.03


def test_outline_weights_rise_from_the_oval_to_one_inside(shape):
    unit = normalise(_face(shape, 4), shape.template)
    for outline in (0.0, 0.3):
        w = outline_weights(unit, outline)
        assert w.shape == (len(unit),)
        np.testing.assert_allclose(w[list(topo.OVAL_LOOP)], outline, atol=1e-6)
        np.testing.assert_allclose(w[INNER], 1.0)
        assert outline <= w.min() and w.max() <= 1.0
        assert 0.1 < np.mean(w < 0.999) < 0.5  # a band along the outline, not the whole face
    np.testing.assert_allclose(outline_weights(unit, 1.0), 1.0)


def test_outline_outside_zero_to_one_is_a_config_error():
    from streamanon.synthetic.backends import create_backend
    from streamanon.synthetic.generator import SyntheticConfig, SyntheticFaceGenerator

    weights = load_weights()
    with pytest.raises(ConfigError, match="degree_outline: expected 0 <= x <= 1, got 1.5"):
        SyntheticFaceGenerator(weights, create_backend("torch", weights), config=SyntheticConfig(outline=1.5))


@pytest.fixture(scope="module")
def talking_meshes():
    """The meshes of talking_d3 (real, speaking and turning), every 4th of its first 160 frames."""
    pytest.importorskip("mediapipe")
    import av

    from conftest import shared_video
    from streamanon.config import DetectorConfig
    from streamanon.detect import FaceDetector

    detector, meshes = FaceDetector(DetectorConfig()), []
    with av.open(str(shared_video("talking_d3.mp4"))) as c:
        for i, frame in enumerate(c.decode(video=0)):
            if i >= 160:
                break
            if i % 4 == 0:
                found = [d for d in detector.detect(frame.to_ndarray(format="rgb24")) if d.landmarks is not None]
                meshes.append(max(found, key=lambda d: d.size).landmarks[:, :2].astype(np.float32))
    return meshes


def test_track_mean_identity_keeps_the_drawn_shape_steady_on_real_video(shape, talking_meshes):
    """One frame's identity reading moves with the head and mouth; mirrored frame by frame
    (alpha 2) that movement came back in the drawn shape. Moved by the track's mean, the drawn
    identity shape stays put, as far from the person, with the mouth and eyes kept."""
    own = np.stack([shape.identity_of(m) for m in talking_meshes])
    mean = own.mean(0)
    drawn = {}
    for mode, track in (("frame", None), ("track", mean)):
        out = [shape.anonymize(m, 2.0, seed=11, identity_track=track) for m in talking_meshes]
        drawn[mode] = out
        ids = np.stack([shape.identity_of(o) for o in out]) / shape.sigma
        drawn[mode + "_std"] = float(ids.std(0).mean())
        drawn[mode + "_far"] = float(np.linalg.norm(ids - mean / shape.sigma, axis=1).mean())
    assert (own / shape.sigma).std(0).mean() > 0.3  # the reading does move on this clip
    assert drawn["track_std"] < 0.6 * drawn["frame_std"], drawn
    assert drawn["track_far"] > 0.85 * drawn["frame_far"], drawn
    for measure in (mouth_openness, eye_openness):
        before = [measure(m) for m in talking_meshes]
        after = [measure(o) for o in drawn["track"]]
        assert np.corrcoef(before, after)[0, 1] > 0.97



def test_kept_outline_lowers_the_head_pose_the_degree_adds_on_real_video(shape, talking_meshes):
    """The degree moves the chin and cheeks too; a solver reading the new proportions sees
    another head pose (mostly pitch). With the person's outline kept, the moved mesh's pose
    stays nearer the original's, and the identity shape moves about as far."""
    from streamanon.evaluation.utility import angle_difference, head_pose

    points = [1, 152, 33, 263, 61, 291]  # the eval's six pose landmarks on the mesh
    own = np.stack([shape.identity_of(m) for m in talking_meshes])
    mean = own.mean(0)
    pose_error, moved_by = {}, {}
    for outline in (1.0, 0.0):
        errors, far = [], []
        for m in talking_meshes:
            out = shape.anonymize(m, 2.0, seed=11, identity_track=mean, outline=outline)
            before, after = head_pose(m[points], 512, 512), head_pose(out[points], 512, 512)  # talking_d3's frame
            errors.append(np.mean([angle_difference(a, b) for a, b in zip(before, after)]))
            far.append(np.linalg.norm((shape.identity_of(out) - shape.identity_of(m)) / shape.sigma))
        pose_error[outline], moved_by[outline] = float(np.mean(errors)), float(np.mean(far))
    assert pose_error[0.0] < 0.8 * pose_error[1.0], pose_error
    assert moved_by[0.0] > 0.8 * moved_by[1.0], moved_by
