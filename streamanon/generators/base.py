"""The one interface every face generator implements: ``generate(batch) -> patches``."""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

from ..types import FaceCrop, FacePatch


@runtime_checkable
class FaceGenerator(Protocol):
    """Turns a batch of face crops (all faces of a frame, or of several streams) into patches.

    Implementations return one :class:`FacePatch` per crop, in order, with the crop's box.
    They raise :class:`streamanon.errors.GeneratorError` (or anything else) on failure;
    the pipeline then covers those faces with the fail-closed cover.

    A generator that draws only some faces well may also define
    ``refuses(crop, drawn_before) -> str | None``: a reason means "cover this face instead",
    and the pipeline does so and counts the reason. ``drawn_before`` says the track's face was
    drawn in the stream's previous frame (for hysteresis); wrappers must pass it on.
    """

    name: str

    def generate(self, batch: Sequence[FaceCrop]) -> list[FacePatch]:
        ...
