"""Typed errors. Each subclasses a builtin so callers can catch either.

Only the CLI turns these into messages and exit codes; the library raises.
"""

from __future__ import annotations


class StreamanonError(Exception):
    """Base of every error streamanon raises on purpose."""

    exit_code = 1


class ConfigError(StreamanonError, ValueError):
    """A configuration file or flag is invalid (unknown key, wrong type, out of range)."""

    exit_code = 2


class InputError(StreamanonError, ValueError):
    """The input cannot be used: not a video, truncated, zero frames, unreadable."""

    exit_code = 3


class UnsupportedMediaError(InputError):
    """The input is a video, but its codec or layout is not supported."""


class OutputExistsError(StreamanonError, FileExistsError):
    """The output exists and ``--overwrite`` was not given."""

    exit_code = 4


class OutputError(StreamanonError, OSError):
    """The output cannot be written."""

    exit_code = 5


class BackendUnavailableError(StreamanonError, ImportError):
    """An optional backend was asked for but its packages are not installed."""

    exit_code = 6

    def __init__(self, backend: str, extra: str, detail: str = "") -> None:
        self.backend = backend
        self.extra = extra
        self.detail = detail
        msg = f"backend {backend!r} is not available: install it with `pip install 'streamanon[{extra}]'`"
        if detail:
            msg += f" ({detail})"
        super().__init__(msg)


class ModelFileError(StreamanonError, ValueError):
    """A model file that streamanon reads (not one it ships) is not in the expected format."""


class GeneratorError(StreamanonError, RuntimeError):
    """A face generator failed for a batch; the pipeline covers those faces instead."""


class ProvenanceError(StreamanonError, ValueError):
    """Provenance records are missing, malformed or inconsistent."""

    exit_code = 7


class StreamError(StreamanonError, ConnectionError):
    """A live stream cannot be opened or dropped and could not be recovered."""

    exit_code = 8


def check(condition: bool, error: type[StreamanonError], what: str, expected: object, actual: object) -> None:
    """Raise ``error`` with an expected-versus-actual message unless ``condition`` holds."""
    if not condition:
        raise error(f"{what}: expected {expected}, got {actual}")
