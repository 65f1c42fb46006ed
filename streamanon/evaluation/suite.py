"""``eval --suite DIR``: every mode over every clip in a folder, one comparison table.

Modes are streamanon's own (blur, pixelate, solid, and synthetic when its generator can be
built) through ``streamanon.api.anonymize_file``, plus the ``deface`` tool when its venv
(``benchmarks/deface_baseline.sh``) exists. A mode that cannot run is skipped with a reason.
"""

from __future__ import annotations

import logging
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import ConfigError, InputError, StreamanonError
from . import privacy, report
from .evaluate import Evaluator

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v")
OWN_MODES = ("blur", "pixelate", "solid", "synthetic")
ALL_MODES = ("none",) + OWN_MODES + ("deface",)
"""``none`` is the reference row: the original compared with itself (re-ID 1, leaks everywhere)."""


@dataclass(frozen=True)
class SuiteSettings:
    modes: tuple[str, ...] = ALL_MODES
    config: str | None = None
    """YAML config for streamanon's own modes (the mode is set per run)."""
    deface_venv: str | None = None
    """Folder of the deface venv (default: ``.venv-deface`` at the repository root)."""
    max_clips: int | None = None
    reuse: bool = True
    """Keep anonymized outputs that already exist in the output folder."""

    def __post_init__(self) -> None:
        unknown = [m for m in self.modes if m not in ALL_MODES]
        if unknown:
            raise ConfigError(f"suite modes: expected some of {', '.join(ALL_MODES)}, got {', '.join(unknown)}")


def default_deface_venv() -> Path:
    return Path(__file__).resolve().parents[2] / ".venv-deface"


