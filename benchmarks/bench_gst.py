"""Overhead of the ``streamanon`` GStreamer element over the same work in ``streamanon run``.

"The work" is the Anonymizer's calls for each frame (analyze: detect, track; the lookahead;
render: crop, cover, compose), the same objects ``streamanon run`` drives. Measured:

- ``element``: wall time per frame of ``filesrc ! rawvideoparse ! streamanon ! fakesink`` over
  the clip's frames decoded beforehand to raw RGB or I420 (first buffer at the element to
  EOS), minus the same pipeline with ``identity`` in place of ``streamanon`` (``baseline``).
  That is everything the element costs, with no decoder competing for the CPU.
- ``work``: the time the element spent inside the Anonymizer calls (its ``stats`` property),
  same process, same moment, same contention.
- ``overhead = (element - work) / work``: what the GStreamer shell adds (RGB conversion,
  copies, metas, PyGObject vfunc calls, buffer plumbing). Target: under 10 %. The shell's
  own vfunc-internal part is listed too (``shell``: element vfunc time minus work).
- For reference, ``run``: the same work per frame in ``streamanon run`` (its report's stage
  clocks: detect, track, crop, generate, compose) and its frames per second.

Runs are interleaved and repeated; medians are reported (the machine may be shared).

    .venv/bin/python benchmarks/bench_gst.py [--clip FILE] [--frames 48] [--repeats 3] [--formats RGB,I420]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamanon.config import load_config  # noqa: E402
from streamanon.gst import environment  # noqa: E402

DRIVER = textwrap.dedent('''
    import json, sys, time
    import gi
    gi.require_version("Gst", "1.0")
    from gi.repository import Gst
    Gst.init(None)
    pipeline = Gst.parse_launch(sys.argv[1])
    marks = {"first": None, "frames": 0}
    def on_buffer(pad, info):
        if marks["first"] is None:
            marks["first"] = time.perf_counter()
        marks["frames"] += 1
        return Gst.PadProbeReturn.OK
    pipeline.get_by_name("work").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, on_buffer)
    pipeline.set_state(Gst.State.PLAYING)
    msg = pipeline.get_bus().timed_pop_filtered(600 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    end = time.perf_counter()
    if msg is None or msg.type != Gst.MessageType.EOS:
        print("ERROR " + (msg.parse_error()[0].message if msg else "timeout")); sys.exit(1)
    element = pipeline.get_by_name("work")
    stats = json.loads(element.get_property("stats")) if element.get_factory().get_name() == "streamanon" else None
    pipeline.set_state(Gst.State.NULL)
    print("RESULT " + json.dumps({"seconds": end - marks["first"], "frames": marks["frames"], "stats": stats}))
''')


def run_gst(env: dict[str, str], driver: Path, pipeline: str) -> dict:
    result = subprocess.run(["/usr/bin/python3", str(driver), pipeline], env=env, capture_output=True,
                            text=True, timeout=900)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    if result.returncode != 0 or not lines:
        raise SystemExit(f"gst run failed: {pipeline}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return json.loads(lines[-1][7:])


def time_run(clip: Path, out: Path, config) -> dict:
    """``streamanon run`` on the clip: work per frame from its stage clocks, and its fps."""
    from streamanon.api import anonymize_file

    report = anonymize_file(clip, out, config, overwrite=True)
    stages = ("detect", "track", "crop", "generate", "compose")
    work = sum(report["stage_seconds"].get(k, 0.0) for k in stages) / report["frames_out"]
    return {"work": work, "fps": report["fps"], "frames": report["frames_out"]}


def clip_geometry(clip: Path) -> tuple[int, int, int]:
    """Width, height and (rounded) frame rate of the clip."""
    from streamanon.io import VideoReader

    with VideoReader(clip) as reader:
        return reader.info.width, reader.info.height, round(float(reader.info.fps))


def clip_is_short(clip: Path, frames: int) -> bool:
    """``streamanon run`` always does the whole clip: compare with it only when that is ``frames``."""
    from streamanon.io import VideoReader

    with VideoReader(clip) as reader:
        return sum(1 for _ in reader.frames()) == frames


def decode(clip: Path, limit: int) -> list:
    from streamanon.io import VideoReader

    out = []
    with VideoReader(clip) as reader:
        for frame in reader.frames():
            out.append(frame)
            if len(out) == limit:
                break
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, help="input video (default: the demo clip, 640x360)")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mode", default="blur")
    parser.add_argument("--formats", default="RGB,I420", help="raw formats fed to the element (RGB, I420, NV12)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "bench_gst.json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clip = args.clip
        if clip is None:
            from streamanon.demo import make_demo_clip

            clip = make_demo_clip(tmp / "demo.mp4", frames=args.frames, size=(640, 360), fps=25)
        n = len(decode(clip, args.frames))
        config = load_config(overrides={"anonymizer.mode": args.mode})
        env = dict(os.environ)
        env.update(environment(os.environ))
        env.update({"GST_REGISTRY": str(tmp / "registry.bin"), "GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "3"})
        driver = tmp / "driver.py"
        driver.write_text(DRIVER)
        formats = args.formats.split(",")
        raw = {}
        for fmt in formats:  # decode once: the element runs on raw frames from a file
            raw[fmt] = tmp / f"frames.{fmt.lower()}"
            subprocess.run(["gst-launch-1.0", "-q", "filesrc", f"location={clip}", "!", "decodebin", "!",
                            "identity", f"eos-after={n}", "!", "videoconvert", "!", f"video/x-raw,format={fmt}",
                            "!", "filesink", f"location={raw[fmt]}"], env=env, check=True, timeout=600)
        width, height, fps = clip_geometry(clip)
        if width % 4 or height % 2:
            raise SystemExit(f"{clip}: {width}x{height}: the raw-file pipelines need a width divisible by 4 "
                             "and an even height (no row padding)")
        frame_bytes = {"RGB": width * height * 3, "I420": width * height * 3 // 2, "NV12": width * height * 3 // 2}
        runs: dict[str, list] = {"run": []}
        for fmt in formats:
            runs[f"element_{fmt}"], runs[f"baseline_{fmt}"] = [], []
        for repeat in range(args.repeats):
            if clip_is_short(clip, n):
                runs["run"].append(time_run(clip, tmp / "run.mp4", config))
            for fmt in formats:
                head = (f"filesrc location={raw[fmt]} blocksize={frame_bytes[fmt]} ! rawvideoparse format={fmt.lower()} "
                        f"width={width} height={height} framerate={fps}/1")
                base = run_gst(env, driver, f"{head} ! identity name=work ! fakesink")
                elem = run_gst(env, driver, f"{head} ! streamanon name=work mode={args.mode} ! fakesink")
                runs[f"baseline_{fmt}"].append(base["seconds"] / base["frames"])
                runs[f"element_{fmt}"].append({"per_frame": elem["seconds"] / elem["frames"], "frames": elem["frames"],
                                               "stats": elem["stats"]})
            print(f"repeat {repeat + 1}/{args.repeats} done", file=sys.stderr)

    rows = []
    for fmt in formats:
        elem_runs = runs[f"element_{fmt}"]
        base = statistics.median(runs[f"baseline_{fmt}"])
        element = statistics.median(r["per_frame"] for r in elem_runs) - base
        work = statistics.median(r["stats"]["process_seconds"] / r["stats"]["frames"] for r in elem_runs)
        shell = statistics.median((r["stats"]["element_seconds"] - r["stats"]["process_seconds"]) / r["stats"]["frames"]
                                  for r in elem_runs)
        rows.append({"format": fmt, "element_ms": 1e3 * element, "work_ms": 1e3 * work,
                     "overhead_ms": 1e3 * (element - work), "overhead_pct": 100 * (element - work) / work,
                     "shell_ms": 1e3 * shell, "shell_pct": 100 * shell / work, "baseline_ms": 1e3 * base})
    run_work = statistics.median(r["work"] for r in runs["run"]) if runs["run"] else None
    run_fps = statistics.median(r["fps"] for r in runs["run"]) if runs["run"] else None
    print(f"{'format':7s} {'element ms':>10s} {'work ms':>8s} {'overhead':>9s} {'shell ms':>9s} {'shell':>7s} "
          f"{'base ms':>9s}")
    for r in rows:
        print(f"{r['format']:7s} {r['element_ms']:10.1f} {r['work_ms']:8.1f} {r['overhead_pct']:8.1f}% "
              f"{r['shell_ms']:9.2f} {r['shell_pct']:6.1f}% {r['baseline_ms']:9.1f}")
    if run_work is not None:
        print(f"streamanon run: work {1e3 * run_work:.1f} ms/frame (stage clocks), {run_fps:.1f} fps end to end")
    result = {"clip": str(args.clip or "demo 640x360"), "frames": n, "repeats": args.repeats, "mode": args.mode,
              "lookahead": getattr(config.runtime, "lookahead", 0),
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "load_avg": os.getloadavg()}, "target_overhead_pct": 10.0, "rows": rows,
              "run_work_ms": None if run_work is None else 1e3 * run_work, "run_fps": run_fps, "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
