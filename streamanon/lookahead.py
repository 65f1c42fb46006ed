"""Back-fill covers: a face first detected at frame t was probably already there at t-1...

``Lookahead(frames).push(analysis) -> list[FrameAnalysis]`` holds the last ``frames``
analyses. When a track is born, its box (grown a little per step back) is added as a
coasting track to the held frames, so those frames leave covered too. Coasting tracks get
the fail-closed cover. Frames keep their order and timestamps; the delay is ``frames``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from typing import Iterator, Sequence

from .geometry import box_center_size, box_from_center
from .pipeline import FrameAnalysis
from .types import Track

BACKFILL_GROWTH = 0.03
"""Box growth per frame stepped back: the face may have moved before it was seen."""
BACKFILL_MAX_GROWTH = 1.4
"""Cap on that growth, so a large (or false) detection does not blank half the frame."""


class Lookahead:
    def __init__(self, frames: int, tentative_frames: int | None = None) -> None:
        self.frames = max(0, frames)
        self.tentative_frames = tentative_frames
        """How far back a tentative track (``Track.tentative``) is back-filled: as far as the
        tracker lets it coast (``tracker.tentative_coast``); None: like any other."""
        self._held: deque[FrameAnalysis] = deque()
        self.backfilled = 0
        """Faces covered in held frames before their track was born."""

    def push(self, analysis: FrameAnalysis) -> list[FrameAnalysis]:
        """Hold ``analysis``; return the analyses that leave the window, oldest first."""
        births = [t for t in analysis.tracks if t.age == 1]
        for t in births:
            self._backfill(t)
        self._held.append(analysis)
        out = []
        while len(self._held) > self.frames:
            out.append(self._held.popleft())
        return out

    @property
    def held(self) -> tuple[FrameAnalysis, ...]:
        """The analyses held now, oldest first (the frames after those that left)."""
        return tuple(self._held)

    def release(self, count: int) -> list[FrameAnalysis]:
        """The oldest ``count`` held analyses, before the window is full (a deadline is near)."""
        return [self._held.popleft() for _ in range(min(count, len(self._held)))]

    def flush(self) -> list[FrameAnalysis]:
        out = list(self._held)
        self._held.clear()
        return out

    def _backfill(self, born: Track) -> None:
        cx, cy, w, h = box_center_size(born.box)
        depth = self.tentative_frames if born.tentative and self.tentative_frames is not None else len(self._held)
        for steps, held in enumerate(list(reversed(self._held))[:depth], start=1):
            grow = min(BACKFILL_MAX_GROWTH, 1.0 + BACKFILL_GROWTH * steps)
            box = box_from_center(cx, cy, w * grow, h * grow)
            if any(_overlaps(box, t.box) for t in held.tracks):
                break  # that face was already covered there (e.g. a re-born track)
            ghost = Track(track_id=born.track_id, box=box, seed=born.seed, age=0, misses=steps,
                          landmarks=None, keypoints=None, score=0.0)
            idx = self._held.index(held)
            self._held[idx] = replace(held, tracks=held.tracks + (ghost,))
            self.backfilled += 1


def with_upcoming(leaving: Sequence[FrameAnalysis], held: Sequence[FrameAnalysis]
                  ) -> Iterator[tuple[FrameAnalysis, list[FrameAnalysis]]]:
    """Each analysis leaving the window with the ones after it: the rest of ``leaving``, then
    ``held`` (what a renderer may look ahead at)."""
    for k, analysis in enumerate(leaving):
        yield analysis, [*leaving[k + 1:], *held]


def _overlaps(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return ix * iy > 0.3 * min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
