"""Several cameras in one process: each its own tracker and identities, one generator batch.

    session = LiveSession(live_config, pipeline_config, on_line=print_to_stderr)
    session.start(); session.wait(stop_event); session.stop()

Cameras with the same anonymizer settings share one :class:`SharedGenerator`: every
camera's render step hands its crops to it (through a :class:`FaceGenerator` client, so
:func:`streamanon.failsafe.generate_or_cover` still covers each camera's faces when the
batch fails or is late), and it runs the real generator once for the crops of all
cameras that asked within ``batch_wait_ms``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from ..config import Config
from ..errors import GeneratorError, StreamError
from ..generators import FaceGenerator, create_generator
from ..pipeline import Anonymizer
from ..types import FaceCrop, FacePatch
from .config import CameraConfig, LiveConfig, live_pipeline_config
from .metrics import BoundedStats, CameraMetrics, MetricsReporter
from .realtime import RealtimeStream
from .sink import Encoding, open_sink
from .source import LiveSource

log = logging.getLogger(__name__)

_POLL_S = 0.1


@dataclass(eq=False)
class _Request:
    crops: list[FaceCrop]
    done: threading.Event = field(default_factory=threading.Event)
    result: list[FacePatch] | None = None
    error: BaseException | None = None


class SharedGenerator:
    """Batches ``generate`` calls of several streams into one call of ``generator``."""

    def __init__(self, generator: FaceGenerator, wait_ms: float = 5.0) -> None:
        self.generator = generator
        self.name = generator.name
        self.wait_s = wait_ms / 1000.0
        self.batches = 0
        self.largest_batch = 0
        self._clients = 0
        self._requests: queue.Queue[_Request] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"streamanon-live-batch-{self.name}", daemon=True)
        self._thread.start()

    def client(self) -> FaceGenerator:
        """A generator for one stream (give each stream its own)."""
        self._clients += 1
        return _Client(self)

    def submit(self, crops: Sequence[FaceCrop]) -> list[FacePatch]:
        request = _Request(list(crops))
        self._requests.put(request)
        while not request.done.wait(_POLL_S):
            if self._stop.is_set():
                raise GeneratorError("shared generator stopped")
        if request.error is not None:
            raise request.error
        return request.result

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10.0)
        while True:  # anyone still waiting gets an error (their faces get the cover)
            try:
                request = self._requests.get_nowait()
            except queue.Empty:
                break
            request.error = GeneratorError("shared generator stopped")
            request.done.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                first = self._requests.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            batch = [first]
            deadline = time.monotonic() + self.wait_s
            while len(batch) < self._clients:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    batch.append(self._requests.get(timeout=remaining))
                except queue.Empty:
                    break
            self._generate(batch)

    def _generate(self, batch: list[_Request]) -> None:
        crops = [c for r in batch for c in r.crops]
        try:
            produced = self.generator.generate(crops)
            if not isinstance(produced, list) or len(produced) != len(crops):
                raise GeneratorError(f"shared batch of {len(crops)} crops: expected {len(crops)} patches, "
                                     f"got {len(produced) if isinstance(produced, list) else type(produced).__name__}")
            at = 0
            for r in batch:
                r.result = produced[at:at + len(r.crops)]
                at += len(r.crops)
        except Exception as exc:  # each stream's generate_or_cover covers its faces
            for r in batch:
                r.error = exc
        self.batches += 1
        self.largest_batch = max(self.largest_batch, len(crops))
        for r in batch:
            r.done.set()


class _Client:
    def __init__(self, shared: SharedGenerator) -> None:
        self.shared = shared
        self.name = shared.name

    def refuses(self, crop: FaceCrop, drawn_before: bool = False) -> str | None:
        """The shared generator's refusal (a pure function of the crop: safe on any thread)."""
        refuses = getattr(self.shared.generator, "refuses", None)
        return None if refuses is None else refuses(crop, drawn_before)

    def generate(self, batch: Sequence[FaceCrop]) -> list[FacePatch]:
        return self.shared.submit(batch)


