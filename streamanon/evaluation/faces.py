"""Independent face detection (YuNet, or dlib when YuNet is absent) and the dlib attacker.

Nothing here is MediaPipe: streamanon anonymizes with MediaPipe, so measuring with it would
grade the method with its own eyes. Boxes are ``(x0, y0, x1, y1)`` pixels; images are RGB.

dlib's models (68/5-point shape predictors, the 128-d ResNet embedder, the MMOD CNN
detector) come from the ``face-recognition-models`` package; YuNet from an ONNX file whose
path is configurable (``STREAMANON_YUNET`` or ``../shared/models``).
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import cv2
import numpy as np

from ..errors import BackendUnavailableError, ConfigError
from .dlib_resnet import CHIP_PADDING, CHIP_SIZE

log = logging.getLogger(__name__)

Box = tuple[float, float, float, float]
YUNET_FILE = "face_detection_yunet_2026may.onnx"
SAME_PERSON = 0.6
"""dlib's standard same-person threshold on the Euclidean distance of 128-d embeddings."""


def default_yunet_path() -> Path:
    """``$STREAMANON_YUNET`` if set, else ``../shared/models/`` beside the repository."""
    env = os.environ.get("STREAMANON_YUNET")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "shared" / "models" / YUNET_FILE


@dataclass(frozen=True)
class FaceBox:
    """A face found by an independent detector.

    ``rect`` is the square box in dlib's convention (what its shape predictors were trained
    on), derived from ``box`` so that the same landmark fit works whichever detector ran.
    """

    box: Box
    score: float
    rect: Box

    @property
    def size(self) -> float:
        x0, y0, x1, y1 = self.box
        return float(np.sqrt(max(x1 - x0, 1.0) * max(y1 - y0, 1.0)))


def yunet_to_dlib_rect(box: Box) -> Box:
    """dlib-style square for a YuNet box (YuNet boxes are taller: they include the forehead).

    Fitted on the 16 shared clips: side 1.14 x width, centre 0.04 x height lower.
    """
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cx, cy, side = (x0 + x1) / 2, (y0 + y1) / 2 + 0.04 * h, 1.14 * w
    return (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)


class FaceDetector(Protocol):
    name: str

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        ...


