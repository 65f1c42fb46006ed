"""What the anonymization degree alone does to pose and expression: the mesh before any drawing.

    python benchmarks/degree_geometry.py ../shared/data/videos/talking_d6.mp4 --alphas 0 1 2

For every ``--stride``-th frame of each clip, the largest face the pipeline's detector meshes
is moved by ``ShapeModel.anonymize`` at each degree (the packaged shape model, seed fixed per
frame), and the moved mesh is compared with the original one the way the eval compares faces:
head pose from ``cv2.solvePnP`` of the same six points (nose tip, chin, outer eye corners,
mouth corners; ``streamanon.evaluation.utility.head_pose``), mouth and eye openness
(correlation and slope over the clip), and how far the identity moved (identity coefficients
of the moved mesh minus the original's, in population standard deviations). No generator
runs: this is the floor the eval's pose and expression figures cannot go below at that degree.
``--shape both`` compares, with one seed per clip (a track), each frame's own identity with
the pipeline's video rule (past the mean by the track's running mean of the identity), and every row gives how much the moved
mesh's identity varies over the clip ("id spread"). Prints a table, writes JSON to
``benchmarks/results/degree_geometry.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

POSE_POINTS = (1, 152, 33, 263, 61, 291)
"""Mesh points standing for dlib's 30, 8, 36, 45, 48, 54 (the eval's pose landmarks)."""


def clip_meshes(path: str, stride: int, limit: int) -> tuple[list[np.ndarray], int, int]:
    """The largest meshed face of every ``stride``-th frame (at most ``limit``), frame size."""
    import av

    from streamanon.config import DetectorConfig
    from streamanon.detect import FaceDetector

    detector = FaceDetector(DetectorConfig())
    meshes, size = [], (0, 0)
    with av.open(path) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % stride:
                continue
            image = frame.to_ndarray(format="rgb24")
            size = image.shape[1], image.shape[0]
            found = [d for d in detector.detect(image) if d.landmarks is not None]
            if found:
                meshes.append(max(found, key=lambda d: d.size).landmarks[:, :2].astype(np.float32))
            if len(meshes) >= limit:
                break
    return meshes, size[0], size[1]


def measure(meshes: list[np.ndarray], width: int, height: int, alpha: float, shape,
            track_mean: bool = False, one_seed: bool = False, outline: float = 1.0) -> dict:
    """``track_mean``: as the pipeline does on video, move past the mean by the running mean of
    the identity over the clip's meshes so far instead of each frame's own; ``one_seed``: one
    seed for the clip (a track) rather than a new one per frame; ``outline``:
    ``anonymizer.degree_outline``."""
    from streamanon.evaluation.utility import angle_difference, head_pose
    from streamanon.synthetic import degree

    errors, opens, moved_by, drawn_ids = [], [], [], []
    mean = None
    for k, lm in enumerate(meshes):
        if track_mean:
            own = shape.identity_of(lm)
            mean = own if mean is None else mean + (own - mean) / (k + 1)
        seed = 1000 if one_seed else 1000 + k
        moved = shape.anonymize(lm, alpha, seed=seed, identity_track=mean if track_mean else None,
                                outline=outline)
        po = head_pose(lm[list(POSE_POINTS)], width, height)
        pa = head_pose(moved[list(POSE_POINTS)], width, height)
        if po is not None and pa is not None:
            errors.append([angle_difference(a, b) for a, b in zip(po, pa)])
        opens.append((degree.mouth_openness(lm), degree.mouth_openness(moved),
                      degree.eye_openness(lm), degree.eye_openness(moved)))
        before = shape.identity_coefficients(degree.normalise(lm, shape.template))
        after = shape.identity_coefficients(degree.normalise(moved, shape.template))
        moved_by.append(float(np.linalg.norm((after - before) / shape.sigma)))
        drawn_ids.append(after / shape.sigma)
    err = np.array(errors) if errors else np.full((1, 3), np.nan)
    o = np.array(opens)

    def fit(a: np.ndarray, b: np.ndarray) -> tuple[float | None, float | None]:
        if len(a) < 3 or a.std() < 1e-6 or b.std() < 1e-6:
            return None, None
        return float(np.corrcoef(a, b)[0, 1]), float(np.polyfit(a, b, 1)[0])

    (mouth_r, mouth_k), (eye_r, eye_k) = fit(o[:, 0], o[:, 1]), fit(o[:, 2], o[:, 3])
    return {"alpha": alpha, "outline": outline, "faces": len(meshes), "pose_error_deg": float(err.mean()),
            "yaw_pitch_roll_deg": err.mean(0).round(2).tolist(), "mouth_r": mouth_r, "mouth_slope": mouth_k,
            "eye_r": eye_r, "eye_slope": eye_k, "identity_move_sd": float(np.mean(moved_by)),
            "shape": "track" if track_mean else "frame",
            "drawn_identity_spread_sd": float(np.std(drawn_ids, axis=0).mean())}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="+")
    ap.add_argument("--alphas", nargs="+", type=float, default=[0.0, 1.0, 2.0])
    ap.add_argument("--stride", type=int, default=5)
    ap.add_argument("--max-faces", type=int, default=120)
    ap.add_argument("--shape", choices=["frame", "track", "both"], default="frame",
                    help="move past the mean by each frame's identity (a seed per frame) or by the "
                         "track's running mean (one seed, as the pipeline on video)")
    ap.add_argument("--outlines", nargs="+", type=float, default=[1.0],
                    help="anonymizer.degree_outline values (share of the move on the face oval)")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "degree_geometry.json"))
    args = ap.parse_args()

    from streamanon.synthetic.weights import load_weights

    shape = load_weights().shape
    rows = []
    for clip in args.clips:
        meshes, width, height = clip_meshes(clip, args.stride, args.max_faces)
        if len(meshes) < 3:
            rows.append({"clip": Path(clip).stem, "faces": len(meshes), "error": "fewer than 3 meshed faces"})
            continue
        modes = [False, True] if args.shape == "both" else [args.shape == "track"]
        for alpha in args.alphas:
            for outline in args.outlines:
                for track_mean in modes:
                    rows.append({"clip": Path(clip).stem, **measure(meshes, width, height, alpha, shape, track_mean,
                                                                     one_seed=args.shape != "frame", outline=outline)})

    def f(v, p=2):
        return "-" if v is None else f"{v:.{p}f}"

    print(f"{'clip':<20} {'alpha':>5} {'outl':>4} {'shape':>5} {'faces':>5} {'pose err':>8} {'yaw/pitch/roll':>18} "
          f"{'mouth r/k':>11} {'eye r/k':>11} {'id move (sd)':>12} {'id spread (sd)':>14}")
    for r in rows:
        if "error" in r:
            print(f"{r['clip']:<20} {r['error']}")
            continue
        ypr = "/".join(f"{v:.1f}" for v in r["yaw_pitch_roll_deg"])
        print(f"{r['clip'][:20]:<20} {r['alpha']:>5.1f} {r['outline']:>4.1f} {r['shape']:>5} {r['faces']:>5} {r['pose_error_deg']:>8.2f} "
              f"{ypr:>18} {f(r['mouth_r']) + '/' + f(r['mouth_slope']):>11} "
              f"{f(r['eye_r']) + '/' + f(r['eye_slope']):>11} {r['identity_move_sd']:>12.2f} "
              f"{r['drawn_identity_spread_sd']:>14.2f}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"rows": rows, "stride": args.stride}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
