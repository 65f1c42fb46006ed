"""Measure the generator on held-out UTKFace faces: identity, pose, expression, detection,
memorization, per-group failure cases. Used for the degree curve and MODEL_CARD.md.

Each held-out face is padded into a larger crop (so it has surroundings), meshed with
MediaPipe, masked like the pipeline does, replaced, and composited; then:

* identity distance: dlib 128-d embeddings, original versus replaced (re-ID: distance < 0.6);
* pose error: rotation angle between the 3-D meshes of original and replaced face (degrees);
* expression: mouth and eye openness of the replaced face against the original (Pearson r);
* detection: YuNet (independent of MediaPipe) finds a face on the replaced one;
* memorization: nearest dlib distance from each replaced face to every training face.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..types import FaceCrop
from .degree import eye_openness, mouth_openness

log = logging.getLogger(__name__)
SAME_PERSON = 0.6
PAD = 60


@dataclass
class Measures:
    """Per-face measures of the replaced faces (NaN where a measure failed)."""

    id_dist: np.ndarray
    pose_err: np.ndarray
    mouth: np.ndarray
    mouth_ref: np.ndarray
    eyes: np.ndarray
    eyes_ref: np.ndarray
    detected: np.ndarray
    meshed: np.ndarray
    embeddings: np.ndarray

    def summary(self) -> dict:
        def corr(a, b):
            ok = np.isfinite(a) & np.isfinite(b)
            return float(np.corrcoef(a[ok], b[ok])[0, 1]) if ok.sum() > 2 else float("nan")
        ok = np.isfinite(self.id_dist)
        return {"faces": int(len(self.id_dist)), "reid_rate": float((self.id_dist[ok] < SAME_PERSON).mean()),
                "id_dist_mean": float(np.nanmean(self.id_dist)),
                "pose_err_median_deg": float(np.nanmedian(self.pose_err)),
                "pose_err_p90_deg": float(np.nanpercentile(self.pose_err, 90)),
                "mouth_r": corr(self.mouth, self.mouth_ref), "eyes_r": corr(self.eyes, self.eyes_ref),
                "yunet_detect_rate": float(np.mean(self.detected)), "mesh_rate": float(np.mean(self.meshed))}


class Tools:
    """MediaPipe mesh, dlib embedder and YuNet, loaded once."""

    def __init__(self, yunet: Path) -> None:
        import dlib
        import face_recognition_models as frm
        import mediapipe as mp

        self.mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1,
                                                    refine_landmarks=True, min_detection_confidence=0.3)
        self.sp = dlib.shape_predictor(frm.pose_predictor_model_location())
        self.rec = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
        self.dlib = dlib
        self.yunet = cv2.FaceDetectorYN.create(str(yunet), "", (320, 320), 0.5) if yunet.exists() else None

    def landmarks3d(self, rgb: np.ndarray) -> np.ndarray | None:
        res = self.mesh.process(rgb)
        if not res.multi_face_landmarks:
            return None
        h, w = rgb.shape[:2]
        return np.array([[p.x * w, p.y * h, p.z * w] for p in res.multi_face_landmarks[0].landmark], np.float64)

    def embed(self, rgb: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        rect = self.dlib.rectangle(*(int(round(v)) for v in box))
        return np.array(self.rec.compute_face_descriptor(rgb, self.sp(rgb, rect)))

    def detects(self, rgb: np.ndarray, box) -> bool:
        if self.yunet is None:
            return False
        h, w = rgb.shape[:2]
        self.yunet.setInputSize((w, h))
        _, faces = self.yunet.detect(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        if faces is None:
            return False
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        return any(f[0] <= cx <= f[0] + f[2] and f[1] <= cy <= f[1] + f[3] for f in faces)


def rotation_angle(a: np.ndarray, b: np.ndarray) -> float:
    """Angle (degrees) of the best rotation taking centred 3-D point set ``a`` onto ``b``."""
    a = a - a.mean(0)
    b = b - b.mean(0)
    u, _, vt = np.linalg.svd(b.T @ a)
    d = np.sign(np.linalg.det(u @ vt))
    r = u @ np.diag([1, 1, d]) @ vt
    return float(np.degrees(np.arccos(np.clip((np.trace(r) - 1) / 2, -1, 1))))


def face_box(lm: np.ndarray) -> tuple[float, float, float, float]:
    x0, y0 = lm[:, :2].min(0)
    x1, y1 = lm[:, :2].max(0)
    return (x0, y0, x1, y1)


def make_crop(rgb: np.ndarray, lm3: np.ndarray, seed: int) -> FaceCrop:
    """A pipeline-like crop: the face padded with replicated border, mesh, feathered mask."""
    from ..mask import face_mask
    from .generator import SyntheticFaceGenerator

    img = cv2.copyMakeBorder(rgb, PAD, PAD, PAD, PAD, cv2.BORDER_REPLICATE)
    lm = lm3[:, :2] + PAD
    h, w = img.shape[:2]
    forehead = min(0.25, SyntheticFaceGenerator.max_forehead)  # the pipeline's default, capped as it does
    mask = face_mask((h, w), lm.astype(np.float32), face_box(lm), 1.15, forehead, 0.08, solid_inside=False)
    return FaceCrop(track_id=0, seed=seed, box=(0, 0, w, h), image=img, mask=mask.astype(np.float32),
                    landmarks=lm.astype(np.float32))


def measure(generator, tools: Tools, images: list[np.ndarray], meshes: list[np.ndarray], seeds: list[int],
            reference: list[np.ndarray] | None = None, batch: int = 8) -> tuple[Measures, list[np.ndarray]]:
    """Replace each face and measure it; returns measures and the composited crops."""
    n = len(images)
    out = {k: np.full(n, np.nan) for k in ("id", "pose", "mouth", "mouth_ref", "eyes", "eyes_ref")}
    detected, meshed, embs, composites = np.zeros(n, bool), np.zeros(n, bool), np.zeros((n, 128)), []
    crops = [make_crop(im, lm, s) for im, lm, s in zip(images, meshes, seeds)]
    for s in range(0, n, batch):
        patches = generator.generate(crops[s:s + batch])
        for j, (crop, patch) in enumerate(zip(crops[s:s + batch], patches)):
            i = s + j
            m = patch.mask[..., None]
            comp = (patch.image * m + crop.image * (1 - m)).round().clip(0, 255).astype(np.uint8)
            composites.append(comp)
            lm_ref = meshes[i].copy()
            lm_ref[:, :2] += PAD
            box = face_box(lm_ref)
            ref_emb = reference[i] if reference is not None else tools.embed(crop.image, box)
            embs[i] = tools.embed(comp, box)
            out["id"][i] = np.linalg.norm(embs[i] - ref_emb)
            detected[i] = tools.detects(comp, box)
            out["mouth_ref"][i], out["eyes_ref"][i] = mouth_openness(lm_ref), eye_openness(lm_ref)
            lm_new = tools.landmarks3d(comp)
            if lm_new is not None:
                meshed[i] = True
                out["pose"][i] = rotation_angle(lm_ref, lm_new)
                out["mouth"][i], out["eyes"][i] = mouth_openness(lm_new), eye_openness(lm_new)
    return Measures(out["id"], out["pose"], out["mouth"], out["mouth_ref"], out["eyes"], out["eyes_ref"],
                    detected, meshed, embs), composites


def nearest_training_distance(embeddings: np.ndarray, train_embeddings: np.ndarray) -> np.ndarray:
    """For each generated face, the dlib distance to the closest training face."""
    d2 = (embeddings ** 2).sum(1)[:, None] + (train_embeddings ** 2).sum(1)[None] - 2 * embeddings @ train_embeddings.T
    return np.sqrt(np.maximum(d2, 0).min(1))
