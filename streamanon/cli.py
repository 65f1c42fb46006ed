"""Command line entry point. The only place that prints errors and maps them to exit codes.

Each subcommand lives in ``streamanon/commands/<name>.py`` with two functions:
``register(subparsers)`` (adds its parser; must import nothing heavy) and
``main(args) -> int`` (does the work). Errors raised as :class:`StreamanonError` become a
one-line message and that error's exit code; Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from . import __version__
from .commands.native_log import filtered_native_stderr
from .errors import StreamanonError

COMMANDS = ("run", "verify", "demo", "eval", "train", "export", "gst_path", "live")
"""Subcommand modules under ``streamanon/commands``; missing ones are skipped."""
THREAD_ENVIRONMENT = {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_NUM_THREADS": "1"}
"""Defaults for the libraries' thread pools, each unless the caller set it. The pipeline runs
its stages on threads of its own (decode, detect, render, encode), and a library pool that
busy-waits between calls, or splits a small product over both cores, takes them: torch's
OpenMP threads (the identity check's and guard's recogniser) sleep when idle, and numpy's
OpenBLAS, whose calls here are small (the shape model, alignments, Kalman filters), runs on the
calling thread (two threads took 17 times as long for the shape model in the pipeline as one).
Read when numpy and torch load, so only the CLI (which imports them later) can set them; API
and GStreamer users export them before starting. Whole ``streamanon run`` (synthetic, salt s6,
first 120 frames, 2 cores, three interleaved runs each, medians of process wall / CPU
seconds), before this and the ONNX session without spinning, with that, and with both:
talking_d10 21.9 / 37.6 -> 18.4 / 30.7 -> 14.8 / 21.4; talking_vox 20.0 / 34.3 -> 17.6 / 29.4
-> 14.5 / 20.5; music_video_720p 26.2 / 45.6 -> 23.4 / 39.1 -> 21.0 / 30.0. The same output."""


def set_thread_environment() -> dict[str, str]:
    """Put ``THREAD_ENVIRONMENT`` into ``os.environ`` where unset (for a process that owns its
    environment: this CLI, the benchmarks); the values now in effect."""
    for name, value in THREAD_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    return {name: os.environ[name] for name in THREAD_ENVIRONMENT}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="streamanon", description="Anonymize faces in video.")
    parser.add_argument("--version", action="version", version=f"streamanon {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"streamanon.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"streamanon.commands.{name}":
                continue  # command not shipped in this build
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # MediaPipe (TFLite, absl) logs start-up chatter to stderr: older builds read these, 0.10's
    # absl does not (filtered_native_stderr below does the work there).
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    set_thread_environment()  # before numpy and torch load
    parser = build_parser()
    args = parser.parse_args(argv)
    with filtered_native_stderr(enabled=args.verbose == 0):  # -v: native logs as they come
        level = logging.WARNING - 10 * args.verbose
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
        try:
            return int(args.func(args) or 0)
        except StreamanonError as exc:
            print(f"streamanon: error: {exc}", file=sys.stderr)
            return exc.exit_code
        except KeyboardInterrupt:
            print("streamanon: interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:
            return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
