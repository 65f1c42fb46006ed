"""Real-time anonymization of one camera within a latency budget. Raw pixels never leave.

Four threads per camera::

    source --(newest frame wins)--> analyze --(1 deep)--> render --> results
        \\--- one output slot per input frame -----------------------> emit -> sink

1. Every decoded frame opens an output *slot* with a deadline: arrival + latency budget.
2. Decoded frames wait for the analyze thread in a short queue (``input_queue`` frames), which
   absorbs the occasional slow frame (a second detector's turn) without losing any. The
   analyzer takes the oldest waiting frame, but skips frames that have already spent half the
   budget waiting while newer ones wait; a full queue loses its oldest frame. A frame that is
   never analyzed is *dropped* (its slot will repeat a picture).
   With ``lookahead_frames`` the render thread holds that many analyses (never past half
   the budget), so a face first found in a later frame is covered back in them too.
3. The emit thread fills slots in order: with the slot's anonymized frame when it is
   ready, else, at the deadline (or as soon as it is known never to come), with a
   *repeat* of the latest anonymized picture (black before the first one). An anonymized
   frame finishing after its slot went out is *late*: it is not sent for its slot, but it
   becomes the picture later repeats show.
4. Output timestamps follow the input clock: within one connection, output time advances
   exactly as input pts do; across a reconnect or a gap the clock is re-anchored after the
   last frame sent, so output timestamps always increase.
5. No frame for ``input_loss_ms``: the output keeps running at the input rate with
   *filler* frames (the last anonymized picture, or black), until the camera returns.

The only pictures a sink ever receives come out of :meth:`Anonymizer.render` or are black.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from ..lookahead import Lookahead
from ..pipeline import Anonymizer
from ..types import FrameRecord, VideoFrame
from .config import RealtimeConfig
from .metrics import CameraMetrics
from .sink import TIME_BASE, Sink
from .source import Arrival

log = logging.getLogger(__name__)

SinkFactory = Callable[[tuple[int, int], float], Sink]
"""Opens the output once the first frame tells its size ``(w, h)`` and rate."""

_POLL_S = 0.1
_MAX_SLOTS = 512


@dataclass(frozen=True, eq=False)
class _Slot:
    seq: int
    epoch: int
    time: float | None
    arrived: float
    deadline: float
    size: tuple[int, int]
    """(width, height) of the input frame."""


@dataclass(frozen=True, eq=False)
class _Picture:
    """An anonymized picture and what the anonymizer recorded for it."""

    image: np.ndarray
    record: FrameRecord
    arrived: float
    seq: int


class OutputClock:
    """Output pts (TIME_BASE ticks) that follow the input clock and always increase."""

    def __init__(self, fps: float) -> None:
        self.step = max(1, int(round(1 / (fps * TIME_BASE))))
        self.last: int | None = None
        self._anchor: tuple[int, float, int] | None = None  # (epoch, input time, output pts)

    def for_input(self, epoch: int, t: float | None) -> int:
        nxt = 0 if self.last is None else self.last + self.step
        if t is None:
            pts = nxt
        else:
            if self._anchor is None or self._anchor[0] != epoch:
                self._anchor = (epoch, t, nxt)
            pts = self._anchor[2] + int(round((t - self._anchor[1]) / TIME_BASE))
            if self.last is not None and not (self.last < pts <= self.last + 90 * self.step):
                self._anchor = (epoch, t, nxt)  # input clock jumped (wrap, restart): re-anchor
                pts = nxt
        self.last = pts
        return pts

    def free_running(self) -> int:
        """Next pts at the nominal rate (fillers); the next input frame re-anchors."""
        self.last = 0 if self.last is None else self.last + self.step
        self._anchor = None
        return self.last


class RealtimeStream:
    """One camera: feed :meth:`on_frame` from a :class:`LiveSource`; output goes to the sink."""

    def __init__(self, name: str, anonymizer: Anonymizer, open_sink: SinkFactory, config: RealtimeConfig,
                 metrics: CameraMetrics, on_input_loss: str = "last") -> None:
        self.name = name
        self.anonymizer = anonymizer
        self.open_sink = open_sink
        self.config = config
        self.metrics = metrics
        self.on_input_loss = on_input_loss
        self.budget_s = config.latency_budget_ms / 1000.0
        self._stale_s = 0.5 * self.budget_s
        """A frame that waited this long is skipped for a newer one, and held no longer."""
        self.error: BaseException | None = None
        """The error that stopped this stream (sink cannot be written), if any."""
        self.sink: Sink | None = None
        self._stop = threading.Event()
        self._cv = threading.Condition()
        self._waiting: deque[Arrival] = deque()
        self._mail_cv = threading.Condition()
        self._analyzed: queue.Queue = queue.Queue(1)
        self._slots: deque[_Slot] = deque()
        self._results: dict[int, _Picture] = {}
        self._skipped: set[int] = set()
        self._delivered_upto = -1
        self._emitted_upto = -1
        self._latest: _Picture | None = None
        self._last_arrival: float | None = None
        self._fps: float | None = None
        self._size: tuple[int, int] | None = None
        self._clock: OutputClock | None = None
        self._out_index = 0
        self._last_emit = 0.0
        self._threads: list[threading.Thread] = []

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        for target, role in ((self._analyze_loop, "analyze"), (self._render_loop, "render"),
                             (self._emit_loop, "emit")):
            t = threading.Thread(target=target, name=f"streamanon-live-{role}-{self.name}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        """Stop the threads and close the sink (files are finalized)."""
        self._stop.set()
        with self._cv:
            self._cv.notify_all()
        with self._mail_cv:
            self._mail_cv.notify_all()
        for t in self._threads:
            t.join(timeout=10.0)
            if t.is_alive():
                log.warning("%s: thread %s did not stop", self.name, t.name)
        self._threads.clear()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    # -- 1. input: one slot per frame, a short queue to the analyzer ---------------------------

    def on_frame(self, arrival: Arrival) -> None:
        self.metrics.frame_in()
        with self._cv:
            if self._fps is None:
                self._fps = arrival.fps or self.config.default_fps
            self._last_arrival = arrival.arrived
            self._slots.append(_Slot(arrival.seq, arrival.epoch, arrival.time, arrival.arrived,
                                     arrival.arrived + self.budget_s,
                                     (arrival.image.shape[1], arrival.image.shape[0])))
            while len(self._slots) > _MAX_SLOTS:  # the emitter is stuck: forget the oldest
                old = self._slots.popleft()
                self._forget(old.seq)
                self.metrics.add("dropped")
            self._cv.notify_all()
        with self._mail_cv:
            self._waiting.append(arrival)
            overflow = [self._waiting.popleft() for _ in range(len(self._waiting) - self.config.input_queue)]
            self._mail_cv.notify_all()
        self._drop(overflow)

    def _drop(self, arrivals: list[Arrival]) -> None:
        for old in arrivals:
            self.metrics.add("dropped")
            self._mark_skipped(old.seq)

    def _next_arrival(self) -> Arrival | None:
        """The oldest waiting frame that is still fresh (frames that waited half the budget
        are skipped while newer ones wait), or None after a poll interval."""
        with self._mail_cv:
            if not self._waiting:
                self._mail_cv.wait(_POLL_S)
            stale = []
            now = time.monotonic()
            while len(self._waiting) > 1 and now - self._waiting[0].arrived > self._stale_s:
                stale.append(self._waiting.popleft())
            arrival = self._waiting.popleft() if self._waiting else None
        self._drop(stale)
        return arrival

    def _mark_skipped(self, seq: int) -> None:
        with self._cv:
            if seq > self._emitted_upto:
                self._skipped.add(seq)
            self._cv.notify_all()

    # -- 2. analyze (detect, track) and render (generate or cover, compose) --------------------

    def _analyze_loop(self) -> None:
        while not self._stop.is_set():
            arrival = self._next_arrival()
            if arrival is None:
                continue
            frame = VideoFrame(image=arrival.image, index=arrival.seq)
            try:
                analysis = self.anonymizer.analyze(frame)
            except Exception:  # fail closed: this frame is never shown, its slot repeats
                log.exception("%s: analysis of frame %d failed", self.name, arrival.seq)
                self._mark_skipped(arrival.seq)
                continue
            while not self._stop.is_set():
                try:
                    self._analyzed.put((arrival, analysis), timeout=_POLL_S)
                    break
                except queue.Full:
                    continue

    def _render_loop(self) -> None:
        held = Lookahead(self.config.lookahead_frames, self.anonymizer.config.tracker.tentative_coast)
        arrivals: deque[Arrival] = deque()
        while not self._stop.is_set():
            wait = _POLL_S if not arrivals else min(_POLL_S, arrivals[0].arrived + self._stale_s - time.monotonic())
            try:
                arrival, analysis = self._analyzed.get(timeout=wait) if wait > 0 else self._analyzed.get_nowait()
                arrivals.append(arrival)
                ready = held.push(analysis)
            except queue.Empty:
                ready = []
            if not ready and arrivals and time.monotonic() - arrivals[0].arrived >= self._stale_s:
                ready = held.release(1)  # its slot's deadline comes before more frames do
            for analysis in ready:
                self._render(arrivals.popleft(), analysis)

    def _render(self, arrival: Arrival, analysis) -> None:
        try:
            frame, record = self.anonymizer.render(analysis)
        except Exception:  # fail closed as above
            log.exception("%s: rendering of frame %d failed", self.name, arrival.seq)
            self._mark_skipped(arrival.seq)
            return
        self._deliver(_Picture(frame.image, record, arrival.arrived, arrival.seq))

    def _deliver(self, picture: _Picture) -> None:
        with self._cv:
            self._delivered_upto = max(self._delivered_upto, picture.seq)
            if picture.seq <= self._emitted_upto:
                self.metrics.add("late")
                if self._latest is None or picture.seq > self._latest.seq:
                    self._latest = picture
            else:
                self._results[picture.seq] = picture
            self._cv.notify_all()

    # -- 3. emit: fill every slot in order, before its deadline -------------------------------

    def _emit_loop(self) -> None:
        try:
            while not self._stop.is_set():
                job = self._next_job()
                if job is not None:
                    self._emit(*job)
        except BaseException as exc:  # the sink cannot be written: stop this camera, report it
            log.error("%s: output failed: %s", self.name, exc)
            self.error = exc
            self._stop.set()
        finally:
            if self.sink is not None:
                try:
                    self.sink.close()
                except Exception as exc:
                    log.error("%s: closing the output failed: %s", self.name, exc)
                    self.error = self.error or exc

    def _next_job(self) -> tuple[str, _Slot | None, _Picture | None] | None:
        """What to send next, waiting (bounded) until something is due."""
        with self._cv:
            now = time.monotonic()
            if self._slots:
                slot = self._slots[0]
                picture = self._results.pop(slot.seq, None)
                if picture is not None:
                    return self._take(slot, "processed", picture)
                never = slot.seq in self._skipped or slot.seq < self._delivered_upto
                if never or now >= slot.deadline:
                    return self._take(slot, "repeated", self._latest)
                self._cv.wait(min(slot.deadline - now, _POLL_S))
                return None
            lost = self._last_arrival is not None and now - self._last_arrival > self.config.input_loss_ms / 1000
            if lost and self._clock is not None:
                due = self._last_emit + 1.0 / (self._fps or self.config.default_fps)
                if now >= due:
                    picture = self._latest if self.on_input_loss == "last" else None
                    return "filler", None, picture
                self._cv.wait(min(due - now, _POLL_S))
            else:
                self._cv.wait(_POLL_S)
            return None

    def _take(self, slot: _Slot, kind: str, picture: _Picture | None):
        self._slots.popleft()
        self._forget(slot.seq)
        self._emitted_upto = max(self._emitted_upto, slot.seq)
        if kind == "processed":
            self._latest = picture
        return kind, slot, picture

    def _forget(self, seq: int) -> None:
        self._skipped.discard(seq)
        for old in [s for s in self._results if s <= seq]:
            del self._results[old]

    def _emit(self, kind: str, slot: _Slot | None, picture: _Picture | None) -> None:
        if self.sink is None:
            if slot is None:
                return
            self._size = slot.size
            self._clock = OutputClock(self._fps or self.config.default_fps)
            self.sink = self.open_sink(self._size, self._fps or self.config.default_fps)
        pts = self._clock.for_input(slot.epoch, slot.time) if slot is not None else self._clock.free_running()
        image, record = self._picture_for(picture, pts)
        self.sink.write(image, pts, record)
        self._out_index += 1
        self._last_emit = time.monotonic()
        latency = None if kind == "filler" or picture is None else self._last_emit - picture.arrived
        fresh = kind == "processed"
        self.metrics.frame_out(kind, latency, faces=record.faces if fresh else 0,
                               covers=record.fallback if fresh else 0)

    def _picture_for(self, picture: _Picture | None, pts: int) -> tuple[np.ndarray, FrameRecord]:
        w, h = self._size
        if picture is None:
            return (np.zeros((h, w, 3), np.uint8),
                    FrameRecord(index=self._out_index, pts=pts, faces=0, replaced=0, fallback=0,
                                mode=self.anonymizer.config.anonymizer.mode))
        image = picture.image
        if image.shape[:2] != (h, w):  # the camera came back at another size
            import cv2

            image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        return image, replace(picture.record, index=self._out_index, pts=pts)

