"""Live parts without a network: output clock, config files, shared batch, scheduler, metrics."""

from __future__ import annotations

import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from streamanon.config import Config
from streamanon.errors import ConfigError
from streamanon.live.config import LiveConfig, RealtimeConfig, load_live_config
from streamanon.live.metrics import CameraMetrics, MetricsReporter, prometheus_text
from streamanon.live.multi import SharedGenerator
from streamanon.live.realtime import OutputClock, RealtimeStream
from streamanon.live.sink import TIME_BASE
from streamanon.live.source import Arrival
from streamanon.pipeline import Anonymizer

ROOT = Path(__file__).resolve().parents[1]
STEP = int(1 / (30 * TIME_BASE))  # one frame at 30 fps in output ticks


def test_output_clock_follows_input_and_reanchors_after_reconnect():
    clock = OutputClock(30.0)
    first = [clock.for_input(1, 100.0 + i / 30) for i in range(3)]
    assert first == [0, STEP, 2 * STEP]
    assert clock.for_input(1, 100.0 + 5 / 30) == 5 * STEP  # a gap in the input stays a gap
    filler = clock.free_running()
    assert filler == 6 * STEP
    # new connection: the camera clock restarted near zero; output continues after the filler
    assert clock.for_input(2, 0.5) == 7 * STEP
    assert clock.for_input(2, 0.5 + 1 / 30) == 8 * STEP
    # a repeated input pts never gives a repeated output pts
    assert clock.for_input(2, 0.5 + 1 / 30) > 8 * STEP


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("live_*.yaml")), ids=lambda p: p.name)
def test_shipped_camera_files_load(path):
    live = load_live_config(path)
    assert isinstance(live, LiveConfig) and live.cameras
    assert len({c.name for c in live.cameras}) == len(live.cameras)


def test_camera_file_rejects_unknown_keys_and_names_cameras(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("cameras:\n  - source: {url: rtsp://x/y, latency: 3}\n    output: {url: out.mkv}\n")
    with pytest.raises(ConfigError, match="latency"):
        load_live_config(bad)
    good = tmp_path / "good.yaml"
    good.write_text("cameras:\n  - {source: {url: rtsp://a/1}, output: {url: a.mkv}}\n"
                    "  - {source: {url: rtsp://b/1}, output: {url: b.mkv}, mode: solid}\n")
    live = load_live_config(good)
    assert [c.name for c in live.cameras] == ["cam0", "cam1"]
    assert live.cameras[1].mode == "solid"
    with pytest.raises(ConfigError):
        RealtimeConfig(latency_budget_ms=0)


class _Recorder:
    """A generator that records the batches it is given and returns blur-like patches."""

    name = "recorder"

    def __init__(self, fail: bool = False) -> None:
        self.sizes: list[int] = []
        self.fail = fail
        from streamanon.generators import SolidGenerator

        self.inner = SolidGenerator(color=(0, 255, 0))

    def generate(self, batch):
        self.sizes.append(len(batch))
        if self.fail:
            raise RuntimeError("planted failure")
        return self.inner.generate(batch)


def _crop(track_id: int):
    from streamanon.types import FaceCrop

    return FaceCrop(track_id=track_id, seed=track_id, box=(0, 0, 8, 8), image=np.full((8, 8, 3), 200, np.uint8),
                    mask=np.ones((8, 8), np.float32))


def test_shared_generator_batches_streams_and_splits_results():
    rec = _Recorder()
    shared = SharedGenerator(rec, wait_ms=500)
    clients = [shared.client() for _ in range(3)]
    results: dict[int, list] = {}

    def ask(i: int) -> None:
        results[i] = clients[i].generate([_crop(10 * i + k) for k in range(i + 1)])

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=5)
    shared.stop()
    assert rec.sizes == [6]  # 1 + 2 + 3 crops of three streams: one generator call
    for i in range(3):
        assert [p.track_id for p in results[i]] == [10 * i + k for k in range(i + 1)]
        assert all((p.image == (0, 255, 0)).all() for p in results[i])


