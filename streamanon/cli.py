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
from .errors import StreamanonError

COMMANDS = ("run", "verify", "demo", "eval", "train", "export", "gst_path", "live")
"""Subcommand modules under ``streamanon/commands``; missing ones are skipped."""
PASSIVE_OPENMP = "PASSIVE"
"""``OMP_WAIT_POLICY`` unless the caller set one; libgomp reads it when torch loads, so only the
CLI (which imports torch later) can set it; API and GStreamer users set it in their own
environment. Whole ``streamanon run`` (synthetic, salt s6, first 120 frames, 2 cores, three
runs each interleaved, medians of process wall / CPU seconds): before both changes, with ONNX
Runtime not spinning, and with this as well: talking_d10 19.2 / 32.8 -> 18.6 / 31.5 -> 17.5 /
29.4; music_video_720p 25.3 / 44.2 -> 25.0 / 42.3 -> 25.1 / 41.7. The same output pictures."""


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
    # MediaPipe (TFLite, absl) logs start-up chatter to stderr; keep the terminal for us.
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # torch's OpenMP threads (the identity check's and guard's recogniser) would busy-wait
    # between calls on the cores the detector and encoder need (see PASSIVE_OPENMP).
    os.environ.setdefault("OMP_WAIT_POLICY", PASSIVE_OPENMP)
    parser = build_parser()
    args = parser.parse_args(argv)
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