def list_clips(folder: str | Path, limit: int | None = None) -> list[Path]:
    path = Path(folder)
    if not path.is_dir():
        raise InputError(f"suite folder {path}: expected a directory")
    clips = sorted(p for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    if not clips:
        raise InputError(f"suite folder {path}: expected video files, found none")
    return clips[:limit] if limit else clips


def available_modes(settings: SuiteSettings) -> tuple[list[str], dict[str, str]]:
    """Modes that can run here, and the reason for each that cannot."""
    from ..config import AnonymizerConfig
    from ..generators import create_generator

    ok, skipped = [], {}
    for mode in settings.modes:
        if mode == "none":
            ok.append(mode)
            continue
        if mode == "deface":
            exe = Path(settings.deface_venv or default_deface_venv()) / "bin" / "deface"
            if exe.is_file():
                ok.append(mode)
            else:
                skipped[mode] = f"no deface at {exe} (run benchmarks/deface_baseline.sh)"
            continue
        try:
            create_generator(AnonymizerConfig(mode=mode))
            ok.append(mode)
        except (StreamanonError, NotImplementedError, OSError) as exc:  # weights, backends, config
            skipped[mode] = f"{type(exc).__name__}: {exc}"
    return ok, skipped


def anonymize(clip: Path, dst: Path, mode: str, settings: SuiteSettings) -> dict[str, Any]:
    """Write ``dst`` for ``mode``; returns a run report (deface: frames, wall time, fps)."""
    if mode == "deface":
        exe = Path(settings.deface_venv or default_deface_venv()) / "bin" / "deface"
        start = time.perf_counter()
        # macro_block_size 1: keep the frame size (imageio-ffmpeg pads to 16 by default)
        done = subprocess.run([str(exe), str(clip), "-o", str(dst), "--ffmpeg-config", '{"macro_block_size": 1}'],
                              capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode != 0 or not dst.is_file():
            raise InputError(f"deface failed on {clip}: {done.stderr.strip()[-300:]}")
        frames = _count_frames(dst)
        return {"mode": "deface", "frames_out": frames, "wall_seconds": round(wall, 3),
                "fps": round(frames / wall, 3) if wall > 0 else None,
                "note": "wall time of the deface process, start-up included"}
    from ..api import anonymize_file
    from ..config import load_config

    config = load_config(settings.config, {"anonymizer.mode": mode})
    return anonymize_file(clip, dst, config, overwrite=True)


def _count_frames(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def run_suite(folder: str | Path, out_dir: str | Path, evaluator: Evaluator,
              settings: SuiteSettings | None = None,
              on_result: Callable[[dict], None] | None = None) -> dict[str, Any]:
    """Anonymize and evaluate every clip with every available mode; write the reports into
    ``out_dir`` (suite.json, suite.html, suite.md, sheet_<clip>.png, metrics.png)."""
    settings = settings or SuiteSettings()
    out = Path(out_dir)
    (out / "anonymized").mkdir(parents=True, exist_ok=True)
    modes, skipped = available_modes(settings)
    rows: list[dict] = []
    pooled: dict[str, list[tuple[str, list]]] = {m: [] for m in modes}
    sheets: dict[str, bytes] = {}
    for clip in list_clips(folder, settings.max_clips):
        cache: dict = {}
        columns = {}
        for mode in modes:
            dst = out / "anonymized" / f"{clip.stem}.{mode}.mp4"
            run_json = dst.with_suffix(".run.json")
            try:
                if mode == "none":
                    dst, run_report = clip, {"mode": "none"}
                elif settings.reuse and dst.is_file() and run_json.is_file():
                    import json

                    run_report = json.loads(run_json.read_text())
                else:
                    run_report = anonymize(clip, dst, mode, settings)
                    report.write_json(run_report, run_json)
                obs = evaluator.observe(clip, dst, cache)
            except StreamanonError as exc:
                log.warning("%s / %s skipped: %s", clip.name, mode, exc)
                skipped[f"{clip.name}/{mode}"] = str(exc)
                continue
            figures = evaluator.figures(obs, run_report)
            row = {"clip": clip.stem, "mode": mode, **figures}
            rows.append(row)
            columns[mode] = obs
            pooled[mode].append((clip.stem, obs.faces))
            if on_result:
                on_result(row)
        if columns:
            sheet = report.contact_sheet(columns)
            if sheet is not None:
                sheets[clip.stem] = report.png_bytes(sheet)
                (out / f"sheet_{clip.stem}.png").write_bytes(sheets[clip.stem])
        for obs in columns.values():  # keep embeddings for the pooled re-ID, drop pictures
            obs.thumbnails.clear()
            for f in obs.faces:
                f.chips = None
    suite_reid = {m: privacy.reid_pooled(groups, evaluator.distractors.get("emb"))
                  for m, groups in pooled.items() if groups}
    means = mode_means(rows, modes, suite_reid)
    result = {"clips": sorted({r["clip"] for r in rows}), "modes": modes, "skipped": skipped,
              "by_mode": means, "results": rows, "suite_reid": suite_reid,
              "settings": rows[0]["settings"] if rows else None}
    report.write_json(result, out / "suite.json")
    table_rows = rows + [{"clip": "ALL (mean)", "mode": m, "summary": means[m]} for m in modes if m in means]
    (out / "suite.md").write_text(report.markdown_table(table_rows) + "\n")
    plots = report.metric_plots(rows) if rows else None
    if plots:
        (out / "metrics.png").write_bytes(plots)
    notes = (f"{len(result['clips'])} clips, modes: {', '.join(modes)}. Suite re-ID pools all tracks of "
             f"all clips plus distractors into one gallery. Skipped: {skipped or 'none'}")
    report.write_html(out / "suite.html", "streamanon evaluation suite", table_rows, sheets, plots, notes)
    return result


def mode_means(rows: list[dict], modes: list[str], suite_reid: dict) -> dict[str, dict]:
    """Mean of each summary figure over clips, per mode; ``reid_rate`` is the pooled one."""
    out = {}
    for mode in modes:
        mine = [r["summary"] for r in rows if r["mode"] == mode]
        if not mine:
            continue
        keys = dict.fromkeys(k for s in mine for k in s)
        means = {}
        for k in keys:
            vals = [s[k] for s in mine if isinstance(s.get(k), (int, float))]
            means[k] = float(np.mean(vals)) if vals else None
        means["reid_rate_per_clip_mean"] = means.get("reid_rate")
        if mode in suite_reid:
            means["reid_rate"] = suite_reid[mode]["reid_rate"]
        out[mode] = means
    return out
