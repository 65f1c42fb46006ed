"""``run_live(args, config)``: what ``streamanon run URL -o DST`` and ``streamanon live`` do.

Builds a :class:`~streamanon.live.multi.LiveSession`, prints the metrics line of each camera
every interval (stderr, unless ``--quiet``), and stops gracefully on SIGINT/SIGTERM (or after
``--duration`` seconds): sources close, files are finalized, threads joined.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from dataclasses import replace

from ..config import Config
from ..live.config import LiveConfig, MetricsConfig, RealtimeConfig, SourceConfig, single_camera


def live_config_from_args(args: argparse.Namespace) -> LiveConfig:
    """One camera from SRC and DST; ``streamanon live`` flags refine it when present."""
    live = single_camera(args.src, args.dst)
    cam = live.cameras[0]
    output = replace(cam.output, overwrite=bool(getattr(args, "overwrite", False)))
    if getattr(args, "segment_seconds", None) is not None:
        output = replace(output, segment_seconds=args.segment_seconds)
    if getattr(args, "on_input_loss", None):
        output = replace(output, on_input_loss=args.on_input_loss)
    source = cam.source
    if getattr(args, "loop", False):
        source = replace(source, loop=True)
    realtime = RealtimeConfig()
    if getattr(args, "latency_ms", None) is not None:
        realtime = replace(realtime, latency_budget_ms=args.latency_ms)
    metrics = MetricsConfig(interval_s=getattr(args, "metrics_interval", None) or 5.0,
                            json_path=getattr(args, "metrics_json", None),
                            prometheus_port=getattr(args, "metrics_port", None) or 0)
    camera = replace(cam, source=source, output=output)
    return replace(live, cameras=(camera,), realtime=realtime, metrics=metrics)


def run_live(args: argparse.Namespace, config: Config, live: LiveConfig | None = None) -> int:
    from ..report import write_report
    from ..live.multi import LiveSession

    live = live or live_config_from_args(args)
    quiet = bool(getattr(args, "quiet", False))

    def line(text: str) -> None:
        if not quiet:
            print(text, file=sys.stderr, flush=True)

    session = LiveSession(live, config, on_line=line)
    stop = threading.Event()
    previous = _install_signals(stop)
    try:
        session.start()
        session.wait(stop, getattr(args, "duration", None))
    finally:
        snaps = session.stop()
        _restore_signals(previous)
    if getattr(args, "report", None):
        write_report(args.report, {"live": snaps})
    session.raise_errors()
    return 0


def _install_signals(stop: threading.Event) -> dict:
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.getsignal(sig)
        signal.signal(sig, lambda *_: stop.set())
    return previous


def _restore_signals(previous: dict) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


__all__ = ["run_live", "live_config_from_args", "SourceConfig"]
