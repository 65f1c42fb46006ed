"""Typed configuration, loaded from YAML (``configs/``) and CLI flags alike.

Every section is a frozen dataclass; unknown keys and wrong types are :class:`ConfigError`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .errors import ConfigError
from .temporal.config import TemporalConfig

Mode = Literal["synthetic", "blur", "pixelate", "solid"]
BASELINE_MODES = ("blur", "pixelate", "solid")


def fallback_kind(anonymizer: "AnonymizerConfig") -> str:
    """The fail-closed cover actually used: ``auto`` resolves by mode."""
    if anonymizer.fallback != "auto":
        return anonymizer.fallback
    return "solid" if anonymizer.mode == "solid" else "blur"


@dataclass(frozen=True)
class DetectorConfig:
    """MediaPipe face detection and mesh."""

    min_score: float = 0.5
    """Detector confidence threshold. Lower finds more faces (and more false covers)."""
    short_range: bool = True
    """Short-range model on the whole frame (faces within about 2 m, large in frame)."""
    full_range: bool = True
    """Full-range model, on tiles of ``tile_size`` so that small distant faces are found."""
    tile_size: int = 384
    """Side of the square tiles the full-range model also runs on, so that faces of about
    20 px are found; 0 runs it on the whole frame only."""
    tiles_start_small_faces_only: bool = False
    """With CenterFace and the mesh on, a tile's detection large enough for the whole-frame
    passes (``detect.TILE_FACE_MAX``) that no other pass found starts a track only if the face
    mesh confirms it; it still feeds a tracked face. Removes false covers beside close-up
    faces (talking_s18: flicker 1.19 -> 1.09) but is off by default: on stage_profiles_360p a
    face hidden by such a detection's cover went uncovered (re-ID 0.066 -> 0.088)."""
    confirm_below: float = 0.7
    """With CenterFace on: a whole-frame MediaPipe detection scoring under this, at least
    ``detect.CONFIRM_MIN_SIZE`` (96) px, that no other pass found and no tracked face expects,
    counts only if CenterFace also sees a face on a close crop around it. 0 counts every
    detection. Weak single-pass detections on 16 shared clips (every 3rd frame) were a
    chandelier and the hair and shoulder beside talking_s18's face (covered by a grey disc over
    half her face for 70 frames); none was a face the independent detector (YuNet) sees
    (``benchmarks/weak_detections.py``). Costs one CenterFace run on a 256 px crop per such
    detection."""
    tiles_per_frame: int = 3
    """Tiles scanned per frame, round robin (bounded cost). A face found on a later visit is
    covered back to its first frame by the lookahead (``runtime.lookahead``), so keep the tile
    cycle (tiles / tiles_per_frame; 10 frames at 1080p) shorter than the lookahead.
    Tracked faces are searched around their predicted box every frame."""
    centerface_every: int = 3
    """Also run CenterFace (second detector, finds dark, cut-off and small faces MediaPipe
    misses) every this many frames; tracks and the lookahead cover the frames between.
    0 turns it off (faster, fewer faces found)."""
    centerface_width: int = 640
    """Input width CenterFace runs at (the frame is scaled to it)."""
    centerface_score: float = 0.5
    nms_iou: float = 0.3
    """Overlap above which two detections of the different models are the same face."""
    mesh: bool = True
    """Run the face mesh on each detected face (landmarks for tight masks). Covering modes
    only: synthetic mode always runs it (the generator draws from it). Off, masks come from
    the detector box, generously."""
    mesh_min_size: int = 24
    """Faces smaller than this (pixels) get no mesh; their mask comes from the box."""


