"""Optional visible label ("AI-modified") drawn in a corner, sized relative to the frame."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, InputError, check

CORNERS = ("bottom-right", "bottom-left", "top-right", "top-left")


def draw_label(image: np.ndarray, text: str = "AI-modified", corner: str = "bottom-right") -> np.ndarray:
    """A copy of RGB ``image`` with ``text`` in white on a dark box in ``corner``.

    The text height is about 3.5 % of the frame's shorter side (at least 8 pixels), so
    the label reads the same at 240p and 4K.
    """
    import cv2

    check(isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3
          and image.dtype == np.uint8, InputError, "label image", "RGB uint8 (H, W, 3)",
          getattr(image, "shape", type(image).__name__))
    if corner not in CORNERS:
        raise ConfigError(f"label corner: expected one of {', '.join(CORNERS)}, got {corner!r}")
    out = image.copy()
    h, w = out.shape[:2]
    font = cv2.FONT_HERSHEY_SIMPLEX
    target = max(8.0, 0.035 * min(h, w))
    (base_w, base_h), _ = cv2.getTextSize(text, font, 1.0, 1)
    scale = target / max(base_h, 1)
    thickness = max(1, int(round(scale * 1.5)))
    (tw, th), baseline = cv2.getTextSize(text, font, scale, thickness)
    pad = max(2, int(round(0.3 * th)))
    margin = max(2, int(round(0.02 * min(h, w))))
    box_w, box_h = min(tw + 2 * pad, w), min(th + baseline + 2 * pad, h)
    x0 = margin if corner.endswith("left") else max(0, w - margin - box_w)
    y0 = margin if corner.startswith("top") else max(0, h - margin - box_h)
    region = out[y0:y0 + box_h, x0:x0 + box_w]
    region[:] = (region.astype(np.uint16) * 2 // 5).astype(np.uint8)  # darken behind the text
    cv2.putText(out, text, (x0 + pad, y0 + pad + th), font, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return out
