"""Per-track memory shared by the temporal smoothers: forget tracks, keep the living ones."""

from __future__ import annotations

from typing import Sequence


class PerTrackState:
    """Base for smoothers whose state is dicts keyed by track id, named in ``_STORES``."""

    _STORES: tuple[str, ...] = ()

    def _dicts(self) -> list[dict]:
        return [getattr(self, name) for name in self._STORES]

    def reset(self, track_ids: Sequence[int] | None = None) -> None:
        """Forget every track (scene cut) or the given ones (births, fallback covers)."""
        for store in self._dicts():
            if track_ids is None:
                store.clear()
            for tid in track_ids or ():
                store.pop(tid, None)

    def keep_only(self, track_ids: Sequence[int]) -> None:
        """Drop the state of tracks that ended."""
        keep = set(track_ids)
        for store in self._dicts():
            for tid in [k for k in store if k not in keep]:
                del store[tid]
