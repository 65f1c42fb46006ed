"""Which faces the synthetic generator draws: a face mesh, big enough, turned little enough.

The model learnt from aligned UTKFace crops: near-frontal faces, about 200 px across. Outside
that it does not fail loudly, it draws badly: profiles came out as smeared masks in the
wrong skin tone (stage_profiles_360p), and faces under ~100 px kept so much of their hair,
outline and colouring that the eval's attacker still matched them to the person
(crowd_walk_1080p, leak rate 0.81). Such faces get the fail-closed cover instead, with the
reason counted in the run report.

A face drawn in the previous frame keeps being drawn until it is ``HYSTERESIS`` (10 %) past a
limit, so a face that hovers at 96 px does not switch between drawn and blurred every frame.

Yaw is the nose tip's place along the cheek-to-cheek axis of the mesh (points 234 and 454):
0 when it sits midway, +-0.5 over a cheek edge, beyond that in a profile. 98 % of the
training faces lie within +-0.35.
"""

from __future__ import annotations

import numpy as np

RIGHT_CHEEK, LEFT_CHEEK, NOSE_TIP = 234, 454, 1
HYSTERESIS = 0.1


def yaw_offset(landmarks: np.ndarray) -> float:
    """Nose tip along the cheek-to-cheek axis, relative to its middle (roll does not matter)."""
    lm = np.asarray(landmarks, np.float64)[:, :2]
    axis = lm[LEFT_CHEEK] - lm[RIGHT_CHEEK]
    span = float(axis @ axis)
    if span <= 1e-9:
        return float("inf")
    return float((lm[NOSE_TIP] - lm[RIGHT_CHEEK]) @ axis / span - 0.5)


def mesh_size(landmarks: np.ndarray) -> float:
    """Larger side of the mesh's bounding box, in pixels."""
    lm = np.asarray(landmarks, np.float64)[:, :2]
    return float(max(np.ptp(lm[:, 0]), np.ptp(lm[:, 1])))


def refusal(landmarks: np.ndarray | None, min_face_px: float, max_yaw: float,
            drawn_before: bool = False) -> str | None:
    """Why the generator should not draw this face (``no_mesh``, ``small_face``, ``profile``),
    or None when it should. ``drawn_before``: the track's face was drawn in the previous
    frame (the limits loosen by ``HYSTERESIS``)."""
    if landmarks is None or len(landmarks) != 478:
        return "no_mesh"
    slack = HYSTERESIS if drawn_before else 0.0
    if mesh_size(landmarks) < min_face_px * (1.0 - slack):
        return "small_face"
    if abs(yaw_offset(landmarks)) > max_yaw * (1.0 + slack):
        return "profile"
    return None
