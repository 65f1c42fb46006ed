"""Memorization of the synthetic face generator: does it draw the people it was trained on?

    python benchmarks/memorization.py                  # 300 held-out faces x 8 seeds, 300 members
    python benchmarks/memorization.py --faces 100 --seeds 4

Three measurements, dlib embeddings throughout (same-person threshold 0.6):

1. **Nearest training face, in context** (as the pipeline draws: the held-out person's hair and
   surroundings kept): ``faces x seeds`` generated faces, each against all training faces.
   Control: the same held-out faces, real (people the model never saw).
2. **Nearest training face, model only**: the same faces drawn over flat grey surroundings, so
   what dlib sees besides the network's output is the grey frame, not a person's hair.
3. **Membership test**: ``--members`` training faces and as many held-out faces, each drawn
   from its own conditions at degree 0 (geometry kept exactly: most favourable to copying),
   over grey surroundings; distance from each output to its *own* source face. A model that
   memorised its training set redraws members closer to their source than non-members
   (AUC 0.5: no difference; 1.0: every member closer than every non-member).

Needs ../shared (UTKFace), the training cache (``streamanon train`` builds it) and dlib
(``synthetic`` extra). Training-face embeddings are computed once and cached beside the
training cache (``train_dlib.npz``, 9,412 faces, about 6 minutes on 2 cores). Writes
``benchmarks/results/memorization.json``; the closest pairs go to scratch/ (they show UTKFace
pixels and must not be committed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
GREY = 128


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "configs" / "train_synthetic_cpu.yaml"))
    ap.add_argument("--faces", type=int, default=300, help="held-out faces used as conditions")
    ap.add_argument("--seeds", type=int, default=8, help="identity seeds per held-out face")
    ap.add_argument("--members", type=int, default=300, help="training faces for the membership test")
    ap.add_argument("--degree", type=float, default=2.0)
    ap.add_argument("--backend", default="onnx")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = ap.parse_args()
    os.environ["STREAMANON_THREADS"] = str(args.threads)

    import cv2
    import numpy as np

    from streamanon.synthetic.backends import create_backend
    from streamanon.synthetic.data import FaceSet
    from streamanon.synthetic.evaluate import PAD, Tools, face_box, make_crop, nearest_training_distance
    from streamanon.synthetic.generator import SyntheticConfig, SyntheticFaceGenerator
    from streamanon.synthetic.train import load_run_config
    from streamanon.synthetic.weights import load_weights

    cfg = load_run_config(args.config)
    cache = ROOT / cfg.data.cache
    meshes = np.load(cache / "meshes.npz")
    names, points = meshes["names"], meshes["points"]
    train, hold = FaceSet.load(cache / f"aligned_{cfg.model.resolution}.npz").split(cfg.data.holdout)
    image_dir = ROOT / cfg.data.images
    tools = Tools(ROOT.parent / "shared" / "models" / "face_detection_yunet_2026may.onnx")
    weights = load_weights(None)
    backend = create_backend(args.backend, weights, engine_dir=str(ROOT / "engines"))

    def image(i):
        return cv2.cvtColor(cv2.imread(str(image_dir / str(names[i]))), cv2.COLOR_BGR2RGB)

    def embed_real(i):
        return tools.embed(image(i), face_box(points[i]))

    train_emb = _train_embeddings(cache / "train_dlib.npz", train, embed_real)
    hold = hold[:args.faces]
    started = time.time()
    report = {"weights_sha256": weights.sha256, "degree": args.degree, "train_faces": len(train),
              "holdout_faces": len(hold), "seeds_per_face": args.seeds}

    control = nearest_training_distance(np.stack([embed_real(i) for i in hold]), train_emb)
    report["control_real_holdout"] = _stats(control)

    def generate(indices, seeds, degree, grey):
        gen = SyntheticFaceGenerator(weights, backend, degree=degree, config=SyntheticConfig())
        crops, boxes = [], []
        for i, seed in zip(indices, seeds):
            crop = make_crop(image(i), points[i].astype(np.float64), seed)
            if grey:
                flat = np.full_like(crop.image, GREY)
                inside = (crop.mask >= 0.5)[..., None]
                crop = replace(crop, image=np.where(inside, crop.image, flat))
            crops.append(crop)
            boxes.append(face_box(points[i][:, :2] + PAD))
        embs, comps = np.zeros((len(crops), 128)), []
        for s in range(0, len(crops), 16):
            for j, (crop, patch) in enumerate(zip(crops[s:s + 16], gen.generate(crops[s:s + 16]))):
                m = patch.mask[..., None]
                comp = (patch.image * m + crop.image * (1 - m)).round().clip(0, 255).astype(np.uint8)
                embs[s + j] = tools.embed(comp, boxes[s + j])
                comps.append(comp)
        return embs, comps

    rows = np.repeat(hold, args.seeds)
    seeds = [7919 * k + 1 for k in range(len(rows))]
    sheets = {}
    for name, grey in (("generated_in_context", False), ("generated_model_only", True)):
        embs, comps = generate(rows, seeds, args.degree, grey)
        nearest, which = _nearest(embs, train_emb)
        report[name] = _stats(nearest)
        order = np.argsort(nearest)[:8]
        sheets[name] = [(comps[k], image(train[which[k]]), nearest[k]) for k in order]
        print(json.dumps({name: report[name]}), flush=True)

    members = train[np.random.default_rng(1).choice(len(train), args.members, replace=False)]
    own = {}
    for name, idx in (("members", members), ("non_members", hold[:args.members])):
        embs, _ = generate(idx, [11] * len(idx), 0.0, True)
        own[name] = np.linalg.norm(embs - np.stack([embed_real(i) for i in idx]), axis=1)
        report[f"membership_{name}"] = _stats(own[name])
    report["membership_auc"] = _auc(own["non_members"], own["members"])
    report["seconds"] = round(time.time() - started, 1)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "memorization.json").write_text(json.dumps(report, indent=2) + "\n")
    _sheet(sheets, ROOT / "scratch" / "memorization_closest.png")
    _table(report)
    return 0


def _train_embeddings(path: Path, train, embed_real):
    import numpy as np

    if path.exists():
        cached = np.load(path)
        if np.array_equal(cached["idx"], train):
            return cached["emb"]
    emb = np.stack([embed_real(i) for i in train]).astype(np.float32)
    np.savez(path, idx=train, emb=emb)
    return emb


def _nearest(embs, train_emb):
    import numpy as np

    d2 = (embs ** 2).sum(1)[:, None] + (train_emb ** 2).sum(1)[None] - 2 * embs @ train_emb.T
    which = d2.argmin(1)
    return np.sqrt(np.maximum(d2[np.arange(len(embs)), which], 0)), which


def _stats(d) -> dict:
    import numpy as np

    return {"n": int(len(d)), "min": round(float(d.min()), 3), "p01": round(float(np.percentile(d, 1)), 3),
            "p05": round(float(np.percentile(d, 5)), 3), "median": round(float(np.median(d)), 3),
            "below_0.6": int((d < 0.6).sum()), "below_0.5": int((d < 0.5).sum()),
            "below_0.4": int((d < 0.4).sum())}


def _auc(larger, smaller) -> float:
    """P(a random ``larger`` value exceeds a random ``smaller`` one), ties counting half."""
    import numpy as np

    a, b = np.asarray(larger)[:, None], np.asarray(smaller)[None, :]
    return round(float((a > b).mean() + 0.5 * (a == b).mean()), 3)


def _sheet(sheets: dict, path: Path) -> None:
    import cv2
    import numpy as np

    rows = []
    for pairs in sheets.values():
        tiles = [np.concatenate([cv2.resize(g, (128, 128)), cv2.resize(t, (128, 128))], 0) for g, t, _ in pairs]
        rows.append(np.concatenate(tiles, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(rows, 0), cv2.COLOR_RGB2BGR))


def _table(report: dict) -> None:
    keys = ("n", "min", "p01", "p05", "median", "below_0.6", "below_0.5", "below_0.4")
    print("\n| faces | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for name in ("control_real_holdout", "generated_in_context", "generated_model_only",
                 "membership_members", "membership_non_members"):
        print(f"| {name} | " + " | ".join(str(report[name][k]) for k in keys) + " |")
    print(f"\nmembership AUC (members redrawn closer to their source than non-members): {report['membership_auc']}")


if __name__ == "__main__":
    sys.exit(main())
