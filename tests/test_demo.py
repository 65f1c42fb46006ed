"""`streamanon demo` (what the README's first command runs): a generated clip in, every frame
out with the face replaced by a drawn one (synthetic, the default mode), audio kept."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("skimage")
pytest.importorskip("dlib")


def test_demo_draws_a_new_face_in_every_frame(tmp_path):
    from streamanon.cli import main
    from streamanon.detect import FaceDetector
    from streamanon.config import DetectorConfig
    from streamanon.evaluation.faces import SAME_PERSON, DlibFaceModel

    assert main(["demo", "--out-dir", str(tmp_path), "--quiet"]) == 0
    report = json.loads((tmp_path / "demo_report.json").read_text())
    assert report["mode"] == "synthetic" and report["frames_in"] == report["frames_out"] == 90
    assert report["faces_total"] >= 90 and report["fallback_total"] <= 0.1 * report["faces_total"], report
    with av.open(str(tmp_path / "demo_input.mp4")) as c:
        originals = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with av.open(str(tmp_path / "demo_anonymized.mp4")) as c:
        assert len(c.streams.audio) == 1
        outputs = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(outputs) == len(originals) == 90
    detector, dlib = FaceDetector(DetectorConfig()), DlibFaceModel()
    for i in (0, 45, 89):
        (face,) = [d for d in detector.detect(originals[i]) if d.size > 60]
        assert face.size >= 96, face.size  # large enough to be drawn, not covered
        distance = float(np.linalg.norm(dlib.embed(outputs[i], face.box) - dlib.embed(originals[i], face.box)))
        assert distance > SAME_PERSON, (i, distance)  # another person, by the recogniser
        # the background outside the picture is untouched
        assert np.abs(outputs[i][:, :20].astype(int) - originals[i][:, :20]).mean() < 3
    detector.close()