@dataclass(frozen=True)
class TrackerConfig:
    """Kalman tracking (filterpy) with Hungarian association."""

    max_coast: int = 12
    """Frames a track lives on without a detection; it stays covered meanwhile."""
    tentative_coast: int = 3
    """Frames a tentative track lives on without a detection, and how far the lookahead
    back-fills it: one started by a large face only a tile found, with no face mesh, or by a
    small find with no mesh beside a much larger face (``Detection.tentative``); a detection
    that is not tentative joining it (the close search around it, or a tile finding it again
    where the track expects it) makes it a track like the rest. Such one-frame finds in the
    hair above a close-up face coasted ``max_coast`` frames as discs growing over the drawn
    face (talking_s32: two, 13 frames each); the close search around a coasting track
    (``detect.HINT_SCALE``) runs every frame and would find a face that large again. Larger: longer false covers; ``max_coast`` or more: the old
    behaviour (README "Known limits" has the measured difference)."""
    sealed_coast: int = 3
    """Frames a track of the old shot keeps covering after a scene cut (``max_coast`` at most).
    The old face is gone from a new shot: coasting ``max_coast`` frames laid the old face's
    cover (a 435 px disc after a close-up) over the new shot for 0.5 s at every cut where no
    face of the new shot took its place. Where a false cut leaves a face in place (a face going
    dark), the detector's close search finds it again (its new track takes over) and the
    lookahead back-fills the frames before that find, so the pipeline raises this to
    ``max_coast - runtime.lookahead`` when the lookahead is shorter than ``max_coast`` (live
    streams hold no lookahead: ``LIVE_DEFAULTS`` sets ``max_coast``). Larger: longer blankets
    after cuts."""
    min_iou: float = 0.1
    """Overlap below which a detection cannot join a track (unless landmarks agree)."""
    landmark_weight: float = 0.5
    """Weight of normalized keypoint distance in the association cost (IoU weight is 1)."""
    max_cost: float = 1.2
    """Association cost above which a pair is rejected."""
    coast_growth: float = 0.04
    """Relative growth of a coasting track's box per missed frame (uncertainty grows)."""


@dataclass(frozen=True)
class IdentityConfig:
    """Per-track synthetic identity seeds derived from (salt, stream, track)."""

    salt: str | None = None
    """Secret mixed into every seed. Random per run unless fixed here or with ``--salt``."""
    stream: str = "0"
    """Name of the stream; two streams with one salt still get different identities."""


