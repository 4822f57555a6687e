"""The compiled 4-connected parts of a label image (roadmark.analysis.fast_parts): the same
parts, numbered the same way, as OpenCV's labelling of the grid that pixel_outline uses
without it, and the same outlines either way."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from roadmark.analysis import pixel_outline
from roadmark.analysis.pixel_outline import label_outlines

fast_parts = pytest.importorskip("roadmark.analysis.fast_parts",
                                 reason="built without a C compiler")

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
