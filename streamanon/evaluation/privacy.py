"""Privacy: re-identification, leak frames and identity distance.

- **re-ID rate** (closed-set rank-1 identification, as in FaceNet/dlib evaluations): the
  gallery holds every sampled original face of the clip (or of the whole suite) plus the
  distractor faces. Each anonymized face (embedded at its original face's place) is a
  probe; the attack succeeds when the nearest gallery face belongs to the probe's own
  track. Chance is the share of the gallery that is the probe's track. An untouched copy
  scores 1.0. ``reid_rate_track_mean`` does the same with one gallery entry per track.
- **leak rate**: share of sampled frames holding at least one original face in which the
  independent detector finds a face in the *anonymized* frame, over an original face
  (IoU >= 0.3), whose embedding lies within the same-person threshold (0.6) of that
  track's original face in the same frame.
- **identity distance**: mean Euclidean distance between the original and the anonymized
  embedding of the same face (0 untouched; above 0.6 on average: another person).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import cv2
import numpy as np

from ..cache import cache_dir
from .faces import SAME_PERSON

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".pgm", ".bmp")


def pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between rows of ``a`` (n, d) and rows of ``b`` (m, d)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(d2, 0.0))


def reid_hits(probes: np.ndarray, probe_labels: list, gallery: np.ndarray, gallery_labels: list) -> list[bool]:
    """For each probe: is its nearest gallery entry labelled like the probe?"""
    if len(probes) == 0 or len(gallery) == 0:
        return []
    nearest = pairwise(probes, gallery).argmin(axis=1)
    return [gallery_labels[j] == lab for j, lab in zip(nearest, probe_labels)]


def reid_rate(probes: np.ndarray, probe_labels: list, gallery: np.ndarray,
              gallery_labels: list) -> float | None:
    """Share of probes whose nearest gallery entry carries the probe's label."""
    hits = reid_hits(probes, probe_labels, gallery, gallery_labels)
    return float(np.mean(hits)) if hits else None


def track_gallery(samples: list, attr: str = "emb_orig", prefix: str = "") -> tuple[np.ndarray, list]:
    """One gallery entry per track: the mean of its original embeddings."""
    labels = sorted({s.track_id for s in samples})
    if not labels:
        return np.zeros((0, 128), np.float32), []
    rows = [np.mean([getattr(s, attr) for s in samples if s.track_id == t], axis=0) for t in labels]
    return np.stack(rows), [f"{prefix}{t}" for t in labels]


def reid(samples: list, distractors: np.ndarray | None, attr: str = "emb") -> dict:
    """Re-ID figures for one clip and one attacker (``attr`` is ``emb`` or ``emb2``)."""
    return reid_pooled([("", samples)], distractors, attr)


def reid_pooled(groups: list[tuple[str, list]], distractors: np.ndarray | None, attr: str = "emb") -> dict:
    """Re-ID over one or several clips. Gallery: every sampled original face of every clip
    (labelled ``clip:track``) plus the distractors; probes: every anonymized face. Also the
    same with one gallery entry per track (the mean of its faces), ``reid_rate_track_mean``."""
    faces, face_labels, means, mean_labels, probes, probe_labels = [], [], [], [], [], []
    for name, samples in groups:
        samples = [s for s in samples if getattr(s, attr + "_anon") is not None]
        faces += [getattr(s, attr + "_orig") for s in samples]
        face_labels += [f"{name}:{s.track_id}" for s in samples]
        gallery, labels = track_gallery(samples, attr + "_orig", f"{name}:")
        if labels:
            means.append(gallery)
            mean_labels += labels
        probes += [getattr(s, attr + "_anon") for s in samples]
        probe_labels += [f"{name}:{s.track_id}" for s in samples]
    extra, extra_labels = [], []
    if distractors is not None and len(distractors):
        extra, extra_labels = [distractors], [f"distractor:{i}" for i in range(len(distractors))]
    if not probes:
        return {"reid_rate": None, "reid_rate_track_mean": None, "probes": 0, "gallery": len(extra_labels),
                "chance": None}
    probes_arr = np.stack(probes)
    hits = reid_hits(probes_arr, probe_labels, np.concatenate([np.stack(faces)] + extra), face_labels + extra_labels)
    rate = float(np.mean(hits))
    per_track = {lab: float(np.mean([h for h, p in zip(hits, probe_labels) if p == lab]))
                 for lab in dict.fromkeys(probe_labels)}
    rate_mean = reid_rate(probes_arr, probe_labels, np.concatenate(means + extra), mean_labels + extra_labels)
    size = len(face_labels) + len(extra_labels)
    own = np.array([face_labels.count(lab) for lab in probe_labels], dtype=np.float64)
    identities = len(mean_labels) + len(extra_labels)
    if identities < 2:
        log.warning("re-ID gallery holds one identity and no distractors: re-ID is trivially 1")
    return {"reid_rate": rate, "reid_rate_track_mean": rate_mean, "identities": identities, "probes": len(probes), "gallery": size,
            "gallery_tracks": len(mean_labels), "distractors": len(extra_labels),
            "chance": float((own / size).mean()),
            "chance_track_mean": 1.0 / (len(mean_labels) + len(extra_labels)),
            "per_track": per_track}


