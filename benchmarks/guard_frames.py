"""How well the identity guard's judging frames predict a candidate's whole clip (guard_frames).

    python benchmarks/guard_frames.py ../shared/data/videos/talking_d10.mp4 --salt s6
    python benchmarks/guard_frames.py CLIP.mp4 --salt s6 --stride 10

Runs the default synthetic pipeline over the clip (no lookahead, no timing). Every
``--stride``-th frame, and at frames 0, 6 and 12 of each track, it draws all
``anonymizer.guard_candidates`` candidates of each drawn face (the track's own seed's
candidates, the track's conditions of that frame, no temporal smoothing), embeds each drawn
face and the person (dlib, mesh box, as the guard does) and keeps the embeddings. Then, per
track and candidate: the mean dlib distance from the person over the clip, the share of frames
under the identity check's 0.62, and the eval's re-ID attack (the nearest of the person's
sampled views against the nearest of the eval's 200 UTKFace distractors, from ../shared); and
which candidate the guard picks judged on frame 0 only, on frames 0, 6 and 12 (what
``guard_frames: 3`` sees with the default lookahead of 12), and on every sample in the first
20 frames. Prints a table and writes JSON (``benchmarks/results/guard_frames.json``).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RULES = {"first frame": (0,), "frames 0, 6, 12": (0, 6, 12), "first 20 frames": tuple(range(21))}


def probe(clip: str, salt: str, stride: int) -> list[dict]:
    from streamanon.config import load_config
    from streamanon.io import VideoReader
    from streamanon.pipeline import Anonymizer
    from streamanon.synthetic.identity_check import drawn_embedding, face_rect
    from streamanon.synthetic.identity_guard import candidate_seeds

    rows: list[dict] = []
    born: dict[int, int] = {}
    with VideoReader(clip) as reader:
        an = Anonymizer(load_config(overrides={"identity.salt": salt}), rotation=reader.info.rotation)
        guard, choose = an.guard, an.guard.choose
        index = {"frame": 0}

        def probing_choose(crops, later=None):
            i = index["frame"]
            for c in crops:
                if not guard._drawable(c):
                    continue
                first = born.setdefault(c.track_id, i)
                if i % stride and i - first not in (0, 6, 12):
                    continue
                seeds = candidate_seeds(c.seed, guard.candidates)
                patches = guard.generator.generate([replace(c, seed=s) for s in seeds])
                rows.append({"frame": i, "age": i - first, "track": c.track_id,
                             "person": guard.embedder.embed(c.image, face_rect(c)),
                             "drawn": np.stack([drawn_embedding(guard.embedder, c, p) for p in patches])})
            return choose(crops, later)

        guard.choose = probing_choose
        for frame in reader.frames():
            an.process(frame)
            index["frame"] += 1
        an.close()
    return rows


def judge(rows: list[dict], distractors: np.ndarray, limit: float) -> list[dict]:
    from streamanon.evaluation.privacy import pairwise

    out = []
    for track in sorted({r["track"] for r in rows}):
        mine = [r for r in rows if r["track"] == track]
        if len(mine) < 5:
            continue
        views = np.stack([r["person"] for r in mine])
        drawn = np.stack([r["drawn"] for r in mine])  # samples x candidates x 128
        own = np.linalg.norm(drawn - views[:, None], axis=2)
        reid = [float(np.mean(pairwise(drawn[:, k], views).min(1) < pairwise(drawn[:, k], distractors).min(1)))
                for k in range(drawn.shape[1])]
        picks = {}
        for name, ages in RULES.items():
            judged = [j for j, r in enumerate(mine) if r["age"] in ages]
            if judged:
                picks[name] = int(np.argmax(own[judged].mean(0)))
        out.append({"track": track, "samples": len(mine), "mean_distance": own.mean(0).round(4).tolist(),
                    "under_limit": (own < limit).mean(0).round(4).tolist(), "reid": reid, "picks": picks})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip")
    ap.add_argument("--salt", default="s6")
    ap.add_argument("--stride", type=int, default=5)
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "guard_frames.json"))
    args = ap.parse_args()

    from streamanon.evaluation.evaluate import Evaluator, EvalSettings

    distractors = Evaluator(EvalSettings()).distractors["emb"]
    if distractors is None:
        ap.error("the eval's distractor faces (../shared/data/faces) are needed")
    tracks = judge(probe(args.clip, args.salt, args.stride), distractors, 0.62)
    for t in tracks:
        print(f"track {t['track']} ({t['samples']} samples)")
        print("  candidate     " + " ".join(f"{k:>5d}" for k in range(len(t["reid"]))))
        for key, label in (("mean_distance", "mean distance"), ("under_limit", "under 0.62  "), ("reid", "re-ID       ")):
            print(f"  {label}  " + " ".join(f"{v:5.2f}" for v in t[key]))
        for name, k in t["picks"].items():
            print(f"  {name:>16s}: candidate {k}: mean distance {t['mean_distance'][k]:.3f}, re-ID {t['reid'][k]:.2f}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"clip": args.clip, "salt": args.salt, "stride": args.stride,
                                           "tracks": tracks}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
