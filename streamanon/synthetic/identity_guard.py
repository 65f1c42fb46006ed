"""Identity guard (optional): draw each new identity a few ways, keep the one a face
recogniser finds farthest from the person.

    guard = IdentityGuard(generator, DlibFaceModel(), candidates=6)
    crops = guard.choose(crops)          # seeds replaced; once per identity, then remembered

Why (``benchmarks/seed_identity_spread.py``, 27 frames of 4 real clips, 12 seeds): for one
face in one frame, the dlib distance between the drawn and the original face spans 0.12 on
average across seeds (0.45-0.71 on the hardest frame), so whether dlib matches a drawn face
to its person depends mostly on the identity drawn. A seed that is far in one frame stays far
in the next ones (rank correlation of seeds between a track's first and later frames 0.79 on
``dance_464x560``, 0.70 on ``talking_headpose``). A cheap pixel measure does not predict it
(Spearman -0.13), so a recogniser is needed.

The choice is made once per identity seed, at the first frame the face is drawn, and kept for
the stream (a person re-associated after leaving keeps the chosen face). The recogniser sees
the original face only to move away from it; nothing of it reaches the generator. dlib is
also the eval's attacker: dlib figures measured with the guard on are optimistic; the eval's
LBP attacker is the independent check (MODEL_CARD.md).
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from dataclasses import replace
from typing import Sequence

import numpy as np

from ..errors import ConfigError
from ..types import FaceCrop
from .identity_check import Embedder, dlib_recogniser, drawn_distance, face_rect

log = logging.getLogger(__name__)
REMEMBERED = 4096
"""Identities whose choice a stream keeps (oldest forgotten first)."""


def candidate_seeds(seed: int, count: int) -> list[int]:
    """``seed`` itself, then ``count - 1`` seeds derived from it (63-bit, deterministic)."""
    out = [seed]
    for k in range(1, count):
        digest = hashlib.blake2b(f"streamanon-guard\x00{seed}\x00{k}".encode(), digest_size=8).digest()
        out.append(int.from_bytes(digest, "big") & ((1 << 63) - 1))
    return out


class IdentityGuard:
    """One per stream: the chosen seed of every identity it has drawn."""

    def __init__(self, generator, embedder: Embedder, candidates: int = 6) -> None:
        if candidates < 2:
            raise ConfigError(f"anonymizer.guard_candidates: expected 0 (off) or at least 2, got {candidates}")
        self.generator, self.embedder, self.candidates = generator, embedder, int(candidates)
        self._chosen: OrderedDict[int, int] = OrderedDict()
        self.distances: dict[int, list[float]] = {}
        """Recogniser distance of each candidate, by original seed (for reports and tests; kept
        as long as the choice is)."""

    def choose(self, crops: Sequence[FaceCrop]) -> list[FaceCrop]:
        """``crops`` with each identity's chosen seed (chosen now for identities drawn first)."""
        refuses = getattr(self.generator, "refuses", None)
        for crop in crops:
            if crop.seed in self._chosen or crop.coasting or crop.landmarks is None:
                continue
            if refuses is not None and refuses(crop, False) is not None:
                continue  # not drawn (yet): choose when it is
            self._chosen[crop.seed] = self._pick(crop)
            while len(self._chosen) > REMEMBERED:
                forgotten, _ = self._chosen.popitem(last=False)
                self.distances.pop(forgotten, None)
        return [c if self._chosen.get(c.seed, c.seed) == c.seed else replace(c, seed=self._chosen[c.seed])
                for c in crops]

    def _pick(self, crop: FaceCrop) -> int:
        seeds = candidate_seeds(crop.seed, self.candidates)
        try:
            patches = self.generator.generate([replace(crop, seed=s) for s in seeds])
            reference = self.embedder.embed(crop.image, face_rect(crop))
            distances = [drawn_distance(self.embedder, crop, patch, reference) for patch in patches]
        except Exception as exc:  # the guard only improves a choice; without it the own seed stands
            log.warning("identity guard failed for track %d, keeping its own seed: %s", crop.track_id, exc)
            return crop.seed
        self.distances[crop.seed] = distances
        return seeds[int(np.argmax(distances))]


def create_identity_guard(generator, candidates: int) -> IdentityGuard | None:
    """The guard for ``anonymizer.guard_candidates`` (0: none). Needs dlib (synthetic extra)."""
    if candidates == 0:
        return None
    return IdentityGuard(generator, dlib_recogniser("identity guard", "anonymizer.guard_candidates: 0"), candidates)
