"""Compare config variants on real clips: same salt, one run after another, eval figures.

    python benchmarks/compare_configs.py --clips talking_headpose talking_vox \\
        --variants '{"per-frame": {"temporal.enabled": false}, "default": {}}' --json runs/cmp.json

Each variant is a dict of dotted config overrides applied to the defaults (plus the salt).
Every clip is anonymized once per variant and evaluated (``Evaluator``, stride 2 unless ``--stride``), then a
table of expression agreement, flicker, identity stability, pose error, re-ID, leak rate,
fail-closed covers and run time is printed and written as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = ROOT.parent / "shared" / "data" / "videos"
FIGURES = ("expression_corr", "flicker", "id_stability", "id_switches", "pose_error_deg", "reid_rate", "leak_rate")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clips", nargs="+", required=True, help="clip names in ../shared/data/videos (no .mp4)")
    p.add_argument("--variants", required=True, help="JSON: {name: {dotted.key: value}}")
    p.add_argument("--salt", default="compare", help="identity salt shared by every run")
    p.add_argument("--stride", type=int, default=2, help="evaluate every Nth frame")
    p.add_argument("--out", default="runs/compare", help="folder for the anonymized clips")
    p.add_argument("--json", default="runs/compare.json", help="where the figures go")
    args = p.parse_args()

    from streamanon.api import anonymize_file
    from streamanon.config import Config
    from streamanon.evaluation import EvalSettings, Evaluator

    variants = json.loads(args.variants)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for clip in args.clips:
        src = VIDEOS / f"{clip}.mp4"
        for name, overrides in variants.items():
            dst = out_dir / f"{clip}_{name}.mp4"
            config = Config().override({"identity.salt": args.salt, **overrides})
            started = time.perf_counter()
            report = anonymize_file(src, dst, config, overwrite=True)
            seconds = time.perf_counter() - started
            summary = Evaluator(EvalSettings(stride=args.stride)).evaluate(src, dst)["summary"]
            row = {"clip": clip, "variant": name, **{k: summary.get(k) for k in FIGURES},
                   "covers": report.get("fallback_events", {}), "seconds": round(seconds, 1)}
            rows.append(row)
            print(_line(row), flush=True)
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps({"variants": variants, "salt": args.salt,
                                                   "stride": args.stride, "rows": rows}, indent=1))
    print("\n| clip | variant | " + " | ".join(FIGURES) + " | covers | seconds |")
    print("|---" * (len(FIGURES) + 4) + "|")
    for row in rows:
        print(_line(row))
    return 0


def _line(row: dict) -> str:
    cells = [row["clip"], row["variant"]]
    cells += ["-" if row[k] is None else f"{row[k]:.3f}" if isinstance(row[k], float) else str(row[k]) for k in FIGURES]
    cells += [",".join(f"{k} {v}" for k, v in sorted(row["covers"].items())) or "0", f"{row['seconds']:.1f}"]
    return "| " + " | ".join(cells) + " |"


if __name__ == "__main__":
    sys.exit(main())
