"""Anonymization degree: move face *shape* away from the original, keep pose and expression.

A linear shape model of the 478-point mesh, fitted on the training faces:

    shape = mean + F(pose, expression) + identity + residual

``F`` is a linear regression of the Procrustes-normalised mesh on pose and expression
features (nose offset for yaw and pitch, mouth, eye and brow openings); ``identity`` lives in
the top principal components of what the regression leaves. With degree ``alpha``:

    shape' = shape - alpha * identity + min(alpha, 1) * seed_scale * random_identity(seed)

so ``alpha = 0`` keeps the geometry, ``alpha = 1`` reaches the population mean identity
(plus a seeded random one), ``alpha = 2`` goes as far past the mean as the original was
before it. Iris points are re-placed in each eye's frame afterwards, so gaze is kept.

On video the identity measured on one frame moves with the head and the mouth (what the
linear pose/expression model misses, and mesh noise). Mirrored frame by frame, that movement
would come back doubled and reversed in the drawn shape. Given the track's running mean
``identity_track`` of the identity, the part beyond the mean is taken from it instead:

    shape' = shape - min(alpha, 1) * identity - max(alpha - 1, 0) * identity_track + ...

so the drawn face's identity shape is the same in every frame (what moves is removed, not
mirrored); with ``identity_track = identity`` this is the formula above.

``outline`` (``anonymizer.degree_outline``) scales that move where the face meets its
surroundings: each point's move is multiplied by ``outline`` on the face oval, rising to the
full move ``OUTLINE_RAMP`` of the face's width inside it (eyes, nose and mouth move fully). At
0 the drawn face keeps the person's outline, so it fills the head, hair and neck it is drawn
into; at 1 the outline moves like the rest (a face moved narrower than the head leaves a band
the network must invent, and a long face mirrored short reads as a child's).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import align
from . import mesh_topology as topo

_EYES = ((33, 133, topo.RIGHT_IRIS, 468), (362, 263, topo.LEFT_IRIS, 473))
_OVAL = np.array(topo.OVAL_LOOP)
OUTLINE_RAMP = 0.15
"""Distance inside the face oval, as a fraction of the face's width, over which a point's
move rises from ``outline`` to the full move."""


def pose_expression_features(unit: np.ndarray) -> np.ndarray:
    """(F,) features of a normalised mesh (unit canonical frame): pose proxies and openness."""
    oval = unit[list(topo.OVAL_LOOP)]
    width = oval[:, 0].max() - oval[:, 0].min()
    cx = (oval[:, 0].max() + oval[:, 0].min()) / 2
    nose = unit[1]
    eye_mid = (unit[33] + unit[263]) / 2
    mouth_mid = (unit[13] + unit[14]) / 2
    yaw = (nose[0] - cx) / width
    asym = (abs(unit[454, 0] - nose[0]) - abs(unit[234, 0] - nose[0])) / width
    pitch = (nose[1] - eye_mid[1]) / max(1e-6, mouth_mid[1] - eye_mid[1])
    d = lambda a, b: float(np.linalg.norm(unit[a] - unit[b]))  # noqa: E731
    mouth_open = d(13, 14) / width
    mouth_wide = d(61, 291) / width
    smile = ((unit[61, 1] + unit[291, 1]) / 2 - mouth_mid[1]) / width
    eye_r = d(159, 145) / max(1e-6, d(33, 133))
    eye_l = d(386, 374) / max(1e-6, d(362, 263))
    brow_r = d(105, 159) / width
    brow_l = d(334, 386) / width
    return np.array([yaw, asym, pitch, yaw * yaw, yaw * pitch, pitch * pitch, mouth_open, mouth_wide,
                     smile, eye_r, eye_l, brow_r, brow_l], np.float64)


def eye_openness(landmarks: np.ndarray) -> float:
    """Mean eyelid gap over eye width of both eyes (scale free)."""
    lm = np.asarray(landmarks)[:, :2]
    r = np.linalg.norm(lm[159] - lm[145]) / max(1e-6, np.linalg.norm(lm[33] - lm[133]))
    l_ = np.linalg.norm(lm[386] - lm[374]) / max(1e-6, np.linalg.norm(lm[362] - lm[263]))
    return float((r + l_) / 2)


def mouth_openness(landmarks: np.ndarray) -> float:
    """Inner lip gap over mouth width (scale free)."""
    lm = np.asarray(landmarks)[:, :2]
    return float(np.linalg.norm(lm[13] - lm[14]) / max(1e-6, np.linalg.norm(lm[61] - lm[291])))


@dataclass(frozen=True)
class ShapeModel:
    template: np.ndarray      # (478, 2) unit canonical template
    mean: np.ndarray          # (956,)
    feature_mean: np.ndarray  # (F,)
    nuisance: np.ndarray      # (F, 956): shape change per unit of each feature
    basis: np.ndarray         # (K, 956) orthonormal identity directions
    sigma: np.ndarray         # (K,) identity standard deviations

    @classmethod
    def fit(cls, landmarks: np.ndarray, template: np.ndarray, components: int = 24) -> "ShapeModel":
        """Fit on (N, 478, 2) canonical-frame meshes of training faces."""
        units = np.stack([normalise(lm, template) for lm in landmarks]).reshape(len(landmarks), -1)
        feats = np.stack([pose_expression_features(u.reshape(-1, 2)) for u in units])
        mean, fmean = units.mean(0), feats.mean(0)
        d, f = units - mean, feats - fmean
        nuisance, *_ = np.linalg.lstsq(f, d, rcond=None)
        resid = d - f @ nuisance
        _, s, vt = np.linalg.svd(resid, full_matrices=False)
        sigma = s[:components] / np.sqrt(len(resid))
        return cls(template.astype(np.float32), mean.astype(np.float32), fmean.astype(np.float32),
                   nuisance.astype(np.float32), vt[:components].astype(np.float32), sigma.astype(np.float32))

    def tensors(self) -> dict[str, np.ndarray]:
        return {f"shape.{k}": np.ascontiguousarray(getattr(self, k)) for k in
                ("template", "mean", "feature_mean", "nuisance", "basis", "sigma")}

    @classmethod
    def from_tensors(cls, tensors: dict[str, np.ndarray]) -> "ShapeModel":
        return cls(*(np.asarray(tensors[f"shape.{k}"], np.float32) for k in
                     ("template", "mean", "feature_mean", "nuisance", "basis", "sigma")))

    def identity_coefficients(self, unit: np.ndarray) -> np.ndarray:
        """(K,) identity coordinates of a normalised mesh, pose and expression removed first."""
        f = pose_expression_features(unit) - self.feature_mean
        d = unit.reshape(-1) - self.mean - f @ self.nuisance
        return self.basis @ d

    def identity_of(self, landmarks: np.ndarray) -> np.ndarray:
        """(K,) identity coordinates of a mesh in any frame (it is normalised first)."""
        return self.identity_coefficients(normalise(landmarks.astype(np.float64), self.template))

    def anonymize(self, landmarks: np.ndarray, alpha: float, seed: int, seed_scale: float = 0.5,
                  identity_track: np.ndarray | None = None, outline: float = 1.0) -> np.ndarray:
        """Canonical-frame mesh with identity shape moved by degree ``alpha`` (see module doc);
        ``identity_track``: the track's mean identity (:meth:`identity_of`), None: this frame's;
        ``outline``: share of the move on the face oval (module doc)."""
        if alpha == 0.0 and seed_scale == 0.0:
            return landmarks.astype(np.float32)
        lm = landmarks[:, :2].astype(np.float64)
        m = align.umeyama(lm, self.template)
        unit = align.apply(m, lm).astype(np.float64)
        c = self.identity_coefficients(unit)
        if identity_track is not None and np.shape(identity_track) != c.shape:
            raise ValueError(f"identity_track: expected shape {c.shape}, got {np.shape(identity_track)}")
        beyond = c if identity_track is None else np.asarray(identity_track, np.float64)
        rng = np.random.Generator(np.random.PCG64((int(seed) ^ 0x5EED5) & 0xFFFFFFFFFFFFFFFF))
        target = (-min(alpha, 1.0) * c - max(alpha - 1.0, 0.0) * beyond
                  + min(alpha, 1.0) * seed_scale * self.sigma * rng.standard_normal(len(c)))
        move = (target @ self.basis).reshape(-1, 2)
        if outline != 1.0:
            move = move * outline_weights(unit, outline)[:, None]
        moved = _keep_gaze(unit, unit + move)
        return align.apply(align.invert(m), moved.astype(np.float32))


def outline_weights(mesh: np.ndarray, outline: float) -> np.ndarray:
    """(N,) share of the degree's move per mesh point: ``outline`` on the face oval, rising
    smoothly to 1 at ``OUTLINE_RAMP`` of the face's width from it (distance to the oval's
    polyline; the mesh's points all lie on or inside it). x and y as separate (N, segments)
    arrays: numpy on a trailing axis of 2 took five times as long (1.2 ms a face)."""
    oval = mesh[_OVAL, :2]
    ab = np.roll(oval, -1, axis=0) - oval  # each segment, from its first point
    px = mesh[:, None, 0] - oval[None, :, 0]
    py = mesh[:, None, 1] - oval[None, :, 1]
    t = np.clip((px * ab[:, 0] + py * ab[:, 1]) / np.maximum(ab[:, 0] * ab[:, 0] + ab[:, 1] * ab[:, 1], 1e-12),
                0.0, 1.0)  # nearest point on each segment
    dx, dy = px - t * ab[:, 0], py - t * ab[:, 1]
    distance = np.sqrt((dx * dx + dy * dy).min(axis=1))
    s = np.clip(distance / (OUTLINE_RAMP * max(float(np.ptp(oval[:, 0])), 1e-9)), 0.0, 1.0)
    return outline + (1.0 - outline) * s * s * (3.0 - 2.0 * s)


def normalise(landmarks: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Similarity-align a mesh onto the unit template (removes in-plane pose and scale)."""
    return align.apply(align.umeyama(landmarks[:, :2], template), landmarks[:, :2])


def _keep_gaze(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Put each iris back where it was relative to its eye corners (gaze unchanged)."""
    out = after.copy()
    for a, b, ring, centre in _EYES:
        idx = [centre, *ring]
        src = _eye_frame(before[a], before[b])
        dst = _eye_frame(after[a], after[b])
        local = (before[idx] - src[0]) @ np.linalg.inv(src[1])
        out[idx] = local @ dst[1] + dst[0]
    return out


def _eye_frame(p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = q - p
    y = np.array([-x[1], x[0]])
    return (p + q) / 2, np.stack([x, y])
