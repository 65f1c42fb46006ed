"""The ``streamanon`` and ``streamanonsei`` GStreamer elements in real gst-launch pipelines.

Every test runs GStreamer in a subprocess with the environment ``streamanon gst-path`` gives
and a private registry file (no shared ~/.cache/gstreamer-1.0). Skipped with a reason where
GStreamer, its python loader or a matching system Python is absent (scripts/system-deps.sh
installs them; .ci/run runs it).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conftest import shared_video
from streamanon.gst import environment

SIZE = (480, 270)
FRAMES = 12
FORMATS = ("RGB", "BGR", "RGBA", "BGRx", "I420", "NV12")
QUIET = {"GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "3"}


@pytest.fixture(scope="session")
def gst_env(tmp_path_factory) -> dict[str, str]:
    """Environment for gst-launch-1.0 with both elements loadable (or skip with the reason)."""
    for tool in ("gst-launch-1.0", "gst-inspect-1.0"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (Debian gstreamer1.0-tools; run scripts/system-deps.sh)")
    env = dict(os.environ)
    env.update(environment(os.environ))
    env.update(QUIET)
    env["GST_REGISTRY"] = str(tmp_path_factory.mktemp("gst") / "registry.bin")
    loader = subprocess.run(["gst-inspect-1.0", "python"], env=env, capture_output=True, text=True, timeout=120)
    if loader.returncode != 0:
        pytest.skip("GStreamer python plugin loader missing (Debian gstreamer1.0-python3-plugin-loader)")
    system = subprocess.run(["/usr/bin/python3", "-c", "import sys; print(*sys.version_info[:2])"],
                            capture_output=True, text=True)
    if system.returncode != 0 or tuple(map(int, system.stdout.split())) != sys.version_info[:2]:
        pytest.skip(f"the loader's Python ({system.stdout.strip() or 'none'}) is not this venv's "
                    f"{sys.version_info[0]}.{sys.version_info[1]}: the venv cannot be on its PYTHONPATH")
    for element in ("streamanon", "streamanonsei"):
        found = subprocess.run(["gst-inspect-1.0", element], env=env, capture_output=True, text=True, timeout=120)
        assert found.returncode == 0, f"{element} does not load:\n{found.stderr[-3000:]}"
    return env


def launch(env: dict[str, str], pipeline: str, timeout: int = 240) -> subprocess.CompletedProcess:
    result = subprocess.run(["gst-launch-1.0", "-q", *shlex.split(pipeline)], env=env, capture_output=True,
                            text=True, timeout=timeout)
    return result


def launch_ok(env: dict[str, str], pipeline: str) -> None:
    result = launch(env, pipeline)
    assert result.returncode == 0 and "ERROR" not in result.stdout, \
        f"gst-launch failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"


def raw_frames(path: Path, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    data = np.fromfile(path, dtype=np.uint8)
    assert data.size % (w * h * 3) == 0, f"{path.name}: {data.size} bytes is not whole {w}x{h} RGB frames"
    return data.reshape(-1, h, w, 3)


@pytest.fixture(scope="module")
def astronaut_clip(tmp_path_factory) -> Path:
    """12 frames (480x270, 25 fps) of the astronaut portrait drifting slowly: one real face."""
    from media import make_clip
    from streamanon.demo import demo_frames

    frames = demo_frames(4 * FRAMES, SIZE)[:FRAMES]  # the first quarter of the demo's drift
    return make_clip(tmp_path_factory.mktemp("gstclip") / "face.mp4", frames=FRAMES, size=SIZE, fps=25,
                     audio=False, image_fn=lambda i: frames[i])


@pytest.fixture(scope="module")
def face_boxes(astronaut_clip) -> list[tuple[float, float, float, float] | None]:
    """The face box in each frame of the clip (MediaPipe on the decoded input)."""
    import av

    from streamanon.config import DetectorConfig
    from streamanon.detect import FaceDetector

    detector = FaceDetector(DetectorConfig())
    boxes = []
    with av.open(str(astronaut_clip)) as container:
        for frame in container.decode(video=0):
            found = detector.detect(frame.to_ndarray(format="rgb24"))
            boxes.append(max(found, key=lambda d: d.score).box if found else None)
    detector.close()
    assert sum(b is not None for b in boxes) >= FRAMES - 2, f"the input has a face in most frames: {boxes}"
    return boxes


def _decode_to_rgb(src: Path, fmt: str, middle: str, out: Path) -> str:
    return (f"filesrc location={src} ! decodebin ! videoconvert ! video/x-raw,format={fmt} ! {middle} ! "
            f"videoconvert ! video/x-raw,format=RGB ! filesink location={out}")


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_raw_format_leaves_with_the_face_covered_and_the_rest_untouched(gst_env, astronaut_clip,
                                                                               face_boxes, tmp_path, fmt):
    ref, out = tmp_path / "ref.rgb", tmp_path / "out.rgb"
    launch_ok(gst_env, _decode_to_rgb(astronaut_clip, fmt, "identity", ref))
    launch_ok(gst_env, _decode_to_rgb(astronaut_clip, fmt, "streamanon mode=solid fallback=solid", out))
    before, after = raw_frames(ref, SIZE), raw_frames(out, SIZE)
    assert len(after) == len(before) == FRAMES, "one output frame per input frame"
    for i, box in enumerate(face_boxes):
        if box is None:
            continue
        x0, y0, x1, y1 = (int(v) for v in box)
        w, h = x1 - x0, y1 - y0
        core = after[i, y0 + h // 5:y1 - h // 5, x0 + w // 5:x1 - w // 5].astype(int)
        black = (core.max(axis=2) < 40).mean()
        assert black > 0.9, f"{fmt} frame {i}: only {black:.0%} of the face core is covered"
        far = np.ones(after.shape[1:3], bool)
        far[max(0, y0 - 2 * h):y1 + 2 * h, max(0, x0 - 2 * w):x1 + 2 * w] = False
        assert far.any() and np.array_equal(after[i][far], before[i][far]), \
            f"{fmt} frame {i}: pixels far from the face changed"


def test_independent_detector_finds_no_face_in_the_output(gst_env, astronaut_clip, tmp_path, yunet):
    ref, out = tmp_path / "ref.rgb", tmp_path / "out.rgb"
    launch_ok(gst_env, _decode_to_rgb(astronaut_clip, "I420", "identity", ref))
    launch_ok(gst_env, _decode_to_rgb(astronaut_clip, "I420", "streamanon mode=blur", out))
    before, after = raw_frames(ref, SIZE), raw_frames(out, SIZE)
    assert sum(bool(yunet(f)) for f in before) >= FRAMES - 1, "YuNet sees the astronaut in the input"
    leaks = [i for i, f in enumerate(after) if yunet(f)]
    assert leaks == [], f"YuNet still finds a face in output frames {leaks}"


@pytest.mark.shared
def test_real_clip_through_decodebin(gst_env, tmp_path, yunet):
    clip = shared_video("talking_d0.mp4")  # 512x512 H.264, one talking person
    ref, out = tmp_path / "ref.rgb", tmp_path / "out.rgb"
    head = f"filesrc location={clip} ! decodebin ! identity eos-after=15"
    tail = "videoconvert ! video/x-raw,format=RGB"
    launch_ok(gst_env, f"{head} ! {tail} ! filesink location={ref}")
    launch_ok(gst_env, f"{head} ! videoconvert ! streamanon mode=solid fallback=solid ! {tail} ! filesink location={out}")
    before, after = raw_frames(ref, (512, 512)), raw_frames(out, (512, 512))
    assert len(after) >= 15 and len(before) >= 15  # eos-after lets frames already in flight through
    before, after = before[:15], after[:15]
    seen = [i for i, f in enumerate(before) if yunet(f)]
    assert len(seen) >= 12, f"YuNet sees the speaker in the input (frames {seen})"
    leaks = [i for i in seen if yunet(after[i])]
    assert leaks == [], f"YuNet still finds the face in output frames {leaks}"


DRIVER = textwrap.dedent('''
    import json, sys, hashlib
    import gi
    gi.require_version("Gst", "1.0")
    from gi.repository import Gst
    Gst.init(None)
    pipeline = Gst.parse_launch(sys.argv[1])
    from streamanon.gst.meta import read_custom_payload, read_payloads
    seen = {"before": [], "after": [], "caps": {}}
    def probe(name):
        def on_buffer(pad, info):
            buf = info.get_buffer()
            with buf.map(Gst.MapFlags.READ) as m:
                digest = hashlib.sha1(bytes(m.data)).hexdigest()
            seen[name].append({"pts": buf.pts, "duration": buf.duration, "sha1": digest,
                               "sei": read_payloads(buf), "custom": read_custom_payload(buf)})
            seen["caps"][name] = pad.get_current_caps().to_string()
            return Gst.PadProbeReturn.OK
        return on_buffer
    for name in ("before", "after"):
        pipeline.get_by_name(name).get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, probe(name))
    def query_latency(pad, info):  # once, when the first buffer leaves the element
        if "latency" not in seen:
            for key, name, pad_name in (("latency", "sink", "sink"), ("upstream_latency", "anon", "sink")):
                query = Gst.Query.new_latency()
                pipeline.get_by_name(name).get_static_pad(pad_name).peer_query(query)
                seen[key] = list(query.parse_latency())
        return Gst.PadProbeReturn.OK
    pipeline.get_by_name("after").get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, query_latency)
    pipeline.set_state(Gst.State.PLAYING)
    msg = pipeline.get_bus().timed_pop_filtered(120 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    seen["end"] = msg.type.first_value_nick if msg else "timeout"
    if msg and msg.type == Gst.MessageType.ERROR:
        seen["error"] = msg.parse_error()[0].message
    seen["stats"] = json.loads(pipeline.get_by_name("anon").get_property("stats"))
    sink_stats = pipeline.get_by_name("sink").get_property("stats")
    seen["sink"] = {k: sink_stats.get_value(k) for k in ("rendered", "dropped")}
    pipeline.set_state(Gst.State.NULL)
    print("RESULT " + json.dumps(seen))
''')


def run_driver(env: dict[str, str], tmp_path: Path, pipeline: str) -> dict:
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    result = subprocess.run(["/usr/bin/python3", str(script), pipeline], env=env, capture_output=True,
                            text=True, timeout=240)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert result.returncode == 0 and lines, f"driver failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return json.loads(lines[-1][len("RESULT "):])


@pytest.mark.parametrize("fmt, width, height", [("NV12", 320, 240), ("BGRx", 320, 240),
                                                ("RGB", 166, 98), ("I420", 165, 99)])  # padded rows, odd size
def test_caps_timestamps_pass_through_and_every_buffer_carries_the_meta(gst_env, tmp_path, fmt, width, height):
    pipeline = (f"videotestsrc num-buffers=10 pattern=smpte ! video/x-raw,format={fmt},width={width},height={height},"
                f"framerate=25/1 ! identity name=before ! streamanon name=anon lookahead=3 salt=s3cret ! "
                f"identity name=after ! fakesink name=sink")
    seen = run_driver(gst_env, tmp_path, pipeline)
    assert seen["end"] == "eos", seen.get("error")
    before, after = seen["before"], seen["after"]
    assert len(after) == len(before) == 10
    assert seen["caps"]["after"] == seen["caps"]["before"], "caps pass through"
    assert [(b["pts"], b["duration"]) for b in after] == [(b["pts"], b["duration"]) for b in before]
    assert [b["pts"] for b in after] == [i * 40_000_000 for i in range(10)]
    assert [b["sha1"] for b in after] == [b["sha1"] for b in before], "no face: pixels untouched"
    for i, buf in enumerate(after):
        assert len(buf["sei"]) == 1, f"buffer {i}: one SEI meta"
        payload = buf["sei"][0]
        assert payload == buf["custom"], "the custom meta carries the same JSON"
        assert (payload["tool"], payload["frame"], payload["pts"], payload["tb"]) == \
            ("streamanon", i, i * 40_000_000, "1/1000000000")
        assert payload["faces"] == 0 and payload["mode"] == "synthetic" and "s3cret" not in json.dumps(payload)
    upstream, total = seen["upstream_latency"][1], seen["latency"][1]
    assert total - upstream == 3 * 40_000_000, "three held frames of 40 ms are added to the latency"
    assert seen["stats"]["frames"] == 10


def test_live_sink_gets_held_frames_on_time_because_the_hold_is_reported_as_latency(gst_env, tmp_path):
    # fakesink drops what comes more than 20 ms late; 4 held frames are 400 ms late unless the
    # latency query announced them (processing-latency: slack for the detector on a busy machine)
    pipeline = ("videotestsrc is-live=true num-buffers=10 pattern=smpte ! video/x-raw,format=I420,width=320,"
                "height=240,framerate=10/1 ! identity name=before ! streamanon name=anon lookahead=4 "
                "processing-latency=1000000000 ! identity name=after ! "
                "fakesink name=sink sync=true qos=true max-lateness=20000000")
    seen = run_driver(gst_env, tmp_path, pipeline)
    assert seen["end"] == "eos", seen.get("error")
    assert seen["latency"][0] is True, "live"
    assert seen["latency"][1] - seen["upstream_latency"][1] == 4 * 100_000_000 + 1_000_000_000
    assert seen["sink"] == {"rendered": 10, "dropped": 0}, "every held frame reached the sink in time"


@pytest.mark.parametrize("codec", ["h264", "h265"])
def test_sei_inserter_writes_the_meta_into_the_encoded_stream(gst_env, astronaut_clip, tmp_path, codec):
    import av

    from streamanon.provenance.verify import verify

    out = tmp_path / f"out_{codec}.mp4"
    encoder = "x264enc speed-preset=ultrafast" if codec == "h264" else "x265enc speed-preset=ultrafast"
    launch_ok(gst_env, f"filesrc location={astronaut_clip} ! decodebin ! videoconvert ! streamanon mode=pixelate ! "
                       f"videoconvert ! {encoder} ! streamanonsei require-meta=true ! {codec}parse ! mp4mux ! "
                       f"filesink location={out}")
    report = verify(out)
    assert report.frames == FRAMES and len(report.records) == FRAMES
    assert sorted(r["frame"] for r in report.records) == list(range(FRAMES))
    assert sum(r["faces"] for r in report.records) >= FRAMES - 2 and {r["mode"] for r in report.records} == {"pixelate"}
    sei_problems = [p for p in report.problems if not p.startswith("tag ")]
    assert sei_problems == [], "records match their frames' pts; one config digest"
    with av.open(str(out)) as container:  # the provenance tags travel as the comment
        comment = container.metadata.get("comment", "")
    assert "ai_modified=true" in comment and f"streamanon_config={report.config_digest}" in comment


def test_sei_inserter_refuses_unmarked_video_when_asked(gst_env, tmp_path):
    result = launch(gst_env, "videotestsrc num-buffers=3 ! video/x-raw,width=64,height=48 ! x264enc ! "
                             "streamanonsei require-meta=true ! fakesink")
    assert result.returncode != 0 and "carries no streamanon meta" in result.stdout + result.stderr


@pytest.mark.parametrize("setting, reason", [("mode=sepia", "anonymizer.mode: expected one of"),
                                             ("config=/nonexistent/streamanon.yaml", "cannot read config")])
def test_bad_settings_stop_the_pipeline_with_the_reason(gst_env, setting, reason):
    result = launch(gst_env, f"videotestsrc num-buffers=3 ! video/x-raw,width=64,height=48 ! streamanon {setting} ! "
                             "fakesink")
    assert result.returncode != 0
    assert reason in result.stdout + result.stderr


def test_gst_path_eval_makes_the_element_loadable(gst_env, tmp_path):
    env = {k: v for k, v in gst_env.items() if k not in ("GST_PLUGIN_PATH", "PYTHONPATH")}
    env["GST_REGISTRY"] = str(tmp_path / "registry.bin")
    command = f'eval "$({shlex.quote(sys.executable)} -m streamanon gst-path)" && gst-inspect-1.0 streamanon'
    result = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    for prop in ("mode", "degree", "salt", "config", "device", "backend", "lookahead"):
        assert f"\n  {prop} " in result.stdout, f"property {prop} listed"
