"""Beyond the drawn face: the fill from the pixels around a region never reads the region."""

from __future__ import annotations

import numpy as np
import pytest

from streamanon.synthetic.fill import fill_from_outside


def test_unknown_pixels_never_reach_the_fill_and_known_ones_stay():
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (90, 120, 3)).astype(np.float32)
    known = np.ones((90, 120), np.float32)
    known[20:70, 30:100] = 0.0
    a = fill_from_outside(image, known)
    other = image.copy()
    other[20:70, 30:100] = rng.uniform(0, 255, (50, 70, 3))
    b = fill_from_outside(other, known)
    assert np.array_equal(a, b)  # the hole's own pixels have no weight at any level
    assert np.abs(a - image)[known > 0].max() < 1e-3
    assert a.shape == image.shape and a.dtype == np.float32


def test_a_band_between_two_colours_is_a_smooth_blend_of_them():
    """Skin above, a dark collar below, a band between (a chin's shadow): each row of the band
    lies between the two, darker with each row down."""
    image = np.zeros((80, 60, 3), np.float32)
    image[:30] = (200, 160, 140)
    image[50:] = (20, 20, 25)
    known = np.ones((80, 60), np.float32)
    known[30:50] = 0.0
    image[30:50] = 255.0  # what the fill must not see
    out = fill_from_outside(image, known)
    rows = out[30:50, 20:40, 0].mean(1)
    assert rows.min() >= 20 - 1e-3 and rows.max() <= 200 + 1e-3
    assert np.all(np.diff(rows) < 0) and rows[0] > 140 > 80 > rows[-1]


def test_nothing_known_gives_grey_and_bad_shapes_are_refused():
    assert np.all(fill_from_outside(np.zeros((8, 8, 3), np.float32), np.zeros((8, 8))) == 127.5)
    with pytest.raises(ValueError, match="expected"):
        fill_from_outside(np.zeros((8, 8, 3), np.float32), np.zeros((8, 9)))


def test_past_the_canonical_frame_the_patch_does_not_depend_on_the_original_pixels_there():
    """A real close face (talking_s32 frame 120) and the packaged model: below her chin the
    pipeline's mask reaches past what the network draws (the canonical frame's edge). Whatever
    the original shows there, the patch there is the same: it comes from the drawn face and
    the pixels outside the mask."""
    pytest.importorskip("torch")
    import av

    from conftest import shared_video
    from streamanon.config import Config
    from streamanon.crop import cut_faces
    from streamanon.pipeline import Anonymizer
    from streamanon.synthetic import align
    from streamanon.types import VideoFrame

    config = Config().override({"anonymizer.mode": "synthetic", "temporal.enabled": False, "identity.salt": "f",
                                "mask.scale": 1.35})  # a generous mask: more of it past the frame
    anonymizer = Anonymizer(config)
    with av.open(str(shared_video("talking_s32.mp4"))) as c:
        image = next(f for i, f in enumerate(c.decode(video=0)) if i == 120).to_ndarray(format="rgb24")
    analysis = anonymizer.analyze(VideoFrame(image=image, index=0))
    (crop,) = cut_faces(image, analysis.tracks, anonymizer.mask, cover=False)
    gen = anonymizer.generator
    prepared = gen.prepare([crop])
    m = prepared.matrices[0]
    inside = align.warp_to_crop(gen._inside, m, crop.image.shape[:2])  # where the network may draw
    beyond = (crop.mask > 0.5) & (inside <= 0.0)
    assert beyond.sum() > 200  # below the chin
    noisy = crop.image.copy()
    noisy[beyond] = 255  # a white collar instead of her black one
    from dataclasses import replace

    first = gen.generate([crop])[0]
    second = gen.generate([replace(crop, image=noisy)])[0]
    anonymizer.close()
    diff = np.abs(first.image.astype(int) - second.image.astype(int)).max(-1)
    assert diff[beyond].max() <= 2
    assert (first.mask[beyond] > 0.5).all()  # and it is shown there
