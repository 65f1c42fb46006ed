"""Frozen dataclasses passed between stages, validated on creation.

Coordinates are pixels in the frame (x right, y down); boxes are ``(x0, y0, x1, y1)``.
Images are RGB ``uint8`` arrays of shape ``(H, W, 3)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from .errors import check, InputError

Box = tuple[float, float, float, float]


def _check_image(image: np.ndarray, what: str) -> None:
    check(isinstance(image, np.ndarray), InputError, f"{what} type", "numpy.ndarray", type(image).__name__)
    check(image.dtype == np.uint8, InputError, f"{what} dtype", "uint8", image.dtype)
    check(image.ndim == 3 and image.shape[2] == 3, InputError, f"{what} shape", "(H, W, 3)", image.shape)


def _check_box(box: Box, what: str) -> None:
    check(len(box) == 4, InputError, f"{what} length", 4, len(box))
    x0, y0, x1, y1 = box
    check(x1 > x0 and y1 > y0, InputError, f"{what} extent", "x1 > x0 and y1 > y0", box)


def _check_points(points: np.ndarray | None, what: str) -> None:
    if points is None:
        return
    check(isinstance(points, np.ndarray) and points.ndim == 2 and points.shape[1] == 2,
          InputError, f"{what} shape", "(N, 2) array", getattr(points, "shape", type(points).__name__))


@dataclass(frozen=True, eq=False)
class VideoFrame:
    """One decoded picture with the timestamp it travels with."""

    image: np.ndarray
    index: int
    pts: int | None = None
    time_base: Fraction | None = None

    def __post_init__(self) -> None:
        _check_image(self.image, "frame image")
        check(self.index >= 0, InputError, "frame index", ">= 0", self.index)

    @property
    def time(self) -> float | None:
        """Presentation time in seconds, when known."""
        if self.pts is None or self.time_base is None:
            return None
        return float(self.pts * self.time_base)

    def with_image(self, image: np.ndarray) -> "VideoFrame":
        """The same frame (index, pts, time base) carrying another picture."""
        return VideoFrame(image=image, index=self.index, pts=self.pts, time_base=self.time_base)


@dataclass(frozen=True, eq=False)
class Detection:
    """A face found in one frame.

    ``keypoints`` are MediaPipe's six detector points (eyes, nose tip, mouth, ear tragions);
    ``landmarks`` the face mesh (468 or 478 points) when the mesh ran and succeeded.
    ``tentative``: only one pass found it, on a tile, though it is large enough for the
    whole-frame passes, and the mesh (or, where the mesh fitted one, CenterFace) did not
    confirm it (``detect.TILE_FACE_MAX``); or it has no mesh and touches a meshed face at
    least four times its size (``detect.PART_OF_FACE``: an ear, the jaw). Covered, never drawn
    (no ``landmarks``), and a track it starts coasts only ``tracker.tentative_coast`` frames.
    """

    box: Box
    score: float
    keypoints: np.ndarray | None = None
    landmarks: np.ndarray | None = None
    tentative: bool = False

    def __post_init__(self) -> None:
        _check_box(self.box, "detection box")
        check(0.0 <= self.score <= 1.0, InputError, "detection score", "in [0, 1]", self.score)
        _check_points(self.keypoints, "detection keypoints")
        _check_points(self.landmarks, "detection landmarks")

    @property
    def size(self) -> float:
        """Geometric mean of box width and height (pixels)."""
        x0, y0, x1, y1 = self.box
        return float(np.sqrt((x1 - x0) * (y1 - y0)))


@dataclass(frozen=True, eq=False)
class Track:
    """A face followed over time. Coasting tracks (no detection this frame) stay covered."""

    track_id: int
    box: Box
    seed: int
    age: int
    misses: int
    landmarks: np.ndarray | None = None
    keypoints: np.ndarray | None = None
    score: float = 0.0
    tentative: bool = False
    """Only tentative detections so far (``Detection.tentative``): it coasts, and is
    back-filled, only ``tracker.tentative_coast`` frames."""

    def __post_init__(self) -> None:
        check(self.track_id >= 0, InputError, "track id", ">= 0", self.track_id)
        _check_box(self.box, "track box")
        check(self.misses >= 0, InputError, "track misses", ">= 0", self.misses)
        _check_points(self.landmarks, "track landmarks")

    @property
    def coasting(self) -> bool:
        """True when the detector did not see this face in the current frame."""
        return self.misses > 0


@dataclass(frozen=True, eq=False)
class FaceCrop:
    """One face handed to a generator: the frame region around it and its blend mask.

    ``box`` is the integer region ``(x0, y0, x1, y1)`` of the frame the crop was cut from;
    ``mask`` (float32 in [0, 1], same height and width as ``image``) says where the face is;
    ``landmarks`` are in crop coordinates.
    """

    track_id: int
    seed: int
    box: tuple[int, int, int, int]
    image: np.ndarray
    mask: np.ndarray
    landmarks: np.ndarray | None = None
    coasting: bool = False
    degree: float | None = None
    """Synthetic mode: this face's anonymization degree; None: the generator's own."""

    def __post_init__(self) -> None:
        _check_image(self.image, "face crop image")
        h, w = self.image.shape[:2]
        x0, y0, x1, y1 = self.box
        check((y1 - y0, x1 - x0) == (h, w), InputError, "face crop box size", (h, w), (y1 - y0, x1 - x0))
        check(self.mask.shape == (h, w), InputError, "face crop mask shape", (h, w), self.mask.shape)
        check(self.mask.dtype == np.float32, InputError, "face crop mask dtype", "float32", self.mask.dtype)
        _check_points(self.landmarks, "face crop landmarks")


@dataclass(frozen=True, eq=False)
class FacePatch:
    """What a generator returns for one :class:`FaceCrop`: the new pixels for its region."""

    track_id: int
    box: tuple[int, int, int, int]
    image: np.ndarray
    mask: np.ndarray
    fallback: bool = False
    """True when this patch is the fail-closed cover rather than the requested mode."""

    def __post_init__(self) -> None:
        _check_image(self.image, "face patch image")
        h, w = self.image.shape[:2]
        check(self.mask.shape == (h, w), InputError, "face patch mask shape", (h, w), self.mask.shape)


@dataclass(frozen=True)
class FrameRecord:
    """What happened to one frame; the provenance SEI and the report are built from it."""

    index: int
    pts: int | None
    faces: int
    replaced: int
    fallback: int
    mode: str
    track_ids: tuple[int, ...] = field(default_factory=tuple)
    fallback_reasons: tuple[str, ...] = field(default_factory=tuple)
