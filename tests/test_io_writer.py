"""VideoWriter round trips: pixels, every pts, frame count, audio, rotation, tags, errors."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
from media import audio_duration, make_clip, moving_picture, pass_through, psnr, read_pts

from streamanon.config import Config
from streamanon.errors import InputError, OutputError, OutputExistsError
from streamanon.io import VideoReader, VideoWriter
from streamanon.io.metadata import IDENTIFYING_KEYS
from streamanon.provenance.verify import verify
from streamanon.types import FrameRecord

FAST = Config().override({"encoder.preset": "ultrafast"})


def _decoded(path):
    with VideoReader(path) as reader:
        return reader.info, list(reader.frames())


@pytest.mark.parametrize("src_ext,dst_ext,codec,vfr,size", [
    ("mp4", "mp4", "h264", False, (320, 240)),
    ("mkv", "mkv", "h264", True, (320, 240)),
    ("mp4", "mkv", "h265", True, (320, 240)),
    ("mkv", "mp4", "h264", False, (321, 241)),
    ("mp4", "mp4", "h265", False, (321, 241)),
])
def test_round_trip_keeps_timing_pixels_audio(tmp_path, src_ext, dst_ext, codec, vfr, size):
    src = make_clip(tmp_path / f"in.{src_ext}", frames=24, size=size, vfr=vfr)
    config = FAST.override({"encoder.codec": codec})
    dst = pass_through(src, tmp_path / f"out.{dst_ext}", config)
    in_times, n_in = read_pts(src)
    out_times, n_out = read_pts(dst)
    assert n_out == n_in == 24
    assert out_times == in_times  # every frame's presentation time, exactly
    info, frames = _decoded(dst)
    assert (info.width, info.height) == size
    assert info.codec == {"h264": "h264", "h265": "hevc"}[codec]
    assert min(psnr(f.image, moving_picture(f.index, size)) for f in frames[::6]) > 28
    assert abs(audio_duration(dst) - audio_duration(src)) < 0.05
    assert abs(info.duration - _decoded(src)[0].duration) < 0.05
    assert verify(dst).ok
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_pixels_written_are_the_ones_given(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=10, audio=False)
    dst = pass_through(src, tmp_path / "out.mp4", transform=lambda img: 255 - img)
    _, frames = _decoded(dst)
    for f in frames[::3]:
        assert psnr(f.image, 255 - moving_picture(f.index, (320, 240))) > 28


@pytest.mark.parametrize("ext", ["mp4", "mkv"])
def test_rotation_copied_to_output(tmp_path, ext):
    src = make_clip(tmp_path / f"in.{ext}", frames=6, rotation=90, audio=False)
    dst = pass_through(src, tmp_path / f"out.{ext}")
    info, frames = _decoded(dst)
    assert info.rotation == 90
    assert frames[0].image.shape == (240, 320, 3)  # stored unrotated, players rotate


def _audio_start(path) -> float:
    with av.open(str(path)) as c:
        return min(float(p.pts * p.time_base) for p in c.demux(c.streams.audio[0]) if p.pts is not None)


def test_audio_container_cannot_carry_is_reencoded_to_aac(tmp_path):
    src = make_clip(tmp_path / "in.mkv", frames=25, audio_codec="pcm_u8", audio_start=0.4)
    dst = pass_through(src, tmp_path / "out.mp4")
    with av.open(str(dst)) as c:
        assert c.streams.audio[0].codec_context.name == "aac"
    assert abs(audio_duration(dst) - audio_duration(src)) < 0.1
    assert _audio_start(src) == pytest.approx(0.4, abs=0.001)
    assert _audio_start(dst) == pytest.approx(0.4, abs=1024 / 48000 + 0.001)  # AAC priming only


def test_audio_is_interleaved_not_appended(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=50)
    dst = pass_through(src, tmp_path / "out.mkv")
    with av.open(str(dst)) as c:
        kinds = [p.stream.type for p in c.demux() if p.size]
    first_audio, last_video = kinds.index("audio"), len(kinds) - 1 - kinds[::-1].index("video")
    assert first_audio < last_video / 2


def test_location_and_device_tags_are_dropped(tmp_path):
    tags = {"location": "+48.8584+002.2945/", "make": "Apple", "model": "iPhone 15 Pro",
            "com.apple.quicktime.location.ISO6709": "+48.8584+002.2945+035.000/",
            "com.apple.quicktime.make": "Apple", "com.apple.quicktime.model": "iPhone 15 Pro",
            "title": "holiday"}
    src = make_clip(tmp_path / "in.mp4", frames=5, metadata=tags)
    with av.open(str(src)) as c:
        assert {"location", "make", "model"} <= set(c.metadata)  # the source really has them
    dst = pass_through(src, tmp_path / "out.mp4")
    with av.open(str(dst)) as c:
        keys = {k.lower() for k in c.metadata} | {k.lower() for s in c.streams for k in s.metadata}
        values = " ".join(c.metadata.values())
    assert not keys & set(IDENTIFYING_KEYS)
    assert "48.85" not in values and "iPhone" not in values
    assert c.metadata["ai_modified"] == "true"


def test_existing_output_is_refused_unless_overwrite(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=3, audio=False)
    dst = tmp_path / "out.mp4"
    dst.write_bytes(b"keep me")
    with pytest.raises(OutputExistsError):
        pass_through(src, dst)
    assert dst.read_bytes() == b"keep me"
    pass_through(src, dst, overwrite=True)
    assert read_pts(dst)[1] == 3


def test_unwritable_destination_is_output_error(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=3, audio=False)
    with pytest.raises(OutputError):
        pass_through(src, tmp_path / "missing_folder" / "out.mp4")
    with pytest.raises(OutputError):
        pass_through(src, tmp_path / "out.avi")


def test_error_inside_with_removes_partial_output(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=10)
    dst = tmp_path / "out.mp4"

    def boom(img):
        raise RuntimeError("generator crashed")
    with pytest.raises(RuntimeError):
        pass_through(src, dst, transform=boom)
    assert not dst.exists() and list(tmp_path.iterdir()) == [src]


def test_abort_removes_partial_output(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=10, audio=False)
    dst = tmp_path / "out.mp4"
    with VideoReader(src) as reader:
        writer = VideoWriter(dst, reader.info, FAST.encoder, FAST.provenance, FAST.digest(), "blur")
        for frame in reader.frames():
            writer.write(frame, FrameRecord(frame.index, frame.pts, 0, 0, 0, "blur"))
        writer.abort()
    assert list(tmp_path.iterdir()) == [src]


def test_wrong_frame_size_is_input_error(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=3, audio=False)
    with pytest.raises(InputError, match="shape"):
        pass_through(src, tmp_path / "out.mp4", transform=lambda img: img[:-2])
    assert not (tmp_path / "out.mp4").exists()


def test_ctrl_c_leaves_playable_finalized_file(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=40)
    dst = tmp_path / "out.mp4"
    with pytest.raises(KeyboardInterrupt):
        pass_through(src, dst, stop_at=15)
    times, count = read_pts(dst)
    assert count == 15 and times == read_pts(src)[0][:15]
    assert audio_duration(dst) < 15 / 25 + 0.1  # audio stops with the video
    report = verify(dst)
    assert report.ok and report.frames == 15


def test_close_while_handling_interrupt_is_partial(tmp_path):
    """The runner's pattern: ``except KeyboardInterrupt: writer.close(); raise``."""
    src = make_clip(tmp_path / "in.mp4", frames=40)
    dst = tmp_path / "out.mp4"
    with VideoReader(src) as reader:
        writer = VideoWriter(dst, reader.info, FAST.encoder, FAST.provenance, FAST.digest(), "blur",
                             source_path=src)
        try:
            for frame in reader.frames():
                if frame.index == 10:
                    raise KeyboardInterrupt
                writer.write(frame, FrameRecord(frame.index, frame.pts, 0, 0, 0, "blur"))
        except KeyboardInterrupt:
            writer.close()
    assert read_pts(dst)[1] == 10 and audio_duration(dst) < 0.5
    import json
    assert json.loads((tmp_path / "out.mp4.provenance.json").read_text())["complete"] is False


