"""Visible "AI-modified" label: drawn in the requested corner, scaled with the frame."""

from __future__ import annotations

import numpy as np
import pytest

from streamanon.errors import ConfigError
from streamanon.provenance.label import draw_label


def _changed(before, after):
    ys, xs = np.nonzero(np.any(before != after, axis=2))
    return xs.min(), ys.min(), xs.max(), ys.max()


@pytest.mark.parametrize("corner", ["bottom-right", "top-left"])
def test_label_in_corner_only(corner):
    image = np.full((240, 320, 3), 128, np.uint8)
    out = draw_label(image, corner=corner)
    assert out is not image and (image == 128).all()  # input untouched
    x0, y0, x1, y1 = _changed(image, out)
    if corner == "bottom-right":
        assert x0 > 160 and y0 > 180
    else:
        assert x1 < 160 and y1 < 60
    box = out[y0:y1 + 1, x0:x1 + 1]
    assert (box.max(axis=2) > 200).any() and (box.max(axis=2) < 80).any()  # white text on dark box


def test_label_scales_with_frame():
    small = np.zeros((240, 320, 3), np.uint8) + 100
    large = np.zeros((1080, 1920, 3), np.uint8) + 100
    hs = _changed(small, draw_label(small))
    hl = _changed(large, draw_label(large))
    ratio = (hl[3] - hl[1]) / (hs[3] - hs[1])
    assert 3.0 < ratio < 6.0  # 1080 / 240 = 4.5


def test_bad_corner_is_config_error():
    with pytest.raises(ConfigError):
        draw_label(np.zeros((50, 50, 3), np.uint8), corner="middle")
