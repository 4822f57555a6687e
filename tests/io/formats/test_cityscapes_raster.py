"""The Cityscapes export's own raster steps give what the plain ones give: the padded
raster from OpenCV's transpose, the owner map painted with byte arithmetic, and PIL's
fill read from the memory it drew into."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from shapely.geometry import MultiPolygon, Polygon, box

from roadmark.core.raster import region_mask_in_box
from roadmark.io.formats import pil_fill
from roadmark.io.formats.cityscapes_files import _paint
from roadmark.io.formats.cityscapes_geometry import region_padded_in_box
from roadmark.io.formats.pil_fill import fill, mismatched_pixels

REGIONS = [
    Polygon([(3.2, 4.7), (90.5, 10.1), (60.3, 70.9), (10.0, 55.5)]),
    box(10, 10, 60, 40).difference(box(20, 15, 30, 25)),  # a hole
    MultiPolygon([box(0, 0, 5, 5), box(50.5, 60.2, 70.1, 79.9)]),
    box(-20, -10, 15.5, 12.5),  # beyond the frame's corner
    box(200, 200, 210, 210),  # outside the frame
    Polygon([(5, 5), (40, 5.2), (5, 5.4)]),  # thinner than a pixel
]


@pytest.mark.parametrize("region", REGIONS)
def test_the_padded_raster_is_the_mask_with_a_border(region):
    mask, row0, col0 = region_mask_in_box(region, 100, 120)
    padded, prow, pcol = region_padded_in_box(region, 100, 120)
    assert (prow, pcol) == (row0, col0)
    assert padded.dtype == np.uint8 and padded.flags.c_contiguous
    assert padded.shape == (mask.shape[0] + 2, mask.shape[1] + 2)
    assert np.array_equal(padded[1:-1, 1:-1], mask.astype(np.uint8))
    assert not padded[[0, -1]].any() and not padded[:, [0, -1]].any()


@pytest.mark.parametrize("dtype", [np.uint8, np.int32])
def test_painting_is_putmask(dtype):
    rng = np.random.default_rng(1)
    owner = rng.integers(0, 250, (60, 80)).astype(dtype)
    expected = owner.copy()
    mask = (rng.random((30, 50)) < 0.6).astype(np.uint8)
    for value in (0, 7, 255):
        np.putmask(expected[10:40, 20:70], mask, value)
        _paint(owner[10:40, 20:70], mask, value, np.zeros((60, 80), np.uint8))
        assert np.array_equal(owner, expected)


@pytest.mark.parametrize("mapped", [True, False])
def test_the_fill_is_the_same_drawn_in_place_or_copied_back(monkeypatch, mapped):
    """Should a Pillow copy a mapped buffer before drawing, the fill is copied back."""
    monkeypatch.setattr(pil_fill, "_mapped_drawing", mapped)
    polygons = [[[2, 3], [30, 4], [20, 25]], [[40, 40], [45, 40]], [[1, 1]]]
    filled = fill(polygons, 50, 60)
    assert filled.dtype == bool and filled.shape == (50, 60)
    assert filled[10, 20] and not filled[40, 5] and filled[40, 42]
    mask = filled.astype(np.uint8)
    assert mismatched_pixels(polygons, mask) == 0
    mask[0, 0] ^= 1
    mask[10, 20] ^= 1
    assert mismatched_pixels(polygons, mask) == 2
    assert fill([], 0, 0).shape == (0, 0)


def test_the_first_fill_finds_out_whether_pil_draws_in_place(monkeypatch):
    monkeypatch.setattr(pil_fill, "_mapped_drawing", None)
    fill([[[0, 0], [5, 0], [5, 5]]], 8, 8)
    assert pil_fill._mapped_drawing is True  # this Pillow draws in place


def test_the_canvas_is_cleared_and_regions_do_not_see_each_other():
    """mismatched_pixels draws on one canvas per thread: what a large region drew is gone
    for the next, smaller one; points beyond the mask are clipped as a smaller image would."""
    big = fill([[[0, 0], [300, 0], [300, 200], [0, 200]]], 201, 301).astype(np.uint8)
    assert mismatched_pixels([[[0, 0], [300, 0], [300, 200], [0, 200]]], big) == 0
    small = np.zeros((10, 12), np.uint8)
    assert mismatched_pixels([], small) == 0
    triangle = [[1, 1], [9, 1], [1, 8]]
    drawn = fill([triangle], 10, 12).astype(np.uint8)
    assert mismatched_pixels([triangle], drawn) == 0
    beyond = [[2, 2], [40, 2], [40, 30], [2, 30]]  # reaches past the 10 x 12 mask
    clipped = fill([beyond], 10, 12).astype(np.uint8)
    assert mismatched_pixels([beyond], clipped) == 0
    assert mismatched_pixels([beyond], np.zeros((10, 12), np.uint8)) == int(clipped.sum())
    assert mismatched_pixels([triangle], drawn) == 0
    assert not pil_fill._CANVAS.array.any()


def test_a_pillow_that_copies_before_drawing_is_found_out_and_the_fill_copied_back(monkeypatch):
    """Should a Pillow copy a mapped image before drawing on it (or lack the flag that says
    it may draw in place), the probe sees an empty array and the pixels are copied back."""
    def copying(array):
        height, width = array.shape
        return Image.frombuffer("L", (width, height), array, "raw", "L", 0, 1)  # read-only

    monkeypatch.setattr(pil_fill, "_mapped", copying)
    monkeypatch.setattr(pil_fill, "_mapped_drawing", None)
    triangle = [[1, 1], [9, 1], [1, 8]]
    drawn = fill([triangle], 10, 12)
    assert pil_fill._mapped_drawing is False
    assert drawn.sum() > 20
    assert mismatched_pixels([triangle], drawn.astype(np.uint8)) == 0
    assert mismatched_pixels([triangle], np.zeros((10, 12), np.uint8)) == int(drawn.sum())
