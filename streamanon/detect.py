"""Face detection with MediaPipe: short-range on the frame, full-range on tiles, mesh per face.

``FaceDetector(config, rotation).detect(image) -> list[Detection]``. One instance per stream
(MediaPipe graphs are not shared between threads).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from .config import DetectorConfig
from .geometry import Box, box_center_size, box_iou, rotate_points_back, square_region
from .types import Detection

log = logging.getLogger(__name__)

MESH_CROP_SCALE = 1.7
"""Side of the square crop the mesh runs on, relative to the detection's larger side."""
MESH_WIDTH_RATIO = (0.6, 2.0)
"""Mesh width over detection-box width accepted as the same face (typically 1.0-1.3)."""
HINT_SCALE = 2.5
"""Side of the square searched around a tracker hint, relative to its larger side."""
HINT_FOUND_IOU = 0.4
"""A tracker hint overlapping a whole-frame detection this much is that face, found again."""
FULL_RANGE_INPUT = 192
"""Side of the image MediaPipe's full-range model runs at (the whole frame is scaled to it)."""
TILE_FACE_MAX = 14.0
"""``detector.tiles_start_small_faces_only`` (with CenterFace and the mesh on): a tile
detection at least this large at the whole-frame full-range model's input
(``FULL_RANGE_INPUT`` px on the frame's long side), whose centre no tracked face's expected
box (hint) holds, must be confirmed by the face mesh to start a track. Tiles are for faces
too small for the whole-frame passes; the large ones no pass confirmed were hair, a neck or
blurred background at 0.5-0.75 with no mesh, grown by coasting into grey discs beside the
drawn face (talking_s18). A first version asked for a hint instead of a mesh and dropped real
faces: after the cut at stage_profiles_360p frame 211 the whole-frame passes missed three
singers of 19-25 px there (64-80 px in the frame) for up to three frames that the tiles
found, with their mesh (leak frames 3 -> 4 of 55; with the mesh's confirmation 3, as without
the option). Still off by default: there a tile detection in the dark audience without a
mesh (100 px, frame 28) was dropped, and an audience face its cover had hidden (68 px, one no
detector finds on its own) matched its person in 3 of 13 sampled frames (re-ID 0.066 ->
0.088; salt s6). ``benchmarks/tile_detections.py`` lists what a tile finds that the
whole-frame passes do not, and what the mesh confirms. By default (option off) such a
detection the mesh does not confirm is kept but marked ``Detection.tentative``: its track
coasts only ``tracker.tentative_coast`` frames."""

CONFIRM_MIN_SIZE = 96.0
"""``detector.confirm_below``: the smallest box side (pixels) whose weak, single-pass detection
CenterFace is asked about. Below it CenterFace's own opinion is unreliable (a dark stage
face of 65-80 px it scores 0.15-0.25, one YuNet scores 0.75), and synthetic mode covers such
faces anyway."""
CONFIRM_SCORE = 0.2
"""CenterFace's score on the close crop (``CenterFace.score_near``) that confirms such a
detection. Measured on the 16 shared clips, every 3rd frame: the false ones score 0-0.09
(a chandelier, the hair and shoulder beside talking_s18's face); a profile close-up
(stage_profiles frame 45, MediaPipe 0.59) scores 0.47-0.51."""

PART_OF_FACE = 0.25
"""A detection without a mesh that touches (overlaps at all) the box of a meshed face at
least 1 / ``PART_OF_FACE`` times its size is tentative (covered where found, coasting only
``tracker.tentative_coast`` frames): it is an ear, an earring or a jaw beside that face, not a
face. Census of every frame of the 16 shared clips, unmeshed finds touching a meshed face:
talking_vr1 32-38 px at the jaw of his 218 px face (frames 55, 106, 112, 118, 121), each
coasting ``tracker.max_coast`` frames as a disc that grew to about 90 px beside the drawn
face; music_video_720p frame 220, 25 px beside a 289 px face. The real neighbours among them,
in crowds (crowd_walk_1080p, stage_profiles_360p), were 0.4-1.9 times the meshed face's size;
so were talking_s32's hair-top finds (0.9), tentative already (``TILE_FACE_MAX``)."""


@dataclass(frozen=True)
class _Raw:
    box: tuple[float, float, float, float]
    score: float
    keypoints: np.ndarray
    primary: bool = True
    """MediaPipe (primary) boxes win over CenterFace's for the same face: the tracker and
    masks expect MediaPipe's box scale and six keypoints."""
    needs_mesh: bool = False
    """A large face only a tile found (``TILE_FACE_MAX``), not where a tracked face is expected:
    without the face mesh's confirmation it is dropped (``detector.tiles_start_small_faces_only``)
    or reported tentative (``Detection.tentative``)."""
    source: str = "short"
    """The pass that found it: ``short`` or ``full`` (that MediaPipe model on the whole frame),
    ``hint`` (the short-range model around a tracked face), ``tile`` or ``centerface``."""


