"""Per-stage timings and counters of one stream (no globals; threads each own a stage)."""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from contextlib import contextmanager
from typing import Iterator


class StreamStats:
    """Counters and stage clocks for one stream. Safe to update from the stage threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.stage_seconds: dict[str, float] = defaultdict(float)
        self.frames_in = 0
        self.frames_out = 0
        self.faces_per_frame: list[int] = []
        self.fallback_events: Counter[str] = Counter()
        self.reused_faces = 0
        """Faces the identity check covered that were drawn as an earlier face of their track."""
        self.started = time.perf_counter()

    @contextmanager
    def clock(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            with self._lock:
                self.stage_seconds[stage] += elapsed

    def count_frame_out(self, faces: int, reasons: tuple[str, ...]) -> None:
        with self._lock:
            self.frames_out += 1
            self.faces_per_frame.append(faces)
            self.fallback_events.update(reasons)

    def count_reused(self, faces: int) -> None:
        with self._lock:
            self.reused_faces += faces

    def count_frame_in(self) -> None:
        with self._lock:
            self.frames_in += 1

    def elapsed(self) -> float:
        return time.perf_counter() - self.started
