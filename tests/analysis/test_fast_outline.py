"""The compiled tracer of roadmark.analysis.fast_outline: the same rings, in the same
order, from the same corners, as pixel_outline's array operations, so the same polygons
(byte for byte) with and without it; sizes and buffers that do not fit are refused."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import shapely

from roadmark.analysis import pixel_outline
from roadmark.analysis.pixel_outline import label_outlines
from tests.compiled import compiled_module, skip_without

fast_outline = compiled_module("roadmark.analysis.fast_outline")
pytestmark = skip_without(fast_outline)


def _both(labels: np.ndarray, monkeypatch: pytest.MonkeyPatch, **place: tuple[float, float]):
    compiled = label_outlines(labels, **place)
    with monkeypatch.context() as patch:
        patch.setattr(pixel_outline, "fast_outline", None)
        arrays = label_outlines(labels, **place)
    return compiled, arrays


def _assert_same(labels: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> int:
    compiled, arrays = _both(labels, monkeypatch, offset=(1.5, 2.0), scale=(2.0, 0.5))
    assert list(compiled) == list(arrays)  # the same labels in the same order
    for label, region in compiled.items():
        assert shapely.to_wkb(region) == shapely.to_wkb(arrays[label])  # same rings, starts
    return len(compiled)


def _images(rng: np.random.Generator) -> list[np.ndarray]:
    images = []
    for case in range(240):
        height, width = (int(v) for v in rng.integers(1, 36, 2))
        kind = case % 6
        if kind == 0:  # a mask of any density: corners that touch, holes, islands
            images.append((rng.random((height, width)) < rng.random()).astype(np.uint8))
        elif kind == 1:
            images.append(rng.integers(0, 4, (height, width)).astype(np.uint16) * 1000)
        elif kind == 2:  # negative values are no label (as in the array operations)
            images.append(rng.integers(-2, 5, (height, width)).astype(np.int32))
        elif kind == 3:  # int64 labels above uint16
            images.append(rng.integers(0, 3, (height, width)).astype(np.int64) * 70000)
        elif kind == 4:  # blobs of a few labels: long straight sides, holes with islands
            small = rng.integers(0, 4, (max(1, height // 4), max(1, width // 4)))
            images.append(cv2.resize(small.astype(np.uint8), (width * 2, height * 2),
                                     interpolation=cv2.INTER_NEAREST))
        else:  # smooth bands: the review queue's uncertain pixels
            noise = cv2.GaussianBlur(rng.random((height, width)).astype(np.float32), (0, 0), 2)
            images.append(((noise > 0.47) & (noise < 0.53)).astype(np.uint16) * 3)
    checkerboard = (np.indices((31, 17)).sum(axis=0) % 2).astype(np.uint8)
    return [*images, checkerboard, checkerboard + 1, np.ones((1, 1), np.uint8),
            np.zeros((4, 4), np.int32), np.ones((1, 60), np.uint16), np.ones((60, 1), np.int32)]


@pytest.mark.parametrize("seed", range(3))
def test_the_polygons_are_those_of_the_array_operations(
    monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    outlined = sum(_assert_same(labels, monkeypatch) for labels in _images(
        np.random.default_rng(seed)))
    assert outlined > 500


def test_a_frame_of_pieces_is_traced_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """A frame-sized piece image (many pieces, some with holes and corner contacts)."""
    rng = np.random.default_rng(7)
    noise = cv2.GaussianBlur(rng.random((256, 512)).astype(np.float32), (0, 0), 3)
    band = (noise > 0.495) & (noise < 0.505)
    count, pieces = cv2.connectedComponents(band.astype(np.uint8), connectivity=8)
    assert count > 40
    assert _assert_same(pieces.astype(np.uint16), monkeypatch) == count - 1


def test_parts_are_asked_for_only_where_pixels_touch_at_a_corner() -> None:
    touching = np.zeros((4, 4), np.uint8)
    touching[1, 1] = touching[2, 2] = 1
    assert fast_outline.label_rings(touching, 1, 2, 2, None) is None
    square = np.zeros((4, 4), np.uint8)
    square[1:3, 1:3] = 5
    corners, starts, owners = fast_outline.label_rings(square, 1, 2, 2, None)
    assert np.frombuffer(corners, np.int64).tolist() == [0, 0, 2, 0, 2, 2, 0, 2]
    assert np.frombuffer(starts, np.int64).tolist() == [0]
    assert np.frombuffer(owners, np.int64).tolist() == [5]
    assert fast_outline.label_rings(np.zeros((3, 3), np.uint8), 1, 1, 1, None) == (b"", b"", b"")


def test_what_does_not_fit_is_refused() -> None:
    padded = np.zeros((4, 5), np.uint16)
    parts = np.zeros((4, 5), np.int32)
    for args in ((padded, 2, 2, 4, None),  # not (2 + 2) x (4 + 2)
                 (padded, 1, 2, 3, None),  # 2-byte values called 1-byte
                 (padded, 3, 2, 3, None),
                 (padded, 2, 0, 3, None), (padded, 2, -1, 3, None),
                 (padded, 2, 2**62, 3, None), (padded, 2, 3, 2**62, None),
                 (padded, 2, 2, 3, parts[:3])):
        with pytest.raises(ValueError):
            fast_outline.label_rings(*args)
    corners, starts, owners = fast_outline.label_rings(padded, 2, 2, 3, parts)
    assert corners == starts == owners == b""