def test_missing_pts_are_synthesized_from_fps(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=5, audio=False)
    dst = tmp_path / "out.mp4"
    with VideoReader(src) as reader:
        with VideoWriter(dst, reader.info, FAST.encoder, FAST.provenance, FAST.digest(), "blur") as w:
            for frame in reader.frames():
                from streamanon.types import VideoFrame
                bare = VideoFrame(image=frame.image, index=frame.index)
                w.write(bare, FrameRecord(frame.index, None, 0, 0, 0, "blur"))
    assert read_pts(dst)[0] == [Fraction(i, 25) for i in range(5)]


@pytest.mark.shared
def test_real_clip_round_trip(tmp_path):
    from conftest import shared_video

    src = shared_video("talking_vr1.mp4")
    dst = pass_through(src, tmp_path / "real.mp4")
    assert read_pts(dst) == read_pts(src)
    _, frames = _decoded(dst)
    _, originals = _decoded(src)
    assert np.mean([psnr(a.image, b.image) for a, b in zip(frames[::20], originals[::20])]) > 30
    assert verify(dst).ok


def test_subtitles_copied_to_mkv_and_skipped_for_mp4(tmp_path):
    from media import add_subtitles

    src = add_subtitles(make_clip(tmp_path / "in.mkv", frames=25), [(0.0, 0.3, "hello"), (0.4, 0.3, "world")])
    mkv = pass_through(src, tmp_path / "out.mkv")
    with av.open(str(mkv)) as c:
        assert [s.type for s in c.streams] == ["video", "audio", "subtitle"]
        assert [bytes(p) for p in c.demux(c.streams.subtitles[0]) if p.size] == [b"hello", b"world"]
    mp4 = pass_through(src, tmp_path / "out.mp4")  # SubRip has no MP4 mapping: skipped cleanly
    with av.open(str(mp4)) as c:
        assert [s.type for s in c.streams] == ["video", "audio"]
    assert verify(mp4).ok and read_pts(mp4)[1] == 25


