"""``streamanon run SRC -o DST``: anonymize a video file or every video in a folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

MODES = ("synthetic", "blur", "pixelate", "solid")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="anonymize a video file, a folder of videos, or a live stream",
                       description="Anonymize every face in SRC (a video file, a folder, or a stream URL).")
    p.add_argument("src", metavar="SRC", help="video file, folder (tree mirrored into DST) or stream URL")
    p.add_argument("-o", "--output", dest="dst", metavar="DST", required=True, help="output file, folder or URL")
    p.add_argument("--mode", choices=MODES, help="how faces are replaced (default: the config's; synthetic for files, blur for live streams)")
    p.add_argument("--config", metavar="FILE.yaml", help="YAML configuration (see configs/)")
    p.add_argument("--report", metavar="REPORT.json", help="write a JSON run report here")
    p.add_argument("--device", choices=("cpu", "cuda"), help="device for the generator")
    p.add_argument("--backend", choices=("auto", "torch", "onnx", "tensorrt"),
                   help="generator backend (synthetic mode; auto: onnx on CPU, torch on CUDA)")
    p.add_argument("--degree", type=float, help="anonymization degree (synthetic mode)")
    p.add_argument("--weights", metavar="FILE.safetensors",
                   help="synthetic mode: generator weights from 'streamanon train --package' (default: the packaged model)")
    p.add_argument("--salt", help="fix the identity salt (same salt: same synthetic identities)")
    p.add_argument("--fallback", choices=("auto", "solid", "blur"), help="fail-closed cover")
    p.add_argument("--codec", choices=("h264", "h265"), help="video codec of the output")
    p.add_argument("--crf", type=int, help="encoder quality (lower is better, larger)")
    p.add_argument("--preset", help="encoder preset (e.g. ultrafast, veryfast, medium)")
    p.add_argument("--label", action="store_true", default=None, help="draw a visible 'AI-modified' label")
    p.add_argument("--overwrite", action="store_true", help="replace DST if it exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=main)


def overrides_from_args(args: argparse.Namespace) -> dict:
    return {
        "anonymizer.mode": args.mode, "anonymizer.device": args.device, "anonymizer.backend": args.backend,
        "anonymizer.degree": args.degree, "anonymizer.weights": args.weights, "anonymizer.fallback": args.fallback, "identity.salt": args.salt,
        "encoder.codec": args.codec, "encoder.crf": args.crf, "encoder.preset": args.preset,
        "provenance.visible_label": args.label,
    }


def main(args: argparse.Namespace) -> int:
    from ..config import load_config
    from ..errors import InputError
    from ..report import write_report

    if "://" in args.src:
        from ..live.config import live_pipeline_config
        from .live_session import run_live  # live streams: RTSP/RTMP/SRT/HTTP

        return run_live(args, live_pipeline_config(args.config, overrides_from_args(args)))
    config = load_config(args.config, overrides_from_args(args))
    src, dst = Path(args.src), Path(args.dst)
    if not src.exists():
        raise InputError(f"{src}: no such file or folder")
    if src.is_dir():
        reports = _run_tree(src, dst, config, args)
        if args.report:
            write_report(args.report, reports)
        return 0
    report = _run_file(src, dst, config, args)
    if args.report:
        write_report(args.report, report)
    return 0


class _ProgressBar:
    """A tqdm bar on stderr, created at the first frame (so errors print alone)."""

    def __init__(self, name: str, quiet: bool) -> None:
        self.name, self.quiet, self.bar = name, quiet, None

    def __call__(self, done: int, total: int | None) -> None:
        if self.quiet:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(desc=self.name, unit="frame", total=total, file=sys.stderr, leave=False,
                            dynamic_ncols=True)
        if self.bar.total is not None and done > self.bar.total:
            self.bar.total = done  # the estimate from duration x rate was short
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _run_file(src: Path, dst: Path, config, args: argparse.Namespace) -> dict:
    from ..api import anonymize_file

    bar = _ProgressBar(src.name, args.quiet)
    try:
        report = anonymize_file(src, dst, config, overwrite=args.overwrite, progress=bar)
    finally:
        bar.close()
    if not args.quiet:
        _summary(report)
    return report


def _run_tree(src: Path, dst: Path, config, args: argparse.Namespace) -> list[dict]:
    from ..api import anonymize_tree

    bar = _ProgressBar(src.name, args.quiet)

    def next_file(video: Path, target: Path) -> None:
        bar.close()
        bar.__init__(str(video.relative_to(src)), args.quiet)

    try:
        reports = anonymize_tree(src, dst, config, overwrite=args.overwrite, progress=bar, on_file=next_file)
    finally:
        bar.close()
    if not args.quiet:
        for report in reports:
            _summary(report)
    return reports


def _summary(report: dict) -> None:
    print(f"{report['output']}: {report['frames_out']} frames, {report['faces_total']} faces in "
          f"{report['tracks']} tracks, {report['fallback_total']} fail-closed covers, "
          f"{report['fps']:.1f} fps ({report['mode']})", file=sys.stderr)
