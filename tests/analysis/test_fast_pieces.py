"""The compiled cutting of roadmark.analysis.fast_pieces: the same piece image and pieces,
in the same order, as split_components' array operations and OpenCV; what does not fit
is refused."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from roadmark.analysis import region_pieces
from roadmark.analysis.region_pieces import split_components
from tests.compiled import compiled_module, skip_without

fast_pieces = compiled_module("roadmark.analysis.fast_pieces")
pytestmark = skip_without(fast_pieces)


def _scene(rng: np.random.Generator, height: int, width: int, classes: int):
    """Blobs of uncertain pixels with ragged edges over a label map of ``classes`` blocks
    and a few stray labels: components of one class, a few, many."""
    small = rng.random((max(2, height // 10), max(2, width // 10))).astype(np.float32)
    blobs = cv2.resize(small, (width, height)) > rng.uniform(0.3, 0.6)
    blobs[rng.random(blobs.shape) < 0.05] ^= True
    count, components, stats, _ = cv2.connectedComponentsWithStats(
        blobs.astype(np.uint8), connectivity=8, ltype=cv2.CV_32S)
    blocks = rng.integers(0, classes, (max(1, height // 8), max(1, width // 8)))
    labels = cv2.resize(blocks.astype(np.uint8), (width, height),
                        interpolation=cv2.INTER_NEAREST)
    labels[rng.random(labels.shape) < 0.02] = rng.integers(0, 256)
    return components, stats, labels, np.arange(1, count)


def _assert_same(monkeypatch: pytest.MonkeyPatch, components, stats, labels, candidates,
                 max_cells) -> int:
    compiled = split_components(components, stats, labels, candidates, max_cells=max_cells)
    with monkeypatch.context() as patch:
        patch.setattr(region_pieces, "fast_pieces", None)
        arrays = split_components(components, stats, labels, candidates, max_cells=max_cells)
    assert compiled[0].dtype == np.int32
    assert np.array_equal(compiled[0], arrays[0])
    assert compiled[1] == arrays[1]
    return len(compiled[1])


@pytest.mark.parametrize("seed", range(3))
def test_the_pieces_are_those_of_the_array_operations(
    monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    pieces = 0
    for case in range(120):
        height, width = (int(v) for v in rng.integers(5, 120, 2))
        scene = _scene(rng, height, width, int(rng.integers(1, 7)))
        max_cells = None if case % 7 == 0 else (int(rng.integers(1, 40)),
                                                 int(rng.integers(1, 40)))
        pieces += _assert_same(monkeypatch, *scene, max_cells)
    assert pieces > 2000


def test_a_frame_sized_band_is_cut_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """One component across the frame (a trained model's uncertain road edge): class
    parts larger than a cell, cut by the grid, partial cells in many parts."""
    rng = np.random.default_rng(11)
    noise = cv2.GaussianBlur(rng.random((256, 512)).astype(np.float32), (0, 0), 4)
    band = ((noise > 0.47) & (noise < 0.53)) | (np.arange(256)[:, None] > 200)
    count, components, stats, _ = cv2.connectedComponentsWithStats(
        band.astype(np.uint8), connectivity=8, ltype=cv2.CV_32S)
    labels = (np.arange(512)[None, :] // 90 + (np.arange(256)[:, None] > 128)).astype(np.uint8)
    candidates = np.arange(1, count)
    for max_cells in ((64, 64), (40, 25), (512, 256), (1, 1), (10**12, 30), (10**12, 10**12)):
        assert _assert_same(monkeypatch, components, stats, labels, candidates, max_cells) > 0


def test_a_component_kept_whole_is_painted_where_it_is() -> None:
    components = np.zeros((6, 8), np.int32)
    components[1:4, 2:5] = 1
    components[2, 3] = 0
    stats = np.array([[0, 0, 8, 6, 40], [2, 1, 3, 3, 8]], np.int32)
    out = np.zeros((6, 8), np.int32)
    rows = fast_pieces.split_pieces(components, np.zeros((6, 8), np.uint8), stats,
                                    np.array([1], np.int64), 6, 8, 0, 0, out)
    assert np.frombuffer(rows, np.int32).tolist() == [2, 1, 3, 3, 8]
    assert np.array_equal(out, components)


def test_what_does_not_fit_is_refused() -> None:
    components = np.zeros((4, 5), np.int32)
    components[1:3, 1:3] = 1
    labels = np.zeros((4, 5), np.uint8)
    stats = np.array([[0, 0, 5, 4, 16], [1, 1, 2, 2, 4]], np.int32)
    one = np.array([1], np.int64)
    out = np.zeros((4, 5), np.int32)
    outside = stats.copy()
    outside[1] = (4, 3, 2, 2, 4)  # a box past the image's corner
    for args in ((components, labels, stats, one, 4, 6, 2, 2, out),  # sizes that differ
                 (components, labels[:3], stats, one, 4, 5, 2, 2, out),
                 (components, labels, stats, one, 4, 5, 2, 2, out[:3]),
                 (components, labels, stats, np.array([2], np.int64), 4, 5, 2, 2, out),
                 (components, labels, stats, np.array([0], np.int64), 4, 5, 2, 2, out),
                 (components, labels, outside, one, 4, 5, 2, 2, out),
                 (components, labels, stats, one, 4, 5, 2, 0, out),  # one limit of zero
                 (components, labels, stats, one, 4, 5, -1, -1, out),
                 (components, labels, stats, one, 2**62, 5, 2, 2, out),
                 (components, labels, stats[:, :4].copy(), one, 4, 5, 2, 2, out)):
        with pytest.raises(ValueError):
            fast_pieces.split_pieces(*args)
    limit = 2**31 - 1  # the largest limit across, one pixel down: two rows of one cell
    rows = fast_pieces.split_pieces(components, labels, stats, one, 4, 5, limit, 1, out)
    assert np.frombuffer(rows, np.int32).tolist() == [1, 1, 2, 1, 2, 1, 2, 2, 1, 2]
    out[:] = 0
    rows = fast_pieces.split_pieces(components, labels, stats, one, 4, 5, 1, 1, out)
    assert len(np.frombuffer(rows, np.int32)) == 4 * 5  # four one-pixel cells
    assert sorted(out[1:3, 1:3].ravel().tolist()) == [1, 2, 3, 4]
