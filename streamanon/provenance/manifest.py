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
import heapq
import json
import os
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterable, Iterator

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


class RecordLog:
    """Frame payloads spooled to a hidden JSON-lines file beside the output.

    A long run (an hour at 30 fps is 100k records) then holds none of them in memory.
    Iterating yields them by frame index: packets arrive in decode order, which differs
    from presentation order only within a few frames, so a small heap restores it.
    """

    def __init__(self, folder: Path, stem: str) -> None:
        try:
            fd, name = tempfile.mkstemp(prefix=f".{stem}.", suffix=".records.part", dir=folder)
        except OSError as exc:
            raise OutputError(f"folder {folder}: cannot hold the provenance records ({exc})") from None
        self.path = Path(name)
        self._file = os.fdopen(fd, "w+")
        self.count = 0

    def append(self, payload: dict[str, Any]) -> None:
        self._file.write(json.dumps(payload, separators=(",", ":"), sort_keys=True) + "\n")
        self.count += 1

    def __iter__(self) -> Iterator[dict[str, Any]]:
        self._file.flush()
        self._file.seek(0)
        heap: list[tuple[int, dict[str, Any]]] = []
        expected = 0
        for line in self._file:
            record = json.loads(line)
            heapq.heappush(heap, (record["frame"], record))
            while heap and heap[0][0] == expected:
                yield heapq.heappop(heap)[1]
                expected += 1
        while heap:
            yield heapq.heappop(heap)[1]
        self._file.seek(0, os.SEEK_END)

    def close(self) -> None:
        """Delete the spool file."""
        if not self._file.closed:
            self._file.close()
        self.path.unlink(missing_ok=True)


def write_sidecar(output: Path, source: Path | None, config: dict[str, Any] | None,
                  config_digest: str, mode: str, records: Iterable[dict[str, Any]], count: int,
                  complete: bool, c2pa_signed: bool, tags: dict[str, str]) -> Path:
    """Write ``<output>.provenance.json`` atomically (records streamed) and return its path."""
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
        "frames": count,
    }
    path = sidecar_path(output)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        with os.fdopen(fd, "w") as f:
            head = json.dumps(data, indent=1, default=str)
            f.write(head[:-2] + ',\n "records": [')
            for i, record in enumerate(records):
                f.write(("," if i else "") + "\n  " + json.dumps(record, sort_keys=True))
            f.write("\n ]\n}\n")
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
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