def camera_config(base: Config, camera: CameraConfig) -> Config:
    """The pipeline config of one camera: its own identity stream, optionally its own mode."""
    overrides = {"identity.stream": camera.name}
    if camera.mode is not None:
        overrides["anonymizer.mode"] = camera.mode
    return base.override(overrides)


class _Camera:
    def __init__(self, camera: CameraConfig, config: Config, live: LiveConfig, generator: FaceGenerator) -> None:
        self.name = camera.name
        self.metrics = CameraMetrics(camera.name, live.metrics.window_s)
        self.anonymizer = Anonymizer(config, generator=generator, stats=BoundedStats())

        def sink(size: tuple[int, int], fps: float):
            encoding = Encoding(config.encoder, config.provenance, config.digest(), config.anonymizer.mode,
                                size, fps, camera.output)
            return open_sink(camera.output, encoding, self.metrics)

        self.stream = RealtimeStream(camera.name, self.anonymizer, sink, live.realtime, self.metrics,
                                     camera.output.on_input_loss)
        self.source = LiveSource(camera.source, self.stream.on_frame, name=camera.name)
        self.metrics.reconnects = lambda: self.source.reconnects
        self.metrics.connected = self.source.connected.is_set


class LiveSession:
    """All cameras of a :class:`LiveConfig`, their shared generators, and the metrics."""

    def __init__(self, live: LiveConfig, config: Config | None = None,
                 on_line: Callable[[str], None] | None = None,
                 generator_factory: Callable[[Config], FaceGenerator] | None = None) -> None:
        if config is None:
            config = live_pipeline_config(live.pipeline)
        self.live = live
        self.shared: dict[object, SharedGenerator] = {}
        self.cameras: list[_Camera] = []
        make = generator_factory or (lambda c: create_generator(c.anonymizer))
        try:
            for cam in live.cameras:
                cfg = camera_config(config, cam)
                key = cfg.anonymizer
                if key not in self.shared:
                    self.shared[key] = SharedGenerator(make(cfg), live.batch_wait_ms)
                self.cameras.append(_Camera(cam, cfg, live, self.shared[key].client()))
        except BaseException:
            self._release()
            raise
        self.reporter = MetricsReporter([c.metrics for c in self.cameras], live.metrics, on_line)
        self._started = False

    def start(self) -> None:
        self._started = True
        for cam in self.cameras:
            cam.stream.start()
            cam.source.start()
        self.reporter.start()

    def wait(self, stop: threading.Event, seconds: float | None = None) -> None:
        """Until ``stop`` is set, ``seconds`` pass, or every camera's output has failed."""
        end = None if seconds is None else time.monotonic() + seconds
        while not stop.wait(_POLL_S):
            if end is not None and time.monotonic() >= end:
                return
            if all(c.stream.stopped for c in self.cameras):
                return

    def errors(self) -> dict[str, BaseException]:
        return {c.name: c.stream.error for c in self.cameras if c.stream.error is not None}

    def stop(self) -> list[dict]:
        """Stop everything in order (sources, streams and their sinks, batches); final metrics."""
        for cam in self.cameras:
            cam.source.stop()
        for cam in self.cameras:
            cam.stream.stop()
        snaps = self.reporter.snapshots()
        if self._started:
            self.reporter.stop()
        self._release()
        return snaps

    def _release(self) -> None:
        for shared in self.shared.values():
            shared.stop()
        for cam in self.cameras:
            cam.anonymizer.close()

    def raise_errors(self) -> None:
        errors = self.errors()
        if errors:
            first = next(iter(errors.values()))
            if len(errors) == len(self.cameras) and getattr(first, "exit_code", None):
                raise first
            raise StreamError("; ".join(f"{name}: {err}" for name, err in errors.items()))
