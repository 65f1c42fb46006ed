"""Kalman tracking: stable ids, coasting through misses, per-stream state and seeds."""

import numpy as np

from streamanon.config import TrackerConfig
from streamanon.identity import IdentitySeeder
from streamanon.track import FaceTracker
from streamanon.types import Detection


def det(x, y, size=60, tentative=False):
    kps = np.array([[x + 0.3 * size, y + 0.35 * size], [x + 0.7 * size, y + 0.35 * size],
                    [x + 0.5 * size, y + 0.55 * size], [x + 0.5 * size, y + 0.75 * size],
                    [x, y + 0.4 * size], [x + size, y + 0.4 * size]], np.float32)
    return Detection(box=(x, y, x + size, y + size), score=0.9, keypoints=kps, tentative=tentative)


def tracker(salt="s", stream="0", **kw):
    return FaceTracker(TrackerConfig(**kw), IdentitySeeder(salt, stream))


def test_ids_stay_with_moving_faces_and_cross_over():
    t = tracker()
    ids = None
    for i in range(20):
        # two faces moving towards each other horizontally, 8 px per frame, different heights
        tracks = t.update([det(100 + 8 * i, 100), det(400 - 8 * i, 220)])
        by_y = {round(tr.box[1] / 100): tr.track_id for tr in tracks}
        ids = ids or by_y
        assert by_y == ids
    assert t.total_tracks == 2


def test_coasting_keeps_covering_then_ends():
    t = tracker(max_coast=5)
    for i in range(5):
        (first,) = t.update([det(100 + 5 * i, 100)])
    for gap in range(1, 6):
        (coast,) = t.update([])
        assert coast.track_id == first.track_id and coast.misses == gap and coast.coasting
        # the prediction keeps moving the box along, and it grows to cover uncertainty
        assert coast.box[0] > first.box[0]
        assert coast.box[2] - coast.box[0] >= first.box[2] - first.box[0]
    assert t.update([]) == []  # past max_coast
    (again,) = t.update([det(160, 100)])
    assert again.track_id != first.track_id


def test_a_tentative_find_coasts_briefly_unless_a_real_detection_joins_it():
    """A large face one tile pass found once, without a mesh, is covered while found and for
    ``tentative_coast`` frames after; a detection that is not tentative makes it an ordinary
    track, which coasts ``max_coast`` frames."""
    t = tracker(max_coast=8, tentative_coast=2)
    (first,) = t.update([det(100, 100, tentative=True)])
    for gap in (1, 2):
        (coast,) = t.update([])
        assert coast.track_id == first.track_id and coast.misses == gap
    assert t.update([]) == []  # gone after 2 missed frames, not 8

    (again,) = t.update([det(300, 100, tentative=True)])
    t.update([])
    (still,) = t.update([det(302, 100, tentative=True)])  # found again, tentative again
    assert still.track_id == again.track_id
    t.update([]), t.update([])
    assert t.update([]) == []

    (b,) = t.update([det(500, 100, tentative=True)])
    (b2,) = t.update([det(503, 100)])  # the mesh or a whole-frame pass confirms it
    assert b2.track_id == b.track_id
    for gap in range(1, 9):
        (coast,) = t.update([])
        assert coast.track_id == b.track_id and coast.misses == gap
    assert t.update([]) == []

    # tentative_coast never lengthens coasting past max_coast
    t = tracker(max_coast=1, tentative_coast=5)
    t.update([det(100, 100, tentative=True)])
    t.update([])
    assert t.update([]) == []


def test_detector_gap_rejoins_the_same_track():
    t = tracker(max_coast=10)
    for i in range(5):
        (a,) = t.update([det(100 + 4 * i, 100)])
    for _ in range(3):
        t.update([])
    (b,) = t.update([det(100 + 4 * 8, 100)])
    assert b.track_id == a.track_id and b.misses == 0


def test_streams_are_independent_and_seeds_follow_salt():
    a, b = tracker(stream="cam-a"), tracker(stream="cam-b")
    (ta,) = a.update([det(100, 100)])
    (tb,) = b.update([det(100, 100)])
    assert ta.track_id == tb.track_id == 0  # ids belong to each stream
    assert ta.seed != tb.seed  # identities do not collide across streams
    (tc,) = tracker(stream="cam-a").update([det(300, 300)])
    assert tc.seed == ta.seed  # same (salt, stream, track) -> same seed
    (td,) = tracker(salt="other", stream="cam-a").update([det(100, 100)])
    assert td.seed != ta.seed


def test_old_shot_tracks_coast_only_sealed_frames_after_a_cut():
    """At a scene cut the old face is gone: its track covers ``sealed_frames`` more frames,
    counted from the cut (misses before it do not shorten that), not ``max_coast``; a track
    started after the cut coasts as usual."""
    t = FaceTracker(TrackerConfig(max_coast=12), IdentitySeeder("s", "0"), sealed_frames=3)
    for _ in range(3):
        t.update([det(100, 100)])
    (old,) = t.update([])
    assert old.misses == 1  # coasting one frame when the cut comes
    t.seal()
    kept = [len([x for x in t.update([]) if x.track_id == old.track_id]) for _ in range(5)]
    assert kept == [1, 1, 1, 0, 0]
    (new,) = t.update([det(300, 100)])
    t.seal()  # another cut: the new shot's track gets its 3 frames too
    (new,) = t.update([])
    assert new.misses == 1
    for _ in range(2):
        assert len(t.update([])) == 1
    assert t.update([]) == []
    plain = FaceTracker(TrackerConfig(max_coast=12), IdentitySeeder("s", "0"), sealed_frames=3)
    plain.update([det(100, 100)])
    assert all(len(plain.update([])) == 1 for _ in range(12))  # no cut: max_coast


def test_sealed_coast_and_lookahead_together_span_max_coast():
    from streamanon.errors import ConfigError
    from streamanon.track import sealed_coast

    c = TrackerConfig(max_coast=12, sealed_coast=3)
    assert sealed_coast(c, 12) == 3 and sealed_coast(c, 30) == 3
    assert sealed_coast(c, 5) == 7 and sealed_coast(c, 0) == 12  # live streams hold no frames
    assert sealed_coast(TrackerConfig(max_coast=2, sealed_coast=3), 12) == 2
    for bad in (TrackerConfig(sealed_coast=-1), c):
        try:
            sealed_coast(bad, -1 if bad is c else 0)
        except ConfigError as exc:
            assert "expected >= 0" in str(exc)
        else:
            raise AssertionError("negative value accepted")