@dataclass(frozen=True)
class AnonymizerConfig:
    """How faces are replaced or covered."""

    mode: Mode = "synthetic"
    """``synthetic`` replaces faces (needs the ``synthetic`` extra); ``blur``, ``pixelate`` and
    ``solid`` cover them. Live streams default to ``blur`` (LIVE_DEFAULTS)."""
    degree: float = 2.0
    """Anonymization degree (synthetic mode): 0 keeps face geometry, larger moves it further."""
    degree_outline: float = 0.5
    """Synthetic mode: share of the degree's shape move on the face outline (jaw, cheeks,
    hairline), rising to the full move inside the face (``synthetic/degree.py``). 0 keeps the
    person's outline, so the drawn face fills the head it is drawn into; 1 moves it like the
    rest (before this setting). Nine talking clips, 1 / 0.5 / 0: expression r 0.65 / 0.69 /
    0.73, pose error 4.5 / 4.3 / 4.0 deg; held-out UTKFace faces without the guard re-identified
    0.24 / 0.27 / 0.30, and at 0 music_video_720p flickered past 1.15 (MODEL_CARD.md, "Kept
    outline")."""
    min_face_px: float = 96.0
    """Synthetic mode: faces whose mesh is smaller than this get the fail-closed cover instead
    (the model keeps too much of a small face's outline; MODEL_CARD.md)."""
    max_yaw: float = 0.35
    """Synthetic mode: faces turned further than this (nose offset along the cheek axis, 0.5
    over a cheek edge) get the cover instead; the model never learnt profiles."""
    guard_candidates: int = 12
    """Synthetic mode, identity guard: draw each new identity this many ways and keep the one
    dlib finds farthest from the person (0: off). 0.5-1.0 s per new person and judging frame on
    2 CPU cores (``guard_frames``)."""
    guard_frames: int = 3
    """Identity guard: judge the candidates on this many frames of the new face, its first and
    later ones the lookahead holds (``runtime.lookahead``), spread out, by their mean distance
    (1: the first frame only). One frame is a noisy judge of a clip: talking_d10 re-ID 0.333 ->
    0.022, identity-check covers 31 -> 0 (salt s6, MODEL_CARD.md). Each frame costs the guard's time again."""
    guard_redraws: int = 0
    """Identity guard with the identity check (opt-in): a face the check covers at 3 checks
    in a row is drawn a new identity (12 more candidates, the farthest from the person as the
    check saw them, taken only if ``verify_distance`` + 0.1 from every view), at most this
    many tries per person; 0: the cover stands. Fewer covered faces, but on the talking clips
    re-ID rose on two of four runs (MODEL_CARD.md), so covering stays the default."""
    verify_every: int = 4
    """Synthetic mode, identity check: dlib compares each drawn face with the person on its first
    drawn frame and then every this many frames (every frame while it is close); a face within
    ``verify_distance`` gets the cover (0: off). About 30 ms per checked face on 2 CPU cores
    (dlib's ResNet run in torch, both faces in one batch; 370 ms in dlib's own runtime), 80 ms
    near the limit."""
    verify_distance: float = 0.62
    """Identity check: drawn faces closer to the person than this are covered (dlib's
    same-person threshold is 0.6; where a face is boxed moved the distance by about 0.01)."""
    verify_hold: int = 0
    """Identity check: a face it covers stays covered for at least this many drawn frames
    (unchecked) before it may be drawn again: fewer jumps between drawn face and cover. 15 on
    talking_d3, d10, s32, vox (salt s6): flicker 0.93 -> 0.74 mean (s32 1.16 -> 0.89),
    switches 17 -> 14, but covered frames 156 -> 194 and identity stability 0.77 -> 0.72 (more
    pairs of drawn face and cover), so off by default. 0: drawn again once a check passes."""
    verify_escalate: float = 1.0
    """Identity check: a face it covers is drawn this much farther past the mean shape
    (``degree`` + this) from its next frame on, for as long as its identity is shown (also
    when the identity memory gives a returning person their earlier seed): the same identity
    seed with a shape farther from the person's, checked like any other (0: off; the cover
    then stands until the drawn face clears the check). Measured: README "Synthetic faces"."""
    verify_escalate_times: int = 2
    """Identity check: how many times a face may be raised by ``verify_escalate``: once more
    when the check measures the raised face and covers it again (1: once). Measured: README
    "Synthetic faces" (steadier identity where a raised face still came too near, a little
    less expression and pose fidelity on those faces)."""
    verify_reuse: int = 30
    """Identity check: a face it covers is drawn instead as the track's farthest face (from the
    person) among those that passed a check in the last this many frames, warped onto this
    frame's face, if that face clears the check by the hysteresis band here; else the cover
    stays. Its expression and turn stay as they were for those frames, instead of a blur disc
    (a recogniser reads the disc as another person). Needs temporal smoothing (the generator
    keeps its last faces there). Held covers (``verify_hold``) are tried too. 0: the cover.
    Measured: README "Synthetic faces"."""
    verify_views: int = 0
    """Identity check, stricter (opt-in): also compare the drawn face with up to this many
    earlier views of the person (embeddings from the track's earlier checks, in memory while
    the track lives), as a re-ID attacker holding many pictures would. 16 lowered re-ID on the
    talking clips but covered 5.5 times as many faces (MODEL_CARD.md). 0: this frame only."""
    weights: str | None = None
    """Synthetic mode: generator weights, a ``.safetensors`` file written by ``streamanon
    train --package`` with its ``.json`` sidecar beside it (hash-checked at load; a relative
    path is taken from the working directory). None: the model shipped in the package."""
    backend: Literal["auto", "torch", "onnx", "tensorrt"] = "auto"
    """Synthetic mode: ``auto`` is ONNX Runtime on CPU (30 % faster than torch there, same
    faces) and torch on CUDA (fp16; ONNX on CUDA needs onnxruntime-gpu)."""
    device: Literal["cpu", "cuda"] = "cpu"
    fallback: Literal["auto", "solid", "blur"] = "auto"
    """Fail-closed cover used when anything goes wrong for a face (or it coasts): ``auto`` is
    solid in solid mode and a heavy blur otherwise."""
    blur_strength: float = 0.5
    """Gaussian sigma as a fraction of the face size (blur mode)."""
    pixel_blocks: int = 6
    """Blocks across the face (pixelate mode). At 8, small faces stayed recognizable to the
    eval's attacker on crowd_walk_1080p (leak rate 0.095)."""
    solid_color: tuple[int, int, int] = (0, 0, 0)
    timeout_ms: float = 0.0
    """Per-batch generator time limit; a slower batch is covered (0: no limit)."""


