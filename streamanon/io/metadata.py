"""Container choice, muxer options and the tag policy of written files.

Tag policy: nothing of the input's container-level tags is copied (an allowlist of none),
so location and device identity cannot leak. That covers, among others, ``location``,
``location-eng``, ``com.apple.quicktime.location.ISO6709``, ``make``, ``model``,
``com.apple.quicktime.make``, ``com.apple.quicktime.model``,
``com.apple.quicktime.software``, ``com.android.manufacturer``, ``com.android.model``,
``encoder`` of the camera, ``creation_time`` and ``date``. Per stream only ``language``
(and ``title`` of audio/subtitle tracks) is kept. :data:`IDENTIFYING_KEYS` lists the keys the
tests check for.

The written file carries the provenance tags of :func:`provenance_tags` instead.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from .. import __version__
from ..errors import OutputError

IDENTIFYING_KEYS = (
    "location", "location-eng", "com.apple.quicktime.location.iso6709", "make", "model",
    "com.apple.quicktime.make", "com.apple.quicktime.model", "com.apple.quicktime.software",
    "com.android.manufacturer", "com.android.model", "creation_time", "date",
)
STREAM_KEYS_KEPT = ("language", "title")
DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"

_EXTENSIONS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mp4", ".mkv": "matroska"}
_CONTAINERS = {"mp4": "mp4", "mkv": "matroska"}


def container_format(path: str | Path, container: str = "auto") -> str:
    """FFmpeg muxer name (``mp4`` or ``matroska``) from the setting or the extension."""
    if container != "auto":
        if container not in _CONTAINERS:
            raise OutputError(f"container: expected one of mp4, mkv, got {container!r}")
        return _CONTAINERS[container]
    suffix = Path(path).suffix.lower()
    if suffix not in _EXTENSIONS:
        raise OutputError(f"output {path}: expected an extension among {', '.join(_EXTENSIONS)} "
                          f"(or encoder.container), got {suffix or 'none'!r}")
    return _EXTENSIONS[suffix]


def muxer_options(fmt: str, time_base: Fraction) -> dict[str, str]:
    """``use_metadata_tags`` so MP4 keeps custom keys; a movie timescale that keeps pts exact.

    MP4 expresses a non-zero start (edit list) in the movie timescale, 1000 by default, which
    rounds the first pts; using the video time base's denominator keeps it exact.
    """
    if fmt != "mp4":
        # Matroska cannot store the negative start of copied AAC (encoder priming); FFmpeg
        # would shift every stream, video included, to make it non-negative.
        return {"avoid_negative_ts": "disabled"}
    options = {"movflags": "use_metadata_tags"}
    if time_base.numerator == 1 and 0 < time_base.denominator < 2**31:
        options["movie_timescale"] = str(time_base.denominator)
    return options


def provenance_tags(config_digest: str, mode: str) -> dict[str, str]:
    """Container tags saying that the content was modified by an AI system (Art. 50 AI Act)."""
    return {
        "ai_modified": "true",
        "ai_tool": f"streamanon {__version__}",
        "digital_source_type": DIGITAL_SOURCE_TYPE,
        "streamanon_config": config_digest,
        "streamanon_mode": mode,
        "comment": f"Faces anonymized ({mode}) by streamanon {__version__}; AI-modified content",
    }


def kept_stream_tags(metadata: dict[str, str]) -> dict[str, str]:
    """The per-stream tags copied from an input stream (language, track title)."""
    return {k: v for k, v in metadata.items() if k.lower() in STREAM_KEYS_KEPT}


def lower_keys(metadata: dict[str, str]) -> dict[str, str]:
    """Tags with lower-case keys (Matroska upper-cases them on write)."""
    return {k.lower(): v for k, v in metadata.items()}
