"""The anonymization method for one stream, step by step. No maths and no I/O here.

    anonymizer = Anonymizer(config)
    out_frame, record = anonymizer.process(frame)

``analyze`` (detect, track) and ``render`` (crop, generate or cover, compose, label) are
separate so a runner can put them on different threads. Every piece of state (tracker, track
ids, identity seeds, generator) belongs to this one stream.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import BASELINE_MODES, Config
from .crop import cut_faces
from .detect import FaceDetector
from .failsafe import FailsafePolicy, generate_or_cover
from .generators import FaceGenerator, create_generator
from .identity import IdentitySeeder, new_salt
from .compose import compose
from .stats import StreamStats
from .track import FaceTracker
from .types import Detection, FrameRecord, Track, VideoFrame


@dataclass(frozen=True, eq=False)
class FrameAnalysis:
    """Steps 1-2 for one frame: what the detector saw and the tracks after the update."""

    frame: VideoFrame
    detections: tuple[Detection, ...]
    tracks: tuple[Track, ...]


class Anonymizer:
    """Detect, track, replace or cover, compose: one stream's anonymization state."""

    def __init__(self, config: Config, *, generator: FaceGenerator | None = None, rotation: int = 0,
                 stats: StreamStats | None = None) -> None:
        self.config = config
        self.salt = config.identity.salt or new_salt()
        self.stats = stats or StreamStats()
        self.detector = FaceDetector(config.detector, rotation=rotation)
        self.tracker = FaceTracker(config.tracker, IdentitySeeder(self.salt, config.identity.stream))
        self.generator = generator if generator is not None else create_generator(config.anonymizer)
        a = config.anonymizer
        self.policy = FailsafePolicy(kind=a.fallback, color=a.solid_color, timeout_ms=a.timeout_ms)
        self.covering = a.mode in BASELINE_MODES

    def analyze(self, frame: VideoFrame) -> FrameAnalysis:
        # 1. Detect faces and their mesh, looking closely where tracked faces should be.
        with self.stats.clock("detect"):
            detections = self.detector.detect(frame.image, hints=self.tracker.expected_boxes())
        # 2. Track them: coasting tracks keep covering faces the detector missed.
        with self.stats.clock("track"):
            tracks = self.tracker.update(detections)
        return FrameAnalysis(frame, tuple(detections), tuple(tracks))

    def render(self, analysis: FrameAnalysis) -> tuple[VideoFrame, FrameRecord]:
        frame = analysis.frame
        # 3. Cut each tracked face with its blend mask (identity seed travels with the track).
        with self.stats.clock("crop"):
            crops = cut_faces(frame.image, analysis.tracks, self.config.mask, cover=self.covering)
        # 4. Generate new faces; anything that fails, times out or coasts gets the cover.
        with self.stats.clock("generate"):
            patches, events = generate_or_cover(self.generator, crops, self.policy)
        # 5. Blend the patches back into the frame.
        with self.stats.clock("compose"):
            image = compose(frame.image, patches)
        # 6. Optional visible "AI-modified" label.
        if self.config.provenance.visible_label:
            from .provenance.label import draw_label

            image = draw_label(image, self.config.provenance.label_text)
        # 7. Record what happened, for provenance and the report.
        record = FrameRecord(index=frame.index, pts=frame.pts, faces=len(patches),
                             replaced=sum(not p.fallback for p in patches), fallback=len(events),
                             mode=self.config.anonymizer.mode,
                             track_ids=tuple(t.track_id for t in analysis.tracks),
                             fallback_reasons=tuple(e.reason for e in events))
        self.stats.count_frame_out(record.faces, record.fallback_reasons)
        return frame.with_image(image), record

    def process(self, frame: VideoFrame) -> tuple[VideoFrame, FrameRecord]:
        return self.render(self.analyze(frame))

    def close(self) -> None:
        self.detector.close()
