"""Utility: does the anonymized face keep what downstream analysis needs?

- **retention**: share of original faces (found by the independent detector on the
  original) for which the same detector finds a face on the anonymized frame at the same
  place (IoU >= 0.3). A synthetic face should keep it; blur and solid should not.
- **head pose error**: yaw, pitch and roll from ``cv2.solvePnP`` of six dlib landmarks
  (nose tip, chin, outer eye corners, mouth corners) against a generic 3-D face; the error
  is the mean absolute difference original vs anonymized, in degrees, per angle; the
  summary figure is the mean of the three. Landmarks on the anonymized frame are fitted by
  dlib's 68-point model inside the original face's box (on a covered face it returns its
  mean shape, i.e. a frontal face).
- **expression agreement**: mouth openness (inner-lip aspect ratio) and eye openness (eye
  aspect ratio, Soukupova & Cech 2016) from the 68 landmarks; the figure is the mean of the
  two Pearson correlations original vs anonymized over the sampled faces of a clip. A
  constant series (a cover shows no expression) correlates 0. Beside them the spread
  (standard deviation) of each openness on the original: where the person barely moves a
  feature, its correlation measures landmark noise, whatever the anonymization does.
- **gaze**: not measured (dlib's 68 points carry no pupils); reported as null.
"""

from __future__ import annotations

import cv2
import numpy as np

# Generic 3-D face (mm-ish), camera axes: x right, y down, z away from the camera.
MODEL_POINTS = np.array([
    (0.0, 0.0, 0.0),          # 30 nose tip
    (0.0, 330.0, 65.0),       # 8 chin
    (-225.0, -170.0, 135.0),  # 36 outer corner of the eye on the image left
    (225.0, -170.0, 135.0),   # 45 outer corner of the eye on the image right
    (-150.0, 150.0, 125.0),   # 48 mouth corner, image left
    (150.0, 150.0, 125.0),    # 54 mouth corner, image right
], dtype=np.float64)
POSE_LANDMARKS = (30, 8, 36, 45, 48, 54)
FLAT = 0.005
"""Openness std below which a series counts as constant (landmark jitter on a cover is ~0.001)."""


def camera_matrix(width: int, height: int) -> np.ndarray:
    f = float(max(width, height))
    return np.array([[f, 0, width / 2.0], [0, f, height / 2.0], [0, 0, 1]], dtype=np.float64)


def euler_degrees(rotation: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) of ``R = Rz(roll) Ry(yaw) Rx(pitch)``, degrees."""
    r = rotation
    pitch = np.degrees(np.arctan2(r[2, 1], r[2, 2]))
    yaw = np.degrees(np.arcsin(np.clip(-r[2, 0], -1.0, 1.0)))
    roll = np.degrees(np.arctan2(r[1, 0], r[0, 0]))
    return float(yaw), float(pitch), float(roll)


def frontal_guess(pts: np.ndarray, camera: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start for the solver: a frontal head at the nose tip's place, as far away as the eye
    corners' spacing says. Without a start, ``SOLVEPNP_ITERATIVE`` sometimes lands on the
    mirror solution, the head behind the camera and rolled by 180 degrees (talking_d0 frames
    30, 50 and 55: points within 3 px of frame 25's, roll -179 instead of -1)."""
    f = camera[0, 0]
    eyes = max(float(np.linalg.norm(pts[3] - pts[2])), 1.0)
    z = f * float(MODEL_POINTS[3, 0] - MODEL_POINTS[2, 0]) / eyes
    tvec = np.array([[(pts[0, 0] - camera[0, 2]) * z / f], [(pts[0, 1] - camera[1, 2]) * z / f], [z]])
    return np.zeros((3, 1)), tvec


