"""Temporal consistency: one steady synthetic identity per person, no flicker, no crawling seams.

Analysis side (:class:`~.stabilizer.TemporalAnalyzer`): scene cuts (:mod:`.scenecut`),
re-association of returning people (:mod:`.memory`), landmark smoothing (:mod:`.landmarks`).
Render side (:class:`~.stabilizer.TemporalRenderer`): masks and colour (:mod:`.masks`) and
faces (:mod:`.latent`) blended per track in its aligned face frame (:mod:`.aligned`).
All state is per stream and per track. See ``docs/temporal.md``.
"""

from .config import TemporalConfig

__all__ = ["TemporalConfig"]
