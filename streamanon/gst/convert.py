"""Raw video buffers <-> the RGB ``(H, W, 3)`` frames the pipeline works on. No GStreamer here.

A :class:`RawLayout` says where the planes of one picture lie in a mapped buffer (format,
size, per-plane stride and offset: from ``GstVideoInfo`` or the buffer's ``GstVideoMeta``).
:func:`read_rgb` copies the picture out as RGB; :func:`write_rgb` writes an RGB picture back,
only inside ``region`` (so that pixels the anonymizer did not touch stay bit-exact, and YUV
pictures are not round-tripped through RGB outside the faces).

YUV (I420, NV12) is converted with OpenCV's BT.601 limited-range matrices both ways; the
faces written back are covered or replaced anyway, so the matrix only shifts their colour
slightly when the stream is BT.709.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError, UnsupportedMediaError, check

PACKED = {"RGB": (3, (0, 1, 2)), "BGR": (3, (2, 1, 0)), "RGBA": (4, (0, 1, 2)), "RGBx": (4, (0, 1, 2)),
          "BGRA": (4, (2, 1, 0)), "BGRx": (4, (2, 1, 0))}
"""Packed RGB formats: bytes per pixel and the byte offsets of R, G, B."""
PLANAR = ("I420", "NV12")
FORMATS = tuple(PACKED) + PLANAR
"""Every raw format the element accepts, as GStreamer names them."""

Region = tuple[int, int, int, int]
"""``(x0, y0, x1, y1)`` in pixels, end exclusive."""


@dataclass(frozen=True)
class RawLayout:
    """Where one picture's planes are in its buffer."""

    format: str
    width: int
    height: int
    strides: tuple[int, ...]
    offsets: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise UnsupportedMediaError(f"raw video format: expected one of {', '.join(FORMATS)}, "
                                        f"got {self.format}")
        check(self.width > 0 and self.height > 0, InputError, "picture size", "> 0", (self.width, self.height))
        planes = 1 if self.format in PACKED else (3 if self.format == "I420" else 2)
        check(len(self.strides) >= planes and len(self.offsets) >= planes, InputError,
              f"{self.format} plane count", planes, min(len(self.strides), len(self.offsets)))

    @property
    def size(self) -> int:
        """Bytes the picture needs from the start of the buffer (the last plane's end)."""
        if self.format in PACKED:
            return self.offsets[0] + self.strides[0] * (self.height - 1) + self.width * PACKED[self.format][0]
        ch, cw = (self.height + 1) // 2, (self.width + 1) // 2
        if self.format == "I420":
            return self.offsets[2] + self.strides[2] * (ch - 1) + cw
        return self.offsets[1] + self.strides[1] * (ch - 1) + 2 * cw


def _plane(data: np.ndarray, offset: int, stride: int, rows: int, row_bytes: int) -> np.ndarray:
    """A ``(rows, row_bytes)`` view of one plane (strided, no copy)."""
    return np.lib.stride_tricks.as_strided(data[offset:], shape=(rows, row_bytes), strides=(stride, 1),
                                           writeable=data.flags.writeable)


def _as_bytes(buffer) -> np.ndarray:
    return buffer if isinstance(buffer, np.ndarray) else np.frombuffer(buffer, dtype=np.uint8)


