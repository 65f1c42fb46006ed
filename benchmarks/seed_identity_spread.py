"""How much the drawn identity (the track's seed) decides whether dlib matches the new face to
the original, and whether a cheap pixel measure could predict it.

    python benchmarks/seed_identity_spread.py                # 12 seeds, four clips
    python benchmarks/seed_identity_spread.py --seeds 6 --clips dance_464x560

For sampled frames of real clips, the largest meshed face is replaced with each of N seeds
(everything else fixed) and composited; for each seed: the dlib distance between the new and
the original face (same box), and the correlation of their fine structure (high-pass grey,
inside the mask). Prints a table per frame (distance mean / min / max, share under 0.6, the
Spearman correlation of distance and structure) and writes
``benchmarks/results/seed_identity_spread.json``. Needs ../shared and the eval extra.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"
CLIPS = {"dance_464x560": range(0, 66, 8), "music_video_720p": range(120, 280, 20),
         "talking_vox": range(0, 160, 30), "talking_headpose": range(0, 120, 30)}


def structure(image, mask):
    """Fine structure inside the mask, zero mean and unit variance (grey, band-passed)."""
    import cv2
    import numpy as np

    g = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    s = max(1.0, float(np.sqrt(mask.sum())) / 24)
    band = cv2.GaussianBlur(g - cv2.GaussianBlur(g, (0, 0), 3 * s), (0, 0), 0.7 * s)
    v = band[mask > 0.5]
    return (v - v.mean()) / (v.std() + 1e-6)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=12)
    ap.add_argument("--clips", nargs="+", default=list(CLIPS))
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "seed_identity_spread.json"))
    args = ap.parse_args()

    import av
    import numpy as np
    from scipy.stats import spearmanr

    from streamanon.compose import compose
    from streamanon.config import AnonymizerConfig, DetectorConfig, MaskConfig
    from streamanon.crop import cut_faces
    from streamanon.detect import FaceDetector
    from streamanon.synthetic import create_synthetic_generator
    from streamanon.synthetic.evaluate import Tools
    from streamanon.types import Track

    tools = Tools(SHARED / "models" / "face_detection_yunet_2026may.onnx")
    gen = create_synthetic_generator(AnonymizerConfig(mode="synthetic", backend="onnx"))
    detector = FaceDetector(DetectorConfig())
    mask_config = replace(MaskConfig(), forehead=gen.max_forehead)  # as the pipeline does
    rows = []
    print(f"{'clip':18s} {'frame':>5s} {'dist mean':>9s} {'min':>6s} {'max':>6s} {'<0.6':>5s} {'rho':>6s}")
    for clip in args.clips:
        with av.open(str(SHARED / "data" / "videos" / f"{clip}.mp4")) as container:
            for index, frame in enumerate(container.decode(video=0)):
                if index not in CLIPS.get(clip, range(0, 100, 20)):
                    continue
                image = np.ascontiguousarray(frame.to_ndarray(format="rgb24"))
                meshed = [d for d in detector.detect(image) if d.landmarks is not None]
                if not meshed:
                    continue
                d = max(meshed, key=lambda d: d.size)
                box = tuple(float(v) for v in d.box)
                ref = tools.embed(image, box)
                dist, corr = [], []
                for k in range(args.seeds):
                    track = Track(track_id=0, box=d.box, seed=k * 7919 + 13, age=1, misses=0,
                                  landmarks=d.landmarks, keypoints=d.keypoints, score=d.score)
                    crop = cut_faces(image, [track], mask_config, cover=False)[0]
                    out = np.ascontiguousarray(compose(image, gen.generate([crop])))
                    dist.append(float(np.linalg.norm(tools.embed(out, box) - ref)))
                    x0, y0, x1, y1 = crop.box
                    corr.append(float((structure(image[y0:y1, x0:x1], crop.mask)
                                       * structure(out[y0:y1, x0:x1], crop.mask)).mean()))
                dist_a = np.array(dist)
                rho = float(spearmanr(dist, corr).correlation)
                row = {"clip": clip, "frame": index, "face_px": float(d.size), "distances": dist,
                       "structure_corr": corr, "under_0.6": float((dist_a < 0.6).mean()), "spearman": rho}
                rows.append(row)
                print(f"{clip:18s} {index:5d} {dist_a.mean():9.3f} {dist_a.min():6.3f} {dist_a.max():6.3f} "
                      f"{row['under_0.6']:5.2f} {rho:+6.2f}", flush=True)
    spread = [max(r["distances"]) - min(r["distances"]) for r in rows]
    summary = {"frames": len(rows), "seeds": args.seeds, "mean_spread": float(np.mean(spread)),
               "mean_spearman": float(np.mean([r["spearman"] for r in rows]))}
    print(json.dumps(summary))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"summary": summary, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
