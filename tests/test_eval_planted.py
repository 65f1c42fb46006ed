"""streamanon eval on planted cases made in the test (no ../shared needed): an untouched
copy, a solid cover and a blur of the detected faces of an astronaut clip (skimage)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from streamanon.errors import InputError
from streamanon.evaluation import SUMMARY_KEYS, EvalSettings, Evaluator
from streamanon.evaluation.faces import DlibDetector, default_yunet_path
from streamanon.evaluation.planted import astronaut_clip, plant, read_video, write_video

pytest.importorskip("dlib")


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval_planted")
    original = root / "astronaut.mp4"
    astronaut_clip(original, frames=16)
    detector = DlibDetector()  # what a fresh clone has
    out = {"original": original}
    for kind in ("copy", "solid", "blur", "alternate"):
        out[kind] = root / f"astronaut_{kind}.mp4"
        plant(original, out[kind], kind, detector)
    return out


@pytest.fixture(scope="module")
def evaluator():
    # dlib HOG: the detector a fresh clone without ../shared falls back to; no distractors.
    return Evaluator(EvalSettings(stride=3, detector="dlib-hog", max_distractors=0))


@pytest.fixture(scope="module")
def results(clips, evaluator):
    return {k: evaluator.evaluate(clips["original"], clips[k]) for k in ("copy", "solid", "blur", "alternate")}


def test_every_clip_has_the_face_tracked(results):
    for r in results.values():
        assert r["frames"] == 16 and r["sampled_frames"] == 6
        assert r["faces"] == 6 and r["tracks"] == 1
        assert set(SUMMARY_KEYS) <= set(r["summary"])


def test_untouched_copy_is_fully_reidentified_and_leaks_everywhere(results):
    s = results["copy"]["summary"]
    assert s["reid_rate"] == 1.0 and s["leak_rate"] == 1.0 and s["retention"] == 1.0
    assert s["identity_distance"] < 0.2
    assert s["pose_error_deg"] < 3.0
    assert 0.8 < s["flicker"] < 1.2 and s["id_stability"] == 1.0
    assert 0.8 < s["sharpness_ratio"] < 1.2
    assert s["collateral"] < 0.01
    track = results["copy"]["per_track"]["0"]
    assert track["faces"] == 6 and track["leak_frames"] == 6 and track["retention"] == 1.0


def test_solid_cover_keeps_no_face_and_no_leak(results):
    s = results["solid"]["summary"]
    assert s["retention"] == 0.0 and s["leak_rate"] == 0.0
    assert s["identity_distance"] > 0.6
    assert s["flicker"] < 0.3  # a frozen black box changes less than the face did
    assert s["sharpness_ratio"] < 0.05
    assert s["seam_ratio"] > 1.0  # hard black border
    assert s["collateral"] < 0.01  # the cover stays on the face


def test_blur_is_between(results):
    copy, blur = results["copy"]["summary"], results["blur"]["summary"]
    assert blur["leak_rate"] == 0.0 and blur["retention"] < copy["retention"]
    assert blur["identity_distance"] > copy["identity_distance"] + 0.3
    assert blur["sharpness_ratio"] < 0.3


def test_alternating_cover_flickers_and_switches_identity(results):
    # stride 3 samples frames 0, 3, 6, 9, 12, 15: untouched, covered, untouched, ...
    s = results["alternate"]["summary"]
    assert s["leak_rate"] == pytest.approx(0.5)
    assert s["retention"] == pytest.approx(0.5)
    assert s["flicker"] > 3.0  # face <-> black box on every frame step
    assert s["id_switches"] == 5 and s["id_stability"] == pytest.approx(6 / 15)  # 3+3 same-kind pairs of 15


def test_reid_needs_more_than_one_identity_and_falls_on_covers(clips, evaluator):
    """With one track and no distractors every probe is "re-identified"; give the attacker
    decoys (embeddings of flat grey and black squares) and covered faces go to the decoys."""
    assert evaluator.evaluate(clips["original"], clips["solid"])["privacy"]["reid"]["gallery"] == 6
    decoy = Evaluator(EvalSettings(stride=3, detector="dlib-hog", max_distractors=0))
    squares = [np.full((150, 150, 3), v, np.uint8) for v in (0, 60, 128)]
    rect = (15.0, 15.0, 135.0, 135.0)
    decoy.set_distractors(np.stack([decoy.model.embed(q, rect) for q in squares]),
                          np.stack([decoy.second.embed(q, rect) for q in squares]), "flat squares")
    copy = decoy.evaluate(clips["original"], clips["copy"])["summary"]
    solid = decoy.evaluate(clips["original"], clips["solid"])["summary"]
    alternate = decoy.evaluate(clips["original"], clips["alternate"])["summary"]
    assert copy["reid_rate"] == 1.0 and solid["reid_rate"] == 0.0
    assert alternate["reid_rate"] == pytest.approx(0.5)


def test_frame_count_mismatch_is_an_input_error(clips, evaluator, tmp_path):
    frames, fps = read_video(clips["original"])
    short = tmp_path / "short.mp4"
    write_video(short, frames[:10], fps)
    with pytest.raises(InputError, match="frame count"):
        evaluator.evaluate(clips["original"], short)


def test_missing_video_is_an_input_error(clips, evaluator, tmp_path):
    with pytest.raises(InputError):
        evaluator.evaluate(clips["original"], tmp_path / "nope.mp4")


def test_cli_writes_json_html_and_sheet(clips, tmp_path, capsys):
    from streamanon.cli import main

    out_json, out_html, out_png = tmp_path / "e.json", tmp_path / "e.html", tmp_path / "e.png"
    code = main(["eval", str(clips["original"]), str(clips["solid"]), "--json", str(out_json),
                 "--html", str(out_html), "--png", str(out_png), "--stride", "4", "--detector", "dlib-hog",
                 "--max-distractors", "0"])
    assert code == 0
    data = json.loads(out_json.read_text())
    assert data["summary"]["retention"] == 0.0 and data["summary"]["leak_rate"] == 0.0
    assert "tracks" in data["temporal"] and data["privacy"]["reid"]["probes"] == data["faces"] == 4
    page = out_html.read_text()
    assert page.count("data:image/png;base64,") == 2 and "retention" in page
    import cv2

    sheet = cv2.imread(str(out_png))
    assert sheet is not None and sheet.shape[1] >= 480  # original and anonymized side by side
    assert "retention" in capsys.readouterr().out


def test_cli_needs_two_videos_or_a_suite(capsys):
    from streamanon.cli import main

    assert main(["eval", "only_one.mp4"]) == 2


@pytest.mark.skipif(not default_yunet_path().is_file(), reason="YuNet model absent (../shared/models)")
def test_yunet_and_dlib_agree_on_the_planted_copy(clips):
    yunet = Evaluator(EvalSettings(stride=3, detector="yunet", max_distractors=0))
    s = yunet.evaluate(clips["original"], clips["copy"])["summary"]
    assert s["reid_rate"] == 1.0 and s["leak_rate"] == 1.0 and s["retention"] == 1.0
    s = yunet.evaluate(clips["original"], clips["solid"])["summary"]
    assert s["retention"] == 0.0 and s["leak_rate"] == 0.0
    assert np.isfinite(s["pose_error_deg"])


def test_rotation_metadata_and_physical_rotation_compare_equal(clips, tmp_path):
    """A copy stored upright with a display rotation and one stored rotated are the same video."""
    import av

    from streamanon.evaluation.matching import display_rgb, paired_frames

    frames, fps = read_video(clips["original"])
    meta = tmp_path / "rot_meta.mp4"
    with av.open(str(meta), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        stream.set_display_rotation(90)
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    physical = tmp_path / "rot_phys.mp4"
    write_video(physical, [np.rot90(f, 1) for f in frames], fps)
    pairs = list(paired_frames(meta, physical))
    assert len(pairs) == len(frames)
    a, b = display_rgb(pairs[5][1]), display_rgb(pairs[5][2])
    assert a.shape == b.shape == (frames[0].shape[1], frames[0].shape[0], 3)
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 4


def test_padded_copy_is_cropped_back(clips, evaluator, tmp_path):
    """Encoders that pad to 16-pixel multiples (deface via imageio-ffmpeg) still compare."""
    frames, fps = read_video(clips["copy"])
    padded = tmp_path / "padded.mp4"
    write_video(padded, [np.pad(f, ((0, 8), (0, 8), (0, 0))) for f in frames], fps)
    s = evaluator.evaluate(clips["original"], padded)["summary"]
    assert s["retention"] == 1.0 and s["leak_rate"] == 1.0
    too_big = tmp_path / "too_big.mp4"
    write_video(too_big, [np.pad(f, ((0, 32), (0, 0), (0, 0))) for f in frames[:16]], fps)
    with pytest.raises(InputError, match="frame size"):
        evaluator.evaluate(clips["original"], too_big)
