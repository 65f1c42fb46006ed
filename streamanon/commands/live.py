"""``streamanon live CAMERAS.yaml`` (several cameras) or ``streamanon live URL -o DST`` (one)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("live", help="anonymize live cameras (a camera YAML file, or one URL)",
                       description="Anonymize live streams in real time: every camera of a YAML file "
                                   "(see configs/live_*.yaml and docs/live.md), or one URL with -o.")
    p.add_argument("src", metavar="CAMERAS.yaml|URL", help="camera file, or one stream URL (then -o is required)")
    p.add_argument("-o", "--output", dest="dst", metavar="DST",
                   help="rtsp://, rtmp://, srt://, http://HOST:PORT/PATH (served here) or a file")
    p.add_argument("--config", metavar="FILE.yaml", help="pipeline configuration (default: the file's 'pipeline')")
    p.add_argument("--mode", choices=("synthetic", "blur", "pixelate", "solid"), help="how faces are replaced")
    p.add_argument("--latency-ms", type=float, help="latency budget (default 300)")
    p.add_argument("--segment-seconds", type=float, help="record files of this many seconds each")
    p.add_argument("--on-input-loss", choices=("last", "black"), help="picture sent while the camera is down")
    p.add_argument("--loop", action="store_true", help="loop a file source (test camera)")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--metrics-interval", type=float, help="seconds between metrics lines (default 5)")
    p.add_argument("--metrics-json", metavar="FILE.json", help="rewrite the metrics here every interval")
    p.add_argument("--metrics-port", type=int, help="serve Prometheus text on 127.0.0.1:PORT/metrics")
    p.add_argument("--report", metavar="REPORT.json", help="final metrics as JSON")
    p.add_argument("--overwrite", action="store_true", help="replace output files that exist")
    p.add_argument("--quiet", action="store_true", help="no metrics lines")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from ..errors import ConfigError
    from ..live.config import live_pipeline_config, load_live_config
    from .live_session import run_live

    overrides = {"anonymizer.mode": args.mode}
    if "://" in args.src or args.dst:
        if not args.dst:
            raise ConfigError("live URL: expected -o DST with a stream URL")
        return run_live(args, live_pipeline_config(args.config, overrides))
    live = load_live_config(args.src)
    live = replace(live, metrics=replace(
        live.metrics,
        interval_s=args.metrics_interval or live.metrics.interval_s,
        json_path=args.metrics_json or live.metrics.json_path,
        prometheus_port=args.metrics_port or live.metrics.prometheus_port))
    if args.latency_ms is not None:
        live = replace(live, realtime=replace(live.realtime, latency_budget_ms=args.latency_ms))
    return run_live(args, live_pipeline_config(args.config or live.pipeline, overrides), live)
