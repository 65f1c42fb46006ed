"""Planted cases with known answers, for tests and for checking the metrics by hand.

- ``copy``: the original re-encoded untouched (re-ID 1.0, leaks in every frame with a face).
- ``solid``: every face the detector finds covered by a black box (retention 0).
- ``blur`` / ``pixelate``: the same boxes blurred or pixelated.
- ``alternate``: even frames untouched, odd frames solid (flicker far above 1, identity
  switching on every step between sampled frames of different parity).
Also a clip made from ``skimage.data.astronaut()`` for a fresh clone without real footage.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ..errors import ConfigError, OutputError

KINDS = ("copy", "solid", "blur", "pixelate", "alternate")


def write_video(path: str | Path, frames: list[np.ndarray] | object, fps: float = 25.0, crf: int = 18) -> int:
    """Encode RGB frames as H.264 (yuv420p); returns the number of frames written."""
    import av

    count = 0
    try:
        container = av.open(str(path), mode="w")
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc}") from None
    with container:
        stream = None
        for image in frames:
            if stream is None:
                h, w = image.shape[:2]
                stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
                stream.width, stream.height = w - w % 2, h - h % 2
                stream.pix_fmt = "yuv420p"
                stream.options = {"crf": str(crf), "preset": "veryfast"}
            image = np.ascontiguousarray(image[: stream.height, : stream.width])
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
            count += 1
        if stream is not None:
            for packet in stream.encode():
                container.mux(packet)
    return count


def read_video(path: str | Path) -> tuple[list[np.ndarray], float]:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 25)
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)], fps


def cover(image: np.ndarray, boxes: list, kind: str, grow: float = 1.3) -> np.ndarray:
    """``image`` with each box (grown by ``grow`` about its centre) replaced per ``kind``."""
    if kind not in KINDS or kind == "alternate":
        raise ConfigError(f"cover kind: expected copy, solid, blur or pixelate, got {kind!r}")
    out = image.copy()
    if kind == "copy":
        return out
    h, w = image.shape[:2]
    for x0, y0, x1, y1 in boxes:
        cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, grow * (x1 - x0) / 2, grow * (y1 - y0) / 2
        a0, b0 = max(0, int(cx - hw)), max(0, int(cy - hh))
        a1, b1 = min(w, int(np.ceil(cx + hw))), min(h, int(np.ceil(cy + hh)))
        if a1 - a0 < 2 or b1 - b0 < 2:
            continue
        region = out[b0:b1, a0:a1]
        size = np.sqrt((a1 - a0) * (b1 - b0))
        if kind == "solid":
            region[...] = 0
        elif kind == "blur":
            region[...] = cv2.GaussianBlur(region, (0, 0), sigmaX=max(1.0, 0.2 * size))
        else:
            cell = max(2, int(size / 8))
            small = cv2.resize(region, (max(1, (a1 - a0) // cell), max(1, (b1 - b0) // cell)),
                               interpolation=cv2.INTER_AREA)
            region[...] = cv2.resize(small, (a1 - a0, b1 - b0), interpolation=cv2.INTER_NEAREST)
    return out


def plant(src: str | Path, dst: str | Path, kind: str, detector, grow: float = 1.3) -> int:
    """Write ``dst``: ``src`` with every detected face treated per ``kind``."""
    frames, fps = read_video(src)
    if kind not in KINDS:
        raise ConfigError(f"planted kind: expected one of {', '.join(KINDS)}, got {kind!r}")

    def treat(i: int, f: np.ndarray) -> np.ndarray:
        k = ("copy" if i % 2 == 0 else "solid") if kind == "alternate" else kind
        return cover(f, [d.box for d in detector.detect(f)] if k != "copy" else [], k, grow)

    out = (treat(i, f) for i, f in enumerate(frames))
    return write_video(dst, out, fps)


def astronaut_clip(path: str | Path, frames: int = 24, size: tuple[int, int] = (320, 240),
                   face: int = 110, fps: float = 25.0) -> int:
    """A clip of the astronaut's head (skimage.data) drifting over a moving textured backdrop."""
    from skimage import data

    head = data.astronaut()[20:250, 120:330]  # head and shoulders, face about 110 px wide
    scale = face / 110.0
    head = cv2.resize(head, (round(head.shape[1] * scale), round(head.shape[0] * scale)),
                      interpolation=cv2.INTER_AREA)
    w, h = size
    rng = np.random.default_rng(0)
    texture = cv2.resize(rng.integers(40, 200, (h // 8 + 4, w // 8 + 4, 3), dtype=np.uint8),
                         (w + 32, h + 32), interpolation=cv2.INTER_CUBIC)
    hh, hw = head.shape[:2]

    def frame(t: int) -> np.ndarray:
        shift = (2 * t) % 32
        image = texture[shift:shift + h, shift:shift + w].copy()
        x = int((w - hw) / 2 + 20 * np.sin(t / 6.0))
        y = int(max(0, (h - hh) / 2 + 6 * np.cos(t / 5.0)))
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(w, x + hw), min(h, y + hh)
        image[y0:y1, x0:x1] = head[y0 - y:y1 - y, x0 - x:x1 - x]
        return image

    return write_video(path, (frame(t) for t in range(frames)), fps)
