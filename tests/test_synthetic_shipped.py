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


@pytest.mark.skipif(not CLIP.exists(), reason="needs ../shared clips")
def test_new_face_is_not_tinted_with_the_background_it_grows_over():
    """talking_d0 is shot on a green screen; at degree 2 the new face is wider than the
    original, over green. The colour match once measured the original's colour over that
    green too and tinted the new cheeks green (mean greenness of the lower edge ring ~20)."""
    import cv2

    from streamanon.config import AnonymizerConfig, DetectorConfig, MaskConfig
    from streamanon.crop import cut_faces
    from streamanon.detect import FaceDetector
    from streamanon.synthetic import create_synthetic_generator
    from streamanon.synthetic import mesh_topology as topo
    from streamanon.types import Track

    frame = _first_frame(CLIP)
    d = max((d for d in FaceDetector(DetectorConfig()).detect(frame) if d.landmarks is not None),
            key=lambda d: d.size)
    gen = create_synthetic_generator(AnonymizerConfig(mode="synthetic", backend="torch", degree=2.0))
    greenness = []
    for seed in range(4):
        track = Track(track_id=0, box=d.box, seed=seed, age=1, misses=0, landmarks=d.landmarks,
                      keypoints=d.keypoints, score=d.score)
        crop = cut_faces(frame, [track], MaskConfig(forehead=0.06), cover=False)[0]
        patch = gen.generate([crop])[0]
        oval = crop.landmarks[list(topo.OVAL_LOOP), :2]
        inside = np.zeros(crop.mask.shape, np.uint8)
        cv2.fillConvexPoly(inside, cv2.convexHull(oval.astype(np.int32)), 1)
        lower = np.arange(crop.mask.shape[0])[:, None] >= oval[:, 1].mean()
        ring = (patch.mask > 0.9) & (inside == 0) & lower  # drawn, outside the original face
        px = patch.image[ring].astype(float)
        greenness.append(float((px[:, 1] - (px[:, 0] + px[:, 2]) / 2).mean()))
    # Measured: 12-15 now, 19-22 with the old colour match; the original skin is about -10.
    assert np.mean(greenness) < 17, greenness
