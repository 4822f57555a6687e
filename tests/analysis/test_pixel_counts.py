"""Levels counted per owner, and the boxes of a mask's parts (roadmark.analysis.pixel_counts):
the compiled counts (fast_parts.count_levels, part_boxes) equal OpenCV's and numpy's on
flat, varied, windowed and one-row maps, the path without the compiled module gives the
same, and what does not fit is refused."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from roadmark.analysis import pixel_counts
from roadmark.analysis.pixel_counts import labelled_parts, level_counts
from tests.compiled import compiled_module, skip_without

fast_parts = compiled_module("roadmark.analysis.fast_parts")
pytestmark = skip_without(fast_parts)

RNG = np.random.default_rng(11)


def _reference(levels: np.ndarray, owners: np.ndarray | None, rows: int) -> np.ndarray:
    keys = levels.astype(np.int64).ravel()
    if owners is not None:
        keys += owners.astype(np.int64).ravel() * 256
    return np.bincount(keys, minlength=rows * 256).reshape(rows, 256)


def _maps() -> list[tuple[np.ndarray, np.ndarray | None, int]]:
    cases: list[tuple[np.ndarray, np.ndarray | None, int]] = []
    for _ in range(40):
        height, width = (int(v) for v in RNG.integers(1, 70, 2))
        rows = int(RNG.integers(1, 257))
        varied = RNG.integers(0, 256, (height, width), dtype=np.uint8)
        flat = np.full((height, width), RNG.integers(0, 256), np.uint8)  # one long run
        owners = RNG.integers(0, rows, (height, width), dtype=np.uint8)
        blocks = np.zeros((height, width), np.uint8)  # owners in runs, as pieces are
        blocks[:, width // 2 :] = rows - 1
        cases += [(varied, None, 1), (flat, None, 1), (varied, owners, rows),
                  (flat, blocks, rows), (flat, owners, rows)]
    wide = RNG.integers(0, 256, (40, 90), dtype=np.uint8)  # windows: rows apart, odd starts
    cases += [(wide[3:31, 5:78], None, 1),
              (wide[1:, 7:], RNG.integers(0, 3, (39, 83), dtype=np.uint8), 3),
              (wide[::2, 1:], wide[::2, :-1] % 5, 5),
              (wide[::-1], None, 1), (wide[::-3, 2:], wide[::-3, :-2] % 7, 7),  # rows upward
              (wide[0], None, 1), (wide.ravel(), (wide.ravel() > 99).view(np.uint8), 2),
              (np.zeros((0, 4), np.uint8), None, 1), (np.zeros((3, 0), np.uint8), None, 7)]
    return cases


@pytest.mark.parametrize("compiled", [True, False])
def test_counts_are_those_of_every_pixel(compiled: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not compiled:
        monkeypatch.setattr(pixel_counts, "fast_parts", None)
    for levels, owners, rows in _maps():
        counts = level_counts(levels, owners, rows)
        assert counts.dtype == np.int64 and counts.shape == (rows, 256)
        assert np.array_equal(counts, _reference(levels, owners, rows))


def test_the_compiled_counts_equal_opencvs_histograms() -> None:
    flat = np.full((512, 1024), 200, np.uint8)  # a random-weight model's confidence map
    assert np.array_equal(level_counts(flat)[0],
                          cv2.calcHist([flat], [0], None, [256], [0, 256]).ravel())
    pieces = (np.arange(1024) // 40).astype(np.uint8)[None, :].repeat(512, axis=0)
    assert np.array_equal(level_counts(flat, pieces, 26),
                          cv2.calcHist([pieces, flat], [0, 1], None, [26, 256], [0, 26, 0, 256]))


@pytest.mark.parametrize("compiled", [True, False])
def test_owners_that_do_not_fit_are_refused(
    compiled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not compiled:
        monkeypatch.setattr(pixel_counts, "fast_parts", None)
    levels = np.zeros((4, 6), np.uint8)
    owners = np.zeros((4, 6), np.uint8)
    owners[3, 5] = 4  # the last pixel: the counts up to it must not be returned
    with pytest.raises(ValueError, match="owner"):
        level_counts(levels, owners, 4)
    with pytest.raises(ValueError, match="rows"):
        level_counts(levels, owners, 257)
    with pytest.raises(ValueError, match="shape"):
        level_counts(levels, owners[:3], 5)
    with pytest.raises(ValueError, match="uint8"):
        level_counts(levels.astype(np.int16), None, 1)
    with pytest.raises(ValueError, match="uint8"):
        level_counts(levels, owners.astype(np.int32), 5)
    mask = np.arange(24).reshape(4, 6) > 5  # a boolean mask is owners 0 and 1
    assert np.array_equal(level_counts(levels, mask, 2), _reference(levels, mask, 2))


def test_the_compiled_counting_refuses_what_is_not_its_input() -> None:
    levels = np.zeros((4, 6), np.uint8)
    out = np.empty((2, 256), np.int64)
    for args in ((levels.astype(np.uint16), None, 2, out),  # levels of 2 bytes
                 (levels, levels.astype(np.int32), 2, out),  # owners of 4 bytes
                 (levels, None, 0, np.empty((0, 256), np.int64)),
                 (levels, None, 3, out),  # the output is not rows x 256
                 (levels[:, ::2], None, 2, out),  # a row's values apart
                 (levels.ravel(), None, 2, out),  # one dimension
                 (levels, levels[:3], 2, out)):
        with pytest.raises(ValueError):
            fast_parts.count_levels(*args)


def _masks() -> list[np.ndarray]:
    masks = [np.zeros((9, 13), np.uint8), np.ones((512, 1024), np.uint8),
             np.ones((1, 40), np.uint8), np.ones((40, 1), np.uint8)]
    for density in (0.1, 0.45, 0.6, 0.9):
        for _ in range(8):
            height, width = (int(v) for v in RNG.integers(1, 90, 2))
            masks.append((RNG.random((height, width)) < density).astype(np.uint8))
    blobs = cv2.resize(RNG.random((12, 16)).astype(np.float32), (640, 480)) > 0.5
    masks.append(blobs.astype(np.uint8) * 255)
    return masks


@pytest.mark.parametrize("compiled", [True, False])
def test_parts_and_boxes_are_opencvs(compiled: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not compiled:
        monkeypatch.setattr(pixel_counts, "fast_parts", None)
    for mask in _masks():
        mask = mask[::-1] if mask.shape[0] % 2 else mask  # some of them rows upward
        count, labels, stats = labelled_parts(mask)
        expected = cv2.connectedComponentsWithStats(mask, connectivity=8, ltype=cv2.CV_32S)
        assert count == expected[0] and np.array_equal(labels, expected[1])
        assert stats.shape == (count, 5)
        assert np.array_equal(stats[1:], expected[2][1:, :5])  # the parts' rows
        if (mask == 0).any():  # the background's box too, where it has pixels
            assert np.array_equal(stats[0], expected[2][0, :5])


def test_masks_other_than_2d_bytes_are_refused() -> None:
    for mask in (np.ones((3, 4), bool), np.ones((3, 4), np.int32), np.ones(5, np.uint8)):
        with pytest.raises(ValueError, match="2-D uint8"):
            labelled_parts(mask)


def test_part_boxes_refuse_labels_outside_the_count() -> None:
    labels = np.zeros((3, 5), np.int32)
    out = np.empty((2, 5), np.int32)
    labels[2, 4] = 2
    with pytest.raises(ValueError, match="label outside"):
        fast_parts.part_boxes(labels, 2, out)
    labels[2, 4] = -1
    with pytest.raises(ValueError, match="label outside"):
        fast_parts.part_boxes(labels, 2, out)
    labels[2, 4] = 1
    fast_parts.part_boxes(labels[:, 1:], 2, out)  # a window: rows apart
    assert out.tolist() == [[0, 0, 4, 3, 11], [3, 2, 1, 1, 1]]
    fast_parts.part_boxes(labels[::-1, 1:], 2, out)  # rows upward
    assert out.tolist() == [[0, 0, 4, 3, 11], [3, 0, 1, 1, 1]]
    for args in ((labels.astype(np.int16), 2, out), (labels, 3, out), (labels, 0, out[:0]),
                 (labels[:, ::2], 2, out), (labels.ravel(), 2, out)):
        with pytest.raises(ValueError):
            fast_parts.part_boxes(*args)
