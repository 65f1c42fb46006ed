"""The anonymization method on real face pictures: covering modes, fail-closed covers."""

import numpy as np
import pytest

from streamanon.config import Config, DetectorConfig
from streamanon.detect import FaceDetector
from streamanon.errors import GeneratorError
from streamanon.pipeline import Anonymizer
from streamanon.types import FacePatch, VideoFrame


def frames_of(images):
    return [VideoFrame(img, i, pts=i * 40, time_base=None) for i, img in enumerate(images)]


def face_box(anonymizer_frame_analysis):
    (track,) = anonymizer_frame_analysis.tracks
    return [int(v) for v in track.box]


def changed_fraction(a, b, box):
    x0, y0, x1, y1 = box
    diff = np.abs(a[y0:y1, x0:x1].astype(int) - b[y0:y1, x0:x1].astype(int)).sum(axis=2)
    return float((diff > 12).mean())


@pytest.mark.parametrize("mode", ["blur", "pixelate", "solid"])
def test_modes_cover_the_face_and_leave_the_rest(face_frames, mode):
    an = Anonymizer(Config().override({"anonymizer.mode": mode}))
    for frame in frames_of(face_frames[:6]):
        analysis = an.analyze(frame)
        out, record = an.render(analysis)
        assert out.pts == frame.pts and out.index == frame.index
        assert record.faces == 1 and record.replaced == 1 and record.fallback == 0
        box = face_box(analysis)
        assert changed_fraction(frame.image, out.image, box) > 0.6
        # Far from the face, pixels are untouched.
        far = np.ones(frame.image.shape[:2], bool)
        w, h = box[2] - box[0], box[3] - box[1]
        far[max(0, box[1] - 2 * h):box[3] + 2 * h, max(0, box[0] - 2 * w):box[2] + 2 * w] = False
        assert np.array_equal(out.image[far], frame.image[far])


def test_independent_detector_finds_no_face_after_solid_and_blur(face_frames, yunet):
    originals = [f for f in face_frames[::6]]
    assert all(yunet(img) for img in originals), "YuNet sees the astronaut in the input"
    for mode in ("solid", "blur"):
        an = Anonymizer(Config().override({"anonymizer.mode": mode}))
        for frame in frames_of(originals):
            out, _ = an.process(frame)
            assert yunet(out.image) == [], f"{mode}: YuNet still finds a face"


class Exploding:
    name = "exploding"

    def generate(self, batch):
        raise GeneratorError("boom")


class Shrinking:
    """Returns patches whose masks do not cover the face: must be rejected."""

    name = "shrinking"

    def generate(self, batch):
        return [FacePatch(c.track_id, c.box, c.image, np.zeros_like(c.mask)) for c in batch]


class Slow:
    name = "slow"

    def generate(self, batch):
        import time

        time.sleep(0.05)
        return [FacePatch(c.track_id, c.box, c.image, c.mask) for c in batch]


