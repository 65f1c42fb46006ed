"""Each track's anchor face: one drawn face, warped onto each later frame's drawn mesh, where a
flow sampler restarts from (SDEdit) instead of pure noise.

    anchors = TrackAnchors(start_time=0.6)
    start, t = anchors.start(track_id, noise, mesh)   # (noise, 1.0) until the track has one
    anchors.remember(track_id, face, mesh)            # a face the identity check found clear

Why: the fixed noise and shape fix a track's identity only as far as the network keeps a face
the same under new conditions; when the person frowns or opens the mouth wide, the face drawn
from noise reads as another person to a recogniser. Started part way from the track's anchor,
moved by a piecewise-affine warp (the drawn meshes' triangles) to where this frame's
mesh puts eyes, mouth and outline, the network keeps that face's low frequencies (what a
recogniser reads) and redraws detail and expression under this frame's conditions. Unlike
the warm start from the *previous* frame (``temporal.warm_start``), nothing is fed back: the
anchor is not replaced while it holds, so errors cannot build up.

Which face: the first one the identity check measures at least ``ANCHOR_MARGIN`` past
``anonymizer.verify_distance`` (``TemporalRenderer.keep_anchors``); until then, and without
an identity check, faces are drawn from noise. An anchor is dropped with its track, at scene
cuts, when the track's drawn identity changes (a raised degree, a new seed) and when the
check covers a face drawn from it; the next face measured clear of the person becomes the
new one.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import Delaunay

from .pertrack import PerTrackState

ANCHOR_MARGIN = 0.08
"""How far past the identity check's distance (``anonymizer.verify_distance``; a small face's
limit is 0.02 higher) a drawn face must be measured to become its track's anchor. Later faces
of the track start from it, and an anchor just past the limit held the whole track near it
(talking_d3, salt s8, the first drawn face as anchor: the eval's dlib matched 7 of 71 samples
to her, none without anchors)."""


@dataclass(frozen=True)
class Anchor:
    face: np.ndarray
    """(C, R, R) the face as drawn, aligned frame, in [-1, 1]."""
    mesh: np.ndarray
    """(N, 2) the mesh it was drawn from, aligned-frame pixels."""
    triangles: np.ndarray
    """(T, 3) Delaunay triangles of ``mesh``."""


def piecewise_warp(image: np.ndarray, src: np.ndarray, dst: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """``image`` (C, H, W) drawn over ``src`` moved so that ``src`` lands on ``dst``: each
    triangle by its own affine map; outside the mesh, by the similarity that best maps the two
    meshes (the surroundings move with the face as a whole)."""
    c, h, w = image.shape
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    ids = np.full((h, w), -1, np.int32)
    corners = np.round(dst[triangles]).astype(np.int32)
    for k in range(len(triangles)):
        cv2.fillConvexPoly(ids, corners[k], k)
    maps = np.concatenate([_affines(dst[triangles], src[triangles]),
                           _similarity(dst, src)[None]]).astype(np.float32)  # id -1: outside the mesh
    m = maps[ids]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    map_x = m[..., 0, 0] * xs + m[..., 0, 1] * ys + m[..., 0, 2]
    map_y = m[..., 1, 0] * xs + m[..., 1, 1] * ys + m[..., 1, 2]
    hwc = np.ascontiguousarray(image.transpose(1, 2, 0))
    out = cv2.remap(hwc, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return out.reshape(h, w, c).transpose(2, 0, 1).astype(image.dtype)


def _affines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(T, 2, 3) maps of triangles ``a`` (T, 3, 2) onto ``b``; the identity for degenerate ones.
    In closed form (rows of the inverse of [p0 p1 p2] are p1 x p2, p2 x p0, p0 x p1 over the
    determinant): a batched ``np.linalg.solve`` took 15 ms for a mesh's 900 triangles."""
    p = np.concatenate([a, np.ones(a.shape[:2] + (1,))], axis=2)  # (T, 3 points, x y 1)
    inv = np.stack([np.cross(p[:, 1], p[:, 2]), np.cross(p[:, 2], p[:, 0]), np.cross(p[:, 0], p[:, 1])], axis=1)
    det = np.einsum("ti,ti->t", p[:, 0], inv[:, 0])
    flat = np.abs(det) < 1e-6
    out = b.transpose(0, 2, 1) @ (inv / np.where(flat, 1.0, det)[:, None, None])
    out[flat] = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    return out


def _similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    m, _ = cv2.estimateAffinePartial2D(a.astype(np.float32), b.astype(np.float32), method=cv2.LMEDS)
    return np.array([[1.0, 0, 0], [0, 1.0, 0]]) if m is None else m.astype(np.float64)


class TrackAnchors(PerTrackState):
    """One per stream: each track's anchor face (``temporal.anchor_start``)."""

    _STORES = ("_anchors",)

    def __init__(self, start_time: float) -> None:
        self.start_time = float(start_time)
        self._anchors: dict[int, Anchor] = {}

    @property
    def enabled(self) -> bool:
        return self.start_time < 1.0

    def has(self, track_id: int) -> bool:
        return track_id in self._anchors

    def start(self, track_id: int, noise: np.ndarray, mesh: np.ndarray | None) -> tuple[np.ndarray, float]:
        """(starting state, starting time): the anchor warped onto ``mesh`` mixed with the
        track's noise at ``start_time``; (noise, 1.0) without an anchor or a mesh."""
        anchor = self._anchors.get(track_id)
        if not self.enabled or anchor is None or mesh is None or anchor.face.shape != noise.shape:
            return noise, 1.0
        warped = piecewise_warp(anchor.face, anchor.mesh, mesh, anchor.triangles)
        s = self.start_time
        return ((1.0 - s) * warped + s * noise).astype(noise.dtype), s

    def remember(self, track_id: int, face: np.ndarray, mesh: np.ndarray | None) -> None:
        """Keep ``face`` as the track's anchor unless it has one."""
        if self.enabled and mesh is not None and track_id not in self._anchors:
            mesh = np.asarray(mesh, np.float64)[:, :2]
            self._anchors[track_id] = Anchor(face.copy(), mesh, Delaunay(mesh).simplices.astype(np.int32))
