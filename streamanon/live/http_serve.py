"""``http://HOST:PORT/PATH`` outputs: streamanon serves the anonymized stream as MPEG-TS.

Any number of viewers connect (``ffplay``, VLC, ``ffmpeg -i``); each starts at the next
keyframe; a viewer too slow to keep up is disconnected.
"""

from __future__ import annotations

import logging
import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import numpy as np

from ..types import FrameRecord
from .metrics import CameraMetrics
from .sink import Encoding, _close_quietly, _Muxer

log = logging.getLogger(__name__)


class _Broadcast:
    """File-like target of the MPEG-TS muxer: copies every write to each viewer's queue."""

    def __init__(self, max_chunks: int = 512) -> None:
        self.max_chunks = max_chunks
        self._lock = threading.Lock()
        self._viewers: list[queue.Queue] = []
        self._waiting: list[queue.Queue] = []

    def write(self, data: bytes) -> int:
        chunk = bytes(data)
        with self._lock:
            for q in list(self._viewers):
                try:
                    q.put_nowait(chunk)
                except queue.Full:  # too slow: cut it off rather than buffer without bound
                    self._viewers.remove(q)
                    q.put(None)
        return len(data)

    def flush(self) -> None:
        pass

    def keyframe(self) -> None:
        """Viewers that connected since the last keyframe start receiving now."""
        with self._lock:
            self._viewers.extend(self._waiting)
            self._waiting.clear()

    def join(self) -> queue.Queue:
        q: queue.Queue = queue.Queue(self.max_chunks)
        with self._lock:
            self._waiting.append(q)
        return q

    def leave(self, q: queue.Queue) -> None:
        with self._lock:
            for group in (self._viewers, self._waiting):
                if q in group:
                    group.remove(q)

    def end(self) -> None:
        with self._lock:
            for q in self._viewers + self._waiting:
                try:
                    q.put_nowait(None)
                except queue.Full:
                    pass
            self._viewers.clear()
            self._waiting.clear()

    @property
    def viewers(self) -> int:
        with self._lock:
            return len(self._viewers) + len(self._waiting)


class HttpServeSink:
    """Serve the anonymized stream as MPEG-TS over HTTP at ``http://HOST:PORT/PATH``."""

    def __init__(self, url: str, encoding: Encoding, metrics: CameraMetrics) -> None:
        parts = urlsplit(url)
        self.path = parts.path or "/"
        self.broadcast = _Broadcast()
        self._stop = threading.Event()
        self.muxer = _Muxer(self.broadcast, "mpegts", encoding, {"flush_packets": "1"},
                            on_keyframe=self.broadcast.keyframe)
        self._server = ThreadingHTTPServer((parts.hostname or "127.0.0.1", parts.port or 8080), self._handler())
        self._server.daemon_threads = True
        self.address = self._server.server_address
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="streamanon-live-serve", daemon=True)
        self._thread.start()
        log.info("serving http://%s:%d%s", self.address[0], self.address[1], self.path)

    def _handler(self):
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if self.path != sink.path:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "video/mp2t")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                q = sink.broadcast.join()
                try:
                    while not sink._stop.is_set():
                        try:
                            chunk = q.get(timeout=0.5)
                        except queue.Empty:
                            continue
                        if chunk is None:
                            break
                        self.wfile.write(chunk)
                except OSError:
                    pass  # the viewer went away
                finally:
                    sink.broadcast.leave(q)

            def log_message(self, *args) -> None:
                pass

        return Handler

    def write(self, image: np.ndarray, pts: int, record: FrameRecord) -> None:
        self.muxer.write(image, pts, record)

    def close(self) -> None:
        _close_quietly(self.muxer)
        self._stop.set()
        self.broadcast.end()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5.0)
