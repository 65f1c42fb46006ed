"""End-to-end speed of `streamanon run` per mode on a 720p clip, against the I/O ceiling
(decode -> ndarray -> encode with the same encoder settings) and deface when installed.

    python benchmarks/bench_pipeline.py [--clip FILE] [--frames N] [--modes blur,solid,...]

Runs in this process with the thread-pool settings ``streamanon run`` sets
(``streamanon.cli.THREAD_ENVIRONMENT``; ``--no-thread-environment``: the libraries' own).
Prints a table and writes benchmarks/results/pipeline.json. The default clip is
../shared/data/videos/music_video_720p.mp4 (one face, 1280x720, 30 fps); without ../shared a
720p clip is generated from the demo face.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_CLIP = ROOT.parent / "shared" / "data" / "videos" / "music_video_720p.mp4"
DEFACE = ROOT / ".venv-deface" / "bin" / "deface"


def trimmed_clip(src: Path | None, frames: int, workdir: Path) -> Path:
    """The first ``frames`` frames of ``src`` (or of a generated 720p face clip), re-encoded."""
    import av

    from streamanon.demo import demo_frames

    out = workdir / "bench_720p.mp4"
    with av.open(str(out), "w") as dst:
        stream = dst.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        if src is not None:
            with av.open(str(src)) as s:
                images = [f.to_ndarray(format="rgb24") for _, f in zip(range(frames), s.decode(video=0))]
        else:
            images = demo_frames(frames, (1280, 720))
        for i, img in enumerate(images):
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts, f.time_base = i, Fraction(1, 30)
            dst.mux(stream.encode(f))
        dst.mux(stream.encode())
    return out


def io_ceiling(clip: Path, workdir: Path) -> dict:
    """Decode to RGB ndarray and encode again with the project's writer: no faces touched."""
    from streamanon.config import Config
    from streamanon.io import VideoReader, VideoWriter
    from streamanon.types import FrameRecord

    config = Config()
    start = time.perf_counter()
    with VideoReader(clip) as reader:
        with VideoWriter(workdir / "ceiling.mp4", reader.info, config.encoder, config.provenance,
                         config.digest(), "none", source_path=clip, overwrite=True) as writer:
            n = 0
            for frame in reader.frames():
                writer.write(frame, FrameRecord(frame.index, frame.pts, 0, 0, 0, "none"))
                n += 1
    wall = time.perf_counter() - start
    return {"name": "decode->ndarray->encode (ceiling)", "frames": n, "seconds": round(wall, 3), "fps": round(n / wall, 2)}


def run_mode(clip: Path, mode: str, workdir: Path, preset: Path | None = None) -> dict:
    from streamanon.api import anonymize_file
    from streamanon.config import load_config

    config = load_config(preset, overrides={"anonymizer.mode": mode, "identity.salt": "bench"})
    start = time.perf_counter()
    report = anonymize_file(clip, workdir / f"{mode}.mp4", config, overwrite=True)
    wall = time.perf_counter() - start
    name = f"streamanon run --mode {mode}" + (f" --config {preset.name}" if preset else "")
    return {"name": name, "frames": report["frames_out"], "seconds": round(wall, 3),
            "fps": round(report["frames_out"] / wall, 2), "stage_ms_per_frame": report["stage_ms_per_frame"],
            "fallback_total": report["fallback_total"]}


def run_deface(clip: Path, workdir: Path, scale: str | None) -> dict | None:
    if not DEFACE.exists():
        return None
    cmd = [str(DEFACE), str(clip), "-o", str(workdir / "deface.mp4")]
    if scale:
        cmd += ["--scale", scale]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        return {"name": "deface", "error": proc.stderr.strip().splitlines()[-1:]}
    import av

    with av.open(str(workdir / "deface.mp4")) as c:
        n = sum(1 for _ in c.decode(video=0))
    return {"name": f"deface{' --scale ' + scale if scale else ''}", "frames": n, "seconds": round(wall, 3),
            "fps": round(n / wall, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=SHARED_CLIP if SHARED_CLIP.exists() else None)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--modes", default="blur,pixelate,solid")
    parser.add_argument("--presets", default="configs/fast.yaml",
                        help="also run each mode with these config files (comma-separated; '' for none)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "pipeline.json")
    parser.add_argument("--no-deface", action="store_true")
    parser.add_argument("--no-thread-environment", action="store_true",
                        help="leave the thread pools as the libraries set them (as before the CLI set them)")
    args = parser.parse_args()
    os.environ.setdefault("GLOG_minloglevel", "2")
    sys.path.insert(0, str(ROOT))
    from streamanon.cli import THREAD_ENVIRONMENT, set_thread_environment  # neither numpy nor torch

    if not args.no_thread_environment:
        set_thread_environment()  # before numpy loads, as the CLI does
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        clip = trimmed_clip(args.clip, args.frames, workdir)
        rows = [io_ceiling(clip, workdir)]
        presets = [None] + [ROOT / p.strip() for p in args.presets.split(",") if p.strip()]
        for preset in presets:
            for mode in args.modes.split(","):
                rows.append(run_mode(clip, mode.strip(), workdir, preset))
        if not args.no_deface:
            for scale in (None, "640x360"):
                row = run_deface(clip, workdir, scale)
                if row:
                    rows.append(row)
    result = {"clip": str(args.clip or "generated demo face 1280x720"), "frames": args.frames,
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
              "thread_environment": {name: os.environ.get(name) for name in THREAD_ENVIRONMENT},
              "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"clip: {result['clip']} ({args.frames} frames, 1280x720); threads: {result['thread_environment']}")
    print(f"{'what':<58} {'fps':>8} {'seconds':>9}")
    for r in rows:
        print(f"{r['name']:<58} {r.get('fps', float('nan')):>8} {r.get('seconds', float('nan')):>9}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
