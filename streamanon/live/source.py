"""A camera that may drop: decode any FFmpeg URL on a thread, reconnecting with backoff.

    source = LiveSource(SourceConfig(url="rtsp://cam/stream"), on_frame=callback)
    source.start(); ...; source.stop()

``on_frame(Arrival)`` is called on the reader thread for every decoded frame (RGB uint8 with
its pts, time base, and the monotonic time it came out of the decoder). A connection that
fails to open, errors, ends, or stays silent for ``read_timeout_s`` is closed and reopened
after ``backoff_initial_s``, doubling up to ``backoff_max_s``; the backoff resets once a
frame arrives. Each successful connection gets a new ``epoch`` (its clock may restart).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .config import SourceConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Arrival:
    """One decoded camera frame and when it arrived."""

    image: np.ndarray
    seq: int
    """Running number over the whole run (all connections)."""
    epoch: int
    """Connection number; the input clock (pts) is only comparable within one epoch."""
    time: float | None
    """Input presentation time in seconds (pts x time base), None when the stream has none."""
    arrived: float
    """``time.monotonic()`` when the decoder handed the frame over."""
    fps: float | None
    """The stream's stated frame rate, when it states one."""


def is_file_url(url: str) -> bool:
    return url.startswith("file://") or "://" not in url


class LiveSource:
    """Reader thread with reconnection. Counters are read by the metrics thread."""

    def __init__(self, config: SourceConfig, on_frame: Callable[[Arrival], None],
                 name: str = "source") -> None:
        self.config = config
        self.on_frame = on_frame
        self.name = name
        self.connected = threading.Event()
        self.reconnects = 0
        """Connections opened after the first one."""
        self.failures = 0
        """Attempts that failed to open or broke off."""
        self.last_error = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seq = 0
        self._epoch = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"streamanon-live-src-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the reader to stop and wait for it (the open/read timeouts bound the wait)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(timeout, self.config.open_timeout_s + 1.0))
            if self._thread.is_alive():
                log.warning("%s: reader thread still blocked after stop", self.name)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- reader thread ---------------------------------------------------------------------

    def _run(self) -> None:
        backoff = self.config.backoff_initial_s
        while not self._stop.is_set():
            got_frames = self._session()
            self.connected.clear()
            if self._stop.is_set():
                break
            if got_frames:
                backoff = self.config.backoff_initial_s
                if is_file_url(self.config.url) and self.config.loop:
                    continue
            log.warning("%s: input lost (%s); reconnecting in %.1f s", self.name, self.last_error or "ended", backoff)
            if self._stop.wait(backoff):
                break
            backoff = min(backoff * 2.0, self.config.backoff_max_s)

    def _session(self) -> bool:
        """One connection: open, decode until it ends or fails. True if any frame came."""
        import av

        try:
            container = av.open(self._target(), "r", options=self._options(),
                                timeout=(self.config.open_timeout_s, self.config.read_timeout_s))
        except (av.error.FFmpegError, OSError) as exc:
            self.failures += 1
            self.last_error = f"open: {exc}"
            return False
        got = False
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            fps = float(stream.average_rate or stream.guessed_rate or 0) or None
            if self._epoch > 0 and not (is_file_url(self.config.url) and self.config.loop):
                self.reconnects += 1
            self._epoch += 1
            self.connected.set()
            log.info("%s: connected to %s (epoch %d)", self.name, self.config.url, self._epoch)
            pacer = _Pacer() if is_file_url(self.config.url) and self.config.pace else None
            for frame in container.decode(stream):
                if self._stop.is_set():
                    break
                t = float(frame.pts * frame.time_base) if frame.pts is not None and frame.time_base else None
                if pacer is not None and t is not None:
                    pacer.wait(t, self._stop)
                image = frame.to_ndarray(format="rgb24")
                got = True
                self.on_frame(Arrival(image=image, seq=self._seq, epoch=self._epoch, time=t,
                                      arrived=time.monotonic(), fps=fps))
                self._seq += 1
            self.last_error = "" if self._stop.is_set() else "end of stream"
        except (av.error.FFmpegError, OSError, IndexError) as exc:
            self.failures += 1
            self.last_error = f"read: {exc}" if not isinstance(exc, IndexError) else "no video stream"
        finally:
            try:
                container.close()
            except Exception as exc:  # a broken connection may fail to close; it is gone anyway
                log.debug("%s: close: %s", self.name, exc)
        return got

    def _target(self) -> str:
        url = self.config.url
        return url[len("file://"):] if url.startswith("file://") else url

    def _options(self) -> dict[str, str]:
        url = self.config.url
        if url.startswith(("rtsp://", "rtsps://")):
            return {"rtsp_transport": self.config.rtsp_transport,
                    "timeout": str(int(self.config.read_timeout_s * 1_000_000))}
        return {}


class _Pacer:
    """Releases file frames at their timestamps (a file read as a camera would send it)."""

    def __init__(self) -> None:
        self._origin: tuple[float, float] | None = None

    def wait(self, t: float, stop: threading.Event) -> None:
        now = time.monotonic()
        if self._origin is None:
            self._origin = (now, t)
            return
        due = self._origin[0] + (t - self._origin[1])
        if due > now:
            stop.wait(due - now)

