"""Kalman tracking of faces (filterpy) with Hungarian association by overlap and keypoints.

``FaceTracker(config, seeder).update(detections) -> list[Track]`` once per frame. Track ids
belong to the tracker (one per stream). Tracks coast through short detector misses: their
predicted box grows and they stay in the output so the face stays covered.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from filterpy.kalman import KalmanFilter
from scipy.optimize import linear_sum_assignment

from .config import TrackerConfig
from .errors import ConfigError
from .geometry import box_center_size, box_from_center, box_iou
from .identity import IdentitySeeder
from .types import Detection, Track


COAST_VELOCITY_DAMPING = 0.8
"""Velocity kept per missed frame: a coasting face slows down rather than flying off."""
SEALED_HANDOVER_IOU = 0.3
"""After a scene cut, an old-shot track overlapping a face seen in the new shot this much
(boxes as last measured, not grown) ends: the new face's own track anonymizes that place."""


def _make_filter(box: tuple[float, float, float, float]) -> KalmanFilter:
    """Constant-velocity filter on (cx, cy, w, h); noise scaled by face size."""
    cx, cy, w, h = box_center_size(box)
    kf = KalmanFilter(dim_x=8, dim_z=4)
    kf.F = np.eye(8)
    kf.F[:4, 4:] = np.eye(4)
    kf.H = np.eye(4, 8)
    size = max(w, h)
    kf.R = np.diag([0.05, 0.05, 0.08, 0.08]) ** 2 * size**2
    # Size changes slowly: tiny process noise on size velocity, so that detector jitter in box
    # size is not extrapolated into a growing or shrinking box while coasting.
    kf.Q = np.diag([0.02, 0.02, 0.02, 0.02, 0.05, 0.05, 0.005, 0.005]) ** 2 * size**2
    kf.P = np.diag([0.1, 0.1, 0.1, 0.1, 1.0, 1.0, 0.05, 0.05]) ** 2 * size**2
    kf.x[:4, 0] = (cx, cy, w, h)
    return kf


@dataclass
class _TrackState:
    track_id: int
    seed: int
    kf: KalmanFilter
    age: int = 1
    misses: int = 0
    score: float = 0.0
    keypoints: np.ndarray | None = None
    landmarks: np.ndarray | None = None
    last_center: tuple[float, float] = (0.0, 0.0)
    last_size: tuple[float, float] = (1.0, 1.0)
    sealed: bool = False
    """Set at a scene cut: the track takes no more detections and coasts out (still covered)."""
    misses_at_seal: int = 0
    """Misses when sealed: the track's ``sealed_frames`` count from the cut."""
    tentative: bool = False
    """Started by a tentative detection and not detected otherwise since: coasts only
    ``tentative_coast`` frames."""

    def box(self, growth: float) -> tuple[float, float, float, float]:
        cx, cy, w, h = (float(v) for v in self.kf.x[:4, 0])
        # The filter's size may drift; keep it within a band around the last measured size.
        lw, lh = self.last_size
        w, h = float(np.clip(w, 0.7 * lw, 1.3 * lw)), float(np.clip(h, 0.7 * lh, 1.3 * lh))
        grow = 1.0 + growth * min(self.misses, 10)
        return box_from_center(cx, cy, max(2.0, w * grow), max(2.0, h * grow))


def sealed_coast(config: TrackerConfig, lookahead: int) -> int:
    """Frames an old-shot track coasts after a scene cut: ``config.sealed_coast``, raised so
    that it and a ``lookahead`` of held frames (which back-fill a face found again later)
    together span ``max_coast``, as an unsealed track's coasting does."""
    for name, value in (("tracker.sealed_coast", config.sealed_coast), ("runtime.lookahead", lookahead)):
        if value < 0:
            raise ConfigError(f"{name}: expected >= 0, got {value}")
    return min(config.max_coast, max(config.sealed_coast, config.max_coast - lookahead))


