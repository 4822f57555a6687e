from __future__ import annotations

import dataclasses

import pytest
import shapely

from roadmark.core.annotation import (
    AnnotationObject,
    Box,
    ObjectKind,
    Provenance,
    as_region,
    polygon_from_points,
)
from roadmark.core.errors import GeometryError
from tests.helpers import box, region


def test_box_basics():
    b = Box.from_corners(10, 8, 2, 4)
    assert (b.x0, b.y0, b.x1, b.y1) == (2, 4, 10, 8)
    assert b.to_xywh() == (2, 4, 8, 4) and b.area == 32
    assert Box(0, 0, 2, 2).iou(Box(1, 1, 3, 3)) == pytest.approx(1 / 7)
    assert Box(-5, 2, 50, 9).clipped(20, 8) == Box(0, 2, 20, 8)
    with pytest.raises(GeometryError):
        Box(3, 0, 1, 1)
    with pytest.raises(GeometryError):
        Box(0, 0, float("nan"), 1)


def test_polygons_are_validated_and_repaired():
    with pytest.raises(GeometryError, match="at least 3 points"):
        polygon_from_points([[0, 0], [1, 1]])
    bow_tie = polygon_from_points([[0, 0], [4, 4], [4, 0], [0, 4]])
    assert bow_tie.is_valid and bow_tie.area == pytest.approx(8)
    with pytest.raises(GeometryError, match="no area"):
        as_region(shapely.LineString([(0, 0), (1, 1)]).buffer(0))


def test_objects_are_immutable_and_know_their_kind():
    obj = region(26, 0, 0, 4, 4, instance_id=1)
    assert obj.kind is ObjectKind.REGION and box(26, 0, 0, 1, 1).kind is ObjectKind.BOX
    with pytest.raises(dataclasses.FrozenInstanceError):
        obj.label_id = 3  # type: ignore[misc]
    moved = dataclasses.replace(obj, geometry=shapely.affinity.translate(obj.geometry, 0.005))
    assert obj.same_content(moved, tolerance=0.01)
    assert not obj.same_content(dataclasses.replace(obj, label_id=24))
    with pytest.raises(GeometryError):
        AnnotationObject(label_id=1, geometry=shapely.Point(0, 0), provenance=obj.provenance)  # type: ignore[arg-type]


def test_provenance_touch_keeps_creator():
    prov = Provenance.new("model:lraspp", "alice", confidence=0.7)
    later = prov.touched("bob")
    assert later.created_by == "alice" and later.updated_by == "bob" and later.confidence == 0.7
    assert later.is_model and later.updated_at >= prov.updated_at


def test_an_outline_geos_cannot_repair_as_given_is_snapped_then_repaired():
    # vertices a subnormal distance apart: make_valid alone fails ("mixed-dimension")
    points = [(1.0, 2.0), (0.0, 0.0), (0.0, 1.7652430654659923e-188), (1.0, 0.0),
              (-6.89900383400449e-146, 4.638571536408082e-281), (1.0, 1.0), (-1.0, 0.0),
              (-6.89900383400449e-146, 4.638571536408082e-281)]
    raw = shapely.Polygon(points)
    with pytest.raises(shapely.errors.GEOSException):
        shapely.make_valid(raw)
    region = as_region(raw)
    assert region.is_valid and region.area > 0
    assert polygon_from_points(points).equals(region)


def test_an_outline_whose_repaired_parts_geos_cannot_unite_is_snapped_then_united():
    # make_valid copes, but uniting its polygons fails ("Result area inconsistent with
    # overlay operation"): found by the export fuzz test; was a traceback
    points = [(3.6672460380379845e-246, -9.146415598089319e-288), (0.0, 1.0), (0.0, 0.0),
              (1.0, 1.0), (0.0, 2.0), (1.0, 0.0), (1.0, 1.0)]
    repaired = shapely.make_valid(shapely.Polygon(points))
    parts = [g for g in repaired.geoms if isinstance(g, shapely.Polygon | shapely.MultiPolygon)]
    with pytest.raises(shapely.errors.GEOSException):
        shapely.union_all(parts)
    region = as_region(shapely.Polygon(points))
    assert region.is_valid and region.area == pytest.approx(0.5)
