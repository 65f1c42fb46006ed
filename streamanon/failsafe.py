"""Fail closed: every face leaves covered, whatever the generator does.

``generate_or_cover(generator, crops, ...) -> (patches, events)``. Coasting tracks, generator
exceptions, malformed output and batches over the time limit all get the fallback cover, and
so do faces the generator refuses (``generator.refuses(crop)``: too small, profile).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Collection, Sequence

import numpy as np

from .generators import FaceGenerator, fallback_patch
from .types import FaceCrop, FacePatch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FallbackEvent:
    track_id: int
    reason: str
    """One of ``coasting``, ``generator_error``, ``bad_output``, ``timeout``, or the reason the
    generator refused the face (``no_mesh``, ``small_face``, ``profile``), or the identity
    check's (``identity_check``, ``identity_check_error``)."""


@dataclass(frozen=True)
class FailsafePolicy:
    kind: str = "blur"
    color: tuple[int, int, int] = (0, 0, 0)
    timeout_ms: float = 0.0


def generate_or_cover(generator: FaceGenerator, crops: Sequence[FaceCrop], policy: FailsafePolicy,
                      drawn_before: Collection[int] = ()) -> tuple[list[FacePatch], list[FallbackEvent]]:
    """One patch per crop, and why any face got the cover. ``drawn_before``: track ids whose
    face the generator drew in this stream's previous frame (passed to ``refuses``)."""
    patches: dict[int, FacePatch] = {}
    events: list[FallbackEvent] = []

    def cover(crop: FaceCrop, reason: str) -> None:
        patches[id(crop)] = fallback_patch(crop, policy.kind, policy.color)
        events.append(FallbackEvent(crop.track_id, reason))

    refuses = getattr(generator, "refuses", None)
    live = []
    for crop in crops:
        reason = "coasting" if crop.coasting else _refusal(refuses, crop, crop.track_id in drawn_before)
        if reason is None:
            live.append(crop)
        else:
            cover(crop, reason)
    if live:
        start = time.perf_counter()
        try:
            produced = generator.generate(live)
        except Exception as exc:  # fail closed on ANY generator failure, then carry on
            log.warning("generator %s failed for %d face(s): %s", generator.name, len(live), exc)
            produced = None
            for crop in live:
                cover(crop, "generator_error")
        elapsed_ms = (time.perf_counter() - start) * 1000.0
        if produced is not None:
            timed_out = policy.timeout_ms > 0 and elapsed_ms > policy.timeout_ms
            if timed_out:
                log.warning("generator %s took %.0f ms > %.0f ms", generator.name, elapsed_ms, policy.timeout_ms)
            usable = _usable(produced, live)
            for crop, patch in zip(live, usable):
                if timed_out:
                    cover(crop, "timeout")
                elif patch is None:
                    cover(crop, "bad_output")
                else:
                    patches[id(crop)] = patch
    return [patches[id(c)] for c in crops], events


def _refusal(refuses, crop: FaceCrop, drawn_before: bool) -> str | None:
    if refuses is None:
        return None
    try:
        return refuses(crop, drawn_before)
    except Exception as exc:  # a broken check must not let the face through uncovered
        log.warning("generator could not judge face of track %d: %s", crop.track_id, exc)
        return "generator_error"


def _usable(produced: object, crops: Sequence[FaceCrop]) -> list[FacePatch | None]:
    """Each patch if it matches its crop (box, size, finite mask), else None."""
    if not isinstance(produced, list) or len(produced) != len(crops):
        return [None] * len(crops)
    out: list[FacePatch | None] = []
    for crop, patch in zip(crops, produced):
        ok = (isinstance(patch, FacePatch) and patch.box == crop.box
              and patch.image.shape == crop.image.shape and patch.mask.shape == crop.mask.shape
              and bool(np.isfinite(patch.mask).all()) and _covers(patch.mask, crop.mask))
        out.append(patch if ok else None)
    return out


def _covers(patch_mask: np.ndarray, face_mask: np.ndarray) -> bool:
    """The patch must be opaque over the face core, or original pixels would show through."""
    core = face_mask > 0.9
    return not core.any() or float(patch_mask[core].mean()) >= 0.9
