"""One-Euro landmark smoothing: still faces stop jittering, fast turns do not lag."""

import numpy as np

from streamanon.temporal.config import TemporalConfig
from streamanon.temporal.landmarks import LandmarkSmoother, OneEuroFilter
from streamanon.types import Track

from conftest import shared_video


def track(landmarks, tid=0, size=200.0, misses=0):
    return Track(track_id=tid, box=(100.0, 100.0, 100.0 + size, 100.0 + size), seed=1, age=5,
                 misses=misses, landmarks=landmarks.astype(np.float32))


def test_still_face_jitter_falls_and_fast_turn_follows():
    rng = np.random.default_rng(0)
    base = rng.uniform(100, 300, (478, 2))
    smoother = LandmarkSmoother(TemporalConfig())
    still = []
    for i in range(60):  # still face, 1.5 px detector noise
        (t,) = smoother.smooth([track(base + rng.normal(0, 1.5, base.shape))], i / 30)
        still.append(t.landmarks)
    jitter_in = 1.5 * np.sqrt(2)
    jitter_out = float(np.linalg.norm(np.diff(still[20:], axis=0), axis=-1).mean())
    assert jitter_out < 0.35 * jitter_in
    # Fast head turn: 12 px per frame (2 face sizes per second) for 15 frames.
    lags = []
    for i in range(15):
        target = base + np.array([12.0 * (i + 1), 0.0])
        (t,) = smoother.smooth([track(target + rng.normal(0, 1.5, base.shape))], (60 + i) / 30)
        lags.append(float(np.abs(t.landmarks[:, 0] - target[:, 0]).mean()))
    # A plain average as steady on the still face would lag by several frames' motion;
    # the adaptive filter settles within about a frame of motion.
    assert np.mean(lags[5:]) < 12.0
    plain = OneEuroFilter(min_cutoff=1.0, beta=0.0, d_cutoff=1.0)
    for i in range(60):
        plain(base, 1 / 30)
    x = None
    for i in range(15):
        x = plain(base + np.array([12.0 * (i + 1), 0.0]), 1 / 30)
    assert np.abs(x[:, 0] - (base[:, 0] + 180)).mean() > 3 * np.mean(lags[5:])


def test_state_is_per_track_and_births_start_unfiltered():
    smoother = LandmarkSmoother(TemporalConfig())
    a, b = np.full((478, 2), 100.0), np.full((478, 2), 400.0)
    for i in range(5):
        smoother.smooth([track(a, 0), track(b, 1)], i / 30)
    (ta, tb) = smoother.smooth([track(a + 10, 0), track(b, 1)], 5 / 30)
    assert np.allclose(tb.landmarks, 400.0)  # track 1 untouched by track 0's move
    assert 100 < ta.landmarks[0, 0] < 110  # smoothed, not jumped
    (tc,) = smoother.smooth([track(b + 50, 2)], 6 / 30)  # a new track: taken as measured
    assert np.allclose(tc.landmarks, 450.0)
    coasting = track(a + 30, 0, misses=1)
    (td,) = smoother.smooth([coasting], 7 / 30)
    assert td is coasting  # predicted landmarks pass through


def test_real_talking_head_is_steadier_without_lag():
    """Mesh landmarks on a real clip with head turns: frame-to-frame jitter (second
    differences) falls while the smoothed points stay close to the measured ones."""
    import av

    from streamanon.config import DetectorConfig
    from streamanon.detect import FaceDetector

    path = shared_video("talking_headpose.mp4")
    detector = FaceDetector(DetectorConfig(full_range=False))
    smoother = LandmarkSmoother(TemporalConfig())
    raw, smooth = [], []
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        for frame in c.decode(stream):
            (d,) = detector.detect(frame.to_ndarray(format="rgb24"))
            t = track(d.landmarks, size=d.size)
            (s,) = smoother.smooth([t], float(frame.pts * stream.time_base))
            raw.append(d.landmarks)
            smooth.append(s.landmarks)
            if len(raw) == 40:
                break
    detector.close()
    raw, smooth = np.array(raw), np.array(smooth)
    size = float(np.ptp(raw[0][:, 0]))

    def jitter(x):
        return float(np.linalg.norm(np.diff(x, n=2, axis=0), axis=-1).mean())

    assert jitter(smooth) < 0.6 * jitter(raw)
    lag = float(np.linalg.norm(smooth - raw, axis=-1).mean())
    assert lag < 0.02 * size


def test_speech_keeps_its_mouth_while_the_face_stays_steady():
    """Lips opening and closing at 4 Hz (speech) on a still face: the lips keep most of their
    swing (their own cutoff), the face outline keeps its calm; with the face's cutoff on the
    lips too, the swing is flattened."""
    from streamanon.synthetic.mesh_topology import OVAL_LOOP

    rng = np.random.default_rng(1)
    base = rng.uniform(100, 300, (478, 2))
    lower_lip = [14, 87, 178, 88, 95, 317, 402, 318, 324]  # inner lower lip

    def swing(config):
        smoother = LandmarkSmoother(config)
        lips, oval = [], []
        for i in range(90):
            pts = base + rng.normal(0, 1.0, base.shape)
            pts[lower_lip, 1] += 6.0 * np.sin(2 * np.pi * 4.0 * i / 30)
            (t,) = smoother.smooth([track(pts)], i / 30)
            lips.append(t.landmarks[lower_lip, 1].mean())
            oval.append(t.landmarks[list(OVAL_LOOP)])
        jitter = float(np.linalg.norm(np.diff(oval[30:], axis=0), axis=-1).mean())
        return float(np.ptp(lips[30:])) / 12.0, jitter

    kept, jitter = swing(TemporalConfig())
    flattened, _ = swing(TemporalConfig(landmark_expression_cutoff=1.0))
    assert kept > 0.6 and flattened < 0.8 * kept, (kept, flattened)
    assert jitter < 0.35 * np.sqrt(2)  # the outline as steady as a still face's (first test)
