"""The anonymization method for one stream, step by step. No maths and no I/O here.

    anonymizer = Anonymizer(config)
    out_frame, record = anonymizer.process(frame)

``analyze`` (detect, track) and ``render`` (crop, generate or cover, compose, label) are
separate so a runner can put them on different threads. Every piece of state (tracker, track
ids, identity seeds, generator) belongs to this one stream.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

from .config import BASELINE_MODES, Config, fallback_kind
from .crop import cut_faces, later_crops
from .detect import FaceDetector
from .failsafe import FailsafePolicy, generate_or_cover
from .generators import FaceGenerator, create_generator
from .identity import IdentitySeeder, new_salt
from .compose import compose
from .stats import StreamStats
from .temporal.anchor import ANCHOR_MARGIN
from .temporal.stabilizer import TemporalAnalyzer, TemporalRenderer
from .track import FaceTracker, sealed_coast
from .types import Detection, FrameRecord, Track, VideoFrame


@dataclass(frozen=True, eq=False)
class FrameAnalysis:
    """Steps 1-5 for one frame: what the detector saw and the tracks after the update.

    ``tracks`` carry smoothed landmarks (what the face is rendered with); ``measured`` are the
    same tracks as measured in this frame, whose masks the rendered ones never fall below.
    """

    frame: VideoFrame
    detections: tuple[Detection, ...]
    tracks: tuple[Track, ...]
    measured: tuple[Track, ...] = ()
    cut: bool = False
    """True when this frame starts a new shot."""


class Anonymizer:
    """Detect, track, replace or cover, compose: one stream's anonymization state."""

    def __init__(self, config: Config, *, generator: FaceGenerator | None = None, rotation: int = 0,
                 stats: StreamStats | None = None) -> None:
        self.config = config
        self.salt = config.identity.salt or new_salt()
        self.stats = stats or StreamStats()
        needs_mesh = config.anonymizer.mode not in BASELINE_MODES  # the generator draws from the mesh
        detector = replace(config.detector, mesh=True) if needs_mesh else config.detector
        self.detector = FaceDetector(detector, rotation=rotation)
        self.tracker = FaceTracker(config.tracker, IdentitySeeder(self.salt, config.identity.stream),
                                   sealed_frames=sealed_coast(config.tracker, config.runtime.lookahead))
        self.generator = generator if generator is not None else create_generator(config.anonymizer)
        a = config.anonymizer
        self.policy = FailsafePolicy(kind=fallback_kind(a), color=a.solid_color, timeout_ms=a.timeout_ms)
        self.covering = a.mode in BASELINE_MODES
        self._drawn: set[int] = set()  # tracks whose face the generator drew in the last frame
        # A generator draws only so far above the face: the mask never asks for more forehead.
        limit = getattr(self.generator, "max_forehead", None)
        self.mask = config.mask if limit is None else replace(config.mask, forehead=min(config.mask.forehead, limit))
        self.temporal = TemporalAnalyzer(config.temporal)
        self.steady = TemporalRenderer(config.temporal, self.mask, cover=self.covering)
        self.guard = None  # optional: picks each identity's farthest-drawn seed (synthetic mode)
        self.check = None  # optional: covers drawn faces a recogniser still matches to the person
        self.escalation = None  # optional: faces the check covered are drawn farther from the person
        if not self.covering:
            from .synthetic.identity_check import create_identity_check, create_shape_escalation
            from .synthetic.identity_guard import create_identity_guard

            self.guard = create_identity_guard(self.generator, a.guard_candidates, a.guard_redraws, a.guard_frames)
            self.check = create_identity_check(a.verify_every, a.verify_distance, self.policy.kind,
                                               self.policy.color, views=a.verify_views, hold=a.verify_hold)
            self.escalation = create_shape_escalation(a.degree, a.verify_escalate, self.check, a.verify_escalate_times)
        self.generator = self.steady.smooth_latents(self.generator)
        self.reuse = None  # optional: a face the check covers is drawn as one of its track's recent faces
        if self.check is not None:
            from .synthetic.face_reuse import create_face_reuse

            self.reuse = create_face_reuse(a.verify_reuse, self.check, self.generator)

    def analyze(self, frame: VideoFrame) -> FrameAnalysis:
        # 1. Detect faces and their mesh, looking closely where tracked faces should be.
        with self.stats.clock("detect"):
            detections = self.detector.detect(frame.image, hints=self.tracker.expected_boxes())
        # 2. Notice scene cuts: tracks of the old shot take no more detections (they keep covering).
        with self.stats.clock("temporal"):
            cut = self.temporal.scene_cut(frame)
        if cut:
            self.tracker.seal()
        # 3. Track them: coasting tracks keep covering faces the detector missed.
        with self.stats.clock("track"):
            measured = self.tracker.update(detections)
        with self.stats.clock("temporal"):
            # 4. A person coming back within the memory window gets their earlier identity.
            measured = self.temporal.reassociate(frame, measured, cut)
            # 5. Smooth each track's landmarks so the alignment and mask do not jitter.
            tracks = self.temporal.smooth_landmarks(frame, measured, cut)
        return FrameAnalysis(frame, tuple(detections), tracks, measured=measured, cut=cut)

    def render(self, analysis: FrameAnalysis,
               upcoming: Sequence[FrameAnalysis] = ()) -> tuple[VideoFrame, FrameRecord]:
        """Steps 6-16 for one analysed frame. ``upcoming``: the analyses of the frames after it
        that a lookahead holds (the identity guard judges a new face on some of them too)."""
        frame = analysis.frame
        # 6. Cut each tracked face with its blend mask (identity seed travels with the track, and
        #    so does a raised degree once the identity check has covered the face: step 11).
        with self.stats.clock("crop"):
            crops = cut_faces(frame.image, analysis.tracks, self.mask, cover=self.covering)
            if self.escalation is not None:
                crops = self.escalation.apply(crops)
        # 7. Steady the masks over time, never below what this frame's face needs covered.
        with self.stats.clock("temporal"):
            crops = self.steady.steady_masks(crops, analysis.measured, analysis.cut)
        # 8. Generate new faces; anything that fails, times out or coasts gets the cover. (The
        #    optional identity guard first picks, once per identity, the farthest-drawn seed,
        #    judged on this frame and on later ones the lookahead holds.)
        with self.stats.clock("generate"):
            if self.guard is not None:
                later = later_crops([(a.frame.image, a.tracks) for a in upcoming], self.guard.undecided(crops),
                                    self.mask, self.guard.frames - 1)
                crops = self.guard.choose(crops, later)
            patches, events = generate_or_cover(self.generator, crops, self.policy, self._drawn)
            self._drawn = {p.track_id for p in patches if not p.fallback}
        # 9. Blend each new face with its track's previous ones (steady face and skin tone).
        with self.stats.clock("temporal"):
            patches = self.steady.steady_faces(patches, crops)
        # 10. Optional identity check: a drawn face a recogniser still matches, as it would
        #     leave (with every other patch of the frame on and around it), gets the cover.
        checked, leaving = [], None
        if self.check is not None:
            with self.stats.clock("verify"):
                leaving = compose(frame.image, patches, drawn_cores=not self.covering)
                patches, checked = self.check.verify(patches, crops, leaving)
            if checked:  # a face got the cover (and may be reused below): composed again in step 14
                leaving = None
            # A face the check found well clear of the person anchors its track's later faces.
            self.steady.keep_anchors(self.check.measured, self.check.min_distance + ANCHOR_MARGIN,
                                     [e.track_id for e in checked])
        # 11. A face the check covered is drawn farther from the person's shape from its next frame on.
        escalated = [] if self.escalation is None else self.escalation.update(checked, self.check.judged)
        self.steady.forget_faces(escalated, identity=True)
        # 12. This frame, such a face is drawn as its track's farthest recent face that passed a
        #     check, where that face passes here too (to a recogniser a cover is another person);
        #     faces of another shape (before the escalation) are not reused.
        if self.reuse is not None:
            with self.stats.clock("verify"):
                patches, checked, reused = self.reuse.replace(
                    frame.index, patches, crops, checked, self.generator, self.check,
                    lambda trial: compose(frame.image, trial, drawn_cores=not self.covering))
            self.stats.count_reused(len(reused))
            self.reuse.remember(frame.index, patches, crops, self.generator, self.check, forget=escalated)
        events += checked
        # 13. Opt-in: a face that keeps failing the check gets a new identity (next frame), far from the person.
        if self.check is not None and self.guard is not None and self.guard.max_redraws:
            with self.stats.clock("verify"):
                redrawn = self.guard.redraw(self.check.stuck(crops), self.check.views, self.check.redraw_distance)
            for track_id in redrawn:
                self.check.forgive(track_id)
            self.steady.forget_faces(redrawn, identity=True)
        # 14. Blend the patches back into the frame (the check's frame, if it covered nothing).
        with self.stats.clock("compose"):
            image = leaving if leaving is not None else compose(frame.image, patches, drawn_cores=not self.covering)
        # 15. Optional visible "AI-modified" label.
        if self.config.provenance.visible_label:
            from .provenance.label import draw_label

            image = draw_label(image, self.config.provenance.label_text)
        # 16. Record what happened, for provenance and the report.
        record = FrameRecord(index=frame.index, pts=frame.pts, faces=len(patches),
                             replaced=sum(not p.fallback for p in patches), fallback=len(events),
                             mode=self.config.anonymizer.mode,
                             track_ids=tuple(t.track_id for t in analysis.tracks),
                             fallback_reasons=tuple(e.reason for e in events))
        self.stats.count_frame_out(record.faces, record.fallback_reasons)
        return frame.with_image(image), record

    def process(self, frame: VideoFrame) -> tuple[VideoFrame, FrameRecord]:
        """Analyse and render one frame (no lookahead)."""
        return self.render(self.analyze(frame))

    def close(self) -> None:
        self.detector.close()