class FaceDetector:
    """Finds faces and their mesh in RGB frames as stored.

    ``rotation`` is the display rotation in counter-clockwise degrees (as
    :attr:`streamanon.io.MediaInfo.rotation` and PyAV's display matrix): detection runs on the
    upright view a player shows, and results map back to stored pixels.
    """

    def __init__(self, config: DetectorConfig, rotation: int = 0) -> None:
        import mediapipe as mp  # heavy import, done once per detector

        if rotation % 90:
            raise ValueError(f"rotation: expected a multiple of 90, got {rotation}")
        self.config = config
        self.rotation = rotation % 360
        self._k = (self.rotation // 90) % 4  # counter-clockwise quarter turns, as np.rot90
        fd = mp.solutions.face_detection
        self._short = fd.FaceDetection(model_selection=0, min_detection_confidence=config.min_score) \
            if config.short_range else None
        self._full = fd.FaceDetection(model_selection=1, min_detection_confidence=config.min_score) \
            if config.full_range else None
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=1, refine_landmarks=True,
            min_detection_confidence=0.3) if config.mesh else None
        self._frames = 0
        self._tile_cursor = 0
        self._centerface = None
        if config.centerface_every > 0:
            from .centerface import CenterFace

            self._centerface = CenterFace(config.centerface_width, config.centerface_score)
        self._tiles_small_only = (config.tiles_start_small_faces_only and self._centerface is not None
                                  and self._mesh is not None)
        self._confirm_below = config.confirm_below if self._centerface is not None else 0.0

    def detect(self, image: np.ndarray, hints: Sequence[Box] = ()) -> list[Detection]:
        """Faces in ``image``; ``hints`` (boxes where faces are expected, e.g. from a tracker)
        are searched closely with the short-range model, which finds faces of any size there."""
        upright = np.ascontiguousarray(np.rot90(image, k=self._k)) if self.rotation else image
        if self.rotation and hints:
            hints = [self._rotate_box(b, image.shape) for b in hints]
        detections = []
        for raw in self._find_faces(upright, hints):
            d = self._with_mesh(upright, raw)
            if raw.needs_mesh and (d.landmarks is None or self._centerface_disagrees(upright, raw)):
                if self._tiles_small_only:
                    continue
                d = replace(d, landmarks=None, tentative=True)  # covered where found, never drawn
            detections.append(d)
        detections = _parts_of_faces_tentative(detections)
        if self.rotation:
            detections = [self._unrotate(d, upright.shape) for d in detections]
        return detections

    def close(self) -> None:
        for graph in (self._short, self._full, self._mesh):
            if graph is not None:
                graph.close()

    # -- detection ----------------------------------------------------------------------

    def _find_faces(self, image: np.ndarray, hints: Sequence[Box]) -> list[_Raw]:
        h, w = image.shape[:2]
        found: list[_Raw] = []
        if self._short is not None:
            found += _run_detector(self._short, image, 0, 0, self.config.min_score, source="short")
        if self._full is not None:
            found += _run_detector(self._full, image, 0, 0, self.config.min_score, source="full")
        if self._short is not None:
            # a tracked face the whole-frame pass found again needs no close search
            for hint in (b for b in hints if all(box_iou(b, r.box) < HINT_FOUND_IOU for r in found)):
                x0, y0, x1, y1 = square_region(hint, HINT_SCALE, w, h)
                if min(x1 - x0, y1 - y0) >= 16:
                    found += _run_detector(self._short, np.ascontiguousarray(image[y0:y1, x0:x1]), x0, y0,
                                           self.config.min_score, source="hint")
        if self._full is not None:
            tiles = _tiles(w, h, self.config.tile_size)
            for x0, y0, x1, y1 in self._next_tiles(tiles):
                raws = _run_detector(self._full, np.ascontiguousarray(image[y0:y1, x0:x1]), x0, y0,
                                     self.config.min_score, source="tile")
                found += [self._from_tile(r, hints, w, h) for r in raws]
        if self._centerface is not None and self._frames % self.config.centerface_every == 0:
            found += [_Raw(box, score, kps, primary=False, source="centerface")
                      for box, score, kps in self._centerface.detect(image)]
        self._frames += 1
        merged = _merge(_confirmed(found, self.config.nms_iou), self.config.nms_iou)
        return [r for r in merged if not self._doubtful(image, r, found, hints)]

    def _doubtful(self, image: np.ndarray, raw: _Raw, found: list[_Raw], hints: Sequence[Box]) -> bool:
        """``detector.confirm_below``: a weak whole-frame detection of at least
        ``CONFIRM_MIN_SIZE`` px that no other pass found, away from every tracked face, and that
        CenterFace does not see on a close crop either (``CONFIRM_SCORE``)."""
        x0, y0, x1, y1 = raw.box
        if (raw.source not in ("short", "full") or raw.score >= self._confirm_below
                or min(x1 - x0, y1 - y0) < CONFIRM_MIN_SIZE
                or any(_centre_inside(raw.box, hint) for hint in hints)
                or any(o.source != raw.source and _same_face(raw.box, o.box, self.config.nms_iou) for o in found)):
            return False
        return self._centerface_disagrees(image, raw)

    def _centerface_disagrees(self, image: np.ndarray, raw: _Raw) -> bool:
        """CenterFace, asked on a close crop, sees no face there (``CONFIRM_SCORE``); False
        without CenterFace. Also asked of a tile's find the mesh confirmed: the face mesh
        (detection confidence 0.3) fits a face into a patterned shirt too. On the 16 shared
        clips, every frame, one such find (music_video_720p frame 26, his striped shirt, 171 px,
        CenterFace 0.0, no YuNet face) had coasted ``tracker.max_coast`` frames as a disc over
        his chest; the one real face among them (stage_profiles_360p frame 211) scores 0.85.
        Such a find is tentative instead."""
        return self._centerface is not None and self._centerface.score_near(image, raw.box) < CONFIRM_SCORE

    def _from_tile(self, raw: _Raw, hints: Sequence[Box], w: int, h: int) -> _Raw:
        """A tile's detection, marked to need the mesh's confirmation where ``TILE_FACE_MAX`` says so
        (with the mesh on: without it nothing could confirm a face)."""
        if self._mesh is None or not _whole_frame_sized(raw.box, w, h) \
                or any(_centre_inside(raw.box, hint) for hint in hints):
            return raw
        return replace(raw, needs_mesh=True)

    def _next_tiles(self, tiles: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
        """The next ``tiles_per_frame`` tiles, round robin: every tile is visited once every
        ``ceil(len(tiles) / tiles_per_frame)`` frames (the lookahead back-fills in between)."""
        n = min(self.config.tiles_per_frame, len(tiles))
        if n <= 0:
            return []
        start = self._tile_cursor % len(tiles)
        self._tile_cursor += n
        return [tiles[(start + i) % len(tiles)] for i in range(n)]

    def _rotate_box(self, box: Box, stored_shape: tuple[int, ...]) -> Box:
        """A stored-image box in upright coordinates (inverse of :meth:`_unrotate`)."""
        pts = np.array([[box[0], box[1]], [box[2], box[3]]], dtype=np.float32)
        # rotating forward by k equals rotating back by 4 - k on the stored shape
        up = rotate_points_back(pts, ((4 - self._k) % 4) * 90, stored_shape)
        return (float(up[:, 0].min()), float(up[:, 1].min()), float(up[:, 0].max()), float(up[:, 1].max()))

    def _with_mesh(self, image: np.ndarray, raw: _Raw) -> Detection:
        landmarks = None
        x0, y0, x1, y1 = raw.box
        if self._mesh is not None and min(x1 - x0, y1 - y0) >= self.config.mesh_min_size:
            landmarks = self._run_mesh(image, raw.box)
        return Detection(box=raw.box, score=raw.score, keypoints=raw.keypoints, landmarks=landmarks)

    def _run_mesh(self, image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray | None:
        h, w = image.shape[:2]
        cx0, cy0, cx1, cy1 = square_region(box, MESH_CROP_SCALE, w, h)
        crop = np.ascontiguousarray(image[cy0:cy1, cx0:cx1])
        if crop.shape[0] < 8 or crop.shape[1] < 8:
            return None
        result = self._mesh.process(crop)
        if not result.multi_face_landmarks:
            return None
        lm = result.multi_face_landmarks[0].landmark
        pts = np.array([(p.x, p.y) for p in lm], dtype=np.float32)
        pts[:, 0] = pts[:, 0] * crop.shape[1] + cx0
        pts[:, 1] = pts[:, 1] * crop.shape[0] + cy0
        # A mesh far from the detection, or of another size, belongs to another face in the crop
        # (a small face behind a large one): the detected face would go without its mask.
        bx, by = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        mx, my = pts.mean(axis=0)
        if abs(mx - bx) > (box[2] - box[0]) * 0.6 or abs(my - by) > (box[3] - box[1]) * 0.6:
            return None
        width_ratio = float(np.ptp(pts[:, 0])) / max(1.0, box[2] - box[0])
        if not MESH_WIDTH_RATIO[0] <= width_ratio <= MESH_WIDTH_RATIO[1]:
            return None
        return pts

    def _unrotate(self, d: Detection, upright_shape: tuple[int, ...]) -> Detection:
        def back(points: np.ndarray | None) -> np.ndarray | None:
            return None if points is None else rotate_points_back(points, self._k * 90, upright_shape)

        corners = back(np.array([[d.box[0], d.box[1]], [d.box[2], d.box[3]]], dtype=np.float32))
        (ax, ay), (bx, by) = corners
        box = (min(ax, bx), min(ay, by), max(ax, bx), max(ay, by))
        return replace(d, box=box, keypoints=back(d.keypoints), landmarks=back(d.landmarks))


def _run_detector(graph, image: np.ndarray, ox: int, oy: int, min_score: float, source: str) -> list[_Raw]:
    h, w = image.shape[:2]
    result = graph.process(image)
    out: list[_Raw] = []
    for det in result.detections or ():
        if det.score[0] < min_score:  # the full-range graph ignores min_detection_confidence
            continue
        rb = det.location_data.relative_bounding_box
        x0 = max(0.0, rb.xmin * w) + ox
        y0 = max(0.0, rb.ymin * h) + oy
        x1 = min(float(w), (rb.xmin + rb.width) * w) + ox
        y1 = min(float(h), (rb.ymin + rb.height) * h) + oy
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        kps = np.array([(k.x * w + ox, k.y * h + oy) for k in det.location_data.relative_keypoints],
                       dtype=np.float32)
        out.append(_Raw((float(x0), float(y0), float(x1), float(y1)), float(det.score[0]), kps, source=source))
    return out


def _centre_inside(box: tuple[float, float, float, float], region: tuple[float, ...]) -> bool:
    cx, cy = box_center_size(box)[:2]
    return region[0] <= cx <= region[2] and region[1] <= cy <= region[3]


def _whole_frame_sized(box: tuple[float, float, float, float], w: int, h: int) -> bool:
    """Whether a face of ``box`` is large enough for the whole-frame passes (``TILE_FACE_MAX``)."""
    return min(box[2] - box[0], box[3] - box[1]) * FULL_RANGE_INPUT / max(w, h) >= TILE_FACE_MAX


def _tiles(w: int, h: int, size: int) -> list[tuple[int, int, int, int]]:
    """Overlapping square tiles of side ``size`` covering the frame (none if it fits in one)."""
    if size <= 0 or (w <= size and h <= size):
        return []
    step = int(size * 0.8)
    xs = list(range(0, max(1, w - size), step)) + [max(0, w - size)]
    ys = list(range(0, max(1, h - size), step)) + [max(0, h - size)]
    return [(x, y, min(w, x + size), min(h, y + size)) for y in sorted(set(ys)) for x in sorted(set(xs))]


def _confirmed(raws: list[_Raw], iou: float) -> list[_Raw]:
    """``raws`` with the mesh's confirmation waived for tile detections that overlap any
    detection not itself waiting for it (a whole-frame pass, a hint search, CenterFace, or a
    tile's detection that needs no confirmation)."""
    others = [r.box for r in raws if not r.needs_mesh]
    return [replace(r, needs_mesh=False) if r.needs_mesh and any(_same_face(r.box, b, iou) for b in others) else r
            for r in raws]


def _parts_of_faces_tentative(detections: list[Detection]) -> list[Detection]:
    """``PART_OF_FACE``: unmeshed detections beside a much larger meshed face made tentative."""
    meshed = [d.box for d in detections if d.landmarks is not None]
    if not meshed:
        return detections

    def side(box: Box) -> float:
        return max(box_center_size(box)[2:])

    def beside_larger(box: Box) -> bool:
        return any(_containment(box, face) > 0.0 and side(box) <= PART_OF_FACE * side(face) for face in meshed)

    return [replace(d, tentative=True) if d.landmarks is None and not d.tentative and beside_larger(d.box) else d
            for d in detections]


def _same_face(a: tuple[float, ...], b: tuple[float, ...], iou: float) -> bool:
    return box_iou(a, b) >= iou or _containment(a, b) >= 0.7


def _merge(raws: list[_Raw], iou: float) -> list[_Raw]:
    """Non-maximum suppression across models and tiles; containment counts as overlap."""
    kept: list[_Raw] = []
    for raw in sorted(raws, key=lambda r: (r.primary, r.score), reverse=True):
        if not any(_same_face(raw.box, k.box, iou) for k in kept):
            kept.append(raw)
    return kept


def _containment(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return ix * iy / smaller if smaller > 0 else 0.0
