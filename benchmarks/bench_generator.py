"""Synthetic face generator speed: milliseconds per face by backend, Euler steps and batch.

    python benchmarks/bench_generator.py                      # torch and onnx, steps 1/2/4, batch 1/4
    python benchmarks/bench_generator.py --backends onnx --steps 2 --threads 2

Times ``generator.generate(batch)`` end to end (alignment, conditions, network, warp back,
colour match) on 200 px crops with a mesh, using the packaged weights. Target (issue): at most
60 ms per face with ONNX Runtime on the 2-core CPU. Prints a table, writes JSON to
``benchmarks/results/bench_generator.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", nargs="+", default=["torch", "onnx"])
    ap.add_argument("--steps", nargs="+", type=int, default=[1, 2, 4])
    ap.add_argument("--batch", nargs="+", type=int, default=[1, 4])
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "bench_generator.json"))
    args = ap.parse_args()
    os.environ["STREAMANON_THREADS"] = str(args.threads)

    import torch

    torch.set_num_threads(args.threads)
    from streamanon.synthetic.backends import create_backend
    from streamanon.synthetic.generator import SyntheticConfig, SyntheticFaceGenerator
    from streamanon.synthetic.testing import synthetic_crop
    from streamanon.synthetic.weights import load_weights

    weights = load_weights()
    rows = []
    for kind in args.backends:
        backend = create_backend(kind, weights, device=args.device, engine_dir=str(ROOT / "engines"))
        for steps in args.steps:
            gen = SyntheticFaceGenerator(weights, backend, degree=1.0, config=SyntheticConfig(steps=steps))
            for b in args.batch:
                crops = [synthetic_crop(weights.shape.template, size=200, seed=i, face_seed=i) for i in range(b)]
                gen.generate(crops)  # warm-up
                times = []
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    gen.generate(crops)
                    times.append(time.perf_counter() - t0)
                times.sort()
                row = {"backend": kind, "device": args.device, "steps": steps, "batch": b,
                       "ms_per_face_median": 1000 * times[len(times) // 2] / b,
                       "ms_per_face_best": 1000 * times[0] / b}
                rows.append(row)
                print(f"{kind:9s} {args.device:4s} steps={steps} batch={b}: "
                      f"{row['ms_per_face_median']:7.1f} ms/face (best {row['ms_per_face_best']:.1f})", flush=True)
    out = {"weights_sha256": weights.sha256, "threads": args.threads, "cpu_count": os.cpu_count(),
           "load_average": os.getloadavg(), "machine": platform.machine(), "results": rows}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
