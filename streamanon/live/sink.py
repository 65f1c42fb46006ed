"""Where anonymized live frames go: an RTSP/RTMP/SRT server, an HTTP viewer, or files.

    sink = open_sink(output_config, encoder_config, provenance, digest, mode, (w, h), fps, metrics)
    sink.write(image, pts, record)     # pts in TIME_BASE (1/90000 s), strictly increasing
    sink.close()

- ``rtsp://`` (ANNOUNCE/RECORD to an RTSP server), ``rtmp://`` (FLV), ``srt://`` (MPEG-TS):
  published with x264 ``tune=zerolatency`` (no B-frames, no lookahead: one frame in, one
  packet out). When the server goes away, frames are counted as ``sink_dropped`` and a
  background thread reconnects with backoff; the stream resumes with a keyframe.
- ``http://HOST:PORT/PATH``: streamanon *serves* MPEG-TS there; any number of viewers
  connect (``ffplay``, VLC, ``ffmpeg -i``); a viewer too slow to keep up is disconnected.
- anything else: a file through :class:`~streamanon.io.VideoWriter` (SEI, tags, sidecar,
  atomic rename), or a series of files rotated every ``segment_seconds`` of output.

Every packet of every output carries the provenance SEI of its frame.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import numpy as np

from ..config import EncoderConfig, ProvenanceConfig
from ..errors import OutputError
from ..provenance.manifest import frame_payload
from ..provenance.sei import insert_sei, sei_nal
from ..types import FrameRecord, VideoFrame
from .config import OutputConfig
from .metrics import CameraMetrics

log = logging.getLogger(__name__)

TIME_BASE = Fraction(1, 90000)
_ENCODERS = {"h264": "libx264", "h265": "libx265"}
_PUSH_FORMATS = {"rtsp": "rtsp", "rtsps": "rtsp", "rtmp": "flv", "rtmps": "flv", "srt": "mpegts", "udp": "mpegts"}


class Sink(Protocol):
    def write(self, image: np.ndarray, pts: int, record: FrameRecord) -> None: ...

    def close(self) -> None: ...


class Encoding:
    """What every sink encodes with (from the pipeline config and the output section)."""

    def __init__(self, encoder: EncoderConfig, provenance: ProvenanceConfig, digest: str, mode: str,
                 size: tuple[int, int], fps: float, output: OutputConfig) -> None:
        self.encoder = replace(encoder, preset=output.preset or "ultrafast")
        self.provenance = provenance
        self.digest = digest
        self.mode = mode
        self.size = size
        self.fps = Fraction(fps).limit_denominator(1001)
        self.gop = max(1, int(round(fps * output.gop_seconds)))


def open_sink(output: OutputConfig, encoding: Encoding, metrics: CameraMetrics) -> Sink:
    scheme = urlsplit(output.url).scheme.lower() if "://" in output.url else ""
    if scheme in _PUSH_FORMATS:
        return PublishSink(output.url, _PUSH_FORMATS[scheme], encoding, metrics)
    if scheme == "http":
        from .http_serve import HttpServeSink

        return HttpServeSink(output.url, encoding, metrics)
    if scheme not in ("", "file"):
        raise OutputError(f"output {output.url}: expected rtsp://, rtmp://, srt://, http:// (served) or a file")
    path = output.url[len("file://"):] if scheme == "file" else output.url
    if output.segment_seconds > 0 or "%" in Path(path).name:
        return SegmentedFileSink(path, output.segment_seconds or 600.0, output.overwrite, encoding)
    return FileSink(path, output.overwrite, encoding)


# -- encoded streams ---------------------------------------------------------------------------


class _Muxer:
    """One open output container with a low-latency encoder; SEI on every packet."""

    def __init__(self, target, fmt: str, encoding: Encoding, options: dict[str, str] | None = None,
                 on_keyframe=None) -> None:
        import av

        self.encoding = encoding
        self.on_keyframe = on_keyframe
        enc = encoding.encoder
        self.container = av.open(target, "w", format=fmt, options=options or {}, timeout=(5.0, 5.0))
        stream = self.container.add_stream(_ENCODERS[enc.codec], rate=encoding.fps)
        stream.width, stream.height = encoding.size
        stream.pix_fmt = "yuv420p"
        stream.time_base = stream.codec_context.time_base = TIME_BASE
        params = {"crf": str(enc.crf), "preset": enc.preset, "tune": "zerolatency", "g": str(encoding.gop), "bf": "0"}
        if enc.codec == "h265":
            params["x265-params"] = "log-level=error"
        stream.options = params
        if enc.threads:
            stream.codec_context.thread_count = enc.threads
        self.stream = stream
        self.container.start_encoding()  # connects / writes the header now, not on the first frame
        self._pending: dict[int, dict] = {}
        self.frames = 0

    def write(self, image: np.ndarray, pts: int, record: FrameRecord) -> None:
        import av

        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts, frame.time_base = pts, TIME_BASE
        self._pending[pts] = frame_payload(record, record.index, pts, TIME_BASE, self.encoding.digest)
        for packet in self.stream.encode(frame):
            self._mux(packet)
        self.frames += 1

    def _mux(self, packet) -> None:
        import av

        payload = self._pending.pop(packet.pts, None)
        if self.encoding.provenance.sei and payload is not None:
            data = insert_sei(self.encoding.encoder.codec, bytes(packet), sei_nal(self.encoding.encoder.codec, payload))
            marked = av.Packet(data)
            marked.pts, marked.dts, marked.time_base = packet.pts, packet.dts, packet.time_base
            marked.is_keyframe = packet.is_keyframe
            marked.stream = self.stream
            packet = marked
        if packet.is_keyframe and self.on_keyframe is not None:
            self.on_keyframe()
        self.container.mux(packet)
        if len(self._pending) > 64:  # never reached with zerolatency; bounds memory regardless
            self._pending.clear()

    def close(self) -> None:
        try:
            for packet in self.stream.encode(None):
                self._mux(packet)
        finally:
            self.container.close()


class PublishSink:
    """Push to a server; reconnect in the background with backoff while frames are dropped."""

    def __init__(self, url: str, fmt: str, encoding: Encoding, metrics: CameraMetrics,
                 backoff_initial_s: float = 0.5, backoff_max_s: float = 5.0) -> None:
        self.url, self.fmt, self.encoding, self.metrics = url, fmt, encoding, metrics
        self.backoff = (backoff_initial_s, backoff_max_s)
        self._muxer: _Muxer | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._connecting: threading.Thread | None = None
        self._opened_once = False
        self._connect()

    def _options(self) -> dict[str, str]:
        return {"rtsp_transport": "tcp"} if self.fmt == "rtsp" else {}

    def _open(self) -> _Muxer:
        import av

        try:
            return _Muxer(self.url, self.fmt, self.encoding, self._options())
        except (av.error.FFmpegError, OSError) as exc:
            raise OutputError(f"output {self.url}: cannot publish ({exc})") from None

    def _connect(self) -> None:
        """Start the reconnect thread unless it runs already."""
        if self._stop.is_set() or (self._connecting is not None and self._connecting.is_alive()):
            return
        self._connecting = threading.Thread(target=self._reconnect, name="streamanon-live-publish", daemon=True)
        self._connecting.start()

    def _reconnect(self) -> None:
        wait, longest = self.backoff
        while not self._stop.is_set():
            try:
                muxer = self._open()
            except OutputError as exc:
                log.warning("%s; retrying in %.1f s", exc, wait)
                if self._stop.wait(wait):
                    return
                wait = min(wait * 2, longest)
                continue
            with self._lock:
                if self._stop.is_set():
                    _close_quietly(muxer)
                    return
                self._muxer = muxer
            if self._opened_once:
                self.metrics.add("sink_reconnects")
            self._opened_once = True
            log.info("publishing to %s", self.url)
            return

    @property
    def connected(self) -> bool:
        return self._muxer is not None

    def write(self, image: np.ndarray, pts: int, record: FrameRecord) -> None:
        import av

        with self._lock:
            muxer = self._muxer
            if muxer is None:
                self.metrics.add("sink_dropped")
                return
            try:
                muxer.write(image, pts, record)
                return
            except (av.error.FFmpegError, OSError) as exc:
                log.warning("output %s lost: %s", self.url, exc)
                self._muxer = None
                self.metrics.add("sink_dropped")
        _close_quietly(muxer)
        self._connect()

    def close(self) -> None:
        self._stop.set()
        if self._connecting is not None:
            self._connecting.join(timeout=10.0)
        with self._lock:
            muxer, self._muxer = self._muxer, None
        if muxer is not None:
            _close_quietly(muxer)


def _close_quietly(muxer: _Muxer) -> None:
    try:
        muxer.close()
    except Exception as exc:  # the peer is gone: nothing left to flush to
        log.debug("closing a broken output: %s", exc)


# -- files ------------------------------------------------------------------------------------------


def _writer(path: Path, overwrite: bool, encoding: Encoding):
    from ..io import MediaInfo, VideoWriter

    w, h = encoding.size
    info = MediaInfo(path=str(path), format_name="live", width=w, height=h, frame_count=None,
                     fps=encoding.fps, time_base=TIME_BASE, duration=0.0, rotation=0,
                     codec=encoding.encoder.codec, audio_streams=0)
    return VideoWriter(path, info, encoding.encoder, encoding.provenance, encoding.digest, encoding.mode,
                       overwrite=overwrite)


class FileSink:
    """One recording; finalized (renamed into place, sidecar written) on close."""

    def __init__(self, path: str | Path, overwrite: bool, encoding: Encoding) -> None:
        self.path = Path(path)
        self._writer = _writer(self.path, overwrite, encoding)
        self._start: int | None = None
        self._index = 0

    def write(self, image: np.ndarray, pts: int, record: FrameRecord) -> None:
        if self._start is None:
            self._start = pts
        frame = VideoFrame(image=image, index=self._index, pts=pts - self._start, time_base=TIME_BASE)
        self._writer.write(frame, replace(record, index=self._index, pts=frame.pts))
        self._index += 1

    def close(self) -> None:
        if self._index:
            self._writer.close()
        else:
            self._writer.abort()


class SegmentedFileSink:
    """Files of ``segment_seconds`` of output each, named by their start time (strftime)."""

    def __init__(self, pattern: str | Path, segment_seconds: float, overwrite: bool, encoding: Encoding) -> None:
        p = Path(pattern)
        self.pattern = p if "%" in p.name else p.with_name(f"{p.stem}_%Y%m%d-%H%M%S{p.suffix or '.mkv'}")
        self.segment_ticks = int(segment_seconds / TIME_BASE)
        self.overwrite = overwrite
        self.encoding = encoding
        self.files: list[Path] = []
        self._current: FileSink | None = None
        self._start = 0

    def _name(self) -> Path:
        base = Path(datetime.now().strftime(str(self.pattern)))
        path, n = base, 1
        while path.exists() or path in self.files:
            path = base.with_name(f"{base.stem}-{n}{base.suffix}")
            n += 1
        return path

    def write(self, image: np.ndarray, pts: int, record: FrameRecord) -> None:
        if self._current is not None and pts - self._start >= self.segment_ticks:
            self._current.close()
            self._current = None
        if self._current is None:
            path = self._name()
            path.parent.mkdir(parents=True, exist_ok=True)
            self._current = FileSink(path, self.overwrite, self.encoding)
            self._start = pts
            self.files.append(path)
            if len(self.files) > 1000:
                self.files = self.files[-1000:]
            log.info("recording %s", path)
        self._current.write(image, pts, record)

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None


def wait_until(predicate, timeout: float, step: float = 0.05) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass (used by tests and shutdown)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())