def head_pose(points: np.ndarray, width: int, height: int) -> tuple[float, float, float] | None:
    """(yaw, pitch, roll) in degrees from image points of the six ``POSE_LANDMARKS``
    (or a full 68-point array); None when the solver finds no head in front of the camera."""
    pts = np.asarray(points, dtype=np.float64)
    if len(pts) == 68:
        pts = pts[list(POSE_LANDMARKS)]
    camera = camera_matrix(width, height)
    rvec, tvec = frontal_guess(pts, camera)
    ok, rvec, tvec = cv2.solvePnP(MODEL_POINTS, pts, camera, np.zeros(4), rvec, tvec,
                                  useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok or tvec[2, 0] <= 0:
        return None
    rotation, _ = cv2.Rodrigues(rvec)
    return euler_degrees(rotation)


def angle_difference(a: float, b: float) -> float:
    """|a - b| in degrees, wrapped into [0, 180]."""
    return float(abs((a - b + 180.0) % 360.0 - 180.0))


def mouth_openness(lm: np.ndarray) -> float:
    """Inner-lip height over mouth width (68-point indices 60..67)."""
    height = (np.linalg.norm(lm[61] - lm[67]) + np.linalg.norm(lm[62] - lm[66]) +
              np.linalg.norm(lm[63] - lm[65])) / 3.0
    return float(height / max(np.linalg.norm(lm[60] - lm[64]), 1e-6))


def eye_openness(lm: np.ndarray) -> float:
    """Eye aspect ratio, mean of both eyes (68-point indices 36..47)."""
    def ear(e: np.ndarray) -> float:
        return float((np.linalg.norm(e[1] - e[5]) + np.linalg.norm(e[2] - e[4])) /
                     (2.0 * max(np.linalg.norm(e[0] - e[3]), 1e-6)))
    return (ear(lm[36:42]) + ear(lm[42:48])) / 2.0


def correlation(a: list[float], b: list[float]) -> float | None:
    """Pearson r; 0 when either series is constant (std below ``FLAT``); None with < 3 values."""
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(x) < 3:
        return None
    if x.std() < FLAT or y.std() < FLAT:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1])


def summarize(samples: list, width: int, height: int) -> dict:
    """Utility figures from face samples carrying landmarks and ``retained``."""
    if not samples:
        return {"retention": None, "pose_error_deg": None, "expression_corr": None, "gaze_error_deg": None}
    errors, errors_kept = [], []
    mouth_o, mouth_a, eye_o, eye_a = [], [], [], []
    for s in samples:
        po, pa = head_pose(s.lmk_orig, width, height), head_pose(s.lmk_anon, width, height)
        if po is not None and pa is not None:
            e = [angle_difference(x, y) for x, y in zip(po, pa)]
            errors.append(e)
            if s.retained:
                errors_kept.append(e)
        mouth_o.append(mouth_openness(s.lmk_orig))
        mouth_a.append(mouth_openness(s.lmk_anon))
        eye_o.append(eye_openness(s.lmk_orig))
        eye_a.append(eye_openness(s.lmk_anon))
    err = np.array(errors) if errors else np.zeros((0, 3))
    kept = np.array(errors_kept) if errors_kept else np.zeros((0, 3))
    corr_m, corr_e = correlation(mouth_o, mouth_a), correlation(eye_o, eye_a)
    parts = [c for c in (corr_m, corr_e) if c is not None]
    return {
        "retention": float(np.mean([s.retained for s in samples])),
        "pose_error_deg": float(err.mean()) if len(err) else None,
        "pose_error_yaw_pitch_roll_deg": err.mean(0).tolist() if len(err) else None,
        "pose_error_retained_deg": float(kept.mean()) if len(kept) else None,
        "expression_corr": float(np.mean(parts)) if parts else None,
        "mouth_corr": corr_m,
        "eye_corr": corr_e,
        "mouth_abs_error": float(np.mean(np.abs(np.subtract(mouth_o, mouth_a)))),
        "eye_abs_error": float(np.mean(np.abs(np.subtract(eye_o, eye_a)))),
        "mouth_spread_original": float(np.std(mouth_o)),
        "eye_spread_original": float(np.std(eye_o)),
        "gaze_error_deg": None,
    }
