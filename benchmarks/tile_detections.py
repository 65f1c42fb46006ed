"""Tile detections no whole-frame pass confirms: real faces or not, by size.

    python benchmarks/tile_detections.py ../shared/data/videos/*.mp4
    python benchmarks/tile_detections.py CLIP.mp4 --stride 2 --no-centerface

The detector runs MediaPipe's full-range model on tiles so that faces too small for the
whole frame are found. This script runs it on *every* tile of every ``--stride``-th frame and,
for each tile detection, asks whether a whole-frame pass (short range, full range, and
CenterFace unless ``--no-centerface``; score 0.5) found a face there (IoU > 0.3), and whether
YuNet (the eval's independent detector, at ``--yunet-score``) does. Detections are grouped by
their size at the whole-frame full-range model's input (192 px on the frame's long side),
the measure ``streamanon.detect.TILE_FACE_MAX`` cuts at: with
``detector.tiles_start_small_faces_only``, an unconfirmed tile detection from that size up
needs the face mesh's confirmation to start a track. The table shows, per size, the
unconfirmed ones, those YuNet calls faces, and of each how many the mesh confirms: from
``TILE_FACE_MAX`` up, unconfirmed YuNet faces without a mesh are real faces the rule drops
(unless a track already expects them there). Writes JSON to
``benchmarks/results/tile_detections.json``.
Needs ``../shared/models`` (YuNet).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BINS = (5.0, 10.0, 14.0, 20.0, 30.0)


def _bin(size: float) -> str:
    lower = max([0.0, *(b for b in BINS if size >= b)])
    upper = min([b for b in BINS if size < b], default=None)
    return f"{lower:g}-{upper:g}" if upper is not None else f">={lower:g}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="+")
    ap.add_argument("--stride", type=int, default=4, help="every Nth frame (default 4)")
    ap.add_argument("--no-centerface", action="store_true", help="whole-frame passes without CenterFace")
    ap.add_argument("--yunet-score", type=float, default=0.3)
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "tile_detections.json"))
    args = ap.parse_args()

    import av
    import numpy as np

    from streamanon.config import DetectorConfig
    from streamanon.detect import FULL_RANGE_INPUT, TILE_FACE_MAX, FaceDetector, _run_detector, _tiles
    from streamanon.evaluation.faces import create_detector
    from streamanon.geometry import box_iou

    config = DetectorConfig(centerface_every=0 if args.no_centerface else 1, mesh=True)
    detector = FaceDetector(config)
    yunet = create_detector("yunet", score=args.yunet_score)
    rows = []
    for clip in args.clips:
        name = Path(clip).stem
        with av.open(clip) as container:
            for index, frame in enumerate(container.decode(video=0)):
                if index % args.stride:
                    continue
                image = frame.to_ndarray(format="rgb24")
                h, w = image.shape[:2]
                whole = [r.box for r in _run_detector(detector._short, image, 0, 0, config.min_score)]
                whole += [r.box for r in _run_detector(detector._full, image, 0, 0, config.min_score)]
                if detector._centerface is not None:
                    whole += [box for box, _, _ in detector._centerface.detect(image)]
                seen = None
                for x0, y0, x1, y1 in _tiles(w, h, config.tile_size):
                    tile = np.ascontiguousarray(image[y0:y1, x0:x1])
                    for raw in _run_detector(detector._full, tile, x0, y0, config.min_score):
                        side = min(raw.box[2] - raw.box[0], raw.box[3] - raw.box[1])
                        if side < 24:  # no mesh below this: not what the question is about
                            continue
                        seen = yunet.detect(image) if seen is None else seen
                        confirmed = max((box_iou(raw.box, b) for b in whole), default=0.0) > 0.3
                        rows.append(dict(
                            clip=name, frame=index, side=round(side), score=round(raw.score, 2),
                            scaled=round(side * FULL_RANGE_INPUT / max(w, h), 1), whole=confirmed,
                            yunet=max((box_iou(raw.box, f.box) for f in seen), default=0.0) > 0.3,
                            mesh=not confirmed and detector._run_mesh(image, raw.box) is not None))
    detector.close()

    table: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        c = table[_bin(r["scaled"])]
        c["tile"] += 1
        c["whole"] += r["whole"]
        c["unconfirmed"] += not r["whole"]
        c["unconfirmed_yunet"] += r["yunet"] and not r["whole"]
        c["unconfirmed_mesh"] += r["mesh"]
        c["unconfirmed_yunet_mesh"] += r["yunet"] and r["mesh"]
    print(f"{len(args.clips)} clips, every {args.stride}th frame, all tiles; size at the whole-frame "
          f"full-range input ({FULL_RANGE_INPUT} px); the mesh must confirm from {TILE_FACE_MAX:g}")
    print(f"{'size px':>9} {'tile dets':>9} {'whole saw':>9} {'unconfirmed':>11} {'with mesh':>9} "
          f"{'YuNet':>6} {'YuNet+mesh':>10}")
    for key in sorted(table, key=lambda k: float(k.lstrip(">=").split("-")[0])):
        c = table[key]
        print(f"{key:>9} {c['tile']:>9} {c['whole']:>9} {c['unconfirmed']:>11} {c['unconfirmed_mesh']:>9} "
              f"{c['unconfirmed_yunet']:>6} {c['unconfirmed_yunet_mesh']:>10}")
    real = [r["scaled"] for r in rows if r["yunet"] and not r["whole"]]
    dropped = [r for r in rows if not r["whole"] and not r["mesh"] and r["scaled"] >= TILE_FACE_MAX]
    summary = {"largest_unconfirmed_real": max(real, default=None),
               "unconfirmed_false_dropped": sum(not r["yunet"] for r in dropped),
               "unconfirmed_real_dropped": sum(r["yunet"] for r in dropped)}
    print(summary)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"settings": vars(args), "tile_face_max": TILE_FACE_MAX, "summary": summary,
                               "table": {k: dict(v) for k, v in table.items()}, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
