"""Media input/output: decode frames with their timestamps, encode them back with provenance."""

from .reader import MediaInfo, VideoReader, probe
from .writer import VideoWriter

__all__ = ["MediaInfo", "VideoReader", "VideoWriter", "probe"]
