"""Synthetic face quality on held-out UTKFace faces: degree curve, step count, groups,
memorization. The figures in MODEL_CARD.md come from this script.

    python benchmarks/eval_synthetic_quality.py                       # default: 100 sweep faces
    python benchmarks/eval_synthetic_quality.py --sweep-faces 40 --alphas 0 1 2

Needs ../shared (UTKFace), the training cache (``streamanon train`` builds it, see
configs/train_synthetic_cpu.yaml) and the eval extra (dlib-bin, face-recognition-models).
Writes ``benchmarks/results/synthetic_quality.json`` and the degree plot
``benchmarks/results/synthetic_degree_curve.png``; composites go to scratch/ only (they
contain UTKFace pixels and must not be committed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "configs" / "train_synthetic_cpu.yaml"))
    ap.add_argument("--weights", default=None)
    ap.add_argument("--backend", default="onnx")
    ap.add_argument("--alphas", nargs="+", type=float, default=[0.0, 0.5, 1.0, 1.5, 2.0])
    ap.add_argument("--steps", nargs="+", type=int, default=[1, 2, 4])
    ap.add_argument("--default-alpha", type=float, default=1.0)
    ap.add_argument("--default-steps", type=int, default=2)
    ap.add_argument("--sweep-faces", type=int, default=100)
    ap.add_argument("--full-faces", type=int, default=300, help="faces for the default setting and groups")
    ap.add_argument("--train-embeddings", default=str(ROOT / "scratch" / "synth" / "cache" / "train_dlib.npz"))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--outline", type=float, default=None,
                    help="anonymizer.degree_outline (default: the shipped default)")
    args = ap.parse_args()
    os.environ["STREAMANON_THREADS"] = str(args.threads)

    import cv2
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from streamanon.synthetic.backends import create_backend
    from streamanon.synthetic.data import FaceSet, parse_labels
    from streamanon.synthetic.degree import pose_expression_features
    from streamanon.synthetic.evaluate import Tools, measure, nearest_training_distance
    from streamanon.synthetic.generator import SyntheticConfig, SyntheticFaceGenerator
    from streamanon.synthetic.train import load_run_config
    from streamanon.synthetic.weights import load_weights
    from streamanon.synthetic.degree import normalise

    cfg = load_run_config(args.config)
    cache = ROOT / cfg.data.cache
    faces = FaceSet.load(cache / f"aligned_{cfg.model.resolution}.npz")
    meshes = np.load(cache / "meshes.npz")
    _, hold = faces.split(cfg.data.holdout)
    weights = load_weights(args.weights)
    backend = create_backend(args.backend, weights, engine_dir=str(ROOT / "engines"))
    tools = Tools(ROOT.parent / "shared" / "models" / "face_detection_yunet_2026may.onnx")
    image_dir = ROOT / cfg.data.images
    hold = hold[:args.full_faces]
    names = [str(faces.names[i]) for i in hold]
    images = [cv2.cvtColor(cv2.imread(str(image_dir / n)), cv2.COLOR_BGR2RGB) for n in names]
    mesh3 = [meshes["points"][i].astype(np.float64) for i in hold]
    seeds = [1000 + k for k in range(len(hold))]
    n = min(args.sweep_faces, len(hold))

    from streamanon.synthetic.evaluate import PAD, face_box, make_crop

    refs = [tools.embed(make_crop(im, m, 0).image, face_box(m[:, :2] + PAD)) for im, m in zip(images, mesh3)]

    outline = SyntheticConfig.outline if args.outline is None else args.outline

    def run(alpha, steps, count):
        gen = SyntheticFaceGenerator(weights, backend, degree=alpha, config=SyntheticConfig(steps=steps, outline=outline))
        t0 = time.time()
        res, comps = measure(gen, tools, images[:count], mesh3[:count], seeds[:count], refs[:count])
        s = res.summary()
        s.update(alpha=alpha, steps=steps, seconds=time.time() - t0)
        print(json.dumps(s), flush=True)
        return res, comps, s

    report = {"weights_sha256": weights.sha256, "backend": args.backend, "holdout_faces": len(hold),
              "outline": outline}
    report["degree_curve"] = []
    for alpha in args.alphas:
        report["degree_curve"].append(run(alpha, args.default_steps, n)[2])
    report["steps"] = [run(args.default_alpha, s, n)[2] for s in args.steps]
    full, comps, s = run(args.default_alpha, args.default_steps, len(hold))
    report["default"] = s
    # Failure cases by UTKFace labels and by head turn.
    labels = np.array([parse_labels(x) for x in names])
    yaw = np.array([abs(pose_expression_features(normalise(m[:, :2], weights.shape.template))[0]) for m in mesh3])
    groups = {"children (age < 13)": labels[:, 0] < 13, "age >= 60": labels[:, 0] >= 60,
              "adults 13-59": (labels[:, 0] >= 13) & (labels[:, 0] < 60),
              **{f"race {r} ({k})": labels[:, 2] == r for r, k in
                 enumerate(["White", "Black", "Asian", "Indian", "Others"])},
              "turned (|yaw proxy| > 0.08)": yaw > 0.08, "frontal (|yaw proxy| <= 0.08)": yaw <= 0.08}
    report["groups"] = {}
    for name, sel in groups.items():
        if sel.sum() == 0:
            continue
        ok = np.isfinite(full.id_dist[sel])
        report["groups"][name] = {
            "faces": int(sel.sum()), "reid_rate": float((full.id_dist[sel][ok] < 0.6).mean()),
            "yunet_detect_rate": float(full.detected[sel].mean()),
            "pose_err_median_deg": float(np.nanmedian(full.pose_err[sel])) if np.isfinite(full.pose_err[sel]).any()
            else None}
    tr = Path(args.train_embeddings)
    if tr.exists():
        nearest = nearest_training_distance(full.embeddings, np.load(tr)["emb"])
        report["memorization"] = {"train_faces": int(len(np.load(tr)["emb"])), "nearest_min": float(nearest.min()),
                                  "nearest_p05": float(np.percentile(nearest, 5)),
                                  "nearest_median": float(np.median(nearest)),
                                  "below_0.6": int((nearest < 0.6).sum())}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "synthetic_quality.json").write_text(json.dumps(report, indent=2) + "\n")
    _plot(report, out / "synthetic_degree_curve.png")
    sheet = ROOT / "scratch" / "synth" / "eval_composites.png"
    sheet.parent.mkdir(parents=True, exist_ok=True)
    tiles = [cv2.resize(c, (160, 160)) for c in comps[:24]]
    rows = [np.concatenate(tiles[i:i + 8], 1) for i in range(0, len(tiles) - len(tiles) % 8, 8)]
    if rows:
        cv2.imwrite(str(sheet), cv2.cvtColor(np.concatenate(rows, 0), cv2.COLOR_RGB2BGR))
    print(json.dumps({k: v for k, v in report.items() if k in ("default", "groups", "memorization")}, indent=2))
    return 0


def _plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = report["degree_curve"]
    a = [r["alpha"] for r in c]
    fig, ax = plt.subplots(1, 3, figsize=(12, 3.4))
    ax[0].plot(a, [r["id_dist_mean"] for r in c], "o-", label="mean dlib distance")
    ax[0].plot(a, [r["reid_rate"] for r in c], "s-", label="re-ID rate (< 0.6)")
    ax[0].axhline(0.6, ls=":", c="gray")
    ax[0].set_title("identity")
    ax[1].plot(a, [r["pose_err_median_deg"] for r in c], "o-", label="median")
    ax[1].plot(a, [r["pose_err_p90_deg"] for r in c], "s-", label="p90")
    ax[1].axhline(5, ls=":", c="gray")
    ax[1].set_title("head pose error (deg)")
    ax[2].plot(a, [r["mouth_r"] for r in c], "o-", label="mouth r")
    ax[2].plot(a, [r["eyes_r"] for r in c], "s-", label="eyes r")
    ax[2].axhline(0.8, ls=":", c="gray")
    ax[2].set_title("expression agreement")
    for x in ax:
        x.set_xlabel("degree (alpha)")
        x.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    sys.exit(main())
