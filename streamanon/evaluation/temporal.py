"""Temporal stability of the anonymized faces, per track.

- **flicker**: for each sampled frame t of a track, the face is cut from frames t and t+1
  with the *same* alignment (the original's landmarks at t), in both videos. Flicker is
  sum |A(t+1) - A(t)| / sum |O(t+1) - O(t)| (mean absolute change of the anonymized face over
  that of the original). 1.0: the anonymization adds no change of its own; above 1 it
  flickers; a frozen cover (solid) is below 1.
- **identity stability**: share of all pairs of sampled faces within a track whose
  anonymized embeddings are within the same-person threshold of each other.
- **identity switches**: consecutive sampled faces of a track whose anonymized embeddings
  are farther apart than the threshold.
- **the original's figures** (``id_stability_original``, ``id_switches_original``): the same
  on the original faces, the measurement floor. A real person in motion blur, profile or
  low light is not always "the same person" to dlib either; anonymized figures are read
  against these.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations

import numpy as np

from .faces import SAME_PERSON

MAX_PAIRS = 2000


def chip_change(before: np.ndarray, after: np.ndarray) -> float:
    """Mean absolute difference (grey levels, 0..255) between two aligned chips."""
    return float(np.abs(before.astype(np.float32) - after.astype(np.float32)).mean())


def flicker_ratio(change_original: list[float], change_anonymized: list[float]) -> float | None:
    """sum of anonymized changes / sum of original changes; None without a measurable change."""
    total = float(np.sum(change_original))
    if not change_original or total < 1e-6:
        return None
    return float(np.sum(change_anonymized) / total)


def identity_stability(embeddings: np.ndarray, threshold: float = SAME_PERSON,
                       rng_seed: int = 0) -> tuple[float | None, int, int]:
    """(share of pairs within ``threshold``, number of pairs, switches) for one track."""
    emb = np.asarray(embeddings, dtype=np.float32)
    n = len(emb)
    if n < 2:
        return None, 0, 0
    pairs = list(combinations(range(n), 2))
    if len(pairs) > MAX_PAIRS:
        rng = np.random.default_rng(rng_seed)
        pairs = [pairs[i] for i in rng.choice(len(pairs), MAX_PAIRS, replace=False)]
    idx = np.array(pairs)
    d = np.linalg.norm(emb[idx[:, 0]] - emb[idx[:, 1]], axis=1)
    steps = np.linalg.norm(emb[1:] - emb[:-1], axis=1)
    return float((d <= threshold).mean()), len(pairs), int((steps > threshold).sum())


def summarize(samples: list, threshold: float = SAME_PERSON) -> dict:
    """Per-track and pooled temporal figures from face samples (see :mod:`.matching`)."""
    tracks: dict[int, list] = defaultdict(list)
    for s in samples:
        tracks[s.track_id].append(s)
    per_track = {}
    all_o, all_a, within, pairs, switches = [], [], 0.0, 0, 0
    within_o, switches_o = 0.0, 0
    for tid, items in sorted(tracks.items()):
        items.sort(key=lambda s: s.frame)
        co = [s.change_orig for s in items if s.change_orig is not None]
        ca = [s.change_anon for s in items if s.change_anon is not None]
        stab, n_pairs, sw = identity_stability(np.stack([s.emb_anon for s in items]), threshold)
        stab_o, _, sw_o = identity_stability(np.stack([s.emb_orig for s in items]), threshold)
        per_track[str(tid)] = {"faces": len(items), "flicker": flicker_ratio(co, ca),
                               "id_stability": stab, "id_pairs": n_pairs, "id_switches": sw,
                               "id_stability_original": stab_o, "id_switches_original": sw_o}
        all_o += co
        all_a += ca
        if stab is not None:
            within += stab * n_pairs
            within_o += stab_o * n_pairs
            pairs += n_pairs
        switches += sw
        switches_o += sw_o
    return {
        "flicker": flicker_ratio(all_o, all_a),
        "id_stability": within / pairs if pairs else None,
        "id_switches": switches,
        "id_stability_original": within_o / pairs if pairs else None,
        "id_switches_original": switches_o,
        "tracks": per_track,
    }
