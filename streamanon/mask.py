"""Feathered face masks from the face mesh (forehead and jaw included) or, without a mesh, the box.

``face_mask(shape, landmarks, box, ...) -> float32 (H, W)`` in crop coordinates.
"""

from __future__ import annotations

import cv2
import numpy as np

# MediaPipe face mesh: the face oval, in order around the face (forehead top is index 10,
# chin is 152).
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
             377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
FOREHEAD_TOP, CHIN = 10, 152
MASK_RESOLUTION = 128
BOX_FLOOR_SCALE = 0.85
"""Scale of the detector-box ellipse every mesh mask also covers (about the box itself)."""


def oval_polygon(landmarks: np.ndarray, scale: float, forehead: float) -> np.ndarray:
    """Face-oval polygon grown upward by ``forehead`` (fraction of face height), then scaled."""
    pts = landmarks[list(FACE_OVAL)].astype(np.float32)
    up = landmarks[FOREHEAD_TOP] - landmarks[CHIN]
    height = float(np.linalg.norm(up))
    if height < 1e-3:
        return pts
    up = up / height
    center = pts.mean(axis=0)
    along = (pts - center) @ up
    lift = np.clip(along / max(float(along.max()), 1e-3), 0.0, 1.0) * forehead * height
    pts = pts + lift[:, None] * up[None, :]
    center = pts.mean(axis=0)
    return center + (pts - center) * scale


def box_ellipse(box: tuple[float, float, float, float], scale: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """Centre and half-axes of an ellipse covering a detector box, forehead and chin included."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    return ((x0 + x1) / 2, (y0 + y1) / 2 - 0.08 * h), (w / 2 * scale * 1.05, h / 2 * scale * 1.2)


def face_mask(shape: tuple[int, int], landmarks: np.ndarray | None, box: tuple[float, float, float, float],
              scale: float, forehead: float, feather: float, solid_inside: bool) -> np.ndarray:
    """Mask in [0, 1] of the face; ``solid_inside`` makes it 1 up to the outline (covers).

    Drawn at no more than ``MASK_RESOLUTION`` pixels across and resized: a feathered mask has
    no detail finer than that, and large faces would otherwise cost milliseconds each.
    """
    full_h, full_w = shape
    factor = min(1.0, MASK_RESOLUTION / max(full_h, full_w))
    if factor < 1.0:
        small_box = tuple(v * factor for v in box)
        small_landmarks = None if landmarks is None else landmarks * factor
        small_shape = (max(1, round(full_h * factor)), max(1, round(full_w * factor)))
        small = face_mask(small_shape, small_landmarks, small_box, scale, forehead, feather, solid_inside)
        return cv2.resize(small, (full_w, full_h), interpolation=cv2.INTER_LINEAR)
    h, w = shape
    canvas = np.zeros((h, w), dtype=np.uint8)
    size = float(np.sqrt(max(1.0, (box[2] - box[0]) * (box[3] - box[1]))))
    if landmarks is not None:
        poly = oval_polygon(landmarks, scale, forehead)
        cv2.fillPoly(canvas, [np.round(cv2.convexHull(poly) * 4).astype(np.int32)], 255,
                     lineType=cv2.LINE_AA, shift=2)
    # The detector's box always counts: with a mesh, at least its inner ellipse (a mesh that is
    # off, e.g. on a face behind, must not leave the detected face out of the mask).
    if landmarks is None or solid_inside or BOX_FLOOR_SCALE > 0:
        (cx, cy), (ax, ay) = box_ellipse(box, scale if landmarks is None or solid_inside else BOX_FLOOR_SCALE)
        cv2.ellipse(canvas, (round(cx * 4), round(cy * 4)), (max(1, round(ax * 4)), max(1, round(ay * 4))),
                    0, 0, 360, 255, -1, lineType=cv2.LINE_AA, shift=2)
    sigma = max(0.8, feather * size)
    if solid_inside:
        radius = max(1, int(round(2 * sigma)))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        canvas = cv2.dilate(canvas, kernel)
    mask = cv2.GaussianBlur(canvas.astype(np.float32) * (1.0 / 255.0), (0, 0), sigmaX=sigma,
                            borderType=cv2.BORDER_CONSTANT)
    return np.clip(mask, 0.0, 1.0).astype(np.float32)
