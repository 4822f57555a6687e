"""Polygon simplification and smoothing."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import shapely

from roadmark.annotators.simplify import (
    chaikin_ring,
    simplify_command,
    simplify_region,
    vertex_count,
)
from roadmark.core.errors import GeometryError
from roadmark.core.raster import mask_to_region
from tests.helpers import box, region


def _staircase_disc() -> shapely.Polygon:
    yy, xx = np.mgrid[0:120, 0:120]
    mask = (xx + 0.5 - 60) ** 2 + (yy + 0.5 - 60) ** 2 <= 50**2
    region = mask_to_region(mask)
    assert region is not None
    return region


@pytest.mark.parametrize("tolerance", [0.5, 1.0, 2.0])
def test_simplified_outline_stays_within_the_tolerance(tolerance: float):
    disc = _staircase_disc()
    simple = simplify_region(disc, tolerance)
    assert vertex_count(simple) < vertex_count(disc) / (4 if tolerance >= 1 else 1.1)
    # Douglas-Peucker bounds each removed vertex by the tolerance; GEOS may also drop a
    # ring's start point, which can stray a little further.
    assert shapely.hausdorff_distance(simple, disc) <= 2 * tolerance
    assert simple.is_valid and abs(simple.area - disc.area) < disc.length * tolerance


def test_zero_tolerance_only_drops_collinear_points():
    square = shapely.Polygon([(0, 0), (5, 0), (10, 0), (10, 10), (0, 10)])
    assert vertex_count(simplify_region(square, 0.0)) == 4


def test_chaikin_rounds_corners_inside_the_outline():
    square = shapely.box(0, 0, 10, 10)
    ring = chaikin_ring(np.asarray(square.exterior.coords)[:-1], 1)
    assert len(ring) == 8
    smooth = simplify_region(square, 0.0, smooth=2)
    assert vertex_count(smooth) == 16
    assert square.contains(smooth) and smooth.area > 0.8 * square.area


def test_small_parts_and_holes_are_dropped_and_holes_kept_inside():
    big = shapely.box(0, 0, 40, 40).difference(shapely.box(10, 10, 30, 30))
    pin = shapely.box(15, 15, 16, 16)
    speck = shapely.box(50, 50, 51, 51)
    tiny_hole = shapely.box(32, 32, 33, 33)
    region = shapely.union_all([big.difference(tiny_hole), pin, speck])
    cleaned = simplify_region(region, 0.5, min_area=2.0, smooth=1)
    assert cleaned.geom_type == "Polygon" and len(cleaned.interiors) == 1
    assert not cleaned.intersects(shapely.box(50, 50, 51, 51))


def test_bad_parameters_and_nothing_left():
    with pytest.raises(GeometryError, match="tolerance"):
        simplify_region(shapely.box(0, 0, 1, 1), -1)
    with pytest.raises(GeometryError, match="nothing is left"):
        simplify_region(shapely.box(0, 0, 1, 1), 0.1, min_area=5)


def test_simplify_command_edits_selected_regions_in_one_undo_step(bench):
    disc = replace(region(7, 0, 0, 1, 1), geometry=_staircase_disc())
    square = region(7, 150, 10, 190, 50)
    stored = bench.seed([disc, square, box(26, 0, 0, 5, 5)])
    command = simplify_command(bench.editor.context, [o.uid for o in stored], 1.0, smooth=1)
    assert command is not None and command.text == "Simplify 2 regions"
    bench.editor.execute(command)
    after = bench.stored()
    assert vertex_count(after[0].region) < vertex_count(disc.region)
    assert after[2].geometry == stored[2].geometry
    bench.editor.undo()
    assert bench.stored()[0].region.equals(disc.region)
    assert simplify_command(bench.editor.context, [stored[2].uid], 1.0) is None
    with pytest.raises(GeometryError):
        simplify_command(bench.editor.context, [stored[0].uid], -1.0)
