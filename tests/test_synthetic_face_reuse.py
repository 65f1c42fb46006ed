"""Reused faces: where the identity check covers a drawn face, the track's farthest recent
face that passed a check is drawn in its place, only if it passes the check here too."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import shared_video
from streamanon.errors import ConfigError
from streamanon.failsafe import FallbackEvent
from streamanon.synthetic.face_reuse import MAX_SHAPE_CHANGE, FaceReuse, create_face_reuse, shape_change
from streamanon.types import FaceCrop, FacePatch


MESH = np.random.default_rng(0).uniform(5, 35, (20, 2)).astype(np.float32)


def _crop(track_id: int, landmarks: np.ndarray = MESH) -> FaceCrop:
    image = np.full((40, 40, 3), 100 + track_id, np.uint8)
    return FaceCrop(track_id=track_id, box=(0, 0, 40, 40), image=image, mask=np.ones((40, 40), np.float32),
                    seed=track_id, landmarks=landmarks)


def _face(value: float) -> np.ndarray:
    """An aligned face whose value says which frame drew it."""
    return np.full((3, 8, 8), value, np.float32)


class Generator:
    """Draws, for each track, the face given to it; ``redraw`` marks the patch with the face's value."""

    def __init__(self):
        self.faces: dict[int, np.ndarray] = {}
        self.redraws: list[dict[int, float]] = []

    def aligned_face(self, track_id):
        return self.faces.get(track_id)

    def redraw(self, faces):
        self.redraws.append({t: float(f[0, 0, 0]) for t, f in faces.items()})
        return {t: FacePatch(t, (0, 0, 40, 40), np.full((40, 40, 3), int(f[0, 0, 0]), np.uint8),
                             np.ones((40, 40), np.float32)) for t, f in faces.items()}


class Check:
    """Passes a reused face when ``ok(track, value, leaving)`` says so."""

    def __init__(self, ok):
        self.ok, self.measured, self.asked = ok, {}, []

    def passes_again(self, crop, patch, leaving):
        value = int(patch.image[0, 0, 0])
        self.asked.append((crop.track_id, value))
        return self.ok(crop.track_id, value, leaving)


def _drawn(track_id: int) -> FacePatch:
    return FacePatch(track_id, (0, 0, 40, 40), np.zeros((40, 40, 3), np.uint8), np.ones((40, 40), np.float32))


def _cover(track_id: int) -> FacePatch:
    return FacePatch(track_id, (0, 0, 40, 40), np.full((40, 40, 3), 7, np.uint8), np.ones((40, 40), np.float32),
                     fallback=True)


def _history(reuse: FaceReuse, gen: Generator, check: Check, frames: dict[int, dict[int, float]]) -> None:
    """Frames in which each track's face (value = frame) passed a check at the given distance."""
    for index, passed in sorted(frames.items()):
        gen.faces = {t: _face(index) for t in passed}
        check.measured = dict(passed)
        reuse.remember(index, [_drawn(t) for t in passed], [_crop(t) for t in passed], gen, check)


def test_the_farthest_kept_face_replaces_the_cover_and_the_event():
    gen, reuse = Generator(), FaceReuse(frames=30)
    check = Check(lambda t, value, leaving: True)
    _history(reuse, gen, check, {10: {0: 0.70}, 11: {0: 0.75}, 12: {0: 0.66}})
    events = [FallbackEvent(0, "identity_check"), FallbackEvent(1, "coasting")]
    patches, left, reused = reuse.replace(13, [_cover(0), _cover(1)], [_crop(0), _crop(1)], events, gen, check,
                                          lambda trial: np.zeros(1))
    assert reused == [0] and left == [FallbackEvent(1, "coasting")]
    assert not patches[0].fallback and patches[0].image[0, 0, 0] == 11  # frame 11's face: 0.75
    assert patches[1].fallback, "a coasting cover is never replaced"


def test_only_the_farthest_kept_face_is_tried_and_the_cover_stays_when_it_fails():
    gen, reuse = Generator(), FaceReuse(frames=30)
    check = Check(lambda t, value, leaving: value == 10)
    _history(reuse, gen, check, {10: {0: 0.70}, 11: {0: 0.75}, 12: {0: 0.66}, 13: {0: 0.72}})
    cover = _cover(0)
    patches, left, reused = reuse.replace(14, [cover], [_crop(0)], [FallbackEvent(0, "identity_check")],
                                          gen, check, lambda trial: np.zeros(1))
    assert check.asked == [(0, 11)], "one try: the farthest (frame 11, 0.75)"
    assert patches == [cover] and left == [FallbackEvent(0, "identity_check")] and reused == []


def test_kept_faces_go_with_their_track_and_the_window():
    gen, reuse = Generator(), FaceReuse(frames=5)
    check = Check(lambda t, value, leaving: True)
    _history(reuse, gen, check, {10: {0: 0.7}, 30: {1: 0.8}})
    # track 0 was gone in frame 30 (its faces forgotten); track 1's face is older than the window at 36
    patches, _, reused = reuse.replace(36, [_cover(0)], [_crop(0)], [FallbackEvent(0, "identity_check")], gen,
                                       check, lambda trial: np.zeros(1))
    assert reused == [] and patches[0].fallback and check.asked == []
    assert reuse.candidate(0, 11) is None
    assert reuse.candidate(1, 36) is None and reuse.candidate(1, 35) is not None