def identity_distance(samples: list) -> float | None:
    if not samples:
        return None
    return float(np.mean([np.linalg.norm(s.emb_orig - s.emb_anon) for s in samples]))


def leak_summary(frames: list) -> dict:
    """Leak figures from frame samples carrying ``faces`` and ``leaks`` (distances)."""
    with_faces = [f for f in frames if f.faces > 0]
    leaking = [f for f in with_faces if f.leak]
    return {"leak_rate": len(leaking) / len(with_faces) if with_faces else None,
            "leak_frames": [f.frame for f in leaking], "frames_with_faces": len(with_faces)}


def summarize(samples: list, frames: list, distractors: dict | None = None) -> dict:
    distractors = distractors or {}
    out = {"reid": reid(samples, distractors.get("emb"), "emb"),
           "identity_distance": identity_distance(samples),
           "same_person_threshold": SAME_PERSON}
    if any(s.emb2_anon is not None for s in samples):
        out["reid_second"] = reid(samples, distractors.get("emb2"), "emb2")
    out.update(leak_summary(frames))
    return out


def default_distractor_dir() -> Path:
    """UTKFace crops in ``../shared`` beside the repository (absent on a fresh clone)."""
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "faces" / "utkface_crop_part1"


def load_distractors(folder: str | Path | None, detector, model, second=None,
                     limit: int = 200) -> dict:
    """Embeddings of up to ``limit`` face images from ``folder`` (spread evenly over the
    sorted names), one face each (the largest the detector finds; skipped if none).
    Cached per (files, detector, attackers) under :func:`cache_dir`."""
    path = Path(folder) if folder else default_distractor_dir()
    if not path.is_dir() or limit <= 0:
        return {"emb": None, "emb2": None, "count": 0, "source": None}
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if len(files) > limit:
        files = [files[i] for i in np.linspace(0, len(files) - 1, limit).astype(int)]
    key = hashlib.sha1("|".join([str(path.resolve()), detector.name, model.name,
                                 second.name if second else "-"] +
                                [f"{f.name}:{f.stat().st_size}" for f in files]).encode()).hexdigest()[:16]
    cached = cache_dir() / f"distractors-{key}.npz"
    if cached.is_file():
        with np.load(cached) as data:
            emb, emb2 = data["emb"], data["emb2"] if "emb2" in data.files else None
        return {"emb": emb if len(emb) else None, "emb2": emb2, "count": len(emb), "source": str(path)}
    result = _embed_distractors(files, detector, model, second)
    result["source"] = str(path)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"emb": result["emb"] if result["emb"] is not None else np.zeros((0, 128), np.float32)}
        if result["emb2"] is not None:
            arrays["emb2"] = result["emb2"]
        np.savez(cached, **arrays)
    except OSError as exc:
        log.info("distractor cache not written (%s)", exc)
    log.info("distractors: %d faces from %s", result["count"], path)
    return result


def _embed_distractors(files: list[Path], detector, model, second) -> dict:
    emb, emb2 = [], []
    for f in files:
        bgr = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if bgr is None:
            continue
        image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        found = detector.detect(image)
        if not found:
            continue
        face = max(found, key=lambda b: b.size)
        lm = model.landmarks(image, face.rect)
        emb.append(model.embed(image, face.rect, lm))
        if second is not None:
            emb2.append(second.embed(image, face.rect, lm))
    return {"emb": np.stack(emb) if emb else None, "emb2": np.stack(emb2) if emb2 else None,
            "count": len(emb)}
