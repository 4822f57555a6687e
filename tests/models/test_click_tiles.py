"""Tiled crops along thin objects: where the tiles go, how their probabilities merge, and
that a thin object is found better through them (a stand-in decoder that marks the crop's
red pixels, as in test_click_geometry)."""

from __future__ import annotations

import numpy as np
import pytest

from roadmark.models.click_model import ClickModel
from roadmark.models.click_net import CROP
from roadmark.models.click_tiles import (
    LATER_TILES,
    MAX_TILES,
    TILE_ZOOM,
    merge_tiles,
    tile_windows,
)
from roadmark.models.clicker import iou
from roadmark.models.promptable import Prompts
from tests.models.red_oracle import oracle_model

H, W = 512, 1024
WHOLE = (0.0, 0.0, float(W), float(H) * 2)  # a single crop as wide as the frame


def _strip(x0: int, y0: int, x1: int, y1: int, thickness: int) -> np.ndarray:
    import cv2

    mask = np.zeros((H, W), np.uint8)
    cv2.line(mask, (x0, y0), (x1, y1), 1, thickness)
    return mask.astype(bool)


def _covered(mask: np.ndarray, windows: list) -> bool:
    rows, cols = np.nonzero(mask)
    inside = np.zeros(rows.size, bool)
    for x0, y0, x1, y1 in windows:
        inside |= (cols + 0.5 >= x0) & (cols + 0.5 <= x1) & (rows + 0.5 >= y0) & (rows + 0.5 <= y1)
    return bool(inside.all())


def test_tiles_follow_a_thin_diagonal_strip_and_cover_it():
    strip = _strip(50, 100, 950, 400, 3)
    windows = tile_windows(strip, [(500.0, 250.0)], WHOLE)
    assert 2 <= len(windows) <= MAX_TILES
    for x0, y0, x1, y1 in windows:
        assert x1 - x0 == pytest.approx(y1 - y0)  # square
        assert x1 - x0 <= TILE_ZOOM * W  # finer than the single crop
        # each holds a good share of the strip (they follow it, not its bounding box)
        held = strip[int(y0) : int(y1), int(x0) : int(x1)].sum()
        assert held > 0.3 * strip.sum() / len(windows)
    assert _covered(strip, windows)


def test_a_later_click_gets_more_and_finer_tiles_along_a_long_strip():
    strip = _strip(20, 60, 1000, 140, 2)
    first = tile_windows(strip, [(500.0, 100.0)], WHOLE)
    later = tile_windows(strip, [(500.0, 100.0)], WHOLE, LATER_TILES)
    assert len(first) == MAX_TILES < len(later) <= LATER_TILES
    assert later[0][2] - later[0][0] < (first[0][2] - first[0][0]) / 3
    assert _covered(strip, later)


def test_a_positive_click_off_the_strip_gets_a_tile():
    strip = _strip(50, 100, 950, 100, 3)
    windows = tile_windows(strip, [(500.0, 140.0)], WHOLE)
    assert any(x0 <= 500 < x1 and y0 <= 140 < y1 for x0, y0, x1, y1 in windows)
    # a click far off it makes it no strip: no tiles
    assert tile_windows(strip, [(500.0, 400.0)], WHOLE) == []


def test_no_tiles_for_a_blob_a_wedge_or_an_object_thick_enough_in_its_crop():
    blob = np.zeros((H, W), bool)
    blob[100:300, 200:400] = True
    assert tile_windows(blob, [], WHOLE) == []
    wedge = np.zeros((H, W), bool)  # 300 long, up to 120 wide: not 5 times longer
    for col in range(300, 600):
        wedge[200 : 200 + (col - 300) * 120 // 300 + 1, col] = True
    assert tile_windows(wedge, [], WHOLE) == []
    # a 16 px thick strip seen through a 600 px crop is under 3 crop pixels thick: tiled;
    # through a crop a little longer than itself it is 11 crop pixels: not tiled
    strip = _strip(100, 200, 200, 200, 16)
    assert tile_windows(strip, [], (0.0, 0.0, 600.0, 600.0))
    assert tile_windows(strip, [], (80.0, 130.0, 220.0, 270.0)) == []


def test_merged_tiles_blend_in_their_overlap_and_the_base_fills_the_rest():
    one = np.ones((CROP, CROP), np.float32)
    zero = np.zeros((CROP, CROP), np.float32)
    windows = [(0.0, 0.0, 96.0, 96.0), (48.0, 0.0, 144.0, 96.0)]
    merged, window = merge_tiles([one, zero], windows, band=False)
    assert window == (0.0, 0.0, 144.0, 96.0)
    assert merged.shape == (96, 144)  # a crop pixel per frame pixel here
    assert merged[48, 10] == pytest.approx(1.0)
    assert merged[48, 130] == pytest.approx(0.0)
    assert merged[48, 60] > 0.5 > merged[48, 84]  # a weighted mean, each near its centre
    # a base crop over a larger window fills where no tile reaches, and where its mask
    # is far away the tiles do not count
    base = np.zeros((CROP, CROP), np.float32)
    base[:, :10] = 1.0  # the base's mask: frame columns 0..30 of its 288-wide window
    merged, window = merge_tiles([one, one], windows, (base, (0.0, 0.0, 288.0, 96.0)))
    assert merged[48, 10] == pytest.approx(1.0)  # tiles, near the base's mask
    assert merged[48, 130] == pytest.approx(0.0)  # far from it: the base stands


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> ClickModel:
    return oracle_model(tmp_path_factory.mktemp("click"), 0.5)


def test_a_thin_diagonal_strip_is_found_better_through_tiles(oracle: ClickModel):
    # 600 x 230 px, 4 px thick: through one crop of it, about a crop pixel thick
    strip = _strip(200, 100, 800, 330, 4)
    image = np.full((H, W, 3), 90, np.uint8)
    image[strip] = (240, 30, 30)
    (embedding,) = oracle.encode([image])
    earlier = _strip(200, 100, 800, 330, 9)  # a coarse earlier mask around it
    for mask in (None, earlier):  # the first click, a later one
        prompts = Prompts(points=((500.0, 215.0, True),), mask=mask)
        found = {}
        for tiled in (False, True):
            oracle.tiled = tiled
            found[tiled] = iou(oracle.decode(embedding, prompts).masks[0], strip)
        assert found[True] > found[False] + 0.15  # about 0.70 -> 0.89
        assert found[True] > 0.85
