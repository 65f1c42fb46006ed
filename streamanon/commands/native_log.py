"""Keep native libraries' start-up chatter off the terminal (CLI only).

MediaPipe 0.10 logs through C++ absl and TFLite straight to file descriptor 2, whatever
``GLOG_minloglevel`` or ``TF_CPP_MIN_LOG_LEVEL`` say: an ``INFO: Created TensorFlow Lite
XNNPACK delegate`` line, a ``WARNING: All log messages before absl::InitializeLog()`` line and
one ``W0000 ... inference_feedback_manager.cc`` warning per graph, even with ``--quiet``. Only
a process that owns its terminal may touch its descriptors, so this lives with the CLI: while
:func:`filtered_native_stderr` is active, descriptor 2 is a pipe read by one thread, which
drops those info and warning lines and passes every other byte on (absl errors, fatal
checks, anything else a library writes). Python's own ``sys.stderr`` (progress bar, log
records, error messages, tracebacks) goes around the pipe, straight to the terminal.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import threading
from typing import BinaryIO, Iterator

NATIVE_NOISE = re.compile(
    rb"^(?:"
    rb"[IW]\d{4} [\d:. ]+\d+ [\w.\-]+:\d+\] .*"  # absl / glog info and warning lines (not E, F)
    rb"|INFO: Created TensorFlow Lite XNNPACK delegate for CPU\."
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb")\r?$")
"""Whole lines dropped: absl's info and warning prefix (``W0000 00:00:1796.40 16777
file.cc:114] ...``) and TFLite's two start-up lines. Errors (``E``) and fatal checks (``F``)
pass."""


def is_native_noise(line: bytes) -> bool:
    """True for a line (without its newline) that :data:`NATIVE_NOISE` drops."""
    return NATIVE_NOISE.match(line) is not None


def forward_lines(source: BinaryIO, sink_fd: int) -> int:
    """Copy ``source`` to ``sink_fd`` line by line until end of file, leaving out native
    noise; a last line without a newline is passed as it is. Returns the lines dropped."""
    dropped = 0
    for line in source:
        body = line.rstrip(b"\n")
        if is_native_noise(body):
            dropped += 1
            continue
        os.write(sink_fd, line)
    return dropped


@contextlib.contextmanager
def filtered_native_stderr(enabled: bool = True) -> Iterator[None]:
    """Within the block, native writes to descriptor 2 go through :func:`forward_lines`.

    Does nothing when ``enabled`` is false or when ``sys.stderr`` is not descriptor 2 (a test
    harness capturing it, an embedding application): then nothing is moved."""
    if not enabled or not _stderr_is_fd2():
        yield
        return
    sys.stderr.flush()
    terminal = os.dup(2)  # where everything ends up
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    python_stderr = sys.stderr
    sys.stderr = io.TextIOWrapper(os.fdopen(os.dup(terminal), "wb"),
                                  encoding=python_stderr.encoding or "utf-8",
                                  errors="backslashreplace", line_buffering=True, write_through=True)
    reader = threading.Thread(target=_drain, args=(read_end, terminal), name="native-stderr",
                              daemon=True)
    reader.start()
    try:
        yield
    finally:
        sys.stderr.flush()  # left open: log handlers made inside the block may still hold it
        sys.stderr = python_stderr
        os.dup2(terminal, 2)  # the pipe's last writer goes: the reader sees its end
        reader.join(timeout=5.0)
        os.close(terminal)


def _drain(read_end: int, terminal: int) -> None:
    with os.fdopen(read_end, "rb") as source:
        forward_lines(source, terminal)


def _stderr_is_fd2() -> bool:
    try:
        return sys.stderr is not None and sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return False
