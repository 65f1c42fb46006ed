"""``streamanon demo``: make a sample clip, anonymize it, say where both are."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="anonymize a generated sample clip (no input needed)")
    p.add_argument("--out-dir", default="streamanon-demo", help="folder for the clips (default: %(default)s)")
    p.add_argument("--mode", choices=("synthetic", "blur", "pixelate", "solid"), help="anonymization mode")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from ..api import anonymize_file
    from ..config import load_config
    from ..demo import make_demo_clip
    from ..report import write_report

    out = Path(args.out_dir)
    source = make_demo_clip(out / "demo_input.mp4", portrait=True)  # faces large enough to draw
    target = out / "demo_anonymized.mp4"
    # A fixed salt: the demo shows the same synthetic face on every run (a random one sometimes
    # drew a face the identity check then covered in half the frames).
    config = load_config(overrides={"anonymizer.mode": args.mode, "identity.salt": "streamanon-demo"})
    report = anonymize_file(source, target, config, overwrite=True)
    write_report(out / "demo_report.json", report)
    if not args.quiet:
        print(f"input:  {source}\noutput: {target}\nreport: {out / 'demo_report.json'}\n"
              f"{report['frames_out']} frames, {report['faces_total']} faces anonymized "
              f"({report['mode']}; {report['fallback_total']} of them with the fail-closed cover), "
              f"{report['fps']:.1f} fps", file=sys.stderr)
    return 0