class YuNetDetector:
    """OpenCV's YuNet (``cv2.FaceDetectorYN``); large frames are downscaled to ``max_side``."""

    name = "yunet"

    def __init__(self, model_path: str | Path, score: float = 0.6, max_side: int = 1280) -> None:
        path = Path(model_path)
        if not path.is_file():
            raise BackendUnavailableError("yunet", "eval", f"no model file at {path}")
        self.score, self.max_side = score, max_side
        self._net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), score, 0.3, 5000)
        self._size: tuple[int, int] | None = None

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        h, w = image.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        small = image if scale == 1.0 else cv2.resize(image, (round(w * scale), round(h * scale)),
                                                     interpolation=cv2.INTER_AREA)
        sh, sw = small.shape[:2]
        if self._size != (sw, sh):
            self._net.setInputSize((sw, sh))
            self._size = (sw, sh)
        _, faces = self._net.detect(cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
        out = []
        for row in faces if faces is not None else []:
            x, y, bw, bh = (float(v) / scale for v in row[:4])
            box = (max(0.0, x), max(0.0, y), min(float(w), x + bw), min(float(h), y + bh))
            if box[2] - box[0] < 2 or box[3] - box[1] < 2:
                continue
            out.append(FaceBox(box, float(min(1.0, row[-1])), yunet_to_dlib_rect(box)))
        return out


class DlibDetector:
    """dlib's HOG detector (``cnn=False``) or MMOD CNN detector; used when YuNet is absent."""

    def __init__(self, cnn: bool = False, upsample: int = 1, max_side: int = 1280) -> None:
        dlib = _import_dlib()
        self.name = "dlib-cnn" if cnn else "dlib-hog"
        self.cnn, self.upsample, self.max_side = cnn, upsample, max_side
        if cnn:
            self._det = dlib.cnn_face_detection_model_v1(_model_file("cnn_face_detector_model_location"))
        else:
            self._det = dlib.get_frontal_face_detector()

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        h, w = image.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        small = image if scale == 1.0 else cv2.resize(image, (round(w * scale), round(h * scale)))
        small = np.ascontiguousarray(small)
        if self.cnn:
            found = [(d.rect, float(d.confidence)) for d in self._det(small, self.upsample)]
        else:
            rects, scores, _ = self._det.run(small, self.upsample, 0.0)
            found = list(zip(rects, scores))
        out = []
        for r, s in found:
            box = (max(0.0, r.left() / scale), max(0.0, r.top() / scale),
                   min(float(w), (r.right() + 1) / scale), min(float(h), (r.bottom() + 1) / scale))
            if box[2] - box[0] < 2 or box[3] - box[1] < 2:
                continue
            score = float(1.0 / (1.0 + np.exp(-2.0 * s)))  # squash the SVM margin into [0, 1]
            out.append(FaceBox(box, score, box))
        return out


def create_detector(name: str = "auto", model_path: str | Path | None = None,
                    score: float = 0.6, max_side: int = 1280) -> FaceDetector:
    """``yunet``, ``dlib-hog``, ``dlib-cnn`` or ``auto`` (YuNet when its file exists, else HOG)."""
    path = Path(model_path) if model_path else default_yunet_path()
    if name == "auto":
        if path.is_file():
            return YuNetDetector(path, score, max_side)
        log.info("YuNet model not found at %s; using dlib's HOG detector", path)
        return DlibDetector(cnn=False, max_side=max_side)
    if name == "yunet":
        return YuNetDetector(path, score, max_side)
    if name in ("dlib-hog", "dlib-cnn"):
        return DlibDetector(cnn=name == "dlib-cnn", max_side=max_side)
    raise ConfigError(f"unknown eval detector {name!r}; expected auto, yunet, dlib-hog or dlib-cnn")


def _import_dlib():
    try:
        import dlib
    except ImportError as exc:
        raise BackendUnavailableError("dlib", "eval", str(exc)) from None
    return dlib


def _model_file(function: str) -> str:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import face_recognition_models as frm
    except ImportError as exc:
        raise BackendUnavailableError("face-recognition-models", "eval", str(exc)) from None
    return getattr(frm, function)()


class DlibFaceModel:
    """dlib's attacker: 68-point landmarks and the 128-d ResNet embedding of a face.

    Landmarks are fitted on whatever image is given inside ``rect``: on an anonymized frame
    this is what an attacker who knows where the face was would see.
    """

    name = "dlib"

    def __init__(self, runtime: str = "dlib") -> None:
        """``runtime``: ``dlib`` runs the ResNet in dlib itself (the eval's attacker); ``torch``
        runs the same weights in torch (:mod:`.dlib_resnet`: same descriptors to about 1e-6,
        about 9x faster on CPU; needs the ``synthetic`` extra)."""
        if runtime not in ("dlib", "torch"):
            raise ConfigError(f"dlib recogniser runtime: expected dlib or torch, got {runtime!r}")
        self._dlib = _import_dlib()
        self._sp68 = self._dlib.shape_predictor(_model_file("pose_predictor_model_location"))
        self.runtime = runtime
        path = _model_file("face_recognition_model_location")
        if runtime == "torch":
            try:
                import torch  # noqa: F401  (the synthetic extra)
            except ImportError as exc:
                raise BackendUnavailableError("dlib recogniser in torch", "synthetic", str(exc)) from None
            from .dlib_resnet import DlibResNet

            self._torch_net = DlibResNet.load(path)
        else:
            self._net = self._dlib.face_recognition_model_v1(path)

    def _rect(self, rect: Box):
        x0, y0, x1, y1 = (int(round(v)) for v in rect)
        return self._dlib.rectangle(x0, y0, max(x1, x0 + 1), max(y1, y0 + 1))

    def landmarks(self, image: np.ndarray, rect: Box) -> np.ndarray:
        """68 (x, y) points, float32."""
        shape = self._sp68(np.ascontiguousarray(image), self._rect(rect))
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)

    def embed(self, image: np.ndarray, rect: Box, landmarks: np.ndarray | None = None) -> np.ndarray:
        """128-d embedding (float32) of the face in ``rect``, aligned on its 68 landmarks."""
        image = np.ascontiguousarray(image)
        shape = self._shape(image, rect, landmarks)
        if self.runtime == "torch":
            return self._torch_net.describe(self._chip(image, shape)[None])[0]
        return np.asarray(self._net.compute_face_descriptor(image, shape), dtype=np.float32)

    def embed_many(self, faces: Sequence[tuple[np.ndarray, Box]]) -> np.ndarray:
        """(n, 128) float32: ``embed(image, rect)`` of each face; with the torch runtime the
        ResNet runs once over all of them (on 2 CPU cores, landmarks and chips included,
        11 ms a face in a batch of 39, 16 in a pair, 20 one by one:
        ``benchmarks/bench_recogniser.py``)."""
        if not faces:
            return np.zeros((0, 128), dtype=np.float32)
        if self.runtime != "torch":
            return np.stack([self.embed(image, rect) for image, rect in faces])
        chips = []
        for image, rect in faces:
            image = np.ascontiguousarray(image)
            chips.append(self._chip(image, self._shape(image, rect, None)))
        return self._torch_net.describe(np.stack(chips))

    def _shape(self, image: np.ndarray, rect: Box, landmarks: np.ndarray | None):
        if landmarks is None:
            return self._sp68(image, self._rect(rect))
        pts = [self._dlib.point(int(round(x)), int(round(y))) for x, y in landmarks]
        return self._dlib.full_object_detection(self._rect(rect), pts)

    def _chip(self, image: np.ndarray, shape) -> np.ndarray:
        return np.asarray(self._dlib.get_face_chip(image, shape, size=CHIP_SIZE, padding=CHIP_PADDING))


