"""Synthetic face generator speed: milliseconds per face by backend, Euler steps and batch.

    python benchmarks/bench_generator.py                      # torch and onnx, steps 1/2/4, batch 1/4
    python benchmarks/bench_generator.py --backends onnx --steps 2 --threads 2

Times ``generator.generate(batch)`` end to end (alignment, conditions, network, warp back,
colour match) on 200 px crops with a mesh (``--sizes`` for others: talking heads give
500-900 px crops), using the packaged weights; each row also splits the time into its three
phases (``prepare``: alignment and conditions, ``denoise``: the network, ``finish``: warp
back, fill and colour match), the CPU side against the network. Target (issue): at most
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
    ap.add_argument("--sizes", nargs="+", type=int, default=[200], help="crop sides in pixels")
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
                for size in args.sizes:
                    crops = [synthetic_crop(weights.shape.template, size=size, seed=i, face_seed=i) for i in range(b)]
                    row = {"backend": kind, "device": args.device, "steps": steps, "batch": b, "crop_px": size}
                    rows.append(_time_one(gen, crops, row, args.repeats))
    out = {"weights_sha256": weights.sha256, "threads": args.threads, "cpu_count": os.cpu_count(),
           "load_average": os.getloadavg(), "machine": platform.machine(), "results": rows}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


def _time_one(gen, crops: list, row: dict, repeats: int) -> dict:
    """``row`` completed with the median and best ms per face of ``generate``, and the median
    of each of its phases (prepare, denoise, finish), over ``repeats`` runs."""
    b = len(crops)
    gen.generate(crops)  # warm-up
    phases: dict[str, list[float]] = {"prepare": [], "denoise": [], "finish": []}
    for _ in range(repeats):
        t0 = time.perf_counter()
        prepared = gen.prepare(crops)
        t1 = time.perf_counter()
        aligned = gen.denoise(prepared)
        t2 = time.perf_counter()
        gen.finish(prepared, aligned)
        t3 = time.perf_counter()
        for name, dt in (("prepare", t1 - t0), ("denoise", t2 - t1), ("finish", t3 - t2)):
            phases[name].append(dt)
    totals = sorted(sum(run) for run in zip(*phases.values()))
    row = dict(row, ms_per_face_median=1000 * totals[len(totals) // 2] / b, ms_per_face_best=1000 * totals[0] / b)
    for name, values in phases.items():
        row[f"{name}_ms_per_face_median"] = 1000 * sorted(values)[len(values) // 2] / b
    print(f"{row['backend']:9s} {row['device']:4s} steps={row['steps']} batch={b} crop={row['crop_px']}px: "
          f"{row['ms_per_face_median']:7.1f} ms/face (best {row['ms_per_face_best']:.1f}; prepare "
          f"{row['prepare_ms_per_face_median']:.1f}, network {row['denoise_ms_per_face_median']:.1f}, "
          f"finish {row['finish_ms_per_face_median']:.1f})", flush=True)
    return row


if __name__ == "__main__":
    sys.exit(main())
