"""Letterbox and pillarbox bars: ``picture_area(image) -> (x0, y0, x1, y1)``.

A bar is a run of whole rows (top, bottom) or whole columns (left, right) at the frame's edge
in which no pixel is brighter than ``BAR_LEVEL`` in any channel. Nothing can be recognised in
such pixels, and a patch painted over them (a drawn face or a blur cover reaching past the
picture's edge) shows as a grey or skin-coloured halo on the black bar; ``compose`` leaves
them as they are.
"""

from __future__ import annotations

import numpy as np

BAR_LEVEL = 24
"""Brightest 8-bit value (any channel) a bar pixel may have: black after compression noise."""
STRIP = 32
"""Rows or columns read at a time, from the edge inwards."""


def picture_area(image: np.ndarray) -> tuple[int, int, int, int]:
    """The box inside the bars; the whole frame when there are none (or all of it is dark).
    Reads only the bars and one strip beyond each (a frame without bars: four thin strips)."""
    h, w = image.shape[:2]
    x0 = _bar(image, 1, False)
    if x0 == w:
        return 0, 0, w, h
    x1 = w - _bar(image, 1, True)
    y0, y1 = _bar(image, 0, False), h - _bar(image, 0, True)
    return x0, y0, x1, y1


def _bar(image: np.ndarray, axis: int, from_end: bool) -> int:
    """How many whole rows (``axis`` 0) or columns (1) at one edge are no brighter than ``BAR_LEVEL``."""
    n = image.shape[axis]
    done = 0
    while done < n:
        width = min(STRIP, n - done)
        lo = n - done - width if from_end else done
        if axis == 0:  # rows: contiguous
            level = image[lo:lo + width].reshape(width, -1).max(axis=1)
        else:  # columns: reduce down the rows first (numpy is slow across strides)
            level = image[:, lo:lo + width].max(axis=0)
            level = level.max(axis=-1) if level.ndim == 2 else level
        lit = np.flatnonzero(level > BAR_LEVEL)
        if len(lit):
            return done + (width - 1 - int(lit[-1]) if from_end else int(lit[0]))
        done += width
    return n
