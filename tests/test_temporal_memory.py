"""A person who leaves and comes back gets their earlier synthetic identity (seed), within
the memory window; somebody else, or a return after the window, does not."""

import numpy as np
import pytest

from streamanon.config import Config
from streamanon.pipeline import Anonymizer
from streamanon.types import VideoFrame


def empty_scene(size=(640, 360)):
    """The demo's background without the astronaut (the same gradient the demo draws on)."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([60 + 80 * xx / w, 90 + 40 * yy / h, 140 - 60 * xx / w], axis=-1).astype(np.uint8)


def run(frames, **overrides):
    settings = {"anonymizer.mode": "blur", "identity.salt": "s", "tracker.max_coast": 3}
    settings.update(overrides)
    an = Anonymizer(Config().override(settings))
    seen = []
    for i, image in enumerate(frames):
        a = an.analyze(VideoFrame(image=image, index=i, pts=i, time_base=None))
        an.render(a)
        seen.append([(t.track_id, t.seed) for t in a.tracks if not t.coasting])
    return seen, an


def first_and_last(seen):
    live = [s for s in seen if s]
    return live[0][0], live[-1][0]


@pytest.mark.parametrize("recolour", [False, True])
def test_returning_person_keeps_the_identity_within_the_window(face_frames, recolour):
    back = [f[..., ::-1].copy() if recolour else f for f in face_frames[14:20]]
    frames = face_frames[:8] + [empty_scene()] * 6 + back
    seen, an = run(frames)
    (id_a, seed_a), (id_b, seed_b) = first_and_last(seen)
    assert id_a != id_b  # the tracker lost the face: a new track ...
    if recolour:  # ... someone in other clothes and hair colours is a new identity
        assert seed_a != seed_b and an.temporal.memory.adoptions == []
    else:  # ... the same person gets the same synthetic identity back
        assert seed_a == seed_b and an.temporal.memory.adoptions == [(id_b, id_a)]


def test_memory_window_and_switch_off(face_frames):
    frames = face_frames[:8] + [empty_scene()] * 6 + face_frames[14:20]
    for overrides in ({"temporal.memory_seconds": 0.0}, {"temporal.memory_seconds": 0.1},
                      {"temporal.enabled": False}):
        seen, _ = run(frames, **{**overrides, "temporal.fps_fallback": 30.0})
        (_, seed_a), (_, seed_b) = first_and_last(seen)
        assert seed_a != seed_b, overrides  # 6 frames at 30 fps is 0.2 s > 0.1 s


def test_identity_never_switches_inside_a_track(face_frames):
    seen, _ = run(face_frames[:20])
    seeds = {seed for frame in seen for _, seed in frame}
    assert len(seeds) == 1


def test_no_identity_from_a_face_still_coasting_elsewhere_nor_when_ambiguous():
    """On a plain scene every signature is alike: a new face far from a coasting track is not
    that person; once the track has ended it may be, unless a live face looks alike too."""
    from streamanon.temporal.config import TemporalConfig
    from streamanon.temporal.memory import IdentityMemory
    from streamanon.types import Track

    image = np.full((360, 640, 3), 120, np.uint8)
    image[:, :, 2] = 60

    def t(tid, x, misses=0):
        return Track(track_id=tid, box=(x, 100.0, x + 60.0, 160.0), seed=1000 + tid, age=5, misses=misses)

    memory = IdentityMemory(TemporalConfig())
    for i in range(12):
        memory.update(image, (t(0, 50),), i / 30)
    (a, b) = memory.update(image, (t(0, 50, misses=1), t(1, 450)), 12 / 30)
    assert b.seed == 1001  # A is still coasting, far away: B is somebody else
    memory.update(image, (t(1, 450),), 13 / 30)  # A has ended
    (b, c) = memory.update(image, (t(1, 450), t(2, 250)), 14 / 30)
    assert c.seed == 1002  # ambiguous: B (live) looks exactly like A did
    memory2 = IdentityMemory(TemporalConfig())
    for i in range(12):
        memory2.update(image, (t(0, 50),), i / 30)
    memory2.update(image, (), 12 / 30)
    (c,) = memory2.update(image, (t(2, 250),), 13 / 30)
    assert c.seed == 1000 and memory2.adoptions == [(2, 0)]  # A came back


def test_close_ups_are_told_apart_by_what_is_in_frame():
    """Two close-ups whose clothing lies below the frame: the empty clothing region must not
    make them alike. Cut to B, back to A, back to B: each gets their own earlier identity
    (before, both signatures had the same flat histogram there and B took A's identity)."""
    from streamanon.temporal.config import TemporalConfig
    from streamanon.temporal.memory import IdentityMemory, signature
    from streamanon.types import Track

    def scene(hair):
        image = np.full((512, 512, 3), 200, np.uint8)
        image[:160] = hair  # above the face: hair and background
        return image

    a_img, b_img = scene((90, 60, 30)), scene((20, 20, 25))
    box = (110.0, 120.0, 410.0, 470.0)  # a close-up: clothing would be below y = 575

    def t(tid):
        return Track(track_id=tid, box=box, seed=1000 + tid, age=5, misses=0)

    sig_a = signature(a_img, t(0))
    assert sig_a.clothing is None and sig_a.hair is not None
    assert sig_a.distance(signature(b_img, t(1))) > 0.3 > sig_a.distance(signature(a_img, t(2)))
    memory = IdentityMemory(TemporalConfig())
    seeds = []
    for shot, image in enumerate((a_img, b_img, a_img, b_img)):
        for i in range(10):
            (track,) = memory.update(image, (t(shot),), (10 * shot + i) / 30, cut=(i == 0 and shot > 0))
        seeds.append(track.seed)
        memory.update(image, (), (10 * shot + 10) / 30)  # the shot's track ends
    assert seeds == [1000, 1001, 1000, 1001]
