"""``streamanon gst-path``: shell lines that make the GStreamer elements loadable.

    eval "$(streamanon gst-path)"
    gst-inspect-1.0 streamanon
"""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gst-path", help="print shell exports that make the GStreamer element loadable",
                       description="Print `export GST_PLUGIN_PATH=...`, `export PYTHONPATH=...` and the thread-"
                                   "pool settings `streamanon run` uses (kept where already set) for "
                                   "`eval \"$(streamanon gst-path)\"`; then `gst-inspect-1.0 streamanon`.")
    p.add_argument("--check", action="store_true",
                   help="also load the elements with gst-inspect-1.0 (private registry) and report on stderr")
    p.set_defaults(func=main)


def _quoted(value: str) -> str:
    """Double-quoted for sh, with $, `, \\ and \" escaped."""
    for char in ("\\", '"', "$", "`"):
        value = value.replace(char, "\\" + char)
    return f'"{value}"'


def export_lines() -> list[str]:
    """The element's paths (ours first, the caller's kept after them), then the thread-pool
    settings of :data:`streamanon.cli.THREAD_ENVIRONMENT` where the caller has none."""
    from ..cli import THREAD_ENVIRONMENT
    from ..gst import environment

    lines = []
    for name, value in environment().items():
        lines.append(f"export {name}={_quoted(value)[:-1]}${{{name}:+:${name}}}\"")
    for name, value in THREAD_ENVIRONMENT.items():
        lines.append(f"export {name}=\"${{{name}:-{value}}}\"")
    return lines


def check() -> int:
    """Load both elements in a subprocess with the printed environment; 0 when both load."""
    import os
    import shutil
    import subprocess
    import tempfile

    from ..gst import ELEMENTS, environment, interpreter_version

    tool = shutil.which("gst-inspect-1.0")
    if tool is None:
        print("streamanon gst-path: gst-inspect-1.0 not found (Debian: gstreamer1.0-tools)", file=sys.stderr)
        return 1
    env = dict(os.environ)
    env.update(environment(os.environ))
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        env["GST_REGISTRY"] = os.path.join(tmp, "registry.bin")
        for element in ELEMENTS:
            result = subprocess.run([tool, element], env=env, capture_output=True, text=True, timeout=120)
            ok = result.returncode == 0
            failed += not ok
            print(f"streamanon gst-path: {element}: {'loads' if ok else 'does not load'}", file=sys.stderr)
            if not ok:
                print(result.stderr.strip()[-2000:], file=sys.stderr)
    if failed:
        major, minor = interpreter_version()
        print(f"streamanon gst-path: the python loader must run Python {major}.{minor} like this environment "
              "(Debian: gstreamer1.0-python3-plugin-loader, python3-gst-1.0); after fixing, clear "
              "~/.cache/gstreamer-1.0 (a failed load is cached)", file=sys.stderr)
    return 1 if failed else 0


def main(args: argparse.Namespace) -> int:
    for line in export_lines():
        print(line)
    return check() if args.check else 0
