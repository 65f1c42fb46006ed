"""Compare an original video with its anonymized copy: every figure, one dict.

Steps: 1. observe both videos (matching.observe); 2. privacy; 3. utility; 4. temporal;
5. quality; 6. speed from the run report (when given); 7. summary.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, check, ConfigError
from . import privacy, quality, temporal, utility
from .faces import SAME_PERSON, DlibFaceModel, LbpEmbedder, create_detector
from .matching import ClipObservations, observe

log = logging.getLogger(__name__)

SUMMARY_KEYS = ("reid_rate", "leak_rate", "retention", "pose_error_deg", "expression_corr",
                "flicker", "id_stability")


@dataclass(frozen=True)
class EvalSettings:
    stride: int = 5
    """Analyse every Nth frame (plus the frame after it, for flicker)."""
    max_frames: int | None = None
    detector: str = "auto"
    """Independent detector: auto (YuNet if its model file exists, else dlib HOG), yunet, dlib-hog, dlib-cnn."""
    yunet_model: str | None = None
    det_score: float = 0.6
    max_side: int = 960
    """Frames are downscaled to this longest side for detection (faces of 1080p crowds stay > 25 px)."""
    min_face: int = 32
    """Original faces smaller than this (pixels, geometric mean of box sides) are not evaluated:
    below it YuNet fires on face-like emblems (the crest in crowd_walk_1080p, 26-29 px) and dlib
    cannot tell people apart anyway."""
    match_iou: float = 0.3
    threshold: float = SAME_PERSON
    second_embedder: str | None = "lbp"
    distractors: str | None = None
    """Folder of face images added to the re-ID gallery (default: UTKFace in ../shared when present)."""
    max_distractors: int = 200

    def __post_init__(self) -> None:
        check(self.stride >= 1, ConfigError, "eval stride", ">= 1", self.stride)
        check(self.second_embedder in (None, "lbp"), ConfigError, "second embedder", "lbp or none",
              self.second_embedder)
        check(0 < self.threshold < 2, ConfigError, "same-person threshold", "in (0, 2)", self.threshold)
        check(0 < self.det_score < 1, ConfigError, "detector score threshold", "in (0, 1)", self.det_score)
        check(self.min_face >= 1, ConfigError, "minimum face size", ">= 1", self.min_face)
        check(self.max_distractors >= 0, ConfigError, "max distractors", ">= 0", self.max_distractors)
        check(self.max_frames is None or self.max_frames >= 1, ConfigError, "max frames", ">= 1", self.max_frames)


class Evaluator:
    """Holds the detector, the attacker models and the distractor gallery for many clips."""

    def __init__(self, settings: EvalSettings | None = None) -> None:
        self.settings = s = settings or EvalSettings()
        self.detector = create_detector(s.detector, s.yunet_model, s.det_score, s.max_side)
        self.model = DlibFaceModel()
        self.second = LbpEmbedder() if s.second_embedder == "lbp" else None
        self._distractors: dict | None = None

    @property
    def distractors(self) -> dict:
        if self._distractors is None:
            s = self.settings
            self._distractors = privacy.load_distractors(s.distractors, self.detector, self.model,
                                                         self.second, s.max_distractors)
        return self._distractors

    def set_distractors(self, emb, emb2=None, source: str = "given") -> None:
        """Use these distractor embeddings (n, 128) (and second-attacker ones) instead of a folder."""
        self._distractors = {"emb": emb, "emb2": emb2, "count": 0 if emb is None else len(emb), "source": source}

    def observe(self, original: str | Path, anonymized: str | Path, cache: dict | None = None) -> ClipObservations:
        """One pass over both videos; ``cache`` keeps the original side for further copies."""
        s = self.settings
        return observe(original, anonymized, self.detector, self.model, self.second, stride=s.stride,
                       max_frames=s.max_frames, min_face=s.min_face, match_iou=s.match_iou,
                       threshold=s.threshold, cache=cache)

    def evaluate(self, original: str | Path, anonymized: str | Path,
                 run_report: str | Path | dict | None = None) -> dict[str, Any]:
        obs = self.observe(original, anonymized)
        return self.figures(obs, run_report)

    def figures(self, obs: ClipObservations, run_report: str | Path | dict | None = None) -> dict[str, Any]:
        s = self.settings
        priv = privacy.summarize(obs.faces, obs.sampled, self.distractors)
        util = utility.summarize(obs.faces, obs.width, obs.height)
        temp = temporal.summarize(obs.faces, s.threshold)
        qual = quality.summarize(obs.faces, obs.sampled)
        speed = speed_from_report(run_report)
        summary = {
            "reid_rate": priv["reid"]["reid_rate"],
            "leak_rate": priv["leak_rate"],
            "retention": util["retention"],
            "pose_error_deg": util["pose_error_deg"],
            "expression_corr": util["expression_corr"],
            "flicker": temp["flicker"],
            "id_stability": temp["id_stability"],
            "identity_distance": priv["identity_distance"],
            "id_switches": temp["id_switches"],
            "id_stability_original": temp["id_stability_original"],
            "id_switches_original": temp["id_switches_original"],
            "sharpness_ratio": qual["sharpness_ratio"],
            "seam_ratio": qual["seam_ratio"],
            "collateral": qual["collateral"],
            "reid_rate_lbp": priv.get("reid_second", {}).get("reid_rate"),
            "fps": speed.get("fps"),
        }
        per_track = track_detail(obs, priv["reid"].get("per_track", {}), temp["tracks"])
        return {
            "original": obs.original, "anonymized": obs.anonymized,
            "frames": obs.frames, "sampled_frames": len(obs.sampled), "faces": len(obs.faces),
            "tracks": len({f.track_id for f in obs.faces}),
            "width": obs.width, "height": obs.height,
            "summary": summary,
            "per_track": per_track,
            "privacy": priv, "utility": util, "temporal": temp, "quality": qual, "speed": speed,
            "eval_seconds": round(obs.seconds, 2),
            "settings": asdict(s), "detector": obs.detector, "attacker": self.model.name,
            "second_attacker": self.second.name if self.second else None,
            "distractors": {"count": self.distractors["count"], "source": self.distractors["source"]},
        }


def track_detail(obs: ClipObservations, reid_per_track: dict, temporal_tracks: dict) -> dict[str, dict]:
    """Per-track figures: frames seen, re-ID, leaks, retention, identity distance, flicker, stability."""
    out = {}
    leaks: dict[int, int] = {}
    for frame in obs.sampled:
        for tid in set(frame.leak_tracks):
            leaks[tid] = leaks.get(tid, 0) + 1
    for tid in sorted({f.track_id for f in obs.faces}):
        faces = [f for f in obs.faces if f.track_id == tid]
        out[str(tid)] = {
            "faces": len(faces), "first_frame": faces[0].frame, "last_frame": faces[-1].frame,
            "size_px": float(np.median([np.sqrt((f.box[2] - f.box[0]) * (f.box[3] - f.box[1])) for f in faces])),
            "reid_rate": reid_per_track.get(f":{tid}"),
            "leak_frames": leaks.get(tid, 0),
            "retention": float(np.mean([f.retained for f in faces])),
            "identity_distance": float(np.mean([np.linalg.norm(f.emb_orig - f.emb_anon) for f in faces])),
            **{k: v for k, v in temporal_tracks.get(str(tid), {}).items() if k != "faces"},
        }
    return out


def speed_from_report(report: str | Path | dict | None) -> dict[str, Any]:
    """fps and per-stage time from a ``streamanon run`` report (JSON file or dict)."""
    if report is None:
        return {}
    if not isinstance(report, dict):
        try:
            report = json.loads(Path(report).read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"run report {report}: expected readable JSON, got {exc}") from None
    out: dict[str, Any] = {}
    for key in ("fps", "mode", "frames_out", "wall_seconds", "faces_total", "tracks", "fallback_total",
                "stage_ms_per_frame", "stage_seconds"):
        if key in report:
            out[key] = report[key]
    if isinstance(report.get("fallback_events"), dict):
        out["fallback_events"] = report["fallback_events"]
    return out
