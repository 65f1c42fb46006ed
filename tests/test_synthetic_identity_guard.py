"""The identity guard on a real face: it draws the face several ways, keeps the one the face
recogniser finds farthest from the person, once per identity, and never lowers the cover."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("mediapipe")
pytest.importorskip("dlib")

from streamanon.config import AnonymizerConfig  # noqa: E402
from streamanon.errors import ConfigError  # noqa: E402
from streamanon.synthetic.identity_guard import IdentityGuard, candidate_seeds  # noqa: E402


@pytest.fixture(scope="module")
def generator():
    from streamanon.synthetic import create_synthetic_generator

    return create_synthetic_generator(AnonymizerConfig(mode="synthetic", backend="torch"))


class Counting:
    def __init__(self, generator):
        self.generator, self.name, self.calls = generator, generator.name, 0

    def refuses(self, crop, drawn_before=False):
        return self.generator.refuses(crop, drawn_before)

    def generate(self, batch):
        self.calls += 1
        return self.generator.generate(batch)


def test_candidate_seeds_start_with_the_own_seed_and_are_distinct_and_fixed():
    seeds = candidate_seeds(42, 12)
    assert seeds[0] == 42 and len(set(seeds)) == 12 and seeds == candidate_seeds(42, 12)
    assert all(0 <= s < 2**63 for s in seeds)


def test_guard_keeps_the_farthest_face_once_per_identity(talking_face, generator):
    from dataclasses import replace

    from streamanon.evaluation.faces import DlibFaceModel

    _, crop = talking_face
    counting = Counting(generator)
    guard = IdentityGuard(counting, DlibFaceModel(), candidates=6)
    (chosen,) = guard.choose([crop])
    distances = guard.distances[crop.seed]
    assert len(distances) == 6 and max(distances) - min(distances) > 0.02, distances
    assert chosen.seed == candidate_seeds(crop.seed, 6)[int(np.argmax(distances))]
    assert chosen.track_id == crop.track_id and chosen.box == crop.box
    # The same identity in a later frame gets the same face without drawing candidates again.
    again = guard.choose([crop, replace(crop, coasting=True)])
    assert [c.seed for c in again] == [chosen.seed, chosen.seed] and counting.calls == 1


def test_guard_leaves_faces_it_cannot_judge_with_their_own_seed(talking_face, generator):
    class Broken:
        def embed(self, image, rect, landmarks=None):
            raise RuntimeError("no recogniser")

    _, crop = talking_face
    guard = IdentityGuard(generator, Broken(), candidates=4)
    assert [c.seed for c in guard.choose([crop])] == [crop.seed]


def test_guard_needs_at_least_two_candidates(generator):
    with pytest.raises(ConfigError, match="guard_candidates"):
        IdentityGuard(generator, object(), candidates=1)
    with pytest.raises(ConfigError, match="guard_redraws"):
        IdentityGuard(generator, object(), candidates=2, redraws=-1)


def test_pipeline_draws_the_guarded_face(talking_face):
    from media import anonymize_frames
    from streamanon.evaluation.faces import DlibFaceModel

    image, _ = talking_face
    an, [(analysis, out, record)] = anonymize_frames(
        [image], {"anonymizer.mode": "synthetic", "anonymizer.guard_candidates": 6, "identity.salt": "guard"})
    (track,) = analysis.tracks
    assert record.replaced == 1
    distances = an.guard.distances[track.seed]
    lm = track.landmarks[:, :2]
    rect = (lm[:, 0].min(), lm[:, 1].min(), lm[:, 0].max(), lm[:, 1].max())
    dlib = DlibFaceModel()
    drawn = float(np.linalg.norm(dlib.embed(out.image, rect) - dlib.embed(image, rect)))
    # What left the pipeline is the farthest candidate (up to blending), not the first one.
    assert drawn >= max(distances) - 0.05 and drawn > distances[0] - 0.05, (drawn, distances)


class SeedFaces:
    """A generator whose drawn face says which seed drew it, and a recogniser that places
    that face ``distance[seed]`` from the person (the crop's own image sits at the origin)."""

    name = "seed-faces"

    def __init__(self, distance):
        self.distance, self.drawn = distance, []

    def generate(self, batch):
        from streamanon.types import FacePatch

        self.drawn += [c.seed for c in batch]
        return [FacePatch(c.track_id, c.box, np.full_like(c.image, c.seed % 250 + 1), np.ones_like(c.mask))
                for c in batch]

    def embed(self, image, rect, landmarks=None):
        vec = np.zeros(128, np.float32)
        seeds = [s for s in self.distance if s % 250 + 1 == int(image[0, 0, 0])]
        vec[0] = self.distance[seeds[0]] if seeds else 0.0
        return vec


def test_redraw_gives_a_stuck_face_a_new_identity_far_enough_from_every_view_at_most_twice():
    from dataclasses import replace

    crop = _scripted_crop(seed=5)
    first, second, third = (candidate_seeds(5, 9)[k:k + 3] for k in (0, 3, 6))
    distance = {s: 0.6 + 0.01 * i for i, s in enumerate(first)}  # first round: the last is farthest
    distance.update({second[0]: -0.95, second[1]: 0.5, second[2]: 0.8})  # -0.95: near a kept view
    distance.update({third[0]: 0.7, third[1]: 0.75, third[2]: 0.72})
    faces = SeedFaces(distance)
    guard = IdentityGuard(faces, faces, candidates=3, redraws=2)
    (chosen,) = guard.choose([crop])
    assert chosen.seed == first[2]
    away = np.zeros(128, np.float32)
    away[0] = -1.0  # the person as seen a few frames ago
    assert guard.redraw([chosen], lambda track: [away], 0.7) == [crop.track_id]
    (chosen,) = guard.choose([crop])
    # 0.95 is farthest from this frame's person but 0.05 from the earlier view: 0.8 wins.
    assert chosen.seed == second[2] and guard.redraws == {5: 1}
    # The best of the next round (0.75) is not far enough: the seed stays, the round counts.
    assert guard.redraw([chosen], lambda track: [], 0.8) == []
    (kept,) = guard.choose([crop])
    assert kept.seed == second[2] and guard.redraws == {5: 2}
    assert third[1] in faces.drawn
    drawn = len(faces.drawn)
    assert guard.redraw([kept], lambda track: [], 0.0) == [] and len(faces.drawn) == drawn  # no third
    # Faces the guard never chose, and coasting ones, are left alone.
    assert guard.redraw([replace(crop, seed=99), replace(kept, coasting=True)], lambda t: [], 0.0) == []


def _scripted_crop(seed):
    from streamanon.types import FaceCrop

    image = np.zeros((32, 32, 3), np.uint8)
    mask = np.ones((32, 32), np.float32)
    lm = np.array([[4, 4], [28, 28], [16, 20]], np.float32)
    return FaceCrop(track_id=3, box=(0, 0, 32, 32), image=image, mask=mask, seed=seed, landmarks=lm)


class FrameSeedFaces:
    """Like ``SeedFaces``, but the distance depends on the frame too: each crop's image holds
    its frame number in pixel (0, 0, 1); the drawn face keeps it and adds the seed's marker."""

    name = "frame-seed-faces"

    def __init__(self, distance):
        self.distance, self.batches = distance, []  # (seed, frame) -> distance

    def refuses(self, crop, drawn_before=False):
        return "too small" if crop.image.shape[0] < 16 else None

    def generate(self, batch):
        from streamanon.types import FacePatch

        self.batches.append([(c.seed, int(c.image[0, 0, 1])) for c in batch])
        patches = []
        for c in batch:
            image = c.image.copy()
            image[0, 0, 0] = c.seed % 250 + 1
            patches.append(FacePatch(c.track_id, c.box, image, np.ones_like(c.mask)))
        return patches

    def embed(self, image, rect, landmarks=None):
        vec = np.zeros(128, np.float32)
        marker, frame = int(image[0, 0, 0]), int(image[0, 0, 1])
        vec[0] = next((d for (s, f), d in self.distance.items() if s % 250 + 1 == marker and f == frame), 0.0)
        return vec


def test_guard_judges_candidates_on_later_frames_by_their_mean_distance():
    """The candidate farthest in the first frame comes near the person later; judged on three
    frames, the one far on average wins. Faces the generator would not draw, coasting ones and
    frames beyond ``frames`` - 1 are not judged."""
    from dataclasses import replace

    a, b, c = candidate_seeds(7, 3)
    table = {(a, 0): 0.60, (b, 0): 0.80, (c, 0): 0.70,   # first frame alone: b
             (a, 1): 0.60, (b, 1): 0.55, (c, 1): 0.75,
             (a, 2): 0.60, (b, 2): 0.50, (c, 2): 0.72}   # mean: a 0.60, b 0.62, c 0.72
    faces = FrameSeedFaces(table)
    first = _framed_crop(seed=7, frame=0)
    later = [replace(_framed_crop(7, 9), coasting=True), _framed_crop(7, 1), _framed_crop(7, 5, side=8),
             _framed_crop(7, 2), _framed_crop(7, 3)]
    guard = IdentityGuard(faces, faces, candidates=3, frames=3)
    assert guard.undecided([first, replace(first, track_id=4, coasting=True)]) == [first.track_id]
    (chosen,) = guard.choose([first], {first.track_id: later})
    assert chosen.seed == c and guard.judged[7] == 3
    assert faces.batches == [[(s, f) for f in (0, 1, 2) for s in (a, b, c)]]  # one batch
    assert np.allclose(guard.distances[7], [0.60, (0.80 + 0.55 + 0.50) / 3, (0.70 + 0.75 + 0.72) / 3])
    assert guard.undecided([first]) == []
    # The first frame alone picks the candidate that comes near later.
    alone = IdentityGuard(FrameSeedFaces(table), FrameSeedFaces(table), candidates=3, frames=1)
    assert alone.choose([first], {first.track_id: later})[0].seed == b and alone.judged[7] == 1
    with pytest.raises(ConfigError, match="guard_frames"):
        IdentityGuard(faces, faces, candidates=3, frames=0)


def _framed_crop(seed, frame, side=32):
    from dataclasses import replace

    image = np.zeros((side, side, 3), np.uint8)
    image[0, 0, 1] = frame
    return replace(_scripted_crop(seed), box=(0, 0, side, side), image=image,
                   mask=np.ones((side, side), np.float32))


def test_pipeline_judges_a_new_face_on_frames_the_lookahead_holds():
    """Real clip, real generator and recogniser: with a lookahead the guard sees the new face
    in the frame it is born and in two frames held after it (spread out, the last included);
    without one, only in its first frame."""
    from conftest import shared_video
    from streamanon.config import Config
    from streamanon.crop import later_crops
    from streamanon.io import VideoReader
    from streamanon.pipeline import Anonymizer
    from streamanon.runner import StagedRunner

    with VideoReader(shared_video("talking_d0.mp4")) as reader:
        frames = [f for _, f in zip(range(10), reader.frames())]
    config = Config().override({"anonymizer.mode": "synthetic", "anonymizer.guard_candidates": 3,
                                "anonymizer.verify_every": 0, "identity.salt": "frames"})
    an = Anonymizer(config)
    analyses = [an.analyze(f) for f in frames]
    (track,) = analyses[0].tracks
    later = later_crops([(a.frame.image, a.tracks) for a in analyses[1:]], [track.track_id], an.mask, 2)
    (crops,) = later.values()
    assert len(crops) == 2 and all(c.landmarks is not None for c in crops)
    # frames 5 and 9 of the nine held: their crops are cut from those frames' images
    x0, y0, x1, y1 = crops[1].box
    assert np.array_equal(crops[1].image, frames[9].image[y0:y1, x0:x1])
    assert not np.array_equal(crops[1].image, frames[1].image[y0:y1, x0:x1])
    an.close()
    for lookahead, judged in ((6, 3), (0, 1)):
        an = Anonymizer(config)
        out = list(StagedRunner(an, queue_size=2, lookahead=lookahead).run(frames))
        assert [f.index for f, _ in out] == list(range(10)) and out[0][1].replaced == 1
        (seed,) = an.guard.judged
        assert an.guard.judged[seed] == judged and len(an.guard.distances[seed]) == 3
        an.close()