def read_rgb(buffer, layout: RawLayout) -> np.ndarray:
    """A new contiguous RGB ``uint8`` array of the picture in ``buffer`` (bytes-like or uint8 array)."""
    import cv2

    data = _as_bytes(buffer)
    check(data.size >= layout.size, InputError, f"{layout.format} buffer size", f">= {layout.size}", data.size)
    w, h = layout.width, layout.height
    if layout.format in PACKED:
        bpp, (r, g, b) = PACKED[layout.format]
        pixels = _plane(data, layout.offsets[0], layout.strides[0], h, w * bpp).reshape(h, w, bpp)
        if (r, g, b) == (0, 1, 2) and bpp == 3:
            return np.ascontiguousarray(pixels)
        return np.ascontiguousarray(pixels[..., [r, g, b]])
    if w % 2 == 0 and h % 2 == 0:
        if layout.format == "NV12":  # two planes, read in place
            y = _plane(data, layout.offsets[0], layout.strides[0], h, w)
            uv = _plane(data, layout.offsets[1], layout.strides[1], h // 2, w).reshape(h // 2, w // 2, 2)
            return cv2.cvtColorTwoPlane(y, uv, cv2.COLOR_YUV2RGB_NV12)
        if layout.strides == (w, w // 2, w // 2)[:len(layout.strides)] and \
                layout.offsets[:3] == (0, w * h, w * h + w * h // 4):  # tight I420: read in place
            return cv2.cvtColor(data[:w * h * 3 // 2].reshape(h * 3 // 2, w), cv2.COLOR_YUV2RGB_I420)
    rgb = cv2.cvtColor(_planar_to_i420(data, layout), cv2.COLOR_YUV2RGB_I420)
    return rgb if rgb.shape[:2] == (h, w) else np.ascontiguousarray(rgb[:h, :w])


def _planar_to_i420(data: np.ndarray, layout: RawLayout) -> np.ndarray:
    """The picture as one contiguous I420 block of even size (what OpenCV converts)."""
    w, h = layout.width, layout.height
    ew, eh = w + (w & 1), h + (h & 1)
    cw, ch = ew // 2, eh // 2
    out = np.empty((eh * 3 // 2, ew), dtype=np.uint8)
    y = _plane(data, layout.offsets[0], layout.strides[0], h, w)
    out[:h, :w] = y
    if ew != w:
        out[:h, w] = y[:, -1]
    if eh != h:
        out[h, :] = out[h - 1, :]
    flat = out[eh:].reshape(-1)
    u_out, v_out = flat[:cw * ch].reshape(ch, cw), flat[cw * ch:2 * cw * ch].reshape(ch, cw)
    if layout.format == "I420":
        u_out[...] = _plane(data, layout.offsets[1], layout.strides[1], ch, cw)
        v_out[...] = _plane(data, layout.offsets[2], layout.strides[2], ch, cw)
    else:  # NV12: one plane of interleaved U, V
        uv = _plane(data, layout.offsets[1], layout.strides[1], ch, 2 * cw).reshape(ch, cw, 2)
        u_out[...] = uv[..., 0]
        v_out[...] = uv[..., 1]
    return out


def changed_region(before: np.ndarray, after: np.ndarray) -> Region | None:
    """Smallest box holding every pixel that differs, or None when the pictures are equal."""
    import cv2

    if after is before:
        return None
    check(before.shape == after.shape, InputError, "anonymized frame shape", before.shape, after.shape)
    h, w = before.shape[:2]
    diff = cv2.absdiff(before, after).reshape(h, w * before.shape[2])
    x, y, bw, bh = cv2.boundingRect(diff)  # of the non-zero bytes
    if bw == 0 or bh == 0:
        return None
    c = before.shape[2]
    return x // c, y, (x + bw + c - 1) // c, y + bh


def write_rgb(buffer, layout: RawLayout, rgb: np.ndarray, region: Region | None = None) -> None:
    """Write ``rgb`` (H, W, 3) into the writable ``buffer``, only inside ``region`` (default: all).

    For 4:2:0 formats the region grows to even coordinates (whole chroma samples).
    """
    import cv2

    data = _as_bytes(buffer)
    check(data.flags.writeable, InputError, "raw video buffer", "writable", "read-only")
    w, h = layout.width, layout.height
    check(rgb.shape == (h, w, 3), InputError, "anonymized frame shape", (h, w, 3), rgb.shape)
    x0, y0, x1, y1 = region if region is not None else (0, 0, w, h)
    if x1 <= x0 or y1 <= y0:
        return
    if layout.format in PACKED:
        bpp, (r, g, b) = PACKED[layout.format]
        pixels = _plane(data, layout.offsets[0], layout.strides[0], h, w * bpp).reshape(h, w, bpp)
        box = pixels[y0:y1, x0:x1]
        patch = rgb[y0:y1, x0:x1]
        if (r, g, b) == (0, 1, 2) and bpp == 3:
            box[...] = patch
        else:
            for channel, at in enumerate((r, g, b)):
                box[..., at] = patch[..., channel]
        return
    x0, y0 = x0 & ~1, y0 & ~1
    x1, y1 = min(w, x1 + (x1 & 1)), min(h, y1 + (y1 & 1))
    sub = rgb[y0:y1, x0:x1]
    sh, sw = sub.shape[:2]
    if sh % 2 or sw % 2:  # odd picture edge: pad by repeating the last row/column
        sub = np.pad(sub, ((0, sh % 2), (0, sw % 2), (0, 0)), mode="edge")
    yuv = cv2.cvtColor(np.ascontiguousarray(sub), cv2.COLOR_RGB2YUV_I420)
    eh, ew = sub.shape[:2]
    ch, cw = eh // 2, ew // 2
    flat = yuv[eh:].reshape(-1)
    u, v = flat[:cw * ch].reshape(ch, cw), flat[cw * ch:].reshape(ch, cw)
    _plane(data, layout.offsets[0], layout.strides[0], h, w)[y0:y1, x0:x1] = yuv[:sh, :sw]
    cy0, cx0 = y0 // 2, x0 // 2
    crows, ccols = (sh + 1) // 2, (sw + 1) // 2
    full_ch, full_cw = (h + 1) // 2, (w + 1) // 2
    if layout.format == "I420":
        _plane(data, layout.offsets[1], layout.strides[1], full_ch, full_cw)[cy0:cy0 + crows, cx0:cx0 + ccols] = u[:crows, :ccols]
        _plane(data, layout.offsets[2], layout.strides[2], full_ch, full_cw)[cy0:cy0 + crows, cx0:cx0 + ccols] = v[:crows, :ccols]
    else:
        uv = _plane(data, layout.offsets[1], layout.strides[1], full_ch, 2 * full_cw).reshape(full_ch, full_cw, 2)
        uv[cy0:cy0 + crows, cx0:cx0 + ccols, 0] = u[:crows, :ccols]
        uv[cy0:cy0 + crows, cx0:cx0 + ccols, 1] = v[:crows, :ccols]


def default_layout(format: str, width: int, height: int) -> RawLayout:
    """The tightly packed layout GStreamer uses by default (rows padded to 4 bytes)."""
    def pad4(n: int) -> int:
        return (n + 3) & ~3

    if format in PACKED:
        return RawLayout(format, width, height, (pad4(width * PACKED[format][0]),), (0,))
    ys = pad4(width)
    cw, ch = (width + 1) // 2, (height + 1) // 2
    if format == "I420":
        cs = pad4(cw)
        return RawLayout(format, width, height, (ys, cs, cs), (0, ys * 2 * ch, ys * 2 * ch + cs * ch))
    return RawLayout(format, width, height, (ys, ys), (0, ys * 2 * ch))
