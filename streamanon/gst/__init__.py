"""GStreamer integration: the ``streamanon`` element and the ``streamanonsei`` SEI inserter.

The elements are Python plugins (``plugin/python/*.py``) loaded by GStreamer's python loader
(Debian: gstreamer1.0-python3-plugin-loader, which embeds the system Python 3.11). That
Python needs this package and its dependencies on ``PYTHONPATH``, and GStreamer needs
``plugin/`` on ``GST_PLUGIN_PATH``: :func:`environment` gives both (``streamanon gst-path``
prints them as shell ``export`` lines). Importing this package does not import GStreamer.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

PLUGIN_DIR = Path(__file__).resolve().parent / "plugin"
"""The folder for ``GST_PLUGIN_PATH`` (the loader looks in its ``python/`` subfolder)."""
ELEMENTS = ("streamanon", "streamanonsei")
SYSTEM_PYTHON_DIRS = ("/usr/lib/python3/dist-packages",)
"""Where Debian installs PyGObject (gi) and the Gst overrides for its Python 3."""


def python_path() -> list[str]:
    """Folders the loader's Python needs: this package's root, then this environment's site-packages."""
    paths = [str(Path(__file__).resolve().parents[2])]  # editable installs: .pth files are not read from PYTHONPATH
    scheme = sysconfig.get_paths()
    for key in ("purelib", "platlib"):
        if scheme[key] not in paths:
            paths.append(scheme[key])
    # The loader's embedded Python finds its prefix through `python3` on PATH: with a venv
    # activated, that is the venv's, whose sys.path lacks the system folder where Debian's
    # python3-gi and python3-gst-1.0 live ("pygobject initialization failed"). Name it.
    for system in SYSTEM_PYTHON_DIRS:
        if Path(system, "gi").is_dir() and system not in paths:
            paths.append(system)
    return paths


def environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """``GST_PLUGIN_PATH`` and ``PYTHONPATH`` values that make the elements loadable, with the
    values already in ``base`` (e.g. ``os.environ``) kept after ours."""
    base = base or {}
    out = {}
    for name, ours in (("GST_PLUGIN_PATH", [str(PLUGIN_DIR)]), ("PYTHONPATH", python_path())):
        kept = [p for p in base.get(name, "").split(":") if p and p not in ours]
        out[name] = ":".join(ours + kept)
    return out


def interpreter_version() -> tuple[int, int]:
    """Python version of this environment (the loader's must match: same ABI for numpy, cv2)."""
    return sys.version_info[:2]
