"""dlib's face recognition ResNet read from its model file and run in torch gives dlib's own
descriptors (the identity check and guard use it; the eval's attacker stays on dlib)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("dlib")

from conftest import shared_video  # noqa: E402
from streamanon.errors import ConfigError, ModelFileError  # noqa: E402
from streamanon.evaluation.dlib_resnet import read_layers  # noqa: E402
from streamanon.evaluation.faces import DlibFaceModel, _model_file, create_detector  # noqa: E402

SAME = 1e-4
"""Largest descriptor distance allowed between the runtimes (measured: 3.4e-6 on 108 faces;
dlib's same-person threshold is 0.6)."""


@pytest.fixture(scope="module")
def models():
    return DlibFaceModel(runtime="dlib"), DlibFaceModel(runtime="torch")


def _boxes(image, rect):
    """The detector's box, one shifted and grown past the frame's top-left corner, one shrunk."""
    x0, y0, x1, y1 = rect
    s = x1 - x0
    return [rect, (x0 - 0.4 * s, y0 - 0.4 * s, x1, y1), (x0 + 0.1 * s, y0 + 0.1 * s, x1 - 0.1 * s, y1 - 0.1 * s)]


def _assert_same(models, image, rects):
    dlib_model, torch_model = models
    described = []
    for rect in rects:
        reference, ported = dlib_model.embed(image, rect), torch_model.embed(image, rect)
        assert ported.shape == (128,) and ported.dtype == np.float32
        assert float(np.linalg.norm(reference - ported)) < SAME, rect
        described.append(ported)
    return described


def test_the_torch_runtime_gives_dlibs_descriptors_on_the_demo_portrait(models, face_frames):
    detector = create_detector("dlib-hog")
    seen = []
    for image in face_frames[::6]:
        faces = detector.detect(image)
        assert faces, "dlib's HOG detector finds the portrait"
        seen += _assert_same(models, image, _boxes(image, faces[0].rect))
    # the descriptors are not all alike: boxes and zoom move them, as they move dlib's
    assert max(float(np.linalg.norm(a - seen[0])) for a in seen) > 0.05


def test_the_torch_runtime_gives_dlibs_descriptors_on_real_clips(models, yunet):
    import av

    from streamanon.evaluation.faces import yunet_to_dlib_rect

    checked = 0
    for name in ("talking_d0.mp4", "stage_profiles_360p.mp4", "crowd_walk_1080p.mp4"):
        with av.open(str(shared_video(name))) as container:
            for index, frame in enumerate(container.decode(video=0)):
                if index > 40:
                    break
                if index % 20:
                    continue
                image = frame.to_ndarray(format="rgb24")
                for x0, y0, x1, y1, _ in yunet(image)[:4]:
                    rect = yunet_to_dlib_rect((x0, y0, x1, y1))
                    _assert_same(models, image, _boxes(image, rect))
                    checked += 1
    assert checked >= 10


def test_the_identity_check_and_guard_use_the_torch_runtime():
    from streamanon.synthetic.identity_check import dlib_recogniser

    assert dlib_recogniser("identity check", "anonymizer.verify_every: 0").runtime == "torch"


def test_an_unknown_runtime_is_a_config_error():
    with pytest.raises(ConfigError, match="expected dlib or torch, got 'onnx'"):
        DlibFaceModel(runtime="onnx")


def test_a_damaged_model_file_is_a_typed_error_naming_the_byte():
    data = open(_model_file("face_recognition_model_location"), "rb").read()
    mean, layers = read_layers(data)
    assert [round(v, 3) for v in mean] == [122.782, 117.001, 104.298]
    assert [layer.kind for layer in layers].count("con") == 29 and layers[-1].kind == "fc"
    with pytest.raises(ModelFileError, match=r"byte \d+: expected \d+ floats, got the end of the file"):
        read_layers(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="expected the metric loss"):
        read_layers(data.replace(b"loss_metric_2", b"loss_mmod_xx2", 1))
    with pytest.raises(ValueError, match="byte 0"):  # ModelFileError is a ValueError too
        read_layers(b"\x00garbage")


def test_embed_many_gives_each_faces_own_descriptor_in_one_batch(models, face_frames):
    """The check and guard embed a frame's faces in one batch: the same descriptors as one by
    one (dlib's runtime too), in order, on different images and boxes; none for none."""
    detector = create_detector("dlib-hog")
    faces = []
    for image in face_frames[::9][:3]:
        found = detector.detect(image)
        assert found, "dlib's HOG detector finds the portrait"
        faces += [(image, rect) for rect in _boxes(image, found[0].rect)]
    assert len(faces) >= 6
    for model in models:
        batched = model.embed_many(faces)
        assert batched.shape == (len(faces), 128) and batched.dtype == np.float32
        alone = np.stack([model.embed(image, rect) for image, rect in faces])
        assert float(np.linalg.norm(batched - alone, axis=1).max()) < SAME
        assert float(np.linalg.norm(batched[0] - batched[1])) > 0.01  # not one face repeated
        assert model.embed_many([]).shape == (0, 128)
