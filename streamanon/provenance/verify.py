"""Read back every provenance mark of a written file and check that they agree.

Checks: one streamanon SEI record per encoded packet and per decoded frame; record frame
indices 0..n-1 in presentation order; each record's pts equal (as exact seconds) to its
frame's; one config hash everywhere; the AI-modified container tags present and agreeing;
the sidecar (when present) matching the file's sha256, frame count and config hash; a C2PA
manifest (when present) carrying the expected actions.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..errors import BackendUnavailableError, InputError
from ..io.metadata import DIGITAL_SOURCE_TYPE, lower_keys
from .manifest import payload_time, read_sidecar, sha256_file
from .sei import length_size, read_records

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VerifyReport:
    """Outcome of :func:`verify`. ``ok`` is True only when ``problems`` is empty."""

    ok: bool
    frames: int
    records: tuple[dict[str, Any], ...]
    problems: tuple[str, ...]
    config_digest: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    sidecar: bool = False
    c2pa: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["records"] = list(self.records)
        data["problems"] = list(self.problems)
        return data


def _read_stream(path: Path) -> tuple[list[tuple[int | None, list[dict]]], list[Fraction], Fraction, dict, str]:
    """Per-packet records (with packet pts), decoded frame times, stream time base, tags, codec."""
    import av

    from ..io.reader import open_input, video_stream

    with open_input(path) as container:
        stream = video_stream(container, path)
        codec = stream.codec_context.name
        size = length_size(codec, stream.codec_context.extradata)
        tags = lower_keys(dict(container.metadata))
        packets, times = [], []
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    frames = stream.decode(None) if packet.pts is None and packet.dts is None else []
                else:
                    packets.append((packet.pts, read_records(codec, bytes(packet), size)))
                    frames = stream.decode(packet)
                times.extend(Fraction(f.pts) * (f.time_base or stream.time_base) for f in frames if f.pts is not None)
        except av.error.FFmpegError as exc:
            raise InputError(f"input {path}: cannot be read to the end ({exc})") from None
        return packets, sorted(times), Fraction(stream.time_base), tags, codec


def verify(path: str | Path) -> VerifyReport:
    """Check every provenance mark of ``path``; problems are listed, not raised."""
    path = Path(path)
    packets, times, time_base, tags, codec = _read_stream(path)
    problems: list[str] = []
    if codec not in ("h264", "hevc"):
        problems.append(f"video codec: expected h264 or hevc, got {codec}")
    records: list[dict[str, Any]] = []
    unmarked = 0
    for pts, found in packets:
        if len(found) != 1:
            unmarked += 1
            if unmarked <= 5:
                problems.append(f"packet pts {pts}: expected 1 streamanon SEI record, got {len(found)}")
        records.extend(found)
    if unmarked > 5:
        problems.append(f"{unmarked} packets in all lack exactly one record")
    if len(records) != len(times):
        problems.append(f"records: expected one per decoded frame ({len(times)}), got {len(records)}")
    ordered = sorted(records, key=lambda r: (payload_time(r), r.get("frame", -1)))
    indices = [r.get("frame") for r in ordered]
    if indices != list(range(len(ordered))):
        problems.append(f"record frame indices: expected 0..{len(ordered) - 1} in presentation order, "
                        f"got {indices[:10]}{'...' if len(indices) > 10 else ''}")
    mismatched = [(r.get("frame"), str(payload_time(r)), str(t))
                  for r, t in zip(ordered, times) if abs(payload_time(r) - t) > _tolerance(time_base)]
    if mismatched:
        problems.append(f"{len(mismatched)} record pts differ from their frame's, first (frame, record s, "
                        f"frame s): {mismatched[0]}")
    digests = {r.get("config") for r in records}
    digest = next(iter(digests)) if len(digests) == 1 else None
    if len(digests) > 1:
        problems.append(f"config hash: expected one value, got {sorted(map(str, digests))}")
    problems += _check_tags(tags, digest)
    sidecar = read_sidecar(path)
    if sidecar is not None:
        problems += _check_sidecar(path, sidecar, len(records), digest)
    c2pa_summary = _c2pa_summary(path, problems)
    return VerifyReport(ok=not problems, frames=len(times), records=tuple(ordered),
                        problems=tuple(problems), config_digest=digest, tags=tags,
                        sidecar=sidecar is not None, c2pa=c2pa_summary)


def _tolerance(time_base: Fraction) -> Fraction:
    """Half a tick of the file's time base (Matroska rounds to milliseconds)."""
    return max(time_base, Fraction(1, 1000)) / 2


def _check_tags(tags: dict[str, str], digest: str | None) -> list[str]:
    problems = []
    if tags.get("ai_modified") != "true":
        problems.append(f"tag ai_modified: expected 'true', got {tags.get('ai_modified')!r}")
    if not str(tags.get("ai_tool", "")).startswith("streamanon"):
        problems.append(f"tag ai_tool: expected 'streamanon <version>', got {tags.get('ai_tool')!r}")
    if tags.get("digital_source_type") != DIGITAL_SOURCE_TYPE:
        problems.append(f"tag digital_source_type: expected {DIGITAL_SOURCE_TYPE}, "
                        f"got {tags.get('digital_source_type')!r}")
    if digest is not None and tags.get("streamanon_config") != digest:
        problems.append(f"tag streamanon_config: expected {digest}, got {tags.get('streamanon_config')!r}")
    return problems


def _check_sidecar(path: Path, sidecar: dict[str, Any], count: int, digest: str | None) -> list[str]:
    problems = []
    actual = sha256_file(path)
    expected = (sidecar.get("output") or {}).get("sha256")
    if expected != actual:
        problems.append(f"sidecar output sha256: expected {actual}, got {expected}")
    if sidecar.get("frames") != count or len(sidecar.get("records") or []) != count:
        problems.append(f"sidecar frames: expected {count}, got {sidecar.get('frames')}")
    if digest is not None and sidecar.get("config_digest") != digest:
        problems.append(f"sidecar config_digest: expected {digest}, got {sidecar.get('config_digest')}")
    return problems


def _c2pa_summary(path: Path, problems: list[str]) -> dict[str, Any] | None:
    """Summary of an embedded C2PA manifest; None when the file has none or c2pa is absent."""
    if path.suffix.lower() not in (".mp4", ".m4v", ".mov"):
        return None
    from .c2pa_sign import read_manifest

    try:
        summary = read_manifest(path)
    except BackendUnavailableError:
        log.info("c2pa-python not installed: C2PA manifest of %s not checked", path)
        return None
    except Exception as exc:  # the c2pa library raises its own error types
        problems.append(f"C2PA manifest: cannot be read ({exc})")
        return None
    if summary is not None and not summary.get("anonymized"):
        problems.append("C2PA manifest: expected a streamanon anonymization action, got none")
    return summary
