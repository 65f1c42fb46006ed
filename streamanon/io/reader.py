"""Decode a video file into :class:`~streamanon.types.VideoFrame` objects, timestamps intact.

Frames come out exactly as stored (not rotated: the display rotation is in
:attr:`MediaInfo.rotation` and the writer copies it), with the decoder's own ``pts`` and
time base, so variable frame rate survives. Every failure is an :class:`InputError` (or
:class:`UnsupportedMediaError` for a video the decoders cannot handle).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

from ..errors import InputError, UnsupportedMediaError
from ..types import VideoFrame

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MediaInfo:
    """What the writer needs to reproduce the input's timing and layout.

    ``rotation`` is the display matrix rotation in counter-clockwise degrees (0, 90, 180,
    270), the convention of PyAV's ``VideoFrame.rotation`` and ``set_display_rotation``.
    ``frame_count`` is the container's count (None when the container does not say).
    """

    path: str
    format_name: str
    width: int
    height: int
    frame_count: int | None
    fps: Fraction
    time_base: Fraction
    duration: float
    rotation: int
    codec: str
    audio_streams: int
    subtitle_streams: int = 0
    data_streams: int = 0
    start_pts: int | None = None
    pix_fmt: str | None = None
    color_space: int | None = None
    """FFmpeg ``AVColorSpace`` of the first frame (1: BT.709, 5/6: BT.601, 2: unspecified)."""
    video_stream_index: int = 0

    @property
    def expected_frames(self) -> int | None:
        """``frame_count``, else duration x frame rate (Matroska and WebM list no count): for
        progress bars, not a promise; None when neither is known."""
        if self.frame_count:
            return self.frame_count
        estimate = round(self.duration * float(self.fps)) if self.duration > 0 else 0
        return estimate or None


def open_input(path: str | Path):
    """``av.open`` with every failure mapped to :class:`InputError`."""
    import av

    p = Path(path)
    if not p.exists():
        raise InputError(f"input {p}: no such file (expected an existing video file)")
    if p.is_dir():
        raise InputError(f"input {p}: expected a file, got a directory")
    if not os.access(p, os.R_OK):
        raise InputError(f"input {p}: expected a readable file, got permission denied")
    if p.stat().st_size == 0:
        raise InputError(f"input {p}: expected a video file, got an empty file")
    try:
        return av.open(str(p), "r")
    except av.error.InvalidDataError:
        raise InputError(f"input {p}: expected a video file, got data no demuxer recognises "
                         "(not a video, or truncated before its index)") from None
    except (av.error.FFmpegError, OSError) as exc:
        raise InputError(f"input {p}: cannot be opened ({exc})") from None


def video_stream(container, path: str | Path):
    streams = [s for s in container.streams.video
               if not (s.disposition & _attached_pic_flag())]
    if not streams:
        raise InputError(f"input {path}: expected a video stream, got "
                         f"{len(container.streams.audio)} audio and no video streams")
    stream = streams[0]
    if stream.codec_context is None:
        raise UnsupportedMediaError(f"input {path}: video codec of stream #{stream.index} "
                                    "has no decoder in this FFmpeg build")
    return stream


def _attached_pic_flag() -> int:
    import av

    return int(av.stream.Disposition.attached_pic)


def _normalize_rotation(value: float | None) -> int:
    if not value:
        return 0
    return int(round(float(value) / 90.0)) * 90 % 360


def probe(path: str | Path) -> MediaInfo:
    """Read the container header and decode the first frame (rotation, zero-frame check)."""
    import av

    with open_input(path) as container:
        stream = video_stream(container, path)
        ctx = stream.codec_context
        stream.thread_type = "AUTO"
        first = None
        try:
            for first in container.decode(stream):
                break
        except av.error.FFmpegError as exc:
            raise InputError(f"input {path}: first video frame cannot be decoded ({exc})") from None
        if first is None:
            raise InputError(f"input {path}: expected at least one video frame, got zero frames")
        time_base = stream.time_base or Fraction(1, 90000)
        fps = stream.average_rate or stream.guessed_rate or stream.base_rate or Fraction(25)
        if stream.duration:
            duration = float(stream.duration * time_base)
        elif container.duration:
            duration = container.duration / 1_000_000
        else:
            duration = 0.0
        colorspace = getattr(first, "colorspace", None)
        return MediaInfo(
            path=str(path),
            format_name=container.format.name,
            width=first.width,
            height=first.height,
            frame_count=stream.frames or None,
            fps=Fraction(fps),
            time_base=Fraction(time_base),
            duration=duration,
            rotation=_normalize_rotation(first.rotation),
            codec=ctx.name,
            audio_streams=len(container.streams.audio),
            subtitle_streams=len(container.streams.subtitles),
            data_streams=len(container.streams.data),
            start_pts=stream.start_time,
            pix_fmt=ctx.format.name if ctx.format else None,
            color_space=int(colorspace) if colorspace is not None else None,
            video_stream_index=stream.index,
        )


class VideoReader:
    """Context manager over one video file::

        with VideoReader("in.mp4") as reader:
            for frame in reader.frames():   # VideoFrame: RGB uint8, index, pts, time_base
                ...

    A file that breaks off mid-stream yields its decodable frames and logs a warning; a
    file that yields no frame at all is an :class:`InputError`.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.info = probe(self.path)
        self._container = None
        self.truncated = False
        """True after :meth:`frames` stopped at a decoding or demuxing error."""

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

    def frames(self) -> Iterator[VideoFrame]:
        """Decode every frame, in presentation order, as RGB ``uint8`` ``(H, W, 3)``."""
        import av

        self.close()
        self._container = container = open_input(self.path)
        stream = container.streams[self.info.video_stream_index]
        stream.thread_type = "AUTO"
        index = 0
        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets)
                decoded = stream.decode(packet)
            except StopIteration:
                break
            except av.error.FFmpegError as exc:
                self.truncated = True
                log.warning("%s: stopped after %d frames: %s", self.path, index, exc)
                break
            for frame in decoded:
                yield self._to_video_frame(frame, stream, index)
                index += 1
        if self.truncated:
            try:  # frames still held by the decoder after a mid-stream error
                for frame in stream.decode(None):
                    yield self._to_video_frame(frame, stream, index)
                    index += 1
            except av.error.FFmpegError:
                pass
        self.close()
        if index == 0:
            raise InputError(f"input {self.path}: expected at least one decodable frame, got zero frames")
        expected = self.info.frame_count
        if expected and index < expected:
            self.truncated = True
            log.warning("%s: decoded %d of the %d frames the container lists", self.path, index, expected)

    def _to_video_frame(self, frame, stream, index: int) -> VideoFrame:
        if frame.width != self.info.width or frame.height != self.info.height:
            raise UnsupportedMediaError(
                f"input {self.path}: frame {index} size: expected {self.info.width}x{self.info.height} "
                f"(no mid-stream resolution changes), got {frame.width}x{frame.height}")
        image = frame.to_ndarray(format="rgb24")
        time_base = frame.time_base or stream.time_base
        return VideoFrame(image=image, index=index, pts=frame.pts,
                          time_base=Fraction(time_base) if time_base is not None else None)
