"""``streamanon export``: ONNX model or TensorRT engine of the synthetic face generator."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser("export", help="export the face generator to ONNX or a TensorRT engine",
                              description="Export the flow UNet (dynamic batch) to ONNX, or build a TensorRT "
                                          "engine from that ONNX file. Outputs are named by the weights hash.")
    p.add_argument("--format", required=True, choices=("onnx", "tensorrt"))
    p.add_argument("--weights", help="weights .safetensors (default: the packaged model)")
    p.add_argument("--engine-dir", default="engines", help="output folder (default: engines/)")
    p.add_argument("--fp32", action="store_true", help="TensorRT: build in fp32 instead of fp16")
    p.add_argument("--max-batch", type=int, default=16, help="TensorRT: largest batch in the profile")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from ..synthetic.export import export
    from ..synthetic.weights import load_weights

    weights = load_weights(args.weights)
    path = export(weights, args.format, args.engine_dir, fp16=not args.fp32, max_batch=args.max_batch)
    print(f"wrote {path}")
    return 0
