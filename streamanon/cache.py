"""Where streamanon keeps files it can rebuild (never committed, safe to delete)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$STREAMANON_CACHE``, else ``$XDG_CACHE_HOME/streamanon``, else ``~/.cache/streamanon``."""
    env = os.environ.get("STREAMANON_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "streamanon"
