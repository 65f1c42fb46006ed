"""Live counters per camera, and a reporter thread: log line, JSON file, Prometheus text.

Every counter is a running total since start; fps and latency percentiles cover the last
``window_s`` seconds (bounded memory: at most a few thousand timestamps per camera).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..stats import StreamStats
from .config import MetricsConfig

log = logging.getLogger(__name__)

_MAX_SAMPLES = 4096


class CameraMetrics:
    """Counters of one live camera; updated from its threads, read by the reporter."""

    COUNTERS = ("frames_in", "frames_out", "processed", "dropped", "repeated", "late", "filler",
                "faces", "fallback_covers", "sink_dropped", "sink_reconnects")

    def __init__(self, name: str, window_s: float = 10.0) -> None:
        self.name = name
        self.window_s = window_s
        self._lock = threading.Lock()
        self.counts = dict.fromkeys(self.COUNTERS, 0)
        self._in_times: deque[float] = deque(maxlen=_MAX_SAMPLES)
        self._out_times: deque[float] = deque(maxlen=_MAX_SAMPLES)
        self._latency: deque[tuple[float, float]] = deque(maxlen=_MAX_SAMPLES)
        self._age: deque[tuple[float, float]] = deque(maxlen=_MAX_SAMPLES)
        self.started = time.monotonic()
        self.reconnects: Callable[[], int] = lambda: 0
        """Set by the runner: reads the source's reconnect counter."""
        self.connected: Callable[[], bool] = lambda: False

    def add(self, counter: str, n: int = 1) -> None:
        with self._lock:
            self.counts[counter] += n

    def frame_in(self) -> None:
        with self._lock:
            self.counts["frames_in"] += 1
            self._in_times.append(time.monotonic())

    def frame_out(self, kind: str, latency_s: float | None, faces: int = 0, covers: int = 0) -> None:
        """``kind``: ``processed``, ``repeated`` or ``filler``; ``latency_s``: age of the picture
        sent (decoded input frame to output). Latency percentiles are over processed frames
        (the added latency); the age percentiles also count repeats (how stale the output is)."""
        now = time.monotonic()
        with self._lock:
            self.counts["frames_out"] += 1
            self.counts[kind] += 1
            self.counts["faces"] += faces
            self.counts["fallback_covers"] += covers
            self._out_times.append(now)
            if latency_s is not None:
                self._age.append((now, latency_s))
                if kind == "processed":
                    self._latency.append((now, latency_s))

    def snapshot(self) -> dict[str, Any]:
        now = time.monotonic()
        since = now - self.window_s
        with self._lock:
            counts = dict(self.counts)
            fps_in = _rate(self._in_times, since, now, self.started)
            fps_out = _rate(self._out_times, since, now, self.started)
            lat = np.array([v for t, v in self._latency if t >= since], dtype=np.float64)
            age = np.array([v for t, v in self._age if t >= since], dtype=np.float64)
        p50, p99 = _percentiles(lat)
        a50, a99 = _percentiles(age)
        return {"camera": self.name, "uptime_s": round(now - self.started, 3), "connected": self.connected(),
                "reconnects": self.reconnects(), "fps_in": round(fps_in, 2), "fps_out": round(fps_out, 2),
                "latency_p50_ms": _round(p50), "latency_p99_ms": _round(p99),
                "age_p50_ms": _round(a50), "age_p99_ms": _round(a99), **counts}


class BoundedStats(StreamStats):
    """:class:`StreamStats` that keeps totals only (no per-frame list growing for hours)."""

    def count_frame_out(self, faces: int, reasons: tuple[str, ...]) -> None:
        with self._lock:
            self.frames_out += 1
            self.fallback_events.update(reasons)


def _percentiles(values: np.ndarray) -> tuple[float | None, float | None]:
    if not values.size:
        return None, None
    p50, p99 = np.percentile(values, [50, 99]) * 1000.0
    return float(p50), float(p99)


