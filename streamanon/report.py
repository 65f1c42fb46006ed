"""The run report (``--report``): frames, faces, tracks, fallback covers, stage times, fps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import __version__
from .stats import StreamStats


def build_report(stats: StreamStats, *, source: str, output: str, mode: str, config_digest: str,
                 tracks: int, backfilled: int = 0, interrupted: bool = False) -> dict[str, Any]:
    wall = stats.elapsed()
    frames = stats.frames_out
    return {
        "tool": f"streamanon {__version__}",
        "input": source,
        "output": output,
        "mode": mode,
        "config_digest": config_digest,
        "interrupted": interrupted,
        "frames_in": stats.frames_in,
        "frames_out": frames,
        "faces_total": int(sum(stats.faces_per_frame)),
        "faces_per_frame": list(stats.faces_per_frame),
        "tracks": tracks,
        "backfilled_covers": backfilled,
        "fallback_total": int(sum(stats.fallback_events.values())),
        "fallback_events": dict(sorted(stats.fallback_events.items())),
        "reused_faces": stats.reused_faces,
        "stage_seconds": {k: round(v, 4) for k, v in sorted(stats.stage_seconds.items())},
        "stage_ms_per_frame": {k: round(1000 * v / max(frames, 1), 3) for k, v in sorted(stats.stage_seconds.items())},
        "wall_seconds": round(wall, 4),
        "fps": round(frames / wall, 3) if wall > 0 else 0.0,
    }


def write_report(path: str | Path, report: dict[str, Any] | list[dict[str, Any]]) -> None:
    Path(path).write_text(json.dumps(report, indent=2) + "\n")
