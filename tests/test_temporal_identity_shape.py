"""The person's identity shape, averaged per track and handed to the generator's ``prepare``."""

import numpy as np
import pytest

from streamanon.config import Config
from streamanon.pipeline import Anonymizer
from streamanon.temporal.config import TemporalConfig
from streamanon.temporal.running import TrackRunningMean
from streamanon.types import VideoFrame
from test_temporal_faces import StagedToyGenerator


class ShapeReadingToy(StagedToyGenerator):
    """The staged toy, reading a new 'identity shape' every frame (1, 2, 3, ...) and recording
    what ``prepare`` was handed."""

    def __init__(self):
        super().__init__()
        self.readings, self.handed = 0, []

    def identity_shape(self, crop):
        self.readings += 1
        return np.full(4, float(self.readings))

    def prepare(self, batch, identity_tracks=None):
        self.handed.append(None if identity_tracks is None else dict(identity_tracks))
        return super().prepare(batch)


def test_running_mean_per_track():
    means = TrackRunningMean(3)
    assert means.update(1, np.array([3.0])) == 3.0
    assert means.update(1, np.array([5.0])) == 4.0  # equal weights from birth
    assert means.update(2, np.array([10.0])) == 10.0  # another track, its own
    assert means.update(1, np.array([7.0])) == 5.0
    np.testing.assert_allclose(means.update(1, np.array([11.0])), 5.0 + 6.0 / 3)  # then 1/3
    means.keep_only([2])
    assert means.update(1, np.array([1.0])) == 1.0 and means.update(2, np.array([0.0])) == 5.0
    assert TrackRunningMean(0).update(1, np.array([2.0])) == 2.0
    with pytest.raises(ValueError, match="expected 0 .off. or more"):
        TrackRunningMean(-1)
    with pytest.raises(ValueError, match="identity_shape_frames"):
        TemporalConfig(identity_shape_frames=-2)


@pytest.mark.parametrize("frames", [0, 300])
def test_prepare_gets_the_tracks_mean_identity_shape(face_frames, frames):
    toy = ShapeReadingToy()
    an = Anonymizer(Config().override({"anonymizer.mode": "synthetic", "identity.salt": "s",
                                       "anonymizer.guard_candidates": 0, "temporal.identity_shape_frames": frames}),
                    generator=toy)
    for i in range(5):
        an.render(an.analyze(VideoFrame(image=face_frames[i], index=i)))
    if frames == 0:
        assert toy.handed == [None] * 5 and toy.readings == 0
        return
    assert [len(h) for h in toy.handed] == [1] * 5
    (track,) = toy.handed[0]
    got = [h[track][0] for h in toy.handed]
    assert got == [1.0, 1.5, 2.0, 2.5, 3.0]  # readings 1..5, averaged from the track's birth
    an.steady.forget_faces([track])  # a cover: the person is the same, their shape too
    an.render(an.analyze(VideoFrame(image=face_frames[5], index=5)))
    assert toy.handed[-1][track][0] == 3.5