@dataclass(frozen=True)
class MaskConfig:
    """Blend masks from the face mesh (or box when there is no mesh)."""

    scale: float = 1.15
    """Mask size relative to the mesh face oval (synthetic mode)."""
    baseline_scale: float = 1.35
    """Mask size for blur, pixelate and solid, which cover generously."""
    forehead: float = 0.25
    """Extra height above the brows, as a fraction of face height."""
    feather: float = 0.08
    """Edge softness as a fraction of face size."""


@dataclass(frozen=True)
class EncoderConfig:
    """PyAV encoding."""

    codec: Literal["h264", "h265"] = "h264"
    crf: int = 20
    preset: str = "veryfast"
    container: Literal["auto", "mp4", "mkv"] = "auto"
    """``auto`` picks from the output extension."""
    threads: int = 0
    """Encoder threads (0: codec default)."""


@dataclass(frozen=True)
class ProvenanceConfig:
    """Machine-readable marking (EU AI Act Art. 50) and the optional visible label."""

    sei: bool = True
    container_tags: bool = True
    sidecar: bool = True
    visible_label: bool = False
    label_text: str = "AI-modified"
    c2pa_cert: str | None = None
    c2pa_key: str | None = None


@dataclass(frozen=True)
class RuntimeConfig:
    """Threads and queues of the staged runner."""

    lookahead: int = 12
    """Frames held back so a face first detected late is covered in the frames before
    (files; live streams trade this against latency). 0 turns back-filling off."""
    queue_size: int = 8
    threads: int = 0
    """Threads for numerical libraries (0: leave their defaults)."""


@dataclass(frozen=True)
class Config:
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    identity: IdentityConfig = field(default_factory=IdentityConfig)
    anonymizer: AnonymizerConfig = field(default_factory=AnonymizerConfig)
    mask: MaskConfig = field(default_factory=MaskConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    provenance: ProvenanceConfig = field(default_factory=ProvenanceConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    temporal: TemporalConfig = field(default_factory=TemporalConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def digest(self) -> str:
        """Short stable hash of everything except the salt (which must stay secret)."""
        data = self.to_dict()
        data["identity"]["salt"] = None
        blob = json.dumps(data, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def override(self, values: dict[str, Any]) -> "Config":
        """A copy with dotted keys replaced, e.g. ``{"anonymizer.mode": "solid"}``."""
        data = self.to_dict()
        for dotted, value in values.items():
            section, _, key = dotted.partition(".")
            if section not in data or not isinstance(data[section], dict) or key not in data[section]:
                raise ConfigError(f"unknown setting {dotted!r}")
            data[section][key] = value
        return from_dict(Config, data)


def _layered(base: dict[str, Any], data: Any) -> Any:
    """``data`` over ``base``, mapping by mapping (anything else in ``data`` replaces)."""
    if not isinstance(data, dict):
        return data
    merged = dict(base)
    for key, value in data.items():
        merged[key] = _layered(base[key], value) if isinstance(base.get(key), dict) else value
    return merged


def from_dict(cls: type, data: Any, where: str = "") -> Any:
    """Build dataclass ``cls`` from plain data, rejecting unknown keys and wrong types."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where or 'config'}: unknown key(s) {', '.join(map(repr, unknown))}; "
                          f"expected one of {', '.join(sorted(names))}")
    kwargs = {name: _coerce(hints[name], value, f"{where}.{name}".lstrip(".")) for name, value in data.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where or 'config'}: {exc}") from None


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value if value is not None else {}, where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: expected one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or (args and args[-1] is not Ellipsis and len(value) != len(args)):
            raise ConfigError(f"{where}: expected a list of {len(args)} values, got {value!r}")
        item_types = [args[0]] * len(value) if args and args[-1] is Ellipsis else list(args)
        return tuple(_coerce(t, v, f"{where}[{i}]") for i, (t, v) in enumerate(zip(item_types, value)))
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None,
                base: Config | None = None) -> Config:
    """Defaults (``base``, else :class:`Config`'s), then the YAML file (if any, key by key over
    them), then dotted ``overrides`` (CLI flags)."""
    import yaml

    config = base or Config()
    if path is not None:
        p = Path(path)
        try:
            text = p.read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read config {p}: {exc.strerror or exc}") from None
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config {p} is not valid YAML: {exc}") from None
        config = from_dict(Config, _layered(config.to_dict(), data), where=p.name)
    if overrides:
        config = config.override({k: v for k, v in overrides.items() if v is not None})
    return config
