"""Staged, threaded execution: decode -> analyze (detect+track) -> render -> encode.

Each stage runs on its own thread, joined by bounded queues, so that MediaPipe, OpenCV and
the codecs (which release the GIL) keep both cores busy. The caller's thread encodes, so a
Ctrl-C lands there and the writer can finalize a playable file.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Sequence

from .lookahead import Lookahead, with_upcoming
from .pipeline import Anonymizer
from .types import FrameRecord, VideoFrame

_END = object()
_POLL_S = 0.1


@dataclass
class _Failure:
    error: BaseException


class StagedRunner:
    """Runs frames through an :class:`Anonymizer` on three worker threads."""

    def __init__(self, anonymizer: Anonymizer, queue_size: int = 8, lookahead: int = 0) -> None:
        self.anonymizer = anonymizer
        self.queue_size = max(1, queue_size)
        self.lookahead = Lookahead(lookahead, anonymizer.config.tracker.tentative_coast)
        self._stop = threading.Event()

    def stop(self) -> None:
        """Ask the workers to finish early (they stop at the next frame)."""
        self._stop.set()

    def run(self, frames: Iterable[VideoFrame]) -> Iterator[tuple[VideoFrame, FrameRecord]]:
        """Anonymized frames in input order. Worker errors are re-raised here."""
        decoded: queue.Queue = queue.Queue(self.queue_size)
        analyzed: queue.Queue = queue.Queue(self.queue_size)
        rendered: queue.Queue = queue.Queue(self.queue_size)
        stats = self.anonymizer.stats

        def decode() -> None:
            for frame in frames:
                stats.count_frame_in()
                if not self._put(decoded, frame):
                    return
            self._put(decoded, _END)

        analyze = self._stage(decoded, analyzed, lambda frame: (self.anonymizer.analyze(frame),))
        # Analyses are rendered as they leave the lookahead window (back-filled covers included).
        render = self._stage(analyzed, rendered, lambda a: self._render(self.lookahead.push(a)),
                             lambda: self._render(self.lookahead.flush()))
        threads = [
            threading.Thread(target=self._guard(decode, decoded), name="streamanon-decode", daemon=True),
            threading.Thread(target=self._guard(analyze, analyzed), name="streamanon-analyze", daemon=True),
            threading.Thread(target=self._guard(render, rendered), name="streamanon-render", daemon=True),
        ]
        for t in threads:
            t.start()
        try:
            while True:
                item = self._get(rendered)
                if item is _END or item is None:
                    break
                if isinstance(item, _Failure):
                    raise item.error
                yield item
        finally:
            self._stop.set()
            for q in (decoded, analyzed, rendered):
                _drain(q)
            for t in threads:
                t.join(timeout=5.0)

    # -- plumbing ---------------------------------------------------------------------

    def _stage(self, src: queue.Queue, dst: queue.Queue, step: Callable[[object], Iterable],
               finish: Callable[[], Iterable] = tuple) -> Callable[[], None]:
        """A worker loop: each item from ``src`` becomes zero or more items for ``dst``
        (``step``); at the end of the stream ``finish`` adds the last ones. Failures pass on."""
        def loop() -> None:
            while True:
                item = self._get(src)
                if item is None:
                    return
                if isinstance(item, _Failure):
                    self._put(dst, item)
                    return
                for out in (finish() if item is _END else step(item)):
                    if not self._put(dst, out):
                        return
                if item is _END:
                    self._put(dst, _END)
                    return
        return loop

    def _render(self, analyses: Sequence) -> list:
        """Render the analyses leaving the lookahead; each sees the ones after it."""
        return [self.anonymizer.render(a, upcoming) for a, upcoming in with_upcoming(analyses, self.lookahead.held)]

    def _guard(self, fn: Callable[[], None], out: queue.Queue) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except BaseException as exc:  # handed to the caller's thread and re-raised there
                self._put(out, _Failure(exc))
        return run

    def _put(self, q: queue.Queue, item: object) -> bool:
        while not self._stop.is_set():
            try:
                q.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _get(self, q: queue.Queue) -> object | None:
        while not self._stop.is_set():
            try:
                return q.get(timeout=_POLL_S)
            except queue.Empty:
                continue
        return None


def _drain(q: queue.Queue) -> None:
    while True:
        try:
            q.get_nowait()
        except queue.Empty:
            return
