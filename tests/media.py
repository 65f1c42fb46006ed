"""Make small test clips inside tests: moving pictures, audio, VFR, rotation, MKV, odd sizes.

Nothing here reads ``../shared``; every clip is synthesized, so tests pass on a fresh clone.
Other test modules import it (``from media import make_clip``); keep it generic.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Callable

import av
import numpy as np

ImageFn = Callable[[int], np.ndarray]

_VIDEO_CODECS = {"h264": "libx264", "h265": "libx265", "hevc": "libx265", "mpeg4": "mpeg4"}


def moving_picture(i: int, size: tuple[int, int]) -> np.ndarray:
    """A frame that differs visibly from its neighbours: gradient, moving square, index bars."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    img = np.empty((h, w, 3), np.uint8)
    img[..., 0] = (x * 255 // max(w - 1, 1)).astype(np.uint8)
    img[..., 1] = (y * 255 // max(h - 1, 1)).astype(np.uint8)
    img[..., 2] = (i * 9) % 256
    side = max(4, min(w, h) // 5)
    x0 = (i * 7) % max(w - side, 1)
    y0 = (i * 5) % max(h - side, 1)
    img[y0:y0 + side, x0:x0 + side] = (255, 255, 255)
    for bit in range(8):  # frame index as black/white bars along the top edge
        if (i >> bit) & 1:
            img[: max(2, h // 30), bit * w // 8:(bit + 1) * w // 8] = 0
    return img


def vfr_pts(frames: int, time_base: Fraction, fps: float) -> list[int]:
    """Strictly increasing timestamps whose intervals alternate between 0.5x, 1x and 2x."""
    step = 1 / (fps * time_base)
    pts, t = [], 0.0
    for i in range(frames):
        pts.append(int(round(t)))
        t += step * (0.5, 1.0, 2.0)[i % 3]
    return pts


def make_clip(path: str | Path, frames: int = 30, size: tuple[int, int] = (320, 240), fps: int = 25,
              audio: bool | str = True, rotation: int = 0, vfr: bool = False, codec: str = "h264",
              image_fn: ImageFn | None = None, metadata: dict[str, str] | None = None,
              audio_codec: str | None = None, pix_fmt: str | None = None, start: float = 0.0,
              faststart: bool = False, audio_start: float = 0.0) -> Path:
    """Write a small clip and return its path. The container comes from the extension.

    ``image_fn(i)`` returns the RGB uint8 frame ``i`` (lets callers paint faces in);
    ``rotation`` is written as the display matrix (counter-clockwise degrees);
    ``faststart`` puts the MP4 index first (a cut file then still opens);
    ``audio_start`` (seconds) delays the audio track;
    ``start`` (seconds) offsets every video timestamp (trimmed footage does not start at 0);
    ``metadata`` becomes container tags (MP4 keeps custom keys); ``audio_codec`` defaults to
    AAC (``pcm_u8`` or ``wavpack`` make an MKV whose audio MP4 cannot carry).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    odd = w % 2 or h % 2
    time_base = Fraction(1, 1000) if vfr and path.suffix == ".mkv" else Fraction(1, fps * 512)
    options = {}
    if path.suffix in (".mp4", ".mov", ".m4v"):  # custom tags; a start time finer than 1 ms
        options = {"movflags": "use_metadata_tags" + ("+faststart" if faststart else ""),
                   "movie_timescale": str(time_base.denominator)}
    with av.open(str(path), "w", options=options) as out:
        for key, value in (metadata or {}).items():
            out.metadata[key] = value
        video = out.add_stream(_VIDEO_CODECS.get(codec, codec), rate=fps)
        video.width, video.height = w, h
        video.pix_fmt = pix_fmt or ("yuv444p" if odd and codec != "mpeg4" else "yuv420p")
        video.time_base = time_base
        video.codec_context.time_base = time_base
        if codec in ("h264", "h265", "hevc"):
            video.options = {"preset": "ultrafast", "crf": "30"}
            if codec != "h264":
                video.options["x265-params"] = "log-level=error"
        if rotation:
            video.set_display_rotation(rotation)
        pts = vfr_pts(frames, time_base, fps) if vfr else [int(i / (fps * time_base)) for i in range(frames)]
        pts = [p + int(round(start / time_base)) for p in pts]
        duration = float((pts[-1] * time_base) + Fraction(1, fps)) if frames else 0.0
        sound = None
        if audio:
            name = audio_codec or ("aac" if audio is True else str(audio))
            sound = out.add_stream(name, rate=48000)
            sound.layout = "stereo" if not name.startswith("pcm") else "mono"
        paint = image_fn or (lambda i: moving_picture(i, size))
        for i, p in enumerate(pts):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(paint(i)), format="rgb24")
            frame.pts, frame.time_base = p, time_base
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            _write_tone(out, sound, duration, audio_start)
    return path


def _write_tone(out: av.container.OutputContainer, stream: av.AudioStream, seconds: float,
                start_at: float = 0.0) -> None:
    rate = stream.codec_context.sample_rate
    layout = stream.codec_context.layout.name
    fmt = stream.codec_context.format.name
    channels = len(stream.codec_context.layout.channels)
    total = int(round(seconds * rate))
    first = int(round(start_at * rate))
    block = 1024
    for start in range(0, total, block):
        n = min(block, total - start)
        t = (np.arange(start, start + n) / rate).astype(np.float32)
        tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        planar = np.repeat(tone[None, :], channels, axis=0)
        frame = av.AudioFrame.from_ndarray(planar, format="fltp", layout=layout)
        frame.sample_rate = rate
        frame.pts, frame.time_base = first + start, Fraction(1, rate)
        if fmt != "fltp":
            frame = av.AudioResampler(format=fmt, layout=layout, rate=rate).resample(frame)[0]
            frame.pts, frame.time_base = first + start, Fraction(1, rate)
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def make_audio_only(path: str | Path, seconds: float = 1.0) -> Path:
    """A file with an audio stream and no video stream."""
    path = Path(path)
    with av.open(str(path), "w") as out:
        _write_tone(out, out.add_stream("aac", rate=48000), seconds)
    return path


def make_zero_frame_clip(path: str | Path, size: tuple[int, int] = (320, 240)) -> Path:
    """A container with a video stream that holds no frames (and half a second of audio)."""
    path = Path(path)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        _write_tone(out, out.add_stream("aac", rate=48000), 0.5)
    return path


def truncate(path: str | Path, keep: float, dest: str | Path | None = None) -> Path:
    """Copy of ``path`` cut after ``keep`` (0..1) of its bytes."""
    src = Path(path)
    data = src.read_bytes()
    out = Path(dest) if dest else src.with_name(f"{src.stem}.truncated{src.suffix}")
    out.write_bytes(data[: int(len(data) * keep)])
    return out


def read_pts(path: str | Path) -> tuple[list[Fraction], int]:
    """Presentation times (seconds, exact) of every decoded video frame, and the count."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        times = [Fraction(f.pts) * f.time_base for f in c.decode(s)]
    return times, len(times)


def audio_duration(path: str | Path) -> float | None:
    """Seconds covered by the first audio stream's packets, or None without audio."""
    with av.open(str(path)) as c:
        if not c.streams.audio:
            return None
        s = c.streams.audio[0]
        start = end = None
        for p in c.demux(s):
            if p.pts is None:
                continue
            t0 = p.pts * p.time_base
            t1 = t0 + (p.duration or 0) * p.time_base
            start = t0 if start is None else min(start, t0)
            end = t1 if end is None else max(end, t1)
    return None if start is None else float(end - start)


def pass_through(src: str | Path, dst: str | Path, config=None, mode: str = "blur", stop_at: int | None = None,
                 transform: Callable[[np.ndarray], np.ndarray] | None = None, overwrite: bool = False,
                 faces: int = 1) -> Path:
    """Re-encode ``src`` into ``dst`` with streamanon's reader and writer (no face model).

    ``transform`` changes each picture; ``stop_at`` raises KeyboardInterrupt before that frame
    (as Ctrl-C would), inside the writer's ``with`` block.
    """
    from streamanon.config import Config
    from streamanon.io import VideoReader, VideoWriter
    from streamanon.types import FrameRecord

    config = config or Config().override({"encoder.preset": "ultrafast"})
    with VideoReader(src) as reader, VideoWriter(dst, reader.info, config.encoder, config.provenance,
                                                 config.digest(), mode, source_path=src,
                                                 overwrite=overwrite, config=config.to_dict()) as writer:
        for frame in reader.frames():
            if stop_at is not None and frame.index == stop_at:
                raise KeyboardInterrupt
            image = transform(frame.image) if transform else frame.image
            record = FrameRecord(index=frame.index, pts=frame.pts, faces=faces, replaced=faces,
                                 fallback=0, mode=mode)
            writer.write(frame.with_image(image), record)
    return Path(dst)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio (dB) between two uint8 images."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def add_subtitles(path: str | Path, lines: list[tuple[float, float, str]]) -> Path:
    """Copy of the MKV ``path`` with a SubRip track of ``(start s, duration s, text)`` lines."""
    src = Path(path)
    dst = src.with_name(f"{src.stem}.subtitled.mkv")
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        mapping = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        subs = out.add_mux_stream("subrip")
        subs.time_base = Fraction(1, 1000)
        pending = sorted(lines)
        for packet in inp.demux():
            if packet.dts is None:
                continue
            while pending and pending[0][0] <= packet.dts * packet.time_base:
                start, length, text = pending.pop(0)
                cue = av.Packet(text.encode())
                cue.stream, cue.time_base = subs, Fraction(1, 1000)
                cue.pts = cue.dts = int(start * 1000)
                cue.duration = int(length * 1000)
                out.mux(cue)
            packet.stream = mapping[packet.stream_index]
            out.mux(packet)
    return dst


def make_unknown_codec_clip(path: str | Path) -> Path:
    """An MKV whose video track names a codec no FFmpeg decoder knows (same-length CodecID)."""
    path = Path(path)
    clip = make_clip(path.with_name(f"{path.stem}.h264.mkv"), frames=5, audio=False)
    data = clip.read_bytes()
    assert data.count(b"V_MPEG4/ISO/AVC") == 1
    path.write_bytes(data.replace(b"V_MPEG4/ISO/AVC", b"V_STREAMANON/XX"))
    return path


def anonymize_frames(images: list[np.ndarray], overrides: dict):
    """``images`` through one fresh Anonymizer built from ``overrides`` (closed afterwards):
    ``(anonymizer, [(analysis, out_frame, record), ...])``."""
    from streamanon.config import Config
    from streamanon.pipeline import Anonymizer
    from streamanon.types import VideoFrame

    an = Anonymizer(Config().override(overrides))
    try:
        results = []
        for i, image in enumerate(images):
            analysis = an.analyze(VideoFrame(image, i, pts=i, time_base=None))
            out, record = an.render(analysis)
            results.append((analysis, out, record))
        return an, results
    finally:
        an.close()