def _rate(times: deque, since: float, now: float, started: float) -> float:
    recent = [t for t in times if t >= since]
    start = max(since, started)
    if len(times) == times.maxlen and times[0] > start:
        # the window holds more samples than are kept: count from the oldest one kept
        return (len(recent) - 1) / (now - times[0]) if now > times[0] else 0.0
    span = now - start
    return len(recent) / span if span > 0 else 0.0


def _round(v: float | None) -> float | None:
    return None if v is None else round(float(v), 1)


def format_line(snap: dict[str, Any]) -> str:
    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.0f}"
    return (f"[{snap['camera']}] {'up' if snap['connected'] else 'DOWN'} in {snap['fps_in']:.1f} fps, "
            f"out {snap['fps_out']:.1f} fps, latency p50 {ms(snap['latency_p50_ms'])} ms "
            f"p99 {ms(snap['latency_p99_ms'])} ms (shown age p99 {ms(snap['age_p99_ms'])} ms), dropped {snap['dropped']}, repeated {snap['repeated']}, "
            f"filler {snap['filler']}, reconnects {snap['reconnects']}, faces {snap['faces']}, "
            f"fallback covers {snap['fallback_covers']}")


def prometheus_text(snaps: list[dict[str, Any]]) -> str:
    """Prometheus exposition format (text 0.0.4), one sample per camera per metric."""
    gauges = ("fps_in", "fps_out", "latency_p50_ms", "latency_p99_ms", "age_p50_ms", "age_p99_ms", "connected",
              "uptime_s")
    counters = ("reconnects",) + CameraMetrics.COUNTERS
    lines = []
    for key, kind in [(g, "gauge") for g in gauges] + [(c, "counter") for c in counters]:
        name = f"streamanon_live_{key}" + ("_total" if kind == "counter" else "")
        lines.append(f"# TYPE {name} {kind}")
        for snap in snaps:
            value = snap.get(key)
            if value is None:
                continue
            lines.append(f'{name}{{camera="{snap["camera"]}"}} {float(value):g}')
    return "\n".join(lines) + "\n"


class MetricsReporter:
    """Every ``interval_s``: ``on_line(text)`` per camera and the JSON file; serves /metrics."""

    def __init__(self, cameras: list[CameraMetrics], config: MetricsConfig,
                 on_line: Callable[[str], None] | None = None) -> None:
        self.cameras = cameras
        self.config = config
        self.on_line = on_line or (lambda line: log.info("%s", line))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._http: ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None

    def snapshots(self) -> list[dict[str, Any]]:
        return [c.snapshot() for c in self.cameras]

    def start(self) -> None:
        if self.config.prometheus_port:
            self._serve(self.config.prometheus_port)
        self._thread = threading.Thread(target=self._run, name="streamanon-live-metrics", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int | None:
        return self._http.server_address[1] if self._http is not None else None

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http_thread.join(timeout=5.0)
        self.report()  # final figures

    def report(self) -> list[dict[str, Any]]:
        snaps = self.snapshots()
        for snap in snaps:
            self.on_line(format_line(snap))
        if self.config.json_path:
            write_json(self.config.json_path, {"time": time.time(), "cameras": snaps})
        return snaps

    def _run(self) -> None:
        while not self._stop.wait(self.config.interval_s):
            try:
                self.report()
            except OSError as exc:  # a full disk must not stop the cameras
                log.warning("metrics: %s", exc)

    def _serve(self, port: int) -> None:
        reporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if self.path.rstrip("/") in ("/metrics", ""):
                    body, kind = prometheus_text(reporter.snapshots()).encode(), "text/plain; version=0.0.4"
                elif self.path == "/metrics.json":
                    body, kind = json.dumps(reporter.snapshots()).encode(), "application/json"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._http.daemon_threads = True
        self._http_thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.2},
                                             name="streamanon-live-prometheus", daemon=True)
        self._http_thread.start()


def write_json(path: str | Path, data: Any) -> None:
    """Replace ``path`` atomically (readers never see half a file)."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, p)
