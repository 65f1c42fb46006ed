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
the stream (a person re-associated after leaving keeps the chosen face). With ``frames`` > 1
the candidates are judged on that frame and on later frames of the same face that the
pipeline holds in its lookahead (``later``), by their mean distance: one frame is a noisy
judge of a whole clip (talking_d10, salt s6: the candidate farthest in the first frame was
0.71 from her on average over the clip and the nearest of her views 31 % of the time in the
eval's gallery; judged on frames 0, 5 and 10, the candidate chosen was 0.74 away and nearest
6 % of the time: ``benchmarks/guard_frames.py``; the eval's re-ID there 0.333 -> 0.022, MODEL_CARD.md). The recogniser sees
the original face only to move away from it; nothing of it reaches the generator. dlib is
also the eval's attacker: dlib figures measured with the guard on are optimistic; the eval's
LBP attacker is the independent check (MODEL_CARD.md).

Opt-in (``anonymizer.guard_redraws``, default 0): a face the identity check keeps covering
(``identity_check.STUCK_AFTER`` failed checks in a row) is drawn a new identity by ``redraw``:
a fresh round of candidates, the one farthest from the person as the check saw them (this
frame and the views it kept), from the next frame on, if it is far enough from all of them.
One new identity is one visible change, where covering on blurs the face at every stretch the
old face comes near; but on talking heads re-ID rose on two of four runs (the covers it
removes were hiding faces an attacker matches; MODEL_CARD.md), so covering is the default.
At most ``redraws`` tries per identity, then the check's cover stands.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from dataclasses import replace
from typing import Callable, Mapping, Sequence

import numpy as np

from ..errors import ConfigError
from ..types import FaceCrop
from .identity_check import Embedder, blended, dlib_recogniser, embed_faces, face_rect

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

    def __init__(self, generator, embedder: Embedder, candidates: int = 6, redraws: int = 0,
                 frames: int = 1) -> None:
        if candidates < 2:
            raise ConfigError(f"anonymizer.guard_candidates: expected 0 (off) or at least 2, got {candidates}")
        if redraws < 0:
            raise ConfigError(f"anonymizer.guard_redraws: expected 0 (never) or more, got {redraws}")
        if frames < 1:
            raise ConfigError(f"anonymizer.guard_frames: expected at least 1, got {frames}")
        self.generator, self.embedder, self.candidates = generator, embedder, int(candidates)
        self.max_redraws, self.frames = int(redraws), int(frames)
        self._chosen: OrderedDict[int, int] = OrderedDict()
        self._origin: dict[int, int] = {}  # chosen seed -> the identity's own seed
        self.redraws: dict[int, int] = {}
        """New identities drawn by ``redraw``, by the identity's own seed."""
        self.distances: dict[int, list[float]] = {}
        """Recogniser distance of each candidate (mean over the frames judged), by original seed
        (for reports and tests; kept as long as the choice is)."""
        self.judged: dict[int, int] = {}
        """Frames each choice was judged on, by original seed (kept as long as the choice is)."""

    def undecided(self, crops: Sequence[FaceCrop]) -> list[int]:
        """Track ids of the crops whose identity ``choose`` would choose now: the pipeline
        cuts later frames of these faces for it (``frames`` > 1)."""
        return [c.track_id for c in crops if c.seed not in self._chosen and self._drawable(c)]

    def choose(self, crops: Sequence[FaceCrop],
               later: Mapping[int, Sequence[FaceCrop]] | None = None) -> list[FaceCrop]:
        """``crops`` with each identity's chosen seed (chosen now for identities drawn first,
        judged on this frame and on up to ``frames`` - 1 of ``later[track_id]``, the same
        face in frames to come; faces the generator would not draw there are skipped)."""
        for crop in crops:
            if crop.seed in self._chosen or not self._drawable(crop):
                continue  # chosen already, or not drawn (yet): choose when it is
            ahead = [c for c in (later or {}).get(crop.track_id, ()) if self._drawable(c)]
            self._chosen[crop.seed], _ = self._pick(crop, later=ahead[:self.frames - 1])
            self._origin[self._chosen[crop.seed]] = crop.seed
            while len(self._chosen) > REMEMBERED:
                forgotten, chosen = self._chosen.popitem(last=False)
                self.distances.pop(forgotten, None)
                self.judged.pop(forgotten, None)
                self.redraws.pop(forgotten, None)
                self._origin.pop(chosen, None)
        return [c if self._chosen.get(c.seed, c.seed) == c.seed else replace(c, seed=self._chosen[c.seed])
                for c in crops]

    def _drawable(self, crop: FaceCrop) -> bool:
        if crop.coasting or crop.landmarks is None:
            return False
        refuses = getattr(self.generator, "refuses", None)
        return refuses is None or refuses(crop, False) is None

    def redraw(self, crops: Sequence[FaceCrop], views: Callable[[int], list[np.ndarray]],
               min_distance: float) -> list[int]:
        """A new identity for each crop's face: of a fresh round of candidates, the farthest
        from the person (``views(track)``: the person's embeddings to keep away from), taken
        only if at least ``min_distance`` from all of them; used from the next ``choose`` on.
        A round that finds none still counts. Crops carry their chosen seed. Returns the track
        ids that got one."""
        done = []
        for crop in crops:
            if crop.coasting or crop.landmarks is None:
                continue
            own = self._origin.get(crop.seed)
            if own is None or self._chosen.get(own) != crop.seed:
                continue  # not a face this guard chose (or long forgotten)
            rounds = self.redraws.get(own, 0)
            if rounds >= self.max_redraws:
                continue
            self.redraws[own] = rounds + 1
            fresh = candidate_seeds(own, self.candidates * (rounds + 2))[self.candidates * (rounds + 1):]
            seed, distance = self._pick(crop, fresh, views(crop.track_id), keep=crop.seed)
            if seed == crop.seed or distance < min_distance:
                log.info("identity guard: no new identity for track %d at %.2f or more (best %.3f)",
                         crop.track_id, min_distance, distance)
                continue
            log.info("identity guard: track %d kept failing the identity check, new identity %d",
                     crop.track_id, rounds + 1)
            self._chosen[own] = seed
            self._origin[seed] = own
            done.append(crop.track_id)
        return done

    def _pick(self, crop: FaceCrop, seeds: Sequence[int] | None = None, avoid: Sequence[np.ndarray] = (),
              keep: int | None = None, later: Sequence[FaceCrop] = ()) -> tuple[int, float]:
        """(seed, its distance): of ``seeds`` (else the identity's first candidates), the one
        whose drawn face is farthest from the person, on average over this frame and the
        ``later`` ones (each drawn face against the person in its own frame; in this frame
        against every face in ``avoid`` too); on failure ``keep`` (else the crop's own seed)
        and nan."""
        seeds = candidate_seeds(crop.seed, self.candidates) if seeds is None else list(seeds)
        views = [crop, *later]
        try:  # one batch: every candidate in every frame judged
            patches = self.generator.generate([replace(v, seed=s) for v in views for s in seeds])
            n = len(seeds)
            faces = []  # per view: the person, then each candidate drawn over them
            for k, view in enumerate(views):
                rect = face_rect(view)
                faces += [(view.image, rect), *((blended(view, p), rect) for p in patches[k * n:(k + 1) * n])]
            embedded = embed_faces(self.embedder, faces)  # one batch for every view and candidate
            per_view = []
            for k in range(len(views)):
                person, *drawn = embedded[k * (n + 1):(k + 1) * (n + 1)]
                people = [person, *(avoid if k == 0 else ())]
                per_view.append([min(float(np.linalg.norm(d - r)) for r in people) for d in drawn])
            distances = [float(d) for d in np.mean(per_view, axis=0)]
        except Exception as exc:  # the guard only improves a choice; without it the seed stands
            log.warning("identity guard failed for track %d, keeping its seed: %s", crop.track_id, exc)
            return (crop.seed if keep is None else keep), float("nan")
        if keep is None:
            self.distances[crop.seed], self.judged[crop.seed] = distances, len(views)
        best = int(np.argmax(distances))
        return seeds[best], distances[best]


def create_identity_guard(generator, candidates: int, redraws: int = 0, frames: int = 1) -> IdentityGuard | None:
    """The guard for ``anonymizer.guard_candidates`` (0: none). Needs dlib (synthetic extra)."""
    if candidates == 0:
        return None
    return IdentityGuard(generator, dlib_recogniser("identity guard", "anonymizer.guard_candidates: 0"),
                         candidates, redraws, frames)
