"""The one object codec: the store's rows, the change log's JSON and the formats' extras."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import shapely

from roadmark.core.annotation import AnnotationObject, Provenance
from roadmark.io import tables as t
from roadmark.io.codec import (
    CORE_FIELDS,
    OPTIONAL_EXTRAS,
    JsonText,
    extras_of,
    geometry_wkb,
    geometry_wkbs,
    json_text,
    object_from_json,
    object_row,
    object_rows,
    object_to_json,
    objects_bounds,
    row_to_json,
)
from roadmark.io.formats.sources import geometry_key, geometry_keys
from roadmark.io.store import Project
from tests.helpers import box
from tests.io.test_workflow import make_project

HOLED = shapely.Polygon(
    [(0, 0), (10.25, 0), (10, 10), (0, 10)], [[(2, 2), (4, 2), (4, 4.5), (2, 4)]]
)


def _objects() -> list[AnnotationObject]:
    return [
        AnnotationObject(
            label_id=7,
            geometry=HOLED,
            provenance=Provenance.new("model:m", "tester", confidence=0.75),
            attributes={"occluded": True},
        ),
        box(26, 1.5, 2.5, 8, 9, instance_id=3, track_id=4, crowd=True),
    ]


def test_json_round_trip_is_exact_and_matches_the_stored_row(project_path: Path):
    (frame_id,) = make_project(project_path, 1)
    with Project.open(project_path, user="ann") as project:
        stored = project.add_objects(frame_id, _objects())
        with project.reading() as conn:
            rows = conn.execute(t.objects.select().order_by(t.objects.c.id)).mappings().all()
    for obj, row in zip(stored, rows, strict=True):
        data = object_to_json(obj)
        assert data == row_to_json(row)
        assert json.loads(json.dumps(data)) == data  # plain JSON data
        back = object_from_json(data)
        assert back.uid == obj.uid and back.same_content(obj)
        assert back.provenance == obj.provenance
        # The row values the store writes are the stored row's values.
        written = object_row(obj)
        assert {key: row[key] for key in written} == written


def test_a_box_has_no_geometry_and_its_bounds_are_the_box():
    obj = _objects()[1]
    data = object_to_json(obj)
    assert data["geometry"] is None and data["bounds"] == [1.5, 2.5, 8, 9]
    row = object_row(obj)
    assert row["geometry"] is None and (row["x0"], row["y1"]) == (1.5, 9)
    assert object_from_json(data).geometry == obj.geometry


def test_extras_are_the_json_form_without_shape_and_empty_fields():
    when = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    plain = AnnotationObject(
        label_id=7,
        geometry=HOLED,
        provenance=Provenance("human", "ana", when, "bo", when, verified=True),
    )
    assert list(extras_of(plain).items()) == [
        ("source", "human"),
        ("created_by", "ana"),
        ("created_at", "2024-05-01T10:00:00+00:00"),
        ("updated_by", "bo"),
        ("updated_at", "2024-05-01T10:00:00+00:00"),
        ("verified", True),
    ]
    full = _objects()[0]
    data = object_to_json(full)
    extras = extras_of(full)
    # Key order is what the formats write (byte-for-byte exports depend on it).
    assert list(extras) == [
        "attributes",
        "source",
        "created_by",
        "created_at",
        "updated_by",
        "updated_at",
        "verified",
        "confidence",
    ]
    assert all(extras[key] == data[key] for key in extras)
    ids = extras_of(_objects()[1])
    assert (ids["instance_id"], ids["track_id"]) == (3, 4) and "confidence" not in ids


def test_json_text_reads_back_as_the_standard_librarys_text():
    values = [
        [[[0, 0], [2047, 0], [2047.5, 1023.25], [1e-7, 3e300]]],
        {"a": [1, -2, 3.5], "b": "ü\u2028", "c": True, "d": {"e": []}},
        [[-0.0, 2**63 - 1, -(2**63)]],
    ]
    for value in values:
        text = json_text(value)
        assert isinstance(text, JsonText) and json.loads(text) == value
    # what orjson cannot write as json.dumps does: NaN and infinities (it writes null),
    # integers beyond 64 bits (it refuses them): the standard library's text
    odd = {"k": None, "x": [-float("inf")]}
    for value in ([float("nan"), 1], [[0, float("inf")]], [2**64, 1], odd):
        assert json_text(value) == json.dumps(value)
    # keys sorted as json.dumps sorts them; nulls beside finite numbers stay orjson's
    data = {"b": None, "a": {"z": 1.5, "y": [None, 2]}, "é": False}
    assert list(json.loads(json_text(data, sort_keys=True))) == ["a", "b", "é"]
    assert json.loads(json_text(data, sort_keys=True)) == data
    assert json_text(data, sort_keys=True) != json.dumps(data, sort_keys=True)  # orjson's
    # what orjson would write and json.dumps refuses (or writes its own way): json.dumps
    assert json_text({1: "a"}) == json.dumps({1: "a"})
    assert json_text([np.float64(0.5)]) == json.dumps([np.float64(0.5)])
    with pytest.raises(TypeError):
        json_text({"when": datetime(2024, 1, 1, tzinfo=UTC)})


def test_the_wkb_of_many_objects_made_at_once_is_each_ones():
    parts = shapely.MultiPolygon([shapely.box(0, 0, 2, 2), shapely.box(5, 5, 7, 8)])
    objects = [*_objects(), replace(_objects()[0], geometry=parts), box(3, 0, 0, 1, 1)]
    assert geometry_wkbs(objects) == [geometry_wkb(obj) for obj in objects]
    assert geometry_wkbs(objects)[1] is None and geometry_wkbs([]) == []
    assert object_rows(objects) == [object_row(obj) for obj in objects]
    expected = [(b.x0, b.y0, b.x1, b.y1) for b in (obj.bounds for obj in objects)]
    assert objects_bounds(objects) == expected and objects_bounds([]) == []
    keys = geometry_keys(objects)
    assert keys == [geometry_key(obj) for obj in objects]


def test_extras_are_the_fields_less_the_core_and_the_empty_ones():
    when = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    bare = AnnotationObject(label_id=2, geometry=HOLED, provenance=Provenance.new("human", "x"))
    later = replace(bare, provenance=replace(bare.provenance, updated_at=when))
    for obj in [*_objects(), bare, later]:
        data = object_to_json(obj, geometry=False)
        expected = {
            key: value
            for key, value in data.items()
            if key not in CORE_FIELDS
            and not (key in OPTIONAL_EXTRAS and (value is None or value == {}))
        }
        assert list(extras_of(obj).items()) == list(expected.items())
