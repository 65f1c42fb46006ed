"""Compose: covers win over drawn faces, except over a drawn face's own core."""

from __future__ import annotations

import numpy as np

from streamanon.compose import DRAWN_CORE, compose
from streamanon.types import FacePatch


def _disc(size: int, radius: float, center: tuple[float, float]) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    d = np.hypot(x - center[0], y - center[1])
    return np.clip((radius - d) / 8.0 + 0.5, 0.0, 1.0).astype(np.float32)  # 1 inside, feathered edge


def test_a_cover_beside_a_drawn_face_leaves_its_core_but_nothing_of_the_input():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)  # the input: noise
    face = FacePatch(1, (50, 50, 150, 150), np.full((100, 100, 3), 200, np.uint8), _disc(100, 40, (50, 50)))
    # a false detection to the right whose cover overlaps the face's right half
    cover = FacePatch(2, (100, 40, 220, 160), np.full((120, 120, 3), 60, np.uint8), _disc(120, 55, (60, 60)),
                      fallback=True)
    out = compose(frame, [cover, face], drawn_cores=True).astype(int)
    core, near = np.zeros(frame.shape[:2], bool), np.zeros(frame.shape[:2], bool)
    core[50:150, 50:150] = face.mask >= 1.0
    near[50:150, 50:150] = face.mask > DRAWN_CORE
    covered = np.zeros(frame.shape[:2], bool)
    covered[40:160, 100:220] = cover.mask >= 1.0
    assert (out[core] == 200).all()  # the new face shows where it is wholly its own
    assert (out[covered & ~near] == 60).all()  # the cover everywhere else it is opaque
    # nowhere under the cover or the face does more than (1 - DRAWN_CORE) of the input show:
    # the same patches over another input change the output by at most that share
    other = compose(255 - frame, [cover, face], drawn_cores=True).astype(int)
    under = np.zeros(frame.shape[:2], np.float32)
    under[50:150, 50:150] = face.mask
    under[40:160, 100:220] = np.maximum(under[40:160, 100:220], cover.mask)
    solid = under >= 1.0
    assert np.abs(out - other)[solid].max() <= 255 * (1.0 - DRAWN_CORE) + 1
    assert np.abs(out - other)[covered & ~near].max() == 0


def test_covers_still_win_outside_a_drawn_core_alone_and_in_covering_modes():
    frame = np.zeros((100, 100, 3), np.uint8)
    face = FacePatch(1, (0, 0, 100, 100), np.full((100, 100, 3), 200, np.uint8), _disc(100, 20, (50, 50)))
    ring = FacePatch(2, (0, 0, 100, 100), np.full((100, 100, 3), 60, np.uint8), np.ones((100, 100), np.float32),
                     fallback=True)
    out = compose(frame, [face, ring], drawn_cores=True)
    assert out[50, 50, 0] == 200 and out[50, 90, 0] == 60 and out[5, 5, 0] == 60
    assert compose(frame, [ring], drawn_cores=True)[50, 50, 0] == 60  # alone, the cover is whole
    # covering modes: their patches are blurs of the input, so covers win everywhere
    assert compose(frame, [face, ring])[50, 50, 0] == 60


def test_the_fail_closed_cover_is_opaque_to_the_end_of_the_face_mask():
    """A soft-edged cover (opaque only from the mask's half contour) left enough of small and
    unmeshed faces showing for the eval's recogniser to match them (crowd_walk, stage): the
    cover stays opaque wherever the face mask has any weight."""
    from streamanon.generators import fallback_patch
    from streamanon.types import FaceCrop

    rng = np.random.default_rng(0)
    mask = _disc(80, 25, (40, 40))
    crop = FaceCrop(track_id=1, box=(0, 0, 80, 80), image=rng.integers(0, 256, (80, 80, 3), dtype=np.uint8),
                    mask=mask, seed=1)
    for kind in ("blur", "solid"):
        patch = fallback_patch(crop, kind)
        assert patch.fallback and (patch.mask[mask > 0.02] == 1.0).all() and (patch.mask[mask <= 0.02] == 0).all()


def test_picture_area_finds_the_pillarbox_bars_of_a_real_music_video():
    import av

    from conftest import shared_video
    from streamanon.letterbox import picture_area

    with av.open(str(shared_video("music_video_720p.mp4"))) as c:
        image = next(c.decode(video=0)).to_ndarray(format="rgb24")
    x0, y0, x1, y1 = picture_area(image)
    assert (y0, y1) == (0, 720) and 150 < x0 < 200 and 1080 < x1 < 1130, (x0, y0, x1, y1)
    assert image[:, :x0].max() <= 24 and image[:, x0].max() > 24
    assert picture_area(image[:, x0:x1]) == (0, 0, x1 - x0, 720)  # no bars: the whole frame
    assert picture_area(np.full_like(image, 10)) == (0, 0, 1280, 720)  # dark all over: no bars either
    top = image.copy()
    top[:40] = 0
    assert picture_area(top) == (x0, 40, x1, 720)