def test_shared_generator_failure_is_covered_per_stream():
    from streamanon.failsafe import FailsafePolicy, generate_or_cover

    shared = SharedGenerator(_Recorder(fail=True), wait_ms=1)
    patches, events = generate_or_cover(shared.client(), [_crop(1), _crop(2)],
                                        FailsafePolicy(kind="solid", color=(0, 0, 0)))
    shared.stop()
    assert [e.reason for e in events] == ["generator_error", "generator_error"]
    assert all(p.fallback and (p.image == 0).all() for p in patches)


class _MemorySink:
    def __init__(self) -> None:
        self.frames: list[tuple[np.ndarray, int]] = []
        self.closed = False

    def write(self, image, pts, record):
        self.frames.append((image, pts))

    def close(self):
        self.closed = True


class _SlowAnonymizer(Anonymizer):
    """The real anonymizer, slowed down, remembering every picture it rendered."""

    def __init__(self, config, delay_s: float) -> None:
        super().__init__(config)
        self.delay_s = delay_s
        self.rendered: set[int] = set()

    def render(self, analysis):
        time.sleep(self.delay_s)
        frame, record = super().render(analysis)
        self.rendered.add(id(frame.image))
        return frame, record


def _feed(stream: RealtimeStream, frames: list[np.ndarray], fps: float, epoch: int = 1, start: int = 0) -> None:
    for i, image in enumerate(frames):
        stream.on_frame(Arrival(image=image, seq=start + i, epoch=epoch, time=10.0 + i / fps,
                                arrived=time.monotonic(), fps=fps))
        time.sleep(1 / fps)


def test_realtime_drops_or_repeats_but_never_sends_raw_and_fills_while_down(face_frames):
    # cheap detection (short-range only) so the 120 ms delay below decides which frames are late
    config = Config().override({"anonymizer.mode": "solid", "detector.full_range": False,
                                "detector.centerface_every": 0})
    anonymizer = _SlowAnonymizer(config, delay_s=0.12)  # slower than the 25 fps input
    metrics = CameraMetrics("t")
    sink = _MemorySink()
    stream = RealtimeStream("t", anonymizer, lambda size, fps: sink,
                            RealtimeConfig(latency_budget_ms=200, input_loss_ms=300), metrics)
    stream.start()
    frames = [f.copy() for f in face_frames[:25]]
    _feed(stream, frames, fps=25)
    time.sleep(1.0)  # input down: fillers
    stream.stop()
    anonymizer.close()
    snap = metrics.snapshot()
    assert sink.closed
    raw = {id(f) for f in frames}
    kinds = {"anonymized": 0, "black": 0}
    for image, _ in sink.frames:
        assert id(image) not in raw
        if id(image) in anonymizer.rendered:
            kinds["anonymized"] += 1
        else:
            assert not image.any(), "a picture that is neither anonymized nor black reached the sink"
            kinds["black"] += 1
    assert kinds["anonymized"] > 0 and snap["dropped"] > 0 and snap["repeated"] > 0
    assert snap["processed"] + snap["repeated"] == 25  # one output frame per input frame
    assert snap["filler"] >= 10  # about 0.7 s at 25 fps after the 0.3 s loss threshold
    pts = [p for _, p in sink.frames]
    assert all(b > a for a, b in zip(pts, pts[1:]))
    step = int(1 / (25 * TIME_BASE))
    assert pts[24] - pts[0] == 24 * step  # the input clock, not the processing clock
    assert snap["latency_p99_ms"] is not None
    assert not [t for t in threading.enumerate() if t.name.startswith("streamanon-live")]


def _stream_through(anonymizer, realtime: RealtimeConfig, frames, fps: float, settle_s: float):
    """Feed copies of ``frames`` at ``fps`` through one real-time stream; (sink, metrics snapshot)."""
    metrics = CameraMetrics("t")
    sink = _MemorySink()
    stream = RealtimeStream("t", anonymizer, lambda size, fps: sink, realtime, metrics)
    stream.start()
    _feed(stream, [f.copy() for f in frames], fps=fps)
    time.sleep(settle_s)
    stream.stop()
    anonymizer.close()
    return sink, metrics.snapshot()


