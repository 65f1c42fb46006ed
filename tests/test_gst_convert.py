"""Raw video layouts <-> RGB (streamanon.gst.convert): no GStreamer needed."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from streamanon.errors import InputError, UnsupportedMediaError
from streamanon.gst.convert import FORMATS, PACKED, RawLayout, changed_region, default_layout, read_rgb, write_rgb


def _picture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth colours (4:2:0 keeps them within a few levels)."""
    rng = np.random.default_rng(seed)
    small = (rng.random((max(2, h // 8), max(2, w // 8), 3)) * 200 + 25).astype(np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _padded(layout: RawLayout, pad: int) -> RawLayout:
    """The same picture with ``pad`` extra bytes at the end of every row (as some decoders do)."""
    rows = [layout.height] + ([(layout.height + 1) // 2] * (len(layout.strides) - 1))
    strides = tuple(s + pad for s in layout.strides)
    offsets, at = [], 0
    for stride, n in zip(strides, rows):
        offsets.append(at)
        at += stride * n
    return RawLayout(layout.format, layout.width, layout.height, strides, tuple(offsets))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("size", [(64, 48), (33, 21)])
@pytest.mark.parametrize("pad", [0, 12])
def test_round_trip_and_region_write(fmt, size, pad):
    w, h = size
    layout = default_layout(fmt, w, h)
    if pad:
        layout = _padded(layout, pad)
    picture = _picture(h, w)
    buffer = np.full(layout.size + 5, 77, dtype=np.uint8)
    write_rgb(buffer, layout, picture)
    back = read_rgb(buffer, layout)
    assert back.shape == (h, w, 3) and back.flags.c_contiguous
    error = np.abs(back.astype(int) - picture).mean()
    if fmt in PACKED:
        assert error == 0
    else:  # no worse than OpenCV's own 4:2:0 round trip of the same picture
        even = np.pad(picture, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        direct = cv2.cvtColor(cv2.cvtColor(even, cv2.COLOR_RGB2YUV_I420), cv2.COLOR_YUV2RGB_I420)[:h, :w]
        assert error <= np.abs(direct.astype(int) - picture).mean() + 0.25, f"{fmt}: round-trip error {error:.2f}"

    covered = back.copy()
    covered[5:13, 7:17] = (0, 0, 0)
    region = changed_region(back, covered)
    assert region == (7, 5, 17, 13)
    before = buffer.copy()
    write_rgb(buffer, layout, covered, region)
    after = read_rgb(buffer, layout)
    assert after[6:12, 8:16].max() <= 6, "the covered box is black after the write (4:2:0: odd edges share chroma)"
    outside = np.ones((h, w), bool)
    outside[4:14, 6:18] = False  # 4:2:0 rewrites whole 2x2 chroma blocks around the box
    assert np.array_equal(after[outside], back[outside]), "pixels outside the region are untouched"
    changed = np.flatnonzero(buffer != before)
    assert changed.size and changed.max() < layout.size, "nothing written past the picture"
    if pad:  # row padding is never written
        assert all(buffer[o + r * s + layout.strides[0] - pad:o + (r + 1) * s].tolist() == [77] * pad
                   for o, s in [(layout.offsets[0], layout.strides[0])] for r in range(h - 1))


def test_nothing_changed_means_no_region():
    picture = _picture(20, 30)
    assert changed_region(picture, picture) is None
    assert changed_region(picture, picture.copy()) is None


def test_bad_layouts_are_typed_errors():
    with pytest.raises(UnsupportedMediaError, match="expected one of"):
        RawLayout("YUY2", 4, 4, (8,), (0,))
    layout = default_layout("I420", 64, 48)
    with pytest.raises(InputError, match="buffer size"):
        read_rgb(np.zeros(layout.size - 1, np.uint8), layout)
    with pytest.raises(InputError, match="writable"):
        write_rgb(np.frombuffer(bytes(layout.size), np.uint8), layout, np.zeros((48, 64, 3), np.uint8))
