"""dlib's face descriptor in dlib's runtime against the same ResNet run in torch.

    python benchmarks/bench_recogniser.py
    python benchmarks/bench_recogniser.py --repeats 20 --batch 1 2 6 39

The identity check and the identity guard embed drawn faces with dlib's ResNet
(``DlibFaceModel(runtime="torch")``: :mod:`streamanon.evaluation.dlib_resnet`); the eval's
attacker keeps dlib's own runtime. This times one descriptor (landmarks given, chip cut, net
run) with each, on the demo portrait, the torch net alone on batches of chips, and whole
embeddings (landmarks fitted, chips cut, net run) one by one against ``embed_many`` (one net
run per batch: two faces per identity check, six near the limit, 39 for the identity guard's
12 candidates on 3 frames); and checks that both runtimes give the same descriptor. Prints a
table and writes ``benchmarks/results/recogniser.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats * 1000.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--batch", type=int, nargs="+", default=[1, 2, 6, 39])
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "recogniser.json")
    args = p.parse_args(argv)

    import torch

    from streamanon.demo import demo_frames
    from streamanon.evaluation.faces import DlibFaceModel, create_detector

    image = demo_frames(1, (640, 360))[0]
    rect = create_detector("dlib-hog").detect(image)[0].rect
    dlib_model, torch_model = DlibFaceModel(runtime="dlib"), DlibFaceModel(runtime="torch")
    landmarks = dlib_model.landmarks(image, rect)
    rows = [
        {"runtime": "dlib", "batch": 1, "ms_per_face": _time(lambda: dlib_model.embed(image, rect, landmarks), args.repeats)},
        {"runtime": "torch", "batch": 1, "ms_per_face": _time(lambda: torch_model.embed(image, rect, landmarks), args.repeats)},
    ]
    chip = np.asarray(torch_model._dlib.get_face_chip(
        image, torch_model._dlib.full_object_detection(torch_model._rect(rect),
                                                       [torch_model._dlib.point(int(x), int(y)) for x, y in landmarks])))
    for n in args.batch:
        chips = np.repeat(chip[None], n, axis=0)
        ms = _time(lambda: torch_model._torch_net.describe(chips), args.repeats) / n
        rows.append({"runtime": "torch net only", "batch": n, "ms_per_face": ms})
    for n in args.batch:  # what the check and guard pay: landmarks fitted, chips cut, net run
        faces = [(image, rect)] * n
        ms = _time(lambda: [torch_model.embed(i, r) for i, r in faces], args.repeats) / n
        rows.append({"runtime": "torch one by one", "batch": n, "ms_per_face": ms})
        ms = _time(lambda: torch_model.embed_many(faces), args.repeats) / n
        rows.append({"runtime": "torch embed_many", "batch": n, "ms_per_face": ms})
    distance = float(np.linalg.norm(dlib_model.embed(image, rect, landmarks) - torch_model.embed(image, rect, landmarks)))
    print(f"{'runtime':<16} {'batch':>5} {'ms/face':>8}")
    for r in rows:
        print(f"{r['runtime']:<16} {r['batch']:>5} {r['ms_per_face']:>8.1f}")
    print(f"descriptor distance between runtimes: {distance:.2e}; torch threads {torch.get_num_threads()}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows, "distance": distance, "torch_threads": torch.get_num_threads()},
                                   indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