def test_only_faces_kept_in_about_this_pose_and_expression_are_tried():
    gen, reuse = Generator(), FaceReuse(frames=30)
    check = Check(lambda t, value, leaving: True)
    _history(reuse, gen, check, {10: {0: 0.80}, 11: {0: 0.70}})
    turned = _crop(0, MESH * np.array([0.8, 1.0], np.float32) + 3)  # narrower (turned) and moved
    assert shape_change(MESH, turned.landmarks) > MAX_SHAPE_CHANGE
    assert shape_change(MESH, MESH * 1.7 + 4) < 1e-6, "place and size do not count"
    patches, left, reused = reuse.replace(12, [_cover(0)], [turned], [FallbackEvent(0, "identity_check")], gen,
                                          check, lambda trial: np.zeros(1))
    assert reused == [] and check.asked == [] and patches[0].fallback
    patches, left, reused = reuse.replace(12, [_cover(0)], [_crop(0, MESH * 1.7 + 4)],
                                          [FallbackEvent(0, "identity_check")], gen, check, lambda trial: np.zeros(1))
    assert reused == [0] and patches[0].image[0, 0, 0] == 10


def test_faces_of_a_shape_before_an_escalation_and_errors_are_not_reused():
    gen, reuse = Generator(), FaceReuse(frames=30)
    check = Check(lambda t, value, leaving: True)
    _history(reuse, gen, check, {10: {0: 0.7, 1: 0.7}})
    gen.faces, check.measured = {}, {}
    reuse.remember(11, [_cover(0), _cover(1)], [_crop(0), _crop(1)], gen, check, forget=[0])  # track 0 escalated
    events = [FallbackEvent(0, "identity_check"), FallbackEvent(1, "identity_check_error")]
    patches, left, reused = reuse.replace(12, [_cover(0), _cover(1)], [_crop(0), _crop(1)], events, gen, check,
                                          lambda trial: np.zeros(1))
    assert reused == [] and left == events and all(p.fallback for p in patches)


def test_two_faces_are_judged_again_in_the_frame_they_leave_in():
    """Track 1's kept faces all fail; track 0's passed only beside track 1's tried face: once
    track 1 is covered again, track 0's face is judged anew, fails, and is covered too."""
    gen, reuse = Generator(), FaceReuse(frames=30)
    _history(reuse, gen, Check(None), {10: {0: 0.7, 1: 0.7}})

    def ok(track, value, leaving):
        return track == 0 and leaving[1] != 7  # track 0 passes only while track 1 is drawn

    def leaving_with(trial):
        return np.array([p.image[0, 0, 0] for p in trial])

    events = [FallbackEvent(0, "identity_check"), FallbackEvent(1, "identity_check")]
    patches, left, reused = reuse.replace(11, [_cover(0), _cover(1)], [_crop(0), _crop(1)], events, gen,
                                          Check(ok), leaving_with)
    assert reused == [] and left == events and all(p.fallback for p in patches)


def test_a_face_that_cannot_be_drawn_again_keeps_its_cover():
    class Broken(Generator):
        def redraw(self, faces):
            raise RuntimeError("backend gone")

    gen, reuse = Broken(), FaceReuse(frames=30)
    check = Check(lambda t, value, leaving: True)
    _history(reuse, gen, check, {10: {0: 0.7}})
    cover, events = _cover(0), [FallbackEvent(0, "identity_check")]
    patches, left, reused = reuse.replace(11, [cover], [_crop(0)], events, gen, check, lambda trial: np.zeros(1))
    assert patches == [cover] and left == events and reused == [] and check.asked == []


def test_settings():
    with pytest.raises(ConfigError, match="verify_reuse"):
        FaceReuse(-1)
    assert create_face_reuse(0, object(), Generator()) is None
    assert create_face_reuse(30, None, Generator()) is None, "no identity check: nothing passed a check"
    assert create_face_reuse(30, object(), object()) is None, "a generator that cannot draw a kept face again"
    assert isinstance(create_face_reuse(30, object(), Generator()), FaceReuse)


@pytest.mark.shared
def test_on_a_real_clip_reused_faces_are_faces_an_independent_recogniser_does_not_match(yunet):
    """talking_vox, frame by frame: where the check covers a drawn face and an earlier one is
    drawn instead, YuNet finds a face there and dlib's own runtime (the eval's attacker, at
    YuNet's box) does not match it to the person."""
    pytest.importorskip("dlib")
    import av

    from streamanon.config import Config
    from streamanon.evaluation.faces import DlibFaceModel, yunet_to_dlib_rect
    from streamanon.pipeline import Anonymizer
    from streamanon.types import VideoFrame

    # one escalation step: the raised face comes near him again and the check covers it
    an = Anonymizer(Config().override({"identity.salt": "s6", "anonymizer.verify_escalate_times": 1}))
    attacker = DlibFaceModel(runtime="dlib")
    reused_frames = []
    try:
        with av.open(str(shared_video("talking_vox.mp4"))) as c:
            for i, frame in enumerate(c.decode(video=0)):
                if i > 106:
                    break
                image = frame.to_ndarray(format="rgb24")
                before = an.stats.reused_faces
                out, record = an.process(VideoFrame(image, i, pts=i, time_base=None))
                if an.stats.reused_faces == before:
                    continue
                reused_frames.append(i)
                assert record.replaced == record.faces == 1 and record.fallback == 0, record
                (face,) = [f for f in yunet(image) if f[2] - f[0] > 100]
                found = [f for f in yunet(out.image) if f[0] < (face[0] + face[2]) / 2 < f[2]]
                assert found, f"frame {i}: no face where the reused face was drawn"
                rect = yunet_to_dlib_rect(face[:4])
                distance = np.linalg.norm(attacker.embed(out.image, rect) - attacker.embed(image, rect))
                assert distance >= 0.6, f"frame {i}: the reused face matches the person ({distance:.3f})"
    finally:
        an.close()
    assert reused_frames, "the check covered no face that an earlier one could replace"
