"""Confirm dlib's same-person threshold (0.6) on the shared identity sets.

Prints accuracy, false-accept and false-reject rates at 0.6 and at the best threshold for
the deepface pairs (master.csv) and for ORL (all same-person pairs, as many different-person
pairs drawn at random), and writes benchmarks/results/eval_threshold_calibration.json.

    .venv/bin/python benchmarks/eval_threshold_calibration.py [--shared ../shared]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamanon.evaluation.faces import DlibFaceModel, create_detector  # noqa: E402


def embed_file(path: Path, detector, model) -> np.ndarray | None:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        return None
    image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    found = detector.detect(image)
    if found:
        rect = max(found, key=lambda f: f.size).rect
    else:  # ORL: the face fills the picture; use its central square
        h, w = image.shape[:2]
        side = 0.9 * min(h, w)
        rect = ((w - side) / 2, (h - side) / 2 + 0.05 * h, (w + side) / 2, (h + side) / 2 + 0.05 * h)
    return model.embed(image, rect)


def rates(d_same: np.ndarray, d_diff: np.ndarray, t: float) -> dict:
    far = float((d_diff <= t).mean())
    frr = float((d_same > t).mean())
    acc = float(((d_same <= t).sum() + (d_diff > t).sum()) / (len(d_same) + len(d_diff)))
    return {"threshold": round(t, 3), "accuracy": acc, "false_accept": far, "false_reject": frr}


def report(name: str, d_same: list[float], d_diff: list[float]) -> dict:
    s, d = np.array(d_same), np.array(d_diff)
    grid = np.arange(0.3, 0.9, 0.01)
    best = max((rates(s, d, t) for t in grid), key=lambda r: r["accuracy"])
    out = {"set": name, "same_pairs": len(s), "different_pairs": len(d), "at_0.6": rates(s, d, 0.6),
           "best": best, "same_mean": float(s.mean()), "different_mean": float(d.mean())}
    a = out["at_0.6"]
    print(f"{name:10s} pairs {len(s)}+{len(d)}  at 0.6: acc {a['accuracy']:.3f} FAR {a['false_accept']:.3f} "
          f"FRR {a['false_reject']:.3f} | best t={best['threshold']:.2f} acc {best['accuracy']:.3f} | "
          f"mean same {s.mean():.3f} different {d.mean():.3f}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"))
    args = ap.parse_args()
    ids = Path(args.shared) / "data" / "identities"
    if not ids.is_dir():
        print(f"no identity sets at {ids}; nothing to calibrate")
        return 0
    detector, model = create_detector("auto"), DlibFaceModel()
    results = []
    master = ids / "deepface" / "master.csv"
    if master.is_file():
        cache: dict[str, np.ndarray | None] = {}
        same, diff, missing = [], [], 0
        for row in csv.DictReader(master.open()):
            for f in (row["file_x"], row["file_y"]):
                if f not in cache:
                    cache[f] = embed_file(ids / "deepface" / f, detector, model)
            a, b = cache[row["file_x"]], cache[row["file_y"]]
            if a is None or b is None:
                missing += 1
                continue
            (same if row["Decision"].strip().lower() == "yes" else diff).append(float(np.linalg.norm(a - b)))
        results.append(report("deepface", same, diff) | {"unreadable_pairs": missing})
    orl = ids / "orl_att_faces"
    if orl.is_dir():
        people = sorted(p for p in orl.iterdir() if p.is_dir())
        emb = {p.name: [e for e in (embed_file(f, detector, model) for f in sorted(p.glob("*.pgm"))) if e is not None]
               for p in people}
        same = [float(np.linalg.norm(a - b)) for v in emb.values() for a, b in itertools.combinations(v, 2)]
        rng = np.random.default_rng(0)
        names = list(emb)
        diff = []
        while len(diff) < len(same):
            i, j = rng.choice(len(names), 2, replace=False)
            a, b = emb[names[i]], emb[names[j]]
            diff.append(float(np.linalg.norm(a[rng.integers(len(a))] - b[rng.integers(len(b))])))
        results.append(report("orl", same, diff))
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval_threshold_calibration.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
