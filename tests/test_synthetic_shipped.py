"""The packaged generator on a real face from a real clip (never seen in training):
the replaced face still reads as a face to an independent detector (YuNet), and differs
from the original."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("mediapipe")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CLIP = SHARED / "data" / "videos" / "talking_d0.mp4"
YUNET = SHARED / "models" / "face_detection_yunet_2026may.onnx"
pytestmark = pytest.mark.shared


def _first_frame(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            return frame.to_ndarray(format="rgb24")
    raise AssertionError("clip has no frames")


def _yunet_faces(rgb: np.ndarray) -> np.ndarray:
    import cv2

    det = cv2.FaceDetectorYN.create(str(YUNET), "", (rgb.shape[1], rgb.shape[0]), 0.6)
    _, faces = det.detect(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return np.zeros((0, 15)) if faces is None else faces


@pytest.mark.skipif(not (CLIP.exists() and YUNET.exists()), reason="needs ../shared clips and YuNet")
def test_shipped_generator_replaces_a_real_face_with_a_detectable_face():
    from streamanon.compose import compose
    from streamanon.config import AnonymizerConfig, DetectorConfig, MaskConfig
    from streamanon.crop import cut_faces
    from streamanon.detect import FaceDetector
    from streamanon.synthetic import create_synthetic_generator
    from streamanon.types import Track

    frame = _first_frame(CLIP)
    dets = [d for d in FaceDetector(DetectorConfig()).detect(frame) if d.landmarks is not None]
    assert dets, "no meshed face in the first frame"
    d = max(dets, key=lambda d: d.size)
    track = Track(track_id=0, box=d.box, seed=42, age=1, misses=0, landmarks=d.landmarks,
                  keypoints=d.keypoints, score=d.score)
    crop = cut_faces(frame, [track], MaskConfig(), cover=False)[0]
    gen = create_synthetic_generator(AnonymizerConfig(mode="synthetic", backend="torch"))
    patch = gen.generate([crop])[0]
    assert not patch.fallback
    out = compose(frame, [patch])
    x0, y0, x1, y1 = crop.box
    region = out[y0:y1, x0:x1]
    inner = crop.mask > 0.5
    assert np.abs(region[inner].astype(int) - crop.image[inner].astype(int)).mean() > 8
    faces = _yunet_faces(region)
    cx, cy = (d.box[0] + d.box[2]) / 2 - x0, (d.box[1] + d.box[3]) / 2 - y0
    assert any(f[0] <= cx <= f[0] + f[2] and f[1] <= cy <= f[1] + f[3] for f in faces), \
        "YuNet finds no face where the synthetic face is"
    # Determinism: the same track seed and frame give the same face.
    assert np.array_equal(gen.generate([crop])[0].image, patch.image)