class FaceTracker:
    def __init__(self, config: TrackerConfig, seeder: IdentitySeeder, sealed_frames: int | None = None) -> None:
        """``sealed_frames``: coasting of old-shot tracks after a cut (:func:`sealed_coast`);
        None: ``max_coast``, as for any track."""
        self.config = config
        self._sealed_frames = config.max_coast if sealed_frames is None else sealed_frames
        self._seeder = seeder
        self._tracks: list[_TrackState] = []
        self._next_id = 0

    @property
    def total_tracks(self) -> int:
        """Number of tracks started so far in this stream."""
        return self._next_id

    def expected_boxes(self) -> list[tuple[float, float, float, float]]:
        """Where the current tracks should be in the next frame (for the detector's hints)."""
        boxes = []
        for t in self._tracks:
            cx, cy, w, h = (float(v) for v in (t.kf.F @ t.kf.x)[:4, 0])
            grow = 1.0 + self.config.coast_growth * (t.misses + 1)
            boxes.append(box_from_center(cx, cy, max(2.0, w * grow), max(2.0, h * grow)))
        return boxes

    def reset(self) -> None:
        """Forget every track (a scene cut or a stream restart); ids keep increasing."""
        self._tracks.clear()

    def seal(self) -> None:
        """A scene cut: current tracks take no more detections (faces of the new shot start new
        tracks) and coast out over the next ``sealed_frames`` frames, so a face the detector
        misses at a false cut stays covered; except where a face of the new shot is found in
        their place (``SEALED_HANDOVER_IOU``)."""
        for t in self._tracks:
            if not t.sealed:
                t.sealed, t.misses_at_seal = True, t.misses

    def update(self, detections: list[Detection]) -> list[Track]:
        for t in self._tracks:
            t.kf.predict()
            w, h = t.kf.x[2, 0], t.kf.x[3, 0]
            if w < 2 or h < 2:  # the filter must not shrink a face to nothing
                t.kf.x[2, 0], t.kf.x[3, 0] = max(w, 2.0), max(h, 2.0)
        matches, unmatched_dets = self._associate(detections)
        matched_tracks = set()
        for ti, di in matches:
            self._correct(self._tracks[ti], detections[di])
            matched_tracks.add(ti)
        for ti, t in enumerate(self._tracks):
            if ti not in matched_tracks:
                t.misses += 1
                t.age += 1
                t.kf.x[4:, 0] *= COAST_VELOCITY_DAMPING
        self._tracks = [t for t in self._tracks if t.misses <= self._coast_limit(t)]
        for di in unmatched_dets:
            self._start(detections[di])
        self._hand_over_sealed()
        return [self._public(t) for t in self._tracks]

    def _hand_over_sealed(self) -> None:
        """Drop old-shot tracks whose place a face of the new shot, seen now, has taken: that
        face is anonymized by its own track, and the old cover (grown while coasting) would
        only blanket it. Old tracks elsewhere keep covering where a missed face may be."""
        seen = [t.box(0.0) for t in self._tracks if not t.sealed and t.misses == 0]
        if seen:
            self._tracks = [t for t in self._tracks if not t.sealed
                            or all(box_iou(t.box(0.0), b) < SEALED_HANDOVER_IOU for b in seen)]

    # -- internals --------------------------------------------------------------------

    def _coast_limit(self, t: _TrackState) -> int:
        limit = self.config.max_coast
        if t.tentative:
            limit = min(limit, self.config.tentative_coast)
        if t.sealed:
            limit = min(limit, t.misses_at_seal + self._sealed_frames)
        return limit

    def _associate(self, detections: list[Detection]) -> tuple[list[tuple[int, int]], list[int]]:
        if not self._tracks or not detections:
            return [], list(range(len(detections)))
        cost = np.full((len(self._tracks), len(detections)), 1e6)
        for ti, t in enumerate(self._tracks):
            if t.sealed:
                continue
            tbox = t.box(self.config.coast_growth)
            for di, d in enumerate(detections):
                iou = box_iou(tbox, d.box)
                kp = _keypoint_distance(t, d)
                if iou < self.config.min_iou and (kp is None or kp > 0.5):
                    continue
                c = (1.0 - iou) + self.config.landmark_weight * (kp if kp is not None else 0.5)
                if c <= self.config.max_cost:
                    cost[ti, di] = c
        rows, cols = linear_sum_assignment(cost)
        matches = [(r, c) for r, c in zip(rows, cols) if cost[r, c] < 1e6]
        used = {c for _, c in matches}
        return matches, [i for i in range(len(detections)) if i not in used]

    def _correct(self, t: _TrackState, d: Detection) -> None:
        cx, cy, w, h = box_center_size(d.box)
        t.kf.update(np.array([cx, cy, w, h]))
        t.age += 1
        t.misses = 0
        t.tentative = t.tentative and d.tentative
        t.score = d.score
        t.keypoints = d.keypoints
        t.landmarks = d.landmarks
        t.last_center = (cx, cy)
        t.last_size = (w, h)

    def _start(self, d: Detection) -> None:
        track_id = self._next_id
        self._next_id += 1
        t = _TrackState(track_id=track_id, seed=self._seeder.seed(track_id), kf=_make_filter(d.box),
                        score=d.score, keypoints=d.keypoints, landmarks=d.landmarks, tentative=d.tentative,
                        last_center=box_center_size(d.box)[:2], last_size=box_center_size(d.box)[2:])
        self._tracks.append(t)

    def _public(self, t: _TrackState) -> Track:
        box = t.box(self.config.coast_growth)
        landmarks, keypoints = t.landmarks, t.keypoints
        if t.misses:  # carry the last shape along with the predicted motion
            cx, cy = box_center_size(box)[:2]
            shift = np.array([cx - t.last_center[0], cy - t.last_center[1]], dtype=np.float32)
            landmarks = None if landmarks is None else landmarks + shift
            keypoints = None if keypoints is None else keypoints + shift
        return Track(track_id=t.track_id, box=box, seed=t.seed, age=t.age, misses=t.misses,
                     landmarks=landmarks, keypoints=keypoints, score=t.score, tentative=t.tentative)


def _keypoint_distance(t: _TrackState, d: Detection) -> float | None:
    """Mean keypoint distance relative to face size, or None when either side lacks keypoints."""
    if t.keypoints is None or d.keypoints is None or t.keypoints.shape != d.keypoints.shape:
        return None
    cx, cy = box_center_size(t.box(0.0))[:2]
    shift = np.array([cx - t.last_center[0], cy - t.last_center[1]], dtype=np.float32)
    predicted = t.keypoints + shift
    size = max(d.size, 1.0)
    return float(np.linalg.norm(predicted - d.keypoints, axis=1).mean() / size)