class _SpikyAnonymizer(Anonymizer):
    """The real anonymizer whose analysis is slow on every 5th frame (a second detector's turn)."""

    def analyze(self, frame):
        if frame.index % 5 == 4:
            time.sleep(0.09)
        return super().analyze(frame)


@pytest.mark.parametrize("queue", [1, 3])
def test_input_queue_absorbs_a_slow_frame_without_dropping(face_frames, queue):
    config = Config().override({"anonymizer.mode": "solid", "detector.full_range": False,
                                "detector.centerface_every": 0, "detector.mesh": False})
    _, snap = _stream_through(_SpikyAnonymizer(config), RealtimeConfig(latency_budget_ms=400, input_queue=queue),
                              face_frames[:30], fps=25, settle_s=0.5)  # a 90 ms frame every 200 ms
    assert snap["processed"] + snap["repeated"] == 30
    if queue == 1:  # newest frame wins: each slow frame costs the one that arrived meanwhile
        assert snap["dropped"] >= 3
    else:
        assert snap["dropped"] == 0 and snap["processed"] == 30


def test_metrics_json_and_prometheus(tmp_path):
    m = CameraMetrics("door")
    m.frame_in()
    m.frame_out("processed", 0.05, faces=2, covers=1)
    m.frame_out("repeated", 0.2)
    text = prometheus_text([m.snapshot()])
    assert 'streamanon_live_frames_out_total{camera="door"} 2' in text
    assert 'streamanon_live_faces_total{camera="door"} 2' in text
    from streamanon.live.config import MetricsConfig

    lines: list[str] = []
    reporter = MetricsReporter([m], MetricsConfig(interval_s=0.1, json_path=str(tmp_path / "m.json"),
                                                  prometheus_port=_free_port()), on_line=lines.append)
    reporter.start()
    try:
        time.sleep(0.35)
        body = urllib.request.urlopen(f"http://127.0.0.1:{reporter.port}/metrics", timeout=5).read().decode()
    finally:
        reporter.stop()
    assert 'streamanon_live_repeated_total{camera="door"} 1' in body
    import json

    data = json.loads((tmp_path / "m.json").read_text())
    cam = data["cameras"][0]
    assert cam["faces"] == 2 and cam["latency_p99_ms"] == 50 and cam["age_p99_ms"] > 150  # repeats: age only
    assert lines and "[door]" in lines[0]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_rate_stays_right_when_the_window_holds_more_samples_than_are_kept():
    from collections import deque

    from streamanon.live.metrics import _rate

    times = deque((i / 30 for i in range(600 * 30)), maxlen=4096)  # 10 minutes at 30 fps
    assert _rate(times, since=0.0, now=600.0, started=0.0) == pytest.approx(30.0, rel=0.01)
    short = deque((i / 30 for i in range(300)), maxlen=4096)
    assert _rate(short, since=0.0, now=10.0, started=0.0) == pytest.approx(30.0, rel=0.01)
    assert _rate(short, since=5.0, now=10.0, started=0.0) == pytest.approx(30.0, rel=0.02)


def test_lookahead_covers_a_face_in_frames_before_it_was_first_found(face_frames):
    """Frames without a detectable face, then the face: held frames get a back-filled cover."""
    config = Config().override({"anonymizer.mode": "solid", "detector.centerface_every": 0,
                                "detector.mesh": False})
    face = face_frames[0]
    hidden = face.copy()
    hidden[::2] = 0  # every other row black: no detector finds the face, its pixels still there
    frames = [hidden.copy() for _ in range(3)] + [f.copy() for f in face_frames[:6]]
    results = {}
    for lookahead in (0, 2):
        sink, snap = _stream_through(Anonymizer(config), RealtimeConfig(latency_budget_ms=1000, lookahead_frames=lookahead),
                                     frames, fps=15, settle_s=1.0)
        assert snap["processed"] == len(frames)
        results[lookahead] = [image for image, _ in sink.frames[:len(frames)]]
    changed = [[not np.array_equal(out, src) for out, src in zip(results[k], frames)] for k in (0, 2)]
    assert changed[0][:3] == [False, False, False] and all(changed[0][3:])  # covered from its first find
    assert changed[1][1:3] == [True, True] and all(changed[1][3:])  # and two frames before it
