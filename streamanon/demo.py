"""A demo clip made from data that ships with scikit-image: the astronaut photo moving and
scaling over a background, with a tone on an audio track. Needs no input and no network."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from .errors import BackendUnavailableError


def _face_image() -> np.ndarray:
    try:
        from skimage import data
    except ImportError as exc:
        raise BackendUnavailableError("demo", "demo", str(exc)) from None
    return data.astronaut()  # 512x512 RGB portrait (public domain, NASA)


PORTRAIT = (115, 10, 335, 230)
"""Head and shoulders of the astronaut photo (x0, y0, x1, y1): its face is about 110 px of 512."""


def demo_frames(frames: int, size: tuple[int, int], portrait: bool = False) -> list[np.ndarray]:
    """Frames of the astronaut drifting and zooming over a soft gradient background.

    ``portrait``: only her head and shoulders, larger (face about 125-170 px at 640x360, above
    the 96 px under which synthetic mode covers instead of drawing); else the whole photo
    (face about 40-60 px)."""
    import cv2

    width, height = size
    face = _face_image()
    if portrait:
        x0, y0, x1, y1 = PORTRAIT
        face = face[y0:y1, x0:x1]
    low, swing = (0.7, 0.25) if portrait else (0.55, 0.3)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    background = np.stack([60 + 80 * xx / width, 90 + 40 * yy / height, 140 - 60 * xx / width], axis=-1)
    background = background.astype(np.uint8)
    out = []
    for i in range(frames):
        t = i / max(1, frames - 1)
        side = int(height * (low + swing * np.sin(np.pi * t)))
        picture = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
        x = int((width - side) * (0.1 + 0.8 * t))
        y = int((height - side) * (0.5 + 0.4 * np.sin(2 * np.pi * t)) / 1.0)
        y = min(max(0, y), height - side)
        frame = background.copy()
        frame[y:y + side, x:x + side] = picture
        out.append(frame)
    return out


def make_demo_clip(path: str | Path, frames: int = 90, size: tuple[int, int] = (640, 360), fps: int = 30,
                   portrait: bool = False) -> Path:
    """Write the demo clip (H.264 + AAC tone) to ``path``; ``portrait`` as in :func:`demo_frames`."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        video.options = {"preset": "veryfast", "crf": "20"}
        audio = container.add_stream("aac", rate=48000)
        audio.layout = "mono"
        for i, image in enumerate(demo_frames(frames, size, portrait)):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            container.mux(video.encode(frame))
        container.mux(video.encode())
        samples = int(48000 * frames / fps)
        tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / 48000)).astype(np.float32)
        for start in range(0, samples, 1024):
            chunk = tone[start:start + 1024][None, :]
            aframe = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
            aframe.sample_rate, aframe.pts, aframe.time_base = 48000, start, Fraction(1, 48000)
            container.mux(audio.encode(aframe))
        container.mux(audio.encode())
    return path
