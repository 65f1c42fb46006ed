"""``streamanon train``: train (or resume) the synthetic face generator from a YAML config."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train the synthetic face generator (resumable)",
                              description="Train the few-step flow face generator on the face set. Running "
                                          "again with the same config resumes from the run's checkpoint.")
    p.add_argument("--config", required=True, help="training YAML (configs/train_*.yaml)")
    p.add_argument("--steps", type=int, help="override train.steps")
    p.add_argument("--max-minutes", type=float, help="override train.max_minutes")
    p.add_argument("--device", choices=("cpu", "cuda"), help="override train.device")
    p.add_argument("--package", metavar="SAFETENSORS",
                   help="after training, write the EMA weights (+ .json sidecar with SHA-256) here")
    p.add_argument("--package-only", action="store_true", help="skip training, only --package")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import ConfigError
    from ..synthetic.train import load_run_config, package, train

    overrides = {k: v for k, v in (("train.steps", args.steps), ("train.max_minutes", args.max_minutes),
                                   ("train.device", args.device)) if v is not None}
    cfg = load_run_config(args.config, overrides)
    if args.package_only and not args.package:
        raise ConfigError("--package-only needs --package PATH")
    if not args.package_only:
        out = train(cfg)
        print(f"run folder: {out} (samples in {out / 'samples'}, log in {out / 'train.jsonl'})")
    if args.package:
        digest = package(cfg, Path(args.package))
        print(f"wrote {args.package} sha256={digest}")
    return 0
