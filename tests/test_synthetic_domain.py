"""Faces the synthetic generator cannot draw anonymously (small, profile, no mesh) get the
fail-closed cover through the whole pipeline, and the report says why."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("mediapipe")

from streamanon.config import DetectorConfig  # noqa: E402
from streamanon.detect import FaceDetector  # noqa: E402
from streamanon.synthetic.domain import mesh_size, refusal, yaw_offset  # noqa: E402


def _meshed(image: np.ndarray):
    dets = [d for d in FaceDetector(DetectorConfig()).detect(image) if d.landmarks is not None]
    assert dets, "no meshed face found"
    return dets


def _rotate(points: np.ndarray, degrees: float) -> np.ndarray:
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    xy = points[:, :2] - points[:, :2].mean(0)
    return xy @ np.array([[c, -s], [s, c]]).T


def test_yaw_of_a_real_frontal_face_is_small_and_ignores_roll(face_frames):
    (det,) = _meshed(face_frames[0])
    yaw = yaw_offset(det.landmarks)
    assert abs(yaw) < 0.2, f"frontal astronaut: expected |yaw| < 0.2, got {yaw:.2f}"
    assert abs(yaw_offset(_rotate(det.landmarks, 40)) - yaw) < 1e-6
    assert mesh_size(det.landmarks) == pytest.approx(det.size, rel=0.35)
    assert refusal(det.landmarks, 0, 0.35) is None
    assert refusal(det.landmarks, 10_000, 0.35) == "small_face"
    assert refusal(None, 0, 0.35) == "no_mesh"


def test_real_profiles_are_refused_frontal_faces_in_the_same_frame_are_not():
    import av

    from conftest import shared_video

    with av.open(str(shared_video("stage_profiles_360p.mp4"))) as c:
        frame = next(f for i, f in enumerate(c.decode(video=0)) if i == 220).to_ndarray(format="rgb24")
    yaws = sorted(abs(yaw_offset(d.landmarks)) for d in _meshed(frame))
    # Two women in profile (measured |yaw| 0.85 and 1.28) and a boy facing the camera (0.29).
    assert yaws[0] <= 0.35 and sum(y > 0.6 for y in yaws) >= 2, f"|yaw| of the faces: {yaws}"
    assert [refusal(d.landmarks, 0, 0.35) for d in _meshed(frame)].count("profile") >= 2


def _on_canvas(image: np.ndarray, scale: float) -> np.ndarray:
    """``image`` shrunk by ``scale`` and centred on a grey canvas of the same size."""
    h, w = image.shape[:2]
    small = cv2.resize(image, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA)
    canvas = np.full_like(image, 128)
    y, x = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
    canvas[y:y + small.shape[0], x:x + small.shape[1]] = small
    return canvas


@pytest.mark.parametrize("scale, drawn", [(1.0, True), (0.25, False)])
def test_pipeline_draws_big_faces_and_covers_small_ones(yunet, scale, drawn):
    import av

    from conftest import shared_video
    from media import anonymize_frames

    with av.open(str(shared_video("talking_d0.mp4"))) as c:
        first = next(c.decode(video=0)).to_ndarray(format="rgb24")
    image = _on_canvas(first, scale)
    _, [(analysis, out, record)] = anonymize_frames([image], {"anonymizer.mode": "synthetic"})
    (track,) = analysis.tracks
    size = mesh_size(track.landmarks)
    assert (size >= 96) == drawn, f"face mesh {size:.0f} px at scale {scale}"
    assert record.faces == 1
    if drawn:
        assert record.replaced == 1 and record.fallback_reasons == ()
        assert yunet(out.image), "the drawn face should still read as a face"
    else:
        assert record.replaced == 0 and record.fallback_reasons == ("small_face",)
        x0, y0, x1, y1 = (int(v) for v in track.box)
        face, covered = image[y0:y1, x0:x1], out.image[y0:y1, x0:x1]
        # Covered with the heavy blur: the face's fine detail is gone.
        detail = lambda a: float(cv2.Laplacian(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())  # noqa: E731
        assert detail(covered) < 0.1 * detail(face)
        assert not yunet(out.image)


def test_a_face_drawn_before_keeps_being_drawn_a_little_below_the_limit(face_frames):
    (det,) = _meshed(face_frames[0])
    size = mesh_size(det.landmarks)
    just_below = size / 0.95  # the face is 95 % of this limit: refused, unless drawn before
    assert refusal(det.landmarks, just_below, 0.35) == "small_face"
    assert refusal(det.landmarks, just_below, 0.35, drawn_before=True) is None
    assert refusal(det.landmarks, size / 0.85, 0.35, drawn_before=True) == "small_face"


class _Picky:
    """Refuses every face it did not draw before; records what it was told."""

    name = "picky"

    def __init__(self):
        self.told = []

    def refuses(self, crop, drawn_before=False):
        self.told.append((crop.track_id, drawn_before))
        return None if drawn_before else "small_face"

    def generate(self, batch):
        from streamanon.generators import BlurGenerator

        return BlurGenerator(0.5).generate(batch)


def _crop(track_id: int):
    from streamanon.types import FaceCrop

    image = np.full((40, 40, 3), 100, np.uint8)
    return FaceCrop(track_id=track_id, seed=1, box=(0, 0, 40, 40), image=image,
                    mask=np.ones((40, 40), np.float32))


def test_failsafe_tells_the_generator_which_faces_it_drew_last_frame():
    from streamanon.failsafe import FailsafePolicy, generate_or_cover

    picky = _Picky()
    patches, events = generate_or_cover(picky, [_crop(1), _crop(2)], FailsafePolicy(), drawn_before={2})
    assert picky.told == [(1, False), (2, True)]
    assert [p.fallback for p in patches] == [True, False]
    assert [(e.track_id, e.reason) for e in events] == [(1, "small_face")]


def test_a_shared_live_generator_passes_the_refusal_on():
    from streamanon.live.multi import SharedGenerator

    picky = _Picky()
    client = SharedGenerator(picky).client()
    assert client.refuses(_crop(3), drawn_before=False) == "small_face"
    assert client.refuses(_crop(3), drawn_before=True) is None


def test_pipeline_keeps_drawing_a_face_that_shrinks_just_below_the_limit():
    import av

    from conftest import shared_video
    from media import anonymize_frames

    with av.open(str(shared_video("talking_d0.mp4"))) as c:
        first = next(c.decode(video=0)).to_ndarray(format="rgb24")
    # Mesh of about 273 px at full size: 0.40 -> ~110 px (drawn), 0.33 -> ~90 px (below 96).
    big, small = _on_canvas(first, 0.40), _on_canvas(first, 0.33)

    def reasons(images):
        _, results = anonymize_frames(images, {"anonymizer.mode": "synthetic", "identity.salt": "t"})
        return [(round(mesh_size(a.tracks[0].landmarks)), r.fallback_reasons) for a, _, r in results]

    shrinking = reasons([big] * 3 + [small] * 4)
    assert all(r == () for _, r in shrinking), f"(mesh px, covers) per frame: {shrinking}"
    assert shrinking[-1][0] < 96
    fresh = reasons([small] * 2)
    assert all(r == ("small_face",) for _, r in fresh), fresh