def test_bt709_source_keeps_its_colours(tmp_path):
    """HD material is tagged BT.709: converting back with BT.601 would shift every colour."""
    bars = np.zeros((240, 320, 3), np.uint8)
    bars[:, :106], bars[:, 106:213], bars[:, 213:] = (220, 30, 30), (30, 220, 30), (30, 30, 220)
    src = tmp_path / "bt709.mp4"
    with av.open(str(src), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        ctx = stream.codec_context
        ctx.colorspace = ctx.color_primaries = ctx.color_trc = 1
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(bars, format="rgb24").reformat(format="yuv420p",
                                                                             dst_colorspace="ITU709")
            frame.pts, frame.time_base = i, Fraction(1, 25)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    dst = pass_through(src, tmp_path / "out.mp4")
    src_info, src_frames = _decoded(src)
    out_info, out_frames = _decoded(dst)
    assert src_info.color_space == out_info.color_space == 1
    assert psnr(src_frames[2].image, bars) > 28
    assert psnr(out_frames[2].image, src_frames[2].image) > 40


@pytest.mark.parametrize("ext", ["mp4", "mkv"])
def test_nonzero_start_time_kept_exactly(tmp_path, ext):
    src = make_clip(tmp_path / "in.mp4", frames=12, start=0.3073, audio=False)
    times, _ = read_pts(src)
    assert times[0] > 0.3
    dst = pass_through(src, tmp_path / f"out.{ext}")
    out = read_pts(dst)[0]
    if ext == "mp4":
        assert out == times  # exact: the movie timescale is the video's
    else:
        assert max(abs(a - b) for a, b in zip(out, times)) <= Fraction(1, 2000)  # Matroska: milliseconds
