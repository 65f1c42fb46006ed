"""Typed settings of live streams, loaded from YAML with :func:`streamanon.config.from_dict`.

A camera file (``configs/live_*.yaml``)::

    pipeline: configs/fast.yaml      # optional: the usual anonymizer config for every camera
    realtime: {latency_budget_ms: 300}
    metrics: {interval_s: 5, json_path: live_metrics.json, prometheus_port: 9108}
    cameras:
      - name: door
        source: {url: rtsp://10.0.0.5/stream1}
        output: {url: rtsp://127.0.0.1:8554/door}
      - name: yard
        mode: solid
        source: {url: rtsp://10.0.0.6/stream1}
        output: {url: "recordings/yard_%Y%m%d-%H%M%S.mkv", segment_seconds: 600}

Unknown keys and wrong types are :class:`~streamanon.errors.ConfigError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..config import Config, Mode, from_dict, load_config
from ..errors import ConfigError, check


@dataclass(frozen=True)
class SourceConfig:
    """Where frames come from: any URL FFmpeg opens (RTSP, RTMP, SRT, HTTP, file://)."""

    url: str
    rtsp_transport: Literal["tcp", "udp"] = "tcp"
    open_timeout_s: float = 5.0
    """Give up opening (connect, handshake, first packets) after this long, then retry."""
    read_timeout_s: float = 3.0
    """A camera silent for this long counts as dropped; the source reconnects."""
    backoff_initial_s: float = 0.5
    """First wait before reconnecting; doubles on every failed attempt."""
    backoff_max_s: float = 10.0
    """Longest wait between reconnection attempts."""
    loop: bool = False
    """Files only: start again at the end (a looping test camera)."""
    pace: bool = True
    """Files only: release frames at their timestamps, as a camera would."""

    def __post_init__(self) -> None:
        check(self.open_timeout_s > 0 and self.read_timeout_s > 0, ConfigError, "source timeouts", "> 0",
              (self.open_timeout_s, self.read_timeout_s))
        check(0 < self.backoff_initial_s <= self.backoff_max_s, ConfigError, "source backoff",
              "0 < backoff_initial_s <= backoff_max_s", (self.backoff_initial_s, self.backoff_max_s))


@dataclass(frozen=True)
class OutputConfig:
    """Where anonymized frames go.

    ``rtsp://`` publishes to an RTSP server (ANNOUNCE/RECORD), ``rtmp://`` pushes FLV,
    ``srt://`` pushes MPEG-TS, ``http://HOST:PORT/PATH`` *serves* MPEG-TS on that address
    (viewers connect: ``ffplay http://HOST:PORT/PATH``), anything else is a file. A file
    whose name has ``%`` fields (strftime) or ``segment_seconds > 0`` is recorded in segments.
    """

    url: str
    segment_seconds: float = 0.0
    """Start a new file every this many seconds of output (0: one file)."""
    preset: str | None = None
    """x264/x265 preset for stream outputs (None: the pipeline config's, ``ultrafast`` for streams)."""
    gop_seconds: float = 1.0
    """Keyframe interval of stream outputs: how long a new viewer waits for a picture."""
    on_input_loss: Literal["last", "black"] = "last"
    """While the camera is down: repeat the last anonymized picture, or send black."""
    overwrite: bool = False
    """Files: replace an existing file of the same name."""

    def __post_init__(self) -> None:
        check(self.segment_seconds >= 0, ConfigError, "output segment_seconds", ">= 0", self.segment_seconds)
        check(self.gop_seconds > 0, ConfigError, "output gop_seconds", "> 0", self.gop_seconds)


@dataclass(frozen=True)
class RealtimeConfig:
    """The latency-budgeted scheduler."""

    latency_budget_ms: float = 300.0
    """Longest time from a decoded input frame to its output slot. A frame not anonymized by
    then is replaced by a repeat of the latest anonymized picture (counted as repeated)."""
    input_loss_ms: float = 1000.0
    """No frame for this long: the output keeps running on its own clock (filler frames)."""
    default_fps: float = 30.0
    """Output rate while the input is down, when the input does not state its rate."""
    lookahead_frames: int = 0
    """Analyzed frames held before rendering, so a face first found in a later frame is
    covered back in these too (as files do over 12 frames). Each held frame adds one frame
    interval of latency; a frame is never held past half the budget. 0: off."""
    input_queue: int = 3
    """Decoded frames that may wait for the analyzer. A few absorb one slow frame without a
    drop; more only add latency (frames that waited half the budget are skipped anyway)."""

    def __post_init__(self) -> None:
        check(self.latency_budget_ms > 0, ConfigError, "realtime latency_budget_ms", "> 0", self.latency_budget_ms)
        check(self.input_loss_ms > 0, ConfigError, "realtime input_loss_ms", "> 0", self.input_loss_ms)
        check(self.default_fps > 0, ConfigError, "realtime default_fps", "> 0", self.default_fps)
        check(self.input_queue >= 1, ConfigError, "realtime input_queue", ">= 1", self.input_queue)
        check(self.lookahead_frames >= 0, ConfigError, "realtime lookahead_frames", ">= 0", self.lookahead_frames)


@dataclass(frozen=True)
class MetricsConfig:
    """Live metrics: a periodic line, a JSON file, an optional Prometheus text endpoint."""

    interval_s: float = 5.0
    json_path: str | None = None
    """Rewritten (atomically) every interval."""
    prometheus_port: int = 0
    """Serve ``/metrics`` on 127.0.0.1:PORT (0: off)."""
    window_s: float = 10.0
    """fps and latency percentiles are over this much recent time."""

    def __post_init__(self) -> None:
        check(self.interval_s > 0, ConfigError, "metrics interval_s", "> 0", self.interval_s)
        check(0 <= self.prometheus_port < 65536, ConfigError, "metrics prometheus_port", "0..65535",
              self.prometheus_port)


@dataclass(frozen=True)
class CameraConfig:
    """One camera: its source, its output, and optionally its own mode."""

    source: SourceConfig
    output: OutputConfig
    name: str = ""
    """Also the identity stream name: two cameras never share synthetic identities."""
    mode: Mode | None = None
    """Override of the pipeline's ``anonymizer.mode`` for this camera."""


@dataclass(frozen=True)
class LiveConfig:
    cameras: tuple[CameraConfig, ...]
    pipeline: str | None = None
    """Path of a usual streamanon config YAML (relative to this file) for every camera."""
    realtime: RealtimeConfig = field(default_factory=RealtimeConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    batch_wait_ms: float = 5.0
    """Several cameras: how long the shared generator waits to fill its batch."""

    def __post_init__(self) -> None:
        check(len(self.cameras) >= 1, ConfigError, "live cameras", "at least one camera", len(self.cameras))
        names = [c.name for c in self.cameras]
        check(len(set(names)) == len(names), ConfigError, "live camera names", "unique names", names)


LIVE_DEFAULTS = {
    "anonymizer.mode": "blur",        # offline: synthetic (5 fps on two CPU cores; set it where a GPU keeps up)
    "detector.tiles_per_frame": 1,    # offline: 3 (the lookahead back-fills what tiles find late)
    "detector.centerface_every": 6,   # offline: 3
    "detector.centerface_width": 480,  # offline: 640
    "detector.mesh": False,           # box masks in covering modes; synthetic always meshes
    "anonymizer.guard_candidates": 0,  # offline: 12 (drawing 12 faces stalls a CPU stream 0.5-1 s per new person)
    "anonymizer.verify_every": 0,     # offline: 4 (two dlib embeddings, about 30 ms, per checked face)
    "tracker.sealed_coast": 12,       # offline: 3 (its lookahead back-fills a face missed after a false cut)
}
"""What live streams change in the defaults so that a 720p camera keeps 30 fps on two cores
(docs/live.md): blur, fewer tiles and second-detector runs per frame, no mesh for covers. Settings
in the config file or on the command line still win."""


def live_pipeline_config(path: str | Path | None, overrides: dict | None = None) -> Config:
    """The anonymizer config of a live stream: :data:`LIVE_DEFAULTS`, then the file, then flags."""
    return load_config(path, overrides, base=Config().override(LIVE_DEFAULTS))


def name_cameras(data: dict) -> dict:
    """Cameras without a name get ``cam0``, ``cam1``... (plain data, before typing)."""
    cameras = data.get("cameras")
    if isinstance(cameras, list):
        data = dict(data, cameras=[dict(c, name=c.get("name") or f"cam{i}") if isinstance(c, dict) else c
                                   for i, c in enumerate(cameras)])
    return data


def load_live_config(path: str | Path) -> LiveConfig:
    """Read a camera YAML file; ``pipeline`` is resolved relative to the file."""
    import yaml

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read live config {p}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"live config {p} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p.name}: expected a mapping, got {type(data).__name__}")
    config = from_dict(LiveConfig, name_cameras(data), where=p.name)
    if config.pipeline is not None and not Path(config.pipeline).is_absolute():
        from dataclasses import replace

        config = replace(config, pipeline=str(p.parent / config.pipeline))
    return config


def single_camera(src: str, dst: str, name: str = "cam0", **sections) -> LiveConfig:
    """The LiveConfig of ``streamanon run URL -o DST`` (defaults everywhere else)."""
    return LiveConfig(cameras=(CameraConfig(source=SourceConfig(url=src), output=OutputConfig(url=dst), name=name),),
                      **sections)
