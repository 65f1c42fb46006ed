"""The network input must never contain the original inner-face pixels."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from streamanon.synthetic.conditions import CHANNELS, lowfreq_cells, upsample_cells  # noqa: E402
from streamanon.synthetic.generator import SyntheticFaceGenerator  # noqa: E402
from streamanon.synthetic.testing import synthetic_crop, tiny_weights  # noqa: E402
from streamanon.types import FaceCrop  # noqa: E402

SUR = [CHANNELS.index(c) for c in ("sur_r", "sur_g", "sur_b")]
LOW = [CHANNELS.index(c) for c in ("low_r", "low_g", "low_b")]
MASK = CHANNELS.index("mask")


class SpyBackend:
    """Records every network input, answers with zeros."""

    name = "spy"

    def __init__(self) -> None:
        self.calls: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def velocity(self, x, t, cond):
        self.calls.append((x.copy(), t.copy(), cond.copy()))
        return np.zeros_like(x)


@pytest.fixture(scope="module")
def weights():
    return tiny_weights()


def _with_new_face(crop: FaceCrop, face: np.ndarray) -> FaceCrop:
    """The same crop with every face pixel replaced: the pipeline mask's core (>= 0.5) and the
    mesh face oval (the mask is feathered outwards from the oval)."""
    inner = crop.mask >= 0.5
    image = crop.image.copy()
    image[inner] = face[inner]
    return FaceCrop(crop.track_id, crop.seed, crop.box, image, crop.mask, crop.landmarks)


def _inputs(weights, crop):
    spy = SpyBackend()
    SyntheticFaceGenerator(weights, spy, degree=1.0).generate([crop])
    return spy.calls


def test_inner_face_pixels_reach_the_network_only_as_low_frequency_cells(weights):
    crop = synthetic_crop(weights.shape.template, seed=3)
    h, w = crop.image.shape[:2]
    # A different face: high-frequency checkerboard of +-90 grey levels around the original.
    yy, xx = np.mgrid[:h, :w]
    checker = np.where((yy + xx) % 2 == 0, 90, -90)[..., None]
    other = _with_new_face(crop, np.clip(crop.image.astype(int) + checker, 0, 255).astype(np.uint8))
    a, b = _inputs(weights, crop), _inputs(weights, other)
    assert len(a) == len(b) == 2  # two Euler steps
    xa, ta, ca = a[0]
    xb, tb, cb = b[0]
    assert np.array_equal(xa, xb) and np.array_equal(ta, tb)
    geometry = [i for i in range(len(CHANNELS)) if i not in LOW]
    # Mesh maps, surroundings and mask: bit-identical, whatever the face pixels are.
    assert np.array_equal(ca[:, geometry], cb[:, geometry])
    # Low-frequency colour: cell means only, so a zero-mean pattern barely moves them.
    assert np.abs(ca[:, LOW] - cb[:, LOW]).max() < 0.05
    # ... while a change of the face's mean colour does show there (the check can fail).
    brighter = _with_new_face(crop, np.clip(crop.image.astype(int) + 60, 0, 255).astype(np.uint8))
    assert np.abs(_inputs(weights, brighter)[0][2][:, LOW] - ca[:, LOW]).max() > 0.2


def test_surroundings_are_zero_inside_the_mask_and_cover_the_pipeline_mask(weights):
    crop = synthetic_crop(weights.shape.template, seed=5)
    (x, t, cond), _ = _inputs(weights, crop)
    inside = cond[0, MASK] > 0
    assert inside.mean() > 0.2
    assert np.all(cond[0][SUR][:, inside] == 0.0)
    assert np.abs(cond[0][SUR][:, ~inside]).max() > 0.1  # surroundings are really there


def test_low_frequency_channels_have_only_grid_cells_of_detail(weights):
    crop = synthetic_crop(weights.shape.template, seed=7)
    (_, _, cond), _ = _inputs(weights, crop)
    low = (cond[0, LOW].transpose(1, 2, 0) + 1.0) * 127.5
    g, r = weights.model.grid, weights.model.resolution
    cells = np.stack([[low[int((i + 0.5) * r / g), int((j + 0.5) * r / g)] for j in range(g)] for i in range(g)])
    # Re-upsampling the cell centres reproduces the channels: nothing finer than the grid.
    assert np.abs(upsample_cells(cells.astype(np.float32), r) - low).max() < 6.0
    assert lowfreq_cells(np.zeros((r, r, 3), np.uint8), np.ones((r, r), np.float32), g).shape == (g, g, 3)


def test_low_frequency_cells_are_the_masked_mean_of_each_cell():
    """Each of the grid x grid cells holds the mean colour of its face pixels, nothing else;
    a cell without face pixels takes the whole face's mean (a loop written out as reference)."""
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    mask = np.zeros((128, 128), np.float32)
    mask[30:100, 25:110] = 1.0  # leaves the border cells empty
    edges = np.linspace(0, 128, 7).round().astype(int)
    face = image[mask > 0.5].astype(np.float64).mean(0)
    cells = lowfreq_cells(image, mask, 6)
    for i in range(6):
        for j in range(6):
            block = (slice(edges[i], edges[i + 1]), slice(edges[j], edges[j + 1]))
            inside = mask[block] > 0.5
            want = image[block][inside].astype(np.float64).mean(0) if inside.any() else face
            np.testing.assert_allclose(cells[i, j], want, rtol=1e-6)
    assert np.allclose(cells[0, 0], face) and not np.allclose(cells[2, 2], face, atol=1.0)