class LbpEmbedder:
    """Second attacker, unrelated to deep networks: uniform LBP histograms on a 4x4 grid of
    the aligned grey face (the classic Ahonen et al. face descriptor), L2-normalised.

    It has no calibrated same-person threshold; it is used for nearest-neighbour re-ID only.
    """

    name = "lbp"

    def embed(self, image: np.ndarray, rect: Box, landmarks: np.ndarray | None = None) -> np.ndarray:
        from skimage.feature import local_binary_pattern

        chip = aligned_chip(image, rect, landmarks, 64)
        grey = cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY)
        codes = local_binary_pattern(grey, 8, 1, method="uniform")
        hists = [np.bincount(codes[y:y + 16, x:x + 16].astype(int).ravel(), minlength=10)
                 for y in range(0, 64, 16) for x in range(0, 64, 16)]
        vec = np.sqrt(np.concatenate(hists).astype(np.float32))  # Hellinger: L2 on sqrt counts
        return vec / max(float(np.linalg.norm(vec)), 1e-6)


# Mean 68-point positions of the eyes' centres and the mouth centre in a unit face square.
_CANON = np.array([[0.30, 0.38], [0.70, 0.38], [0.50, 0.78]], dtype=np.float32)


def aligned_chip(image: np.ndarray, rect: Box, landmarks: np.ndarray | None, size: int) -> np.ndarray:
    """A ``size`` x ``size`` face crop: similarity-aligned on eyes and mouth when landmarks
    are given, else the square ``rect`` resized. Pixels outside the frame are replicated."""
    if landmarks is not None and len(landmarks) == 68:
        src = np.stack([landmarks[36:42].mean(0), landmarks[42:48].mean(0), landmarks[48:68].mean(0)])
        matrix, _ = cv2.estimateAffinePartial2D(src.astype(np.float32), _CANON * size)
        if matrix is not None:
            return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_AREA,
                                  borderMode=cv2.BORDER_REPLICATE)
    x0, y0, x1, y1 = rect
    scale = size / max(x1 - x0, 1.0)
    matrix = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]], dtype=np.float32)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
