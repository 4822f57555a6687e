from __future__ import annotations

import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon

from roadmark.annotators import geometry as geo
from roadmark.core.annotation import Box

SQUARE = shapely.box(0, 0, 10, 10)
DONUT = shapely.box(0, 0, 30, 30).difference(shapely.box(10, 10, 20, 20))


def test_nearest_vertex_and_edge():
    key = geo.nearest_vertex(SQUARE, 9.6, 10.3, tolerance=1.0)
    assert key is not None
    p, r, i = key
    assert (p, r) == (0, 0)
    assert tuple(geo.rings(SQUARE)[0][2][i]) == (10.0, 10.0)
    assert geo.nearest_vertex(SQUARE, 5, 5, tolerance=1.0) is None
    edge = geo.nearest_edge(SQUARE, 5.0, 10.4, tolerance=1.0)
    assert edge is not None
    (_, _, _), (x, y) = edge
    assert (x, y) == (5.0, 10.0)
    hole_vertex = geo.nearest_vertex(DONUT, 10.2, 10.1, tolerance=1.0)
    assert hole_vertex is not None and hole_vertex[1] == 1


def test_move_insert_and_delete_vertices():
    key = geo.nearest_vertex(SQUARE, 10, 10, tolerance=0.5)
    assert key is not None
    moved = geo.finish(geo.move_vertex(SQUARE, key, 20, 20))
    assert moved.area > SQUARE.area and moved.covers(shapely.Point(15, 15))
    edge = geo.nearest_edge(SQUARE, 5, 0.2, tolerance=1)
    assert edge is not None
    inserted = geo.insert_vertex(SQUARE, edge[0], 5, -5)
    assert geo.vertex_count(inserted) == 5 and inserted.area == pytest.approx(125)
    fewer = geo.delete_vertex(inserted, (0, 0, edge[0][2]))
    assert fewer is not None and fewer.area == pytest.approx(100)
    triangle = Polygon([(0, 0), (4, 0), (0, 4)])
    assert geo.delete_vertex(triangle, (0, 0, 1)) is None  # nothing would be left
    # Deleting a vertex of a hole that has three left closes the hole.
    hole = Polygon([(0, 0), (9, 0), (9, 9), (0, 9)], [[(2, 2), (4, 2), (3, 4)]])
    closed = geo.delete_vertex(hole, (0, 1, 0))
    assert closed is not None and closed.area == pytest.approx(81)
    two = MultiPolygon([shapely.box(0, 0, 2, 2), Polygon([(5, 5), (8, 5), (5, 8)])])
    one = geo.delete_vertex(two, (1, 0, 0))
    assert isinstance(one, Polygon) and one.area == pytest.approx(4)


def test_finish_repairs_a_bow_tie():
    bow = Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])
    repaired = geo.finish(bow)
    assert repaired.is_valid and repaired.area == pytest.approx(50)


def test_translate_and_clamp():
    assert geo.translate(Box(1, 2, 3, 4), 1, -1) == Box(2, 1, 4, 3)
    assert geo.translate(SQUARE, 5, 5).bounds == (5, 5, 15, 15)
    assert geo.clamp_shift((10, 10, 20, 20), -50, 500, 100, 50) == (-10, 30)
    assert geo.clamp_shift((-5, 10, 20, 20), -50, 0, 100, 50) == (-50, 0)  # already outside
    assert geo.clamp_point(-3, 70, 100, 50) == (0, 50)
    clipped = geo.clip_to_image(shapely.box(-10, -10, 10, 10), 100, 50)
    assert clipped.bounds == (0, 0, 10, 10)


def test_box_handles_and_resize():
    box = Box(10, 10, 50, 30)
    assert geo.box_handle_at(box, 50.5, 29.6, tolerance=2) == "se"
    assert geo.box_handle_at(box, 30, 10.4, tolerance=2) == "n"
    assert geo.box_handle_at(box, 30, 20, tolerance=2) is None
    assert geo.near_box_edge(box, 10.5, 20, tolerance=1)
    assert not geo.near_box_edge(box, 30, 20, tolerance=1)
    assert geo.resize_box(box, "se", 80, 45, 100, 50, 2) == Box(10, 10, 80, 45)
    assert geo.resize_box(box, "e", 500, 0, 100, 50, 2) == Box(10, 10, 100, 30)
    assert geo.resize_box(box, "w", 60, 0, 100, 50, 2) == Box(48, 10, 50, 30)  # minimum size
    assert geo.box_from_drag(90, 40, -5, 60, 100, 50) == Box(0, 40, 90, 50)


def test_stroke_region():
    stroke = geo.stroke_region([(10, 10), (30, 10)], 5, 100, 50)
    assert stroke is not None
    assert stroke.area == pytest.approx(20 * 10 + 3.14159 * 25, rel=0.02)
    dot = geo.stroke_region([(0, 0)], 4, 100, 50)
    assert dot is not None and dot.bounds[:2] == (0, 0)  # clipped to the image
    assert geo.stroke_region([(-50, -50)], 4, 100, 50) is None
    assert geo.stroke_region([], 4, 100, 50) is None


def test_grabbable_keeps_one_handle_per_handle_sized_cell():
    import numpy as np

    from roadmark.annotators.geometry import grabbable

    angles = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    ring = np.c_[50 + 20 * np.cos(angles), 50 + 20 * np.sin(angles)]
    assert np.array_equal(grabbable(ring, 0.1), ring)  # zoomed in: every vertex
    kept = grabbable(ring, 8.0)  # zoomed out: handles 8 image pixels wide
    assert 10 <= len(kept) < 40
    cells = np.floor(kept / 8.0)
    assert len(np.unique(cells, axis=0)) == len(kept)  # never two in one cell
    assert len(np.unique(np.floor(ring / 8.0), axis=0)) == len(kept)  # every cell has one
    assert all(any(np.array_equal(k, r) for r in ring) for k in kept)  # real vertices, in order
    assert np.all(np.diff(np.flatnonzero(np.isin(ring[:, 0], kept[:, 0]))) > 0)
    assert len(grabbable(np.zeros((0, 2)), 8.0)) == 0
