"""Shared fixtures: real clips from ../shared when present, face clips made here otherwise."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("STREAMANON_SHARED", ROOT.parent / "shared"))
VIDEOS = SHARED / "data" / "videos"
YUNET = SHARED / "models" / "face_detection_yunet_2026may.onnx"


def shared_video(name: str) -> Path:
    path = VIDEOS / name
    if not path.exists():
        pytest.skip(f"real clip {name} not available ({VIDEOS} missing: fresh clone without ../shared)")
    return path


@pytest.fixture(scope="session")
def yunet():
    """OpenCV's YuNet detector from ../shared/models: ``detect(rgb) -> list of (x0, y0, x1, y1, score)``."""
    if not YUNET.exists():
        pytest.skip(f"independent detector {YUNET.name} not available (no ../shared)")
    import cv2

    def detect(image: np.ndarray, threshold: float = 0.6) -> list[tuple[float, float, float, float, float]]:
        h, w = image.shape[:2]
        model = cv2.FaceDetectorYN.create(str(YUNET), "", (w, h), score_threshold=threshold)
        _, faces = model.detect(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        if faces is None:
            return []
        return [(f[0], f[1], f[0] + f[2], f[1] + f[3], float(f[-1])) for f in faces]
    return detect


@pytest.fixture(scope="session")
def face_frames() -> list[np.ndarray]:
    """30 frames (640x360) of the astronaut portrait moving and zooming: one real face."""
    from streamanon.demo import demo_frames

    return demo_frames(30, (640, 360))


@pytest.fixture
def face_clip(tmp_path: Path, face_frames) -> Path:
    """An H.264 + AAC clip of ``face_frames`` at 25 fps."""
    from media import make_clip

    return make_clip(tmp_path / "face.mp4", frames=len(face_frames), size=(640, 360), fps=25,
                     image_fn=lambda i: face_frames[i])


@pytest.fixture(scope="session")
def talking_face():
    """First frame of talking_d0 (real, never trained on) and its largest meshed face's crop
    (track 0, seed 1234, synthetic-mode mask)."""
    pytest.importorskip("mediapipe")
    import av
    from dataclasses import replace

    from streamanon.config import DetectorConfig, MaskConfig
    from streamanon.crop import cut_faces
    from streamanon.detect import FaceDetector
    from streamanon.types import Track

    with av.open(str(shared_video("talking_d0.mp4"))) as c:
        image = next(c.decode(video=0)).to_ndarray(format="rgb24")
    d = max((d for d in FaceDetector(DetectorConfig()).detect(image) if d.landmarks is not None),
            key=lambda d: d.size)
    track = Track(track_id=0, box=d.box, seed=1234, age=1, misses=0, landmarks=d.landmarks,
                  keypoints=d.keypoints, score=d.score)
    return image, cut_faces(image, [track], replace(MaskConfig(), forehead=0.06), cover=False)[0]
