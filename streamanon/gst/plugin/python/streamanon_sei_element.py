"""Loaded by GStreamer's python plugin loader: registers the ``streamanonsei`` element
(writes streamanon provenance metas into H.264/H.265 byte-streams as SEI NAL units)."""

import sys
from pathlib import Path

try:
    import streamanon  # noqa: F401
except ImportError:  # running from a source checkout that is not on PYTHONPATH
    sys.path.insert(0, str(Path(__file__).resolve().parents[4]))

from streamanon.gst.sei_insert import ELEMENT_FACTORY, StreamanonSeiInsert  # noqa: E402,F401

__gstelementfactory__ = ELEMENT_FACTORY
