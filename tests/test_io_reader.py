"""VideoReader: frames, timestamps, rotation and typed errors on clips made here."""

from __future__ import annotations

from fractions import Fraction

import pytest
from media import (make_audio_only, make_clip, make_unknown_codec_clip, make_zero_frame_clip, moving_picture, psnr,
                   read_pts, truncate)

from streamanon.errors import InputError, UnsupportedMediaError
from streamanon.io import VideoReader, probe


def test_cfr_clip_frames_pixels_and_pts(tmp_path):
    clip = make_clip(tmp_path / "cfr.mp4", frames=20, fps=25)
    with VideoReader(clip) as reader:
        info = reader.info
        frames = list(reader.frames())
    assert (info.width, info.height, info.frame_count, info.fps) == (320, 240, 20, Fraction(25))
    assert info.codec == "h264" and info.audio_streams == 1 and info.rotation == 0
    assert abs(info.duration - 0.8) < 0.05
    assert [f.index for f in frames] == list(range(20))
    assert [Fraction(f.pts) * f.time_base for f in frames] == [Fraction(i, 25) for i in range(20)]
    for f in frames[::5]:
        assert f.image.shape == (240, 320, 3) and f.image.dtype.name == "uint8"
        assert psnr(f.image, moving_picture(f.index, (320, 240))) > 25


def test_vfr_mkv_keeps_irregular_timestamps(tmp_path):
    clip = make_clip(tmp_path / "vfr.mkv", frames=24, vfr=True)
    times, _ = read_pts(clip)
    with VideoReader(clip) as reader:
        got = [Fraction(f.pts) * f.time_base for f in reader.frames()]
    steps = {b - a for a, b in zip(got, got[1:])}
    assert got == times and len(steps) >= 3  # 20, 40 and 80 ms intervals survive


def test_mkv_lists_no_frame_count_so_progress_estimates_it(tmp_path):
    clip = make_clip(tmp_path / "cfr.mkv", frames=50, fps=25, audio=False)
    with VideoReader(clip) as reader:
        info = reader.info
        decoded = sum(1 for _ in reader.frames())
    assert info.frame_count is None and decoded == 50
    assert abs(info.expected_frames - 50) <= 1  # duration x rate


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation_from_display_matrix_pixels_unrotated(tmp_path, rotation):
    clip = make_clip(tmp_path / f"rot{rotation}.mp4", frames=3, rotation=rotation, audio=False)
    with VideoReader(clip) as reader:
        assert reader.info.rotation == rotation
        first = next(iter(reader.frames()))
    assert first.image.shape == (240, 320, 3)


def test_odd_size_h265(tmp_path):
    clip = make_clip(tmp_path / "odd.mkv", frames=6, size=(321, 241), codec="h265", audio=False)
    with VideoReader(clip) as reader:
        frames = list(reader.frames())
    assert reader.info.codec == "hevc" and len(frames) == 6
    assert frames[0].image.shape == (241, 321, 3)
    assert psnr(frames[3].image, moving_picture(3, (321, 241))) > 25


def test_unknown_video_codec_is_unsupported_media_error(tmp_path):
    with pytest.raises(UnsupportedMediaError, match="no decoder"):
        VideoReader(make_unknown_codec_clip(tmp_path / "unknown.mkv"))


def test_missing_file_is_input_error(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        VideoReader(tmp_path / "nope.mp4")


def test_not_a_video_is_input_error(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    with pytest.raises(InputError, match="expected a video"):
        VideoReader(text)


def test_audio_only_is_input_error(tmp_path):
    with pytest.raises(InputError, match="video stream"):
        probe(make_audio_only(tmp_path / "tone.mp4"))


def test_zero_frames_is_input_error(tmp_path):
    with pytest.raises(InputError, match="zero frames"):
        VideoReader(make_zero_frame_clip(tmp_path / "empty.mkv"))


def test_truncated_mp4_without_index_is_input_error(tmp_path):
    clip = make_clip(tmp_path / "cut.mp4", frames=20, audio=False)
    with pytest.raises(InputError):
        VideoReader(truncate(clip, 0.5))  # moov at the end: cut off


def test_truncated_mkv_yields_decodable_frames(tmp_path):
    clip = make_clip(tmp_path / "cut.mkv", frames=30, audio=False)
    with VideoReader(truncate(clip, 0.5)) as reader:
        frames = list(reader.frames())
    assert 3 <= len(frames) < 30
    assert psnr(frames[-1].image, moving_picture(frames[-1].index, (320, 240))) > 20


def test_truncated_faststart_mp4_yields_frames_and_flags_it(tmp_path):
    clip = make_clip(tmp_path / "cut.mp4", frames=30, audio=False, faststart=True)
    with VideoReader(truncate(clip, 0.5)) as reader:
        frames = list(reader.frames())
    assert 3 <= len(frames) < 30 and reader.truncated
    assert [f.index for f in frames] == list(range(len(frames)))
    assert psnr(frames[-1].image, moving_picture(frames[-1].index, (320, 240))) > 20


def test_file_cut_inside_first_frame_is_input_error(tmp_path):
    clip = make_clip(tmp_path / "tiny.mkv", frames=30, audio=False)
    cut = truncate(clip, 0.02)
    with pytest.raises(InputError):
        with VideoReader(cut) as reader:
            list(reader.frames())


@pytest.mark.shared
def test_real_clip(tmp_path):
    from conftest import shared_video

    path = shared_video("talking_vr1.mp4")
    times, count = read_pts(path)
    with VideoReader(path) as reader:
        frames = list(reader.frames())
        info = reader.info
    assert len(frames) == count == 135
    assert (info.width, info.height) == (700, 700)
    assert [Fraction(f.pts) * f.time_base for f in frames] == times
    assert frames[50].image.std() > 10  # real picture content, not a blank frame
