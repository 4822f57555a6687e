"""The traced outline of a mask is the union of its pixels: same point set, same valid
polygons and holes (corners that touch included), whatever the mask."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import shapely
import shapely.affinity

from roadmark.analysis.pixel_outline import label_outlines, traced_region
from roadmark.core.raster import mask_to_region


def _outline(mask: np.ndarray, offset: tuple[float, float] = (0.0, 0.0)):
    """The traced region of a boolean mask (``None`` when empty)."""
    return label_outlines(np.asarray(mask, dtype=np.int32), offset=offset).get(1)


def _same(mask: np.ndarray, offset: tuple[float, float] = (0.0, 0.0)) -> None:
    """Traced (all labels at once, and one mask in its box) as the union of the pixels;
    a mask's region has its shells clockwise and its holes counter-clockwise."""
    union = mask_to_region(mask, offset=offset)
    for traced in (_outline(mask, offset=offset), traced_region(mask, offset=offset)):
        if union is None:
            assert traced is None
            continue
        assert traced is not None and traced.is_valid
        assert traced.geom_type == union.geom_type
        assert shapely.normalize(traced).equals_exact(shapely.normalize(union), 0)
    if union is not None:
        region = traced_region(mask.astype(np.uint8) * 7, offset=offset)  # nonzero = inside
        assert region is not None and region.equals(union)
        for polygon in getattr(region, "geoms", [region]):
            assert not polygon.exterior.is_ccw
            assert all(ring.is_ccw for ring in polygon.interiors)


@pytest.mark.parametrize(
    "rows",
    [
        ["1"],
        ["10", "01"],  # two pixels touching at a corner: two polygons
        ["01", "10"],
        ["111", "101", "110"],  # a hole closed off by a corner: it touches the shell there
        ["0111", "1001", "1001", "1111"],
        ["11111", "10001", "10101", "10001", "11111"],  # an island inside a hole
        ["101", "010", "101"],  # five pixels touching at four corners
        ["0110", "1001", "1001", "0110"],  # a ring of corners around a hole
        ["000", "000"],
    ],
)
def test_special_shapes(rows: list[str]):
    mask = np.array([[c == "1" for c in row] for row in rows])
    _same(mask)
    _same(mask, offset=(3.0, 7.0))


@pytest.mark.parametrize("seed", range(8))
def test_random_masks(seed: int):
    rng = np.random.default_rng(seed)
    for trial in range(40):
        h, w = (int(v) for v in rng.integers(1, 48, 2))
        noise = rng.random((h, w)).astype(np.float32)
        smooth = cv2.GaussianBlur(noise, (0, 0), 2.0)
        band = (smooth > 0.48) & (smooth < 0.53)
        mask = [noise < 0.5, smooth > 0.5, noise < 0.85, band][trial % 4]
        _same(mask, offset=(float(rng.integers(0, 20)), float(rng.integers(0, 20))))


def test_vertices_are_corners_only():
    mask = np.zeros((10, 30), dtype=bool)
    mask[2:8, 3:25] = True
    outline = _outline(mask)
    assert outline is not None and outline.geom_type == "Polygon"
    assert len(outline.exterior.coords) == 5  # four corners, closed
    assert outline.bounds == (3.0, 2.0, 25.0, 8.0)


@pytest.mark.parametrize("dtype", [np.int32, np.uint16, np.uint8])  # small types kept as they are
@pytest.mark.parametrize("seed", range(4))
def test_every_label_of_a_label_image_at_once(seed: int, dtype: type):
    """Labels that touch each other (sides and corners) are outlined each on its own."""
    rng = np.random.default_rng(100 + seed)
    for _ in range(10):
        h, w = (int(v) for v in rng.integers(2, 40, 2))
        labels = (rng.integers(0, 4, (h, w)) * (1000 if dtype is np.uint16 else 1)).astype(dtype)
        if seed % 2:  # blobs instead of noise
            labels = cv2.resize(labels, (w * 3, h * 3), interpolation=cv2.INTER_NEAREST)
        outlines = label_outlines(labels, offset=(2.0, 5.0), scale=(2.0, 0.5))
        assert set(outlines) == set(np.unique(labels[labels > 0]).tolist())
        for label, traced in outlines.items():
            union = mask_to_region(labels == label, offset=(2.0, 5.0))
            assert union is not None
            union = shapely.affinity.scale(union, xfact=2.0, yfact=0.5, origin=(0.0, 0.0))
            assert traced.is_valid
            assert shapely.normalize(traced).equals_exact(shapely.normalize(union), 0)


def _rings_one_by_one(following: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rings of a permutation walked edge by edge: each ring's id is its smallest
    edge, rings in the order of their ids, each from that edge on."""
    ring = np.full(len(following), -1)
    order = []
    for start in range(len(following)):
        if ring[start] >= 0:
            continue
        edge = start
        while ring[edge] < 0:
            ring[edge] = start
            order.append(edge)
            edge = following[edge]
    return ring, np.array(order, dtype=np.int64)


@pytest.mark.parametrize("count", [1, 2, 3, 17, 400, 5000])
def test_rings_are_the_cycles_walked_in_order(count: int):
    from roadmark.analysis.pixel_outline import _rings

    rng = np.random.default_rng(count)
    for following in (rng.permutation(count), np.arange(count), np.roll(np.arange(count), 1)):
        ring, order = _rings(following.astype(np.int64))
        expected_ring, expected_order = _rings_one_by_one(following)
        assert np.array_equal(ring, expected_ring)
        assert np.array_equal(order, expected_order)
