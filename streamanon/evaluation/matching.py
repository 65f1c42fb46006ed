"""One pass over an original video and its anonymized copy: faces matched by track.

Faces are found by the independent detector on the ORIGINAL every ``stride`` frames and
linked over time by box overlap into tracks, which end at scene cuts of the original (two
people filmed in the same place one after the other are two tracks); each face is then
looked up at the same place in the anonymized frame (same frame index). The anonymized
frame is also searched by the same detector (retention, leaks). Frame t+1 of each sampled
frame is cut with the same alignment for the flicker measure.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from ..temporal.config import TemporalConfig
from ..temporal.scenecut import SceneCutDetector
from . import quality
from .faces import SAME_PERSON, FaceBox, aligned_chip
from .temporal import chip_change

log = logging.getLogger(__name__)

Box = tuple[float, float, float, float]


@dataclass
class FaceSample:
    """One original face at one sampled frame, and what the anonymized frame shows there."""

    track_id: int
    frame: int
    box: Box
    rect: Box
    emb_orig: np.ndarray
    emb_anon: np.ndarray
    lmk_orig: np.ndarray
    lmk_anon: np.ndarray
    retained: bool
    sharp_orig: float
    sharp_anon: float
    seam: float | None
    emb2_orig: np.ndarray | None = None
    emb2_anon: np.ndarray | None = None
    change_orig: float | None = None
    change_anon: float | None = None
    chips: tuple[np.ndarray, np.ndarray] | None = None


@dataclass
class FrameSample:
    frame: int
    faces: int
    detections_anon: int
    leak_distances: list[float] = field(default_factory=list)
    leak: bool = False
    leak_boxes: list[Box] = field(default_factory=list)
    """Boxes of the faces in the anonymized frame that are the original person."""
    leak_tracks: list[int] = field(default_factory=list)
    """Track of the original face each leaking face overlaps."""
    collateral: float = 0.0
    """Share of the frame changed away from every evaluated face (see quality.collateral)."""


@dataclass
class ClipObservations:
    original: str
    anonymized: str
    width: int
    height: int
    frames: int
    faces: list[FaceSample]
    sampled: list[FrameSample]
    thumbnails: list[tuple[int, np.ndarray, np.ndarray]]
    detector: str
    seconds: float = 0.0


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


class BoxLinker:
    """Greedy IoU linking of per-frame boxes into tracks (one instance per clip)."""

    def __init__(self, min_iou: float = 0.2, max_gap: int = 3) -> None:
        self.min_iou, self.max_gap = min_iou, max_gap
        self._tracks: dict[int, tuple[Box, int]] = {}
        self._next = 0
        self._step = 0

    def cut(self) -> None:
        """A scene cut: boxes of the next shot start new tracks, wherever they are."""
        self._tracks.clear()

    def link(self, boxes: list[Box]) -> list[int]:
        self._step += 1
        live = {t: b for t, (b, last) in self._tracks.items() if self._step - last <= self.max_gap}
        pairs = sorted(((iou(b, tb), i, t) for i, b in enumerate(boxes) for t, tb in live.items()),
                       reverse=True)
        ids: list[int | None] = [None] * len(boxes)
        used: set[int] = set()
        for score, i, t in pairs:
            if score < self.min_iou:
                break
            if ids[i] is None and t not in used:
                ids[i] = t
                used.add(t)
        for i, b in enumerate(boxes):
            if ids[i] is None:
                ids[i] = self._next
                self._next += 1
            self._tracks[ids[i]] = (b, self._step)
        return [int(i) for i in ids]


def _frames(path: str | Path):
    import av

    try:
        container = av.open(str(path))
    except (av.error.FileNotFoundError, FileNotFoundError):
        raise InputError(f"video not found: {path}") from None
    except av.error.InvalidDataError:
        raise InputError(f"not a readable video: {path}") from None
    with container:
        if not container.streams.video:
            raise InputError(f"{path}: expected a video stream, got none")
        yield from container.decode(video=0)


PAD_TOLERANCE = 16
"""Encoders such as imageio-ffmpeg (deface) pad frames to 16-pixel multiples; the extra
right/bottom pixels of the anonymized copy are cropped away."""


def _quarter_turns(frame) -> int:
    """Counter-clockwise quarter turns that bring a decoded frame to display orientation."""
    rotation = getattr(frame, "rotation", 0) or 0
    return int(round(rotation / 90.0)) % 4


def display_rgb(frame) -> np.ndarray:
    """RGB pixels of a decoded frame as displayed (display-matrix rotation applied), so that
    a copy stored rotated and one stored upright with rotation metadata compare equal."""
    image = frame.to_ndarray(format="rgb24")
    turns = _quarter_turns(frame)
    return np.ascontiguousarray(np.rot90(image, turns)) if turns else image


def _crop_to(image: np.ndarray, like: np.ndarray) -> np.ndarray:
    h, w = like.shape[:2]
    return image if image.shape[:2] == (h, w) else np.ascontiguousarray(image[:h, :w])


def _display_size(frame) -> tuple[int, int]:
    return (frame.height, frame.width) if _quarter_turns(frame) % 2 else (frame.width, frame.height)


def paired_frames(original: str | Path, anonymized: str | Path):
    """(index, original av.VideoFrame, anonymized av.VideoFrame); equal counts required."""
    a_iter, b_iter = _frames(original), _frames(anonymized)
    index = 0
    for fa in a_iter:
        fb = next(b_iter, None)
        if fb is None:
            rest = sum(1 for _ in a_iter)
            raise InputError(f"frame count: expected {index + 1 + rest} frames in {anonymized} "
                             f"(as in {original}), got {index}")
        (wa, ha), (wb, hb) = _display_size(fa), _display_size(fb)
        if not (0 <= wb - wa < PAD_TOLERANCE and 0 <= hb - ha < PAD_TOLERANCE):
            raise InputError(f"frame size: expected {wa}x{ha} in {anonymized}, got {wb}x{hb}")
        if index == 0 and (wb, hb) != (wa, ha):
            log.warning("%s is padded to %dx%d (encoder macroblocks); comparing its top-left %dx%d",
                        anonymized, wb, hb, wa, ha)
        yield index, fa, fb
        index += 1
    extra = sum(1 for _ in b_iter)
    if extra:
        raise InputError(f"frame count: expected {index} frames in {anonymized} (as in {original}), "
                         f"got {index + extra}")


def _grow(rect: Box, factor: float) -> Box:
    x0, y0, x1, y1 = rect
    cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, factor * (x1 - x0) / 2, factor * (y1 - y0) / 2
    return (cx - hw, cy - hh, cx + hw, cy + hh)


def _thumb(image: np.ndarray, width: int = 320) -> np.ndarray:
    h, w = image.shape[:2]
    return cv2.resize(image, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)


def observe(original: str | Path, anonymized: str | Path, detector, model, second=None, *,
            stride: int = 5, max_frames: int | None = None, min_face: int = 24,
            match_iou: float = 0.3, threshold: float = SAME_PERSON, chip_size: int = 96,
            cache: dict | None = None) -> ClipObservations:
    """Walk both videos once and collect :class:`FaceSample` and :class:`FrameSample` lists.

    ``cache`` (a dict kept by the caller per original clip) stores the original side
    (detections, landmarks, embeddings) so that several anonymized copies cost less."""
    cache = {} if cache is None else cache
    start = time.perf_counter()
    linker = BoxLinker()
    faces: list[FaceSample] = []
    sampled: list[FrameSample] = []
    thumbs: list[tuple[int, np.ndarray, np.ndarray]] = []
    pending: list[tuple[FaceSample, np.ndarray, np.ndarray, np.ndarray]] = []
    width = height = frames = 0
    cuts = SceneCutDetector(TemporalConfig())
    for index, fa, fb in paired_frames(original, anonymized):
        frames = index + 1
        if max_frames is not None and index >= max_frames:
            continue
        orig = display_rgb(fa)
        if cuts.update(orig):  # two people in one place across a cut are two tracks
            linker.cut()
        if pending:  # frame t+1 of the last sampled frame: flicker
            anon = _crop_to(display_rgb(fb), orig)
            for s, lm, chip_o, chip_a in pending:
                s.change_orig = chip_change(chip_o, aligned_chip(orig, s.rect, lm, 64))
                s.change_anon = chip_change(chip_a, aligned_chip(anon, s.rect, lm, 64))
            pending = []
        if index % stride:
            continue
        anon = _crop_to(display_rgb(fb), orig)
        height, width = orig.shape[:2]
        if index not in cache:
            found = [f for f in detector.detect(orig) if f.size >= min_face]
            cache[index] = [(f, _original_side(orig, f, model, second)) for f in found]
        found = [f for f, _ in cache[index]]
        found_anon = detector.detect(anon)
        ids = linker.link([f.box for f in found])
        frame_faces: list[FaceSample] = []
        for tid, (face, side) in zip(ids, cache[index]):
            sample = _face_sample(orig, anon, tid, index, face, side, found_anon, model, second, match_iou)
            frame_faces.append(sample)
            chip_o = aligned_chip(orig, face.rect, sample.lmk_orig, 64)
            chip_a = aligned_chip(anon, face.rect, sample.lmk_orig, 64)
            pending.append((sample, sample.lmk_orig, chip_o, chip_a))
            if chip_size:  # for the contact sheet: the face square, grown to show the mask border
                sheet_rect = _grow(face.rect, 1.5)
                sample.chips = (aligned_chip(orig, sheet_rect, None, chip_size),
                                aligned_chip(anon, sheet_rect, None, chip_size))
        faces += frame_faces
        frame_sample = _leaks(index, anon, frame_faces, found_anon, model, match_iou, threshold)
        frame_sample.collateral = quality.collateral(orig, anon, [f.rect for f in found])
        sampled.append(frame_sample)
        if frame_faces:
            thumbs.append((index, _thumb(orig), _thumb(anon)))
    if frames == 0:
        raise InputError(f"{original}: expected at least one frame, got 0")
    log.info("%s: %d frames, %d sampled, %d faces", original, frames, len(sampled), len(faces))
    return ClipObservations(str(original), str(anonymized), width, height, frames, faces, sampled,
                            thumbs, detector.name, time.perf_counter() - start)


def _original_side(orig, face: FaceBox, model, second) -> tuple:
    """(landmarks, embedding, second embedding) of an original face."""
    lmk = model.landmarks(orig, face.rect)
    return lmk, model.embed(orig, face.rect, lmk), second.embed(orig, face.rect, lmk) if second else None


def _face_sample(orig, anon, tid, index, face: FaceBox, side, found_anon, model, second, match_iou) -> FaceSample:
    lmk_o, emb_o, emb2_o = side
    lmk_a = model.landmarks(anon, face.rect)
    sharp_o, sharp_a = quality.sharpness(orig, anon, face.rect)
    return FaceSample(
        track_id=tid, frame=index, box=face.box, rect=face.rect,
        emb_orig=emb_o, emb_anon=model.embed(anon, face.rect, lmk_a),
        lmk_orig=lmk_o, lmk_anon=lmk_a,
        retained=any(iou(face.box, d.box) >= match_iou for d in found_anon),
        sharp_orig=sharp_o, sharp_anon=sharp_a, seam=quality.seam(orig, anon, face.rect),
        emb2_orig=emb2_o,
        emb2_anon=second.embed(anon, face.rect, lmk_a) if second else None)


def _leaks(index, anon, frame_faces: list[FaceSample], found_anon, model, match_iou, threshold) -> FrameSample:
    """Embed every face the detector finds in the anonymized frame over an original face
    (IoU >= ``match_iou``) and compare it with that track's original face at this frame."""
    result = FrameSample(index, len(frame_faces), len(found_anon))
    for det in found_anon:
        if not frame_faces:
            break
        best_iou, best = max(((iou(det.box, s.box), s) for s in frame_faces), key=lambda p: p[0])
        if best_iou < match_iou:
            continue  # no evaluated original face here (emblem, tiny face, false alarm)
        distance = float(np.linalg.norm(model.embed(anon, det.rect) - best.emb_orig))
        result.leak_distances.append(distance)
        if distance <= threshold:
            result.leak_boxes.append(det.box)
            result.leak_tracks.append(best.track_id)
    result.leak = bool(result.leak_boxes)
    return result
