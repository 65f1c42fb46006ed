"""Per-frame provenance payloads and the sidecar JSON manifest ``<output>.provenance.json``.

The payload of one frame is what its SEI carries::

    {"tool": "streamanon", "version": "0.1.0", "frame": 12, "pts": 6144, "tb": "1/12800",
     "faces": 2, "replaced": 2, "fallback": 0, "mode": "synthetic", "config": "<digest>"}

The sidecar holds the input and output sha256, the configuration (salt removed), the
per-frame payloads and whether the run completed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Any

from .. import PROJECT_UUID, __version__
from ..errors import OutputError, ProvenanceError
from ..types import FrameRecord

TOOL = "streamanon"
SIDECAR_SUFFIX = ".provenance.json"


def frame_payload(record: FrameRecord, index: int, pts: int, time_base: Fraction,
                  config_digest: str) -> dict[str, Any]:
    """The JSON object carried by the SEI of one frame."""
    return {
        "tool": TOOL,
        "version": __version__,
        "frame": index,
        "pts": pts,
        "tb": f"{time_base.numerator}/{time_base.denominator}",
        "faces": record.faces,
        "replaced": record.replaced,
        "fallback": record.fallback,
        "mode": record.mode,
        "config": config_digest,
    }


def payload_time(payload: dict[str, Any]) -> Fraction:
    """Presentation time (seconds, exact) that a payload says its frame has."""
    try:
        return Fraction(int(payload["pts"])) * Fraction(payload["tb"])
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
        raise ProvenanceError(f"provenance record pts/tb: expected numbers, got {exc}") from None


def sidecar_path(output: str | Path) -> Path:
    return Path(f"{output}{SIDECAR_SUFFIX}")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def without_salt(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """A copy of a ``Config.to_dict()`` with the identity salt removed."""
    if config is None:
        return None
    clean = copy.deepcopy(config)
    identity = clean.get("identity")
    if isinstance(identity, dict):
        identity.pop("salt", None)
    clean.pop("salt", None)
    return clean


def write_sidecar(output: Path, source: Path | None, config: dict[str, Any] | None,
                  config_digest: str, mode: str, records: list[dict[str, Any]], complete: bool,
                  c2pa_signed: bool, tags: dict[str, str]) -> Path:
    """Write ``<output>.provenance.json`` atomically and return its path."""
    data = {
        "tool": TOOL,
        "version": __version__,
        "uuid": PROJECT_UUID,
        "complete": complete,
        "mode": mode,
        "config_digest": config_digest,
        "config": without_salt(config),
        "input": {"name": source.name, "sha256": sha256_file(source)} if source else None,
        "output": {"name": output.name, "sha256": sha256_file(output)},
        "container_tags": tags,
        "c2pa": c2pa_signed,
        "frames": len(records),
        "records": records,
    }
    path = sidecar_path(output)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, default=str)
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"sidecar {path}: cannot be written ({exc})") from None
    return path


def read_sidecar(output: str | Path) -> dict[str, Any] | None:
    """The sidecar of ``output`` when there is one."""
    path = sidecar_path(output)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ProvenanceError(f"sidecar {path}: expected JSON, got {exc}") from None
