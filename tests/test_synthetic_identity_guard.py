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
