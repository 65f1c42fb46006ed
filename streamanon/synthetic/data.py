"""Training data: MediaPipe meshes precomputed once, aligned crops, augmented batches.

The cache lives outside git (``scratch/``). Stage 1 (``precompute_meshes``) runs the face
mesh on every training image (about 1-2 minutes for 9,780 faces); stage 2
(``build_aligned_cache``) warps every face to the canonical frame; ``FaceBatches`` then
renders conditions with random augmentation for each batch, and ``StepBatches`` renders the
batch of any training step on its own (for worker processes).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from . import align
from .conditions import build_conditions, inpaint_mask

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d+)_(\d)_(\d)_")


def parse_labels(name: str) -> tuple[int, int, int]:
    """UTKFace ``age_gender_race_date.jpg`` labels: (age, gender, race); -1 where missing."""
    m = _NAME.match(name)
    if not m:
        return (-1, -1, -1)
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def precompute_meshes(image_dir: Path, cache: Path) -> Path:
    """Run MediaPipe face mesh (478 points) on every image once; store names and landmarks."""
    out = cache / "meshes.npz"
    if out.exists():
        return out
    import mediapipe as mp

    files = sorted(p for p in image_dir.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    if not files:
        raise InputError(f"no training images in {image_dir}")
    names, points = [], []
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1,
                                         refine_landmarks=True, min_detection_confidence=0.5) as mesh:
        for i, path in enumerate(files):
            bgr = cv2.imread(str(path))
            if bgr is None:
                continue
            h, w = bgr.shape[:2]
            res = mesh.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            if not res.multi_face_landmarks:
                continue
            lm = res.multi_face_landmarks[0].landmark
            points.append(np.array([[p.x * w, p.y * h, p.z * w] for p in lm], np.float32))
            names.append(path.name)
            if i % 1000 == 0:
                log.info("mesh %d/%d", i, len(files))
    cache.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, names=np.array(names), points=np.stack(points))
    log.info("meshes: %d of %d images have a face mesh", len(names), len(files))
    return out


def build_aligned_cache(image_dir: Path, cache: Path, resolution: int) -> Path:
    """Warp every meshed face to the canonical frame at ``resolution``; save images + landmarks."""
    out = cache / f"aligned_{resolution}.npz"
    if out.exists():
        return out
    meshes = np.load(precompute_meshes(image_dir, cache))
    names, points = meshes["names"], meshes["points"]
    template = align.bootstrap_template(points[:, :, :2])
    images, aligned = [], []
    for name, pts in zip(names, points):
        bgr = cv2.imread(str(image_dir / str(name)))
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        m = align.estimate(pts[:, :2], template, resolution)
        images.append(align.warp_to_canonical(rgb, m, resolution))
        aligned.append(align.apply(m, pts[:, :2]))
    np.savez(out, names=names, images=np.stack(images), landmarks=np.stack(aligned).astype(np.float32),
             depth=points[:, :, 2], template=template)
    return out


@dataclass
class FaceSet:
    names: np.ndarray
    images: np.ndarray      # (N, R, R, 3) uint8, canonical frame
    landmarks: np.ndarray   # (N, 478, 2) canonical pixels
    depth: np.ndarray       # (N, 478) MediaPipe z (for pose statistics)
    template: np.ndarray    # (478, 2) unit template

    @classmethod
    def load(cls, path: Path) -> "FaceSet":
        d = np.load(path)
        return cls(d["names"], d["images"], d["landmarks"], d["depth"], d["template"])

    def split(self, holdout: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Indices (train, holdout): a fixed random holdout for evaluation and the model card."""
        order = np.random.default_rng(seed).permutation(len(self.names))
        return np.sort(order[holdout:]), np.sort(order[:holdout])


class FaceBatches:
    """Random augmented batches: (target image in [-1, 1], conditions) as float32 arrays."""

    def __init__(self, faces: FaceSet, indices: np.ndarray, resolution: int, grid: int,
                 mirror: np.ndarray, seed: int | tuple[int, ...], augment: bool = True) -> None:
        self.faces, self.indices, self.res, self.grid = faces, indices, resolution, grid
        self.mirror, self.augment = mirror, augment
        self.rng = np.random.default_rng(list(seed) if isinstance(seed, tuple) else seed)

    def sample(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
        idx = self.rng.choice(self.indices, size=batch, replace=False)
        return self.render(idx)

    def render(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        targets, conds = [], []
        for i in idx:
            img, lm = self.faces.images[i], self.faces.landmarks[i].copy()
            scale = 1.15
            if self.augment:
                img, lm, scale = self._augment(img, lm)
            mask = inpaint_mask(lm, self.res, scale=scale)
            conds.append(build_conditions(img, lm, mask, self.grid))
            targets.append(img.astype(np.float32).transpose(2, 0, 1) / 127.5 - 1.0)
        return np.stack(targets), np.stack(conds)

    def _augment(self, img: np.ndarray, lm: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        r, rng = self.res, self.rng
        if rng.random() < 0.5:
            img = img[:, ::-1]
            lm = lm[self.mirror].copy()
            lm[:, 0] = r - 1 - lm[:, 0]
        ang = rng.normal(0, 4.0)
        s = np.exp(rng.normal(0, 0.05))
        t = rng.normal(0, 0.02 * r, size=2)
        m = cv2.getRotationMatrix2D((r / 2, r / 2), ang, s)
        m[:, 2] += t
        img = cv2.warpAffine(np.ascontiguousarray(img), m, (r, r), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE)
        lm = align.apply(m, lm)
        # Colour jitter: brightness, contrast, per-channel gain (skin tone and lighting vary).
        f = img.astype(np.float32)
        gain = np.exp(rng.normal(0, [0.05, 0.05, 0.05])) * np.exp(rng.normal(0, 0.12))
        f = (f - f.mean()) * np.exp(rng.normal(0, 0.1)) + f.mean()
        img = np.clip(f * gain, 0, 255).astype(np.uint8)
        return img, lm, float(rng.uniform(1.05, 1.3))


class StepBatches:
    """The batch of training step ``k``, drawn with its own RNG seeded by ``(seed, k)``.

    A map-style dataset for ``torch.utils.data.DataLoader`` (``batch_size=None``): any worker
    process can render any step, the order of batches does not depend on the number of
    workers, and a resumed run needs only its step number.
    """

    def __init__(self, faces: FaceSet, indices: np.ndarray, resolution: int, grid: int,
                 mirror: np.ndarray, seed: int, batch: int) -> None:
        self.faces, self.indices, self.res, self.grid = faces, indices, resolution, grid
        self.mirror, self.seed, self.batch = mirror, seed, batch

    def __getitem__(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        batches = FaceBatches(self.faces, self.indices, self.res, self.grid, self.mirror, (self.seed, int(step)))
        return batches.sample(self.batch)
