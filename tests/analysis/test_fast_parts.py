"""The compiled labellings of roadmark.analysis.fast_parts: the 4-connected parts of a label
image numbered as OpenCV's labelling of the grid that pixel_outline uses without it, the
8-connected parts of many values numbered as OpenCV numbers each value's alone, and the
same outlines and region pieces either way."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import shapely

from roadmark.analysis import pixel_outline, region_pieces
from roadmark.analysis.pixel_outline import label_outlines
from roadmark.analysis.region_pieces import split_components
from tests.compiled import compiled_module, skip_without

fast_parts = compiled_module("roadmark.analysis.fast_parts")
pytestmark = skip_without(fast_parts)

RNG = np.random.default_rng(5)


def _parts(labels: np.ndarray, compiled: bool, monkeypatch: pytest.MonkeyPatch) -> np.ndarray:
    with monkeypatch.context() as patch:
        if not compiled:
            patch.setattr(pixel_outline, "fast_parts", None)
        return pixel_outline._parts(labels)


def _images() -> list[np.ndarray]:
    images = []
    for dtype in (np.uint8, np.uint16, np.int32):
        for _ in range(60):
            height, width = RNG.integers(1, 30, 2)
            values = RNG.integers(1, 6)
            images.append(RNG.integers(0, values + 1, (height, width)).astype(dtype))
        # large values, and a checkerboard of two labels (a provisional label per pixel)
        top = np.iinfo(dtype).max
        images.append(RNG.choice(np.array([0, top // 3, top], dtype), (25, 31)))
        images.append((np.indices((33, 17)).sum(axis=0) % 2 + 1).astype(dtype))
    spiral = np.zeros((40, 40), np.uint8)  # one part joined late: merges along the scan
    spiral[::2, :] = 1
    spiral[:, -1] = 1
    images += [spiral, np.zeros((5, 7), np.uint8), np.ones((1, 50), np.uint16),
               np.ones((50, 1), np.int32)]
    return images


def test_the_parts_and_their_numbers_are_opencvs(monkeypatch: pytest.MonkeyPatch) -> None:
    for labels in _images():
        compiled = _parts(labels, True, monkeypatch)
        assert compiled.dtype == np.int32 and compiled.shape == labels.shape
        assert np.array_equal(compiled, _parts(labels, False, monkeypatch))


def test_a_view_that_is_not_contiguous_is_labelled_as_a_copy(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    labels = RNG.integers(0, 3, (30, 40)).astype(np.uint16)
    view = labels[::2, ::3]
    assert np.array_equal(_parts(view, True, monkeypatch),
                          _parts(np.ascontiguousarray(view), False, monkeypatch))


def test_sizes_that_do_not_match_are_refused() -> None:
    labels = np.ones((4, 5), np.uint8)
    out = np.empty((4, 5), np.int32)
    for args in ((labels, 1, 4, 6, out), (labels, 2, 4, 5, out), (labels, 3, 4, 5, out),
                 (labels, 1, 4, 5, out[:3]), (labels, 1, -1, 5, out)):
        with pytest.raises(ValueError):
            fast_parts.label_parts(*args)
    assert fast_parts.label_parts(labels, 1, 4, 5, out) == 1 and (out == 1).all()


@pytest.mark.parametrize("seed", range(4))
def test_the_outlines_are_the_same_with_and_without_it(
    monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, (60, 80)).astype(np.uint16)  # corners that touch: parts used
    labels[20:40, 30:60] = 2  # and a large part with holes
    labels[25:30, 35:40] = 0
    compiled = label_outlines(labels, offset=(2.0, 3.0), scale=(2.0, 2.0))
    monkeypatch.setattr(pixel_outline, "fast_parts", None)
    grid = label_outlines(labels, offset=(2.0, 3.0), scale=(2.0, 2.0))
    assert compiled.keys() == grid.keys()
    for label, region in compiled.items():
        assert shapely.equals_exact(region, grid[label], 0)  # same parts, same order


def _opencv_parts(values: np.ndarray, count: int, anchors: np.ndarray | None):
    """Value by value, OpenCV's 8-connected parts of the value's pixels in the image from
    its anchor (``None``: its own box corner): the numbers and (left, top, w, h, pixels)."""
    numbers, stats = np.zeros(values.shape, np.int32), []
    for value in range(1, count + 1):
        rows, cols = np.nonzero(values == value)
        if len(rows) == 0:
            continue
        top, left = (rows.min(), cols.min()) if anchors is None else anchors[value]
        mask = (values[top:, left:] == value).astype(np.uint8)
        found, parts, boxes, _ = cv2.connectedComponentsWithStats(mask, connectivity=8,
                                                                  ltype=cv2.CV_32S)
        for k in range(1, found):
            stats.append((boxes[k][0] + left, boxes[k][1] + top, *boxes[k][2:5]))
            numbers[top:, left:][parts == k] = len(stats)
    return numbers, np.array(stats, np.int32).reshape(-1, 5)


@pytest.mark.parametrize("anchored", [False, True], ids=["own-box", "anchors"])
def test_ordered_parts_are_numbered_as_opencv_numbers_each_value(anchored: bool) -> None:
    """OpenCV's 8-connected labelling numbers parts by the first 2x2 block they reach
    (from the image's corner), not by their first pixel: the same numbers here."""
    for case in range(400):
        height, width = (int(v) for v in RNG.integers(1, 45, 2))
        count = int(RNG.integers(1, 6))
        values = RNG.integers(0, count + 1, (height, width)).astype(np.uint16)
        if case % 3 == 0:
            values[RNG.random((height, width)) < 0.6] = 0  # sparse: many small parts
        anchors = None
        if anchored:
            anchors = np.zeros((count + 1, 2), np.int32)
            for value in range(1, count + 1):
                rows, cols = np.nonzero(values == value)
                if len(rows):  # anywhere above and left of the value's pixels
                    anchors[value] = (RNG.integers(0, rows.min() + 1),
                                      RNG.integers(0, cols.min() + 1))
        numbers = np.empty((height, width), np.int32)
        stats = fast_parts.ordered_parts(values, height, width, count, anchors, numbers)
        expected_numbers, expected_stats = _opencv_parts(values, count, anchors)
        assert np.array_equal(numbers, expected_numbers)
        assert np.array_equal(np.frombuffer(stats, np.int32).reshape(-1, 5), expected_stats)


def test_ordered_parts_refuse_what_does_not_fit() -> None:
    values = np.ones((3, 4), np.uint16)
    out = np.empty((3, 4), np.int32)
    values[1, 1] = 3  # above the count of 2
    with pytest.raises(ValueError, match="above the count"):
        fast_parts.ordered_parts(values, 3, 4, 2, None, out)
    for args in ((values, 3, 5, 3, None, out), (values, 3, 4, 0, None, out),
                 (values, 3, 4, 3, np.zeros((3, 2), np.int32), out),
                 (values, 3, 4, 3, None, out[:2])):
        with pytest.raises(ValueError):
            fast_parts.ordered_parts(*args)


@pytest.mark.parametrize("labels_in_it", [2, 3, 7])
def test_components_are_cut_into_the_same_pieces_with_and_without_it(
    monkeypatch: pytest.MonkeyPatch, labels_in_it: int
) -> None:
    """split_components with the compiled labelling of a component's classes, and with
    OpenCV label by label: the same piece image and pieces, in the same order."""
    rng = np.random.default_rng(labels_in_it)
    for _ in range(6):
        blobs = cv2.resize(rng.random((9, 12)).astype(np.float32), (240, 180)) > 0.45
        blobs[rng.random(blobs.shape) < 0.03] ^= True  # ragged edges and specks
        count, components, stats, _ = cv2.connectedComponentsWithStats(
            blobs.astype(np.uint8), connectivity=8, ltype=cv2.CV_32S)
        labels = cv2.resize(rng.integers(0, labels_in_it, (6, 8)).astype(np.uint8), (240, 180),
                            interpolation=cv2.INTER_NEAREST)
        labels[rng.random(labels.shape) < 0.01] = labels_in_it  # a few pixels of another
        candidates = np.arange(1, count)
        monkeypatch.setattr(region_pieces, "fast_pieces", None)  # (its own test compares)
        compiled = split_components(components, stats, labels, candidates, max_cells=(40, 30))
        monkeypatch.setattr(region_pieces, "fast_parts", None)
        opencv = split_components(components, stats, labels, candidates, max_cells=(40, 30))
        monkeypatch.undo()
        assert np.array_equal(compiled[0], opencv[0]) and compiled[1] == opencv[1]


def test_sizes_beyond_32_bits_and_wrong_item_sizes_are_refused_at_once() -> None:
    """An empty image of absurd height is refused, not scanned row by row; buffers whose
    items are not what the call says are refused, not read as something else."""
    with pytest.raises(ValueError):
        fast_parts.label_parts(b"", 1, 2**62, 0, bytearray())
    with pytest.raises(ValueError):
        fast_parts.ordered_parts(np.zeros(0, np.uint16), 2**62, 0, 1, None, bytearray())
    out = np.empty((3, 4), np.int32)
    with pytest.raises(ValueError, match="item size"):
        fast_parts.label_parts(np.ones((3, 4), np.uint16), 1, 3, 4, out)  # 2-byte labels
    with pytest.raises(ValueError, match="2 bytes"):
        fast_parts.ordered_parts(np.ones((3, 8), np.uint8), 3, 4, 1, None, out)
    with pytest.raises(ValueError, match="4 bytes"):
        fast_parts.ordered_parts(np.ones((3, 4), np.uint16), 3, 4, 1,
                                 np.zeros((2, 1), np.float64), out)
