"""Loaded by GStreamer's python plugin loader: registers the ``streamanon`` element.

Make it loadable with ``eval "$(streamanon gst-path)"`` (sets GST_PLUGIN_PATH to the folder
above this one and PYTHONPATH to streamanon's environment).
"""

import sys
from pathlib import Path

try:
    import streamanon  # noqa: F401
except ImportError:  # running from a source checkout that is not on PYTHONPATH
    sys.path.insert(0, str(Path(__file__).resolve().parents[4]))

from streamanon.gst.element import ELEMENT_FACTORY, StreamanonFilter  # noqa: E402,F401

__gstelementfactory__ = ELEMENT_FACTORY
