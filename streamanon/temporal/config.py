"""Knobs of temporal stabilization, each with what it trades.

Everything here is per stream and per track: the smoothers that read this config keep their
state keyed by track id inside one :class:`streamanon.pipeline.Anonymizer`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TemporalConfig:
    """Temporal consistency: steady landmarks, masks, colour and synthetic faces per track."""

    enabled: bool = True
    """Master switch. Off: every frame is processed on its own (the per-frame baseline)."""

    # -- landmarks and alignment (One-Euro filter, per point, per track) ----------------
    landmark_min_cutoff: float = 1.0
    """Cutoff (Hz) of the landmark filter when the face is still. Lower: steadier crop and
    mask on a still face, but more lag when it starts moving."""
    landmark_beta: float = 8.0
    """How fast the cutoff rises with speed (per face-size per second). Higher: less lag on
    fast head turns, more jitter let through while moving."""
    landmark_d_cutoff: float = 1.0
    """Cutoff (Hz) of the speed estimate that drives the adaptive cutoff."""
    landmark_expression_cutoff: float = 4.0
    """Still-face cutoff (Hz) for the lips, eyelids and irises, which carry expression and
    gaze: speech moves the mouth at 3-6 Hz, which the face's own cutoff would flatten. Lower:
    a calmer mouth that opens less far on fast speech."""
    fps_fallback: float = 30.0
    """Frame rate assumed when frames carry no timestamps."""

    # -- scene cuts ----------------------------------------------------------------------
    cut_threshold: float = 0.45
    """Histogram distance (Hellinger, 0..1) of consecutive downscaled frames above which a
    cut is declared. Lower: more cuts found, more false cuts on flashes and fast pans (a
    false cut only restarts smoothing and may start new tracks; faces stay covered)."""
    cut_min_gap: int = 6
    """Frames after a cut during which no other cut is declared (flash frames, fades)."""

    # -- synthetic faces in the aligned face frame ----------------------------------------
    aligned_size: int = 96
    """Side (pixels) of the aligned face frame where outputs and masks are blended."""
    face_weight: float = 0.4
    """Weight of the previous (blended) face when the face is still, 0..1. Higher: less
    flicker, more ghosting when the face moves or changes expression."""
    face_motion_scale: float = 0.006
    """Motion (mean landmark change in the aligned frame, as a fraction of its side, per
    frame) at which the blend weight has fallen to a third. Lower: the weight falls sooner,
    so fast expressions stay crisp but flicker returns sooner."""
    motion_radius: float = 0.06
    """Reach (fraction of the aligned face's side) over which landmark motion lowers the blend
    weight locally: an opening mouth is blended less while cheeks and brow stay steady. 0: one
    weight for the whole face (its mean motion), which holds expressions back."""
    warm_start: float = 1.0
    """For flow/diffusion samplers: the time the sampler restarts from, mixing the previous
    face with the track's fixed noise (1.0: start from noise every frame). Below 1 it saves
    sampling time but feeds each face back into the next: with the shipped x0-predicting
    model, artifacts then build up over a few seconds (dark bands across the brows on
    talking_vox), so the default is 1.0 and steadiness comes from the fixed noise and the
    blend after sampling."""

    anchor_start: float = 0.8
    """For flow/diffusion samplers, with the identity check on: the time the sampler restarts
    from when it starts from the track's anchor (a drawn face the check found well clear of
    the person, warped onto this frame's drawn mesh; :mod:`.anchor`), mixed with the track's
    fixed noise (1.0: off, every face from noise). Lower: the drawn identity holds through
    expressions, but expression and detail follow this frame's conditions less (0.6 on eight
    talking clips: expression r 0.68 -> 0.63; 0.8: 0.68 -> 0.69)."""

    appearance_frames: int = 300
    """For generators conditioned on the face's low-frequency colour (synthetic mode): the
    generator sees the running mean of that condition over about this many frames of the
    track (equal weights from the track's birth until then) instead of each frame's own.
    Skin tone is the person's and changes slowly; read frame by frame it also carried the
    shadow of an opening mouth or a turn, and the drawn identity drifted with it (and came
    nearer the person: on talking_d3 the identity check covered fewer faces with the mean).
    The colour match after drawing still follows each frame's light. Higher: a steadier
    identity, slower to follow a real change of light in what is drawn. 0 or 1: each
    frame's own."""

    identity_shape_frames: int = 300
    """For generators that move face shape away from the person's (synthetic mode, ``degree``
    above 1): the part past the population mean is moved by the track's running mean of the
    person's identity shape over about this many frames, not by each frame's own. One frame's
    reading moves with the head and mouth (what the pose/expression model misses); mirrored
    frame by frame that movement came back doubled and reversed, and the drawn face's shape
    changed with every turn and word (on 12 talking clips its identity shape varied 1.4-3.3 times
    less with the mean). Higher: a steadier drawn face; the first frames of a track still
    follow the first readings. 0 or 1: each frame's own."""

    # -- masks and colour --------------------------------------------------------------
    mask_weight: float = 0.6
    """Weight of the previous mask (in the aligned frame) when still, 0..1. Higher: edges
    crawl less but follow fast deformations later (never less than the per-frame mask)."""
    colour_weight: float = 0.85
    """Weight of the previous mean colour of a track's face. Higher: skin tone pulses less
    but follows lighting changes more slowly."""

    # -- re-association of returning people ----------------------------------------------
    memory_seconds: float = 10.0
    """How long a lost track's identity may be given back to a returning person (0: never).
    Kept in memory only, as a few numbers per track (no images); forgotten after this."""
    memory_threshold: float = 0.3
    """Signature distance under which a new track is the returning person. Lower: fewer
    wrong re-associations (two people sharing one synthetic face), more missed returns."""

    def __post_init__(self) -> None:
        for name in ("face_weight", "mask_weight", "colour_weight"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"temporal.{name}: expected 0 <= value < 1, got {value}")
        if not 0.0 < self.warm_start <= 1.0:
            raise ValueError(f"temporal.warm_start: expected 0 < value <= 1, got {self.warm_start}")
        if not 0.0 < self.anchor_start <= 1.0:
            raise ValueError(f"temporal.anchor_start: expected 0 < value <= 1, got {self.anchor_start}")
        if not 0.0 <= self.motion_radius <= 0.5:
            raise ValueError(f"temporal.motion_radius: expected 0 <= value <= 0.5, got {self.motion_radius}")
        for name in ("landmark_min_cutoff", "landmark_d_cutoff", "landmark_expression_cutoff", "fps_fallback",
                     "face_motion_scale"):
            if getattr(self, name) <= 0:
                raise ValueError(f"temporal.{name}: expected > 0, got {getattr(self, name)}")
        for name in ("appearance_frames", "identity_shape_frames"):
            if getattr(self, name) < 0:
                raise ValueError(f"temporal.{name}: expected 0 (off) or more, got {getattr(self, name)}")
        if self.aligned_size < 16:
            raise ValueError(f"temporal.aligned_size: expected >= 16, got {self.aligned_size}")