@pytest.mark.parametrize("generator,reason,overrides", [
    (Exploding(), "generator_error", {}),
    (Shrinking(), "bad_output", {}),
    (Slow(), "timeout", {"anonymizer.timeout_ms": 10.0}),
])
def test_generator_faults_are_covered(face_frames, generator, reason, overrides):
    config = Config().override({"anonymizer.fallback": "solid", **overrides})
    an = Anonymizer(config, generator=generator)
    for frame in frames_of(face_frames[:3]):
        analysis = an.analyze(frame)
        out, record = an.render(analysis)
        assert record.fallback == 1 and record.fallback_reasons == (reason,) and record.replaced == 0
        x0, y0, x1, y1 = face_box(analysis)
        core = out.image[y0 + (y1 - y0) // 4:y1 - (y1 - y0) // 4, x0 + (x1 - x0) // 4:x1 - (x1 - x0) // 4]
        assert core.max() == 0, "the face core is solid black"
    assert an.stats.fallback_events[reason] == 3


def test_detector_gap_is_covered_while_coasting(face_frames):
    """Drop every detection for frames 5-8: the face must stay covered there."""
    an = Anonymizer(Config().override({"anonymizer.mode": "blur", "anonymizer.fallback": "solid"}))
    real_detect = an.detector.detect
    frames = frames_of(face_frames[:12])
    for frame in frames:
        an.detector.detect = (lambda image, hints=(): []) if 5 <= frame.index <= 8 else real_detect
        analysis = an.analyze(frame)
        out, record = an.render(analysis)
        if 5 <= frame.index <= 8:
            assert record.fallback_reasons == ("coasting",)
            (track,) = analysis.tracks
            assert track.track_id == 0
            # The face moved on; where the true face now is, it is still black.
            true = real_detect(frame.image)[0].box
            x0, y0, x1, y1 = (int(v) for v in true)
            cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
            patch = out.image[cy - (y1 - y0) // 4:cy + (y1 - y0) // 4, cx - (x1 - x0) // 4:cx + (x1 - x0) // 4]
            assert patch.max() == 0
        else:
            assert record.fallback == 0
    assert an.tracker.total_tracks == 1


def test_streams_in_one_process_keep_their_own_state(face_frames):
    config = Config().override({"identity.salt": "fixed"})
    a = Anonymizer(config.override({"identity.stream": "a"}))
    b = Anonymizer(config.override({"identity.stream": "b"}))
    ta = a.analyze(frames_of(face_frames[:1])[0]).tracks[0]
    for frame in frames_of(face_frames[:3]):
        b.analyze(frame)
    tb = b.analyze(frames_of(face_frames[3:4])[0]).tracks[0]
    assert ta.track_id == tb.track_id == 0
    assert ta.seed != tb.seed


def test_lookahead_backfills_frames_before_a_late_detection(face_frames):
    """The detector is blind for frames 0-3: with lookahead those frames leave covered."""
    from streamanon.runner import StagedRunner

    an = Anonymizer(Config().override({"anonymizer.mode": "solid", "anonymizer.fallback": "solid"}))
    real_detect = an.detector.detect
    calls = []

    def late(image, hints=()):
        calls.append(1)
        return [] if len(calls) <= 4 else real_detect(image, hints)
    an.detector.detect = late
    frames = frames_of(face_frames[10:22])
    out = list(StagedRunner(an, queue_size=2, lookahead=6).run(frames))
    assert [f.index for f, _ in out] == list(range(12))
    reference = FaceDetector(DetectorConfig(mesh=False, min_score=0.3))  # fresh: no shared state
    checked = 0
    for (frame, record), original in zip(out[:4], frames[:4]):
        assert record.faces >= 1 and "coasting" in record.fallback_reasons
        for face in reference.detect(original.image):
            x0, y0, x1, y1 = (int(v) for v in face.box)
            cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
            assert frame.image[cy - 8:cy + 8, cx - 8:cx + 8].max() == 0
            checked += 1
    assert checked >= 2


def test_a_tentative_find_is_back_filled_only_as_far_as_it_coasts():
    """The lookahead covers a new face in the frames before it was found (all it holds), a
    tentative find only in the ``tentative_frames`` before it."""
    from streamanon.lookahead import Lookahead
    from streamanon.pipeline import FrameAnalysis
    from streamanon.types import Track

    image = np.zeros((200, 200, 3), np.uint8)
    for tentative, covered in ((False, [1] * 6), (True, [0, 0, 0, 0, 1, 1])):
        lookahead = Lookahead(6, tentative_frames=2)
        for i in range(6):
            assert lookahead.push(FrameAnalysis(VideoFrame(image, i, pts=i, time_base=None), (), ())) == []
        born = Track(track_id=0, box=(50, 50, 100, 100), seed=1, age=1, misses=0, tentative=tentative)
        out = lookahead.push(FrameAnalysis(VideoFrame(image, 6, pts=6, time_base=None), (), (born,)))
        before = [*out, *lookahead.held[:-1]]
        assert [a.frame.index for a in before] == list(range(6))
        assert [len(a.tracks) for a in before] == covered
        assert all(t.coasting for a in before for t in a.tracks)


def test_synthetic_mode_always_runs_the_mesh_cover_modes_may_skip_it():
    from streamanon.pipeline import Anonymizer

    off = Config().override({"detector.mesh": False})
    synthetic = Anonymizer(off.override({"anonymizer.mode": "synthetic"}))
    blur = Anonymizer(off.override({"anonymizer.mode": "blur"}))
    assert synthetic.detector.config.mesh is True and blur.detector.config.mesh is False
    synthetic.close()
    blur.close()


def test_default_mode_without_the_synthetic_extra_names_the_extra_and_the_way_out(monkeypatch, tmp_path):
    """Synthetic is the default mode; without diffusers it must say what to install (or use).
    (With an ONNX export already cached the default CPU backend would not need diffusers.)"""
    import sys

    monkeypatch.setenv("STREAMANON_CACHE", str(tmp_path))  # nothing exported yet, here
    monkeypatch.chdir(tmp_path)  # or in ./engines

    from streamanon.config import AnonymizerConfig
    from streamanon.errors import BackendUnavailableError
    from streamanon.generators import create_generator

    monkeypatch.setitem(sys.modules, "diffusers", None)  # as if not installed
    assert AnonymizerConfig().mode == "synthetic"
    with pytest.raises(BackendUnavailableError, match=r"streamanon\[synthetic\].*--mode blur") as info:
        create_generator(AnonymizerConfig())
    assert info.value.extra == "synthetic"


def test_a_one_frame_find_beside_a_close_up_is_not_covered_for_long():
    """talking_s32 frame 8: a tile pass finds a "face" of about 190 px in her hair above her
    head (0.64, no mesh; no other pass sees it there or later). It is covered in that frame and
    while its track coasts ``tracker.tentative_coast`` (3) frames, then not; before,
    the cover coasted 12 frames and grew over her face. Her own track (blurred) is untouched."""
    import av

    from conftest import shared_video

    an = Anonymizer(Config().override({"anonymizer.mode": "blur", "anonymizer.fallback": "solid"}))
    x0, y0, x1, y1 = 505, 210, 680, 290  # inside the false box, above her face
    seen = {}
    with av.open(str(shared_video("talking_s32.mp4"))) as c:
        for i, f in enumerate(c.decode(video=0)):
            frame = VideoFrame(f.to_ndarray(format="rgb24"), i, pts=i, time_base=None)
            analysis = an.analyze(frame)
            out, _ = an.render(analysis)
            black = float((out.image[y0:y1, x0:x1].max(axis=2) == 0).mean())
            seen[i] = (black, sorted(t.track_id for t in analysis.tracks))
            if i == 13:
                break
    for i in range(8):
        assert seen[i] == (0.0, [0]), (i, seen[i])
    assert seen[8][1] == [0, 1]  # found (blurred like a face)
    for i in range(9, 12):  # coasting: the fail-closed cover
        assert seen[i][1] == [0, 1] and seen[i][0] > 0.9, (i, seen[i])
    for i in (12, 13):
        assert seen[i] == (0.0, [0]), (i, seen[i])


@pytest.mark.parametrize("mode", ["synthetic", "blur"])
def test_a_face_cut_by_a_pillarbox_bar_is_replaced_and_the_bar_stays_black(mode):
    """talking_d0 with a black bar over its left 180 columns, through the face (as on a
    pillarboxed music video): the face is drawn (or covered) up to the bar and the bar stays
    black; before, the drawn face or the blur reached into it as a halo."""
    pytest.importorskip("mediapipe")
    import av

    from conftest import shared_video

    with av.open(str(shared_video("talking_d0.mp4"))) as c:
        image = next(c.decode(video=0)).to_ndarray(format="rgb24")
    image[:, :180] = 0
    config = Config().override({"anonymizer.mode": mode, "anonymizer.guard_candidates": 0,
                                "anonymizer.verify_every": 0, "identity.salt": "bars"})
    an = Anonymizer(config)
    analysis = an.analyze(frames_of([image])[0])
    x0, y0, x1, y1 = face_box(analysis)
    assert x0 < 180 < x1  # the face reaches under the bar
    out, record = an.render(analysis)
    assert record.replaced == 1 and record.fallback == 0
    assert np.array_equal(out.image[:, :180], image[:, :180])
    assert changed_fraction(image, out.image, (180, y0, x1, y1)) > 0.5
