"""Round trips for every registered format that imports and exports (generated from the
registry): import -> export -> import gives the same objects, in the same order, with the
same labels, geometry (0.01 px), flags, ids, attributes and provenance. What a format
carries from a roadmark project is checked against its declared capabilities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely

from roadmark.core.annotation import ObjectKind
from roadmark.core.raster import label_id_map
from roadmark.io.formats import Capability, get_format, registered_formats
from roadmark.io.formats.jobs import export_dataset, import_dataset
from roadmark.io.store import Project
from tests.io.formats.conftest import (
    SCHEMA,
    WIDTH,
    all_objects,
    assert_same_objects,
    demo_project,
)

ROUND_TRIP = sorted(
    set(registered_formats(Capability.IMPORT)) & set(registered_formats(Capability.EXPORT))
)

# How far a box's x, y, w or h may move in a first export: exact, or what the last written
# digit of a format with fixed precision allows (YOLO: 6 decimals of cx, cy, w and h
# divided by the image size; x = cx - w / 2 adds up half a digit of each).
BOX_TOLERANCE = {"yolo": 1e-6 * WIDTH + 1e-9}


def _target(tmp_path: Path, format_id: str, name: str) -> Path:
    fmt = get_format(format_id)
    return tmp_path / (name + fmt.suffix if fmt.output == "file" else name)


def _import_into(tmp_path: Path, name: str, format_id: str, source: Path) -> Project:
    project = Project.create(tmp_path / f"{name}.roadmark", user="tester")
    import_dataset(project, format_id, source)
    return project


def test_every_builtin_format_round_trips():
    assert {"coco", "cityscapes", "coco-panoptic", "yolo"} <= set(ROUND_TRIP)


@pytest.mark.parametrize("format_id", ROUND_TRIP)
def test_import_export_import_keeps_everything(
    format_id: str, rich_project: Project, tmp_path: Path
):
    first = _target(tmp_path, format_id, "a0")
    export_dataset(rich_project, format_id, first)
    one = _import_into(tmp_path, "one", format_id, first)
    second = _target(tmp_path, format_id, "a1")
    export_dataset(one, format_id, second)
    two = _import_into(tmp_path, "two", format_id, second)
    fmt = get_format(format_id)
    try:
        objects_one, objects_two = all_objects(one), all_objects(two)
        assert_same_objects(objects_one, objects_two, provenance=fmt.can(Capability.PROVENANCE))
        kinds = {obj.kind for frame in objects_one for obj in frame}
        assert (ObjectKind.BOX in kinds) == fmt.can(Capability.BOXES)
        assert ObjectKind.REGION in kinds
        assert any(obj.crowd for obj in objects_one[0]) == fmt.can(Capability.CROWD)
        assert any(obj.attributes for obj in objects_one[0]) == fmt.can(Capability.ATTRIBUTES)
        scored = any(obj.provenance.confidence == 0.875 for obj in objects_one[0])
        assert scored == (fmt.can(Capability.SCORES) or fmt.can(Capability.PROVENANCE))
        verified = any(obj.provenance.verified for obj in objects_one[0])
        assert verified == fmt.can(Capability.PROVENANCE)
        deleted = any(obj.deleted for obj in objects_one[0])
        assert deleted == fmt.can(Capability.SOFT_DELETE)
        for frame_one, frame_two in zip(one.frames(), two.frames(), strict=True):
            a = label_id_map(one.objects(frame_one.id), SCHEMA, frame_one.height, frame_one.width)
            b = label_id_map(two.objects(frame_two.id), SCHEMA, frame_two.height, frame_two.width)
            assert np.array_equal(a, b)
    finally:
        one.close()
        two.close()


@pytest.mark.parametrize("format_id", ROUND_TRIP)
def test_roadmark_objects_export_and_import_with_their_ids_and_provenance(
    format_id: str, rich_project: Project, tmp_path: Path
):
    target = _target(tmp_path, format_id, "out")
    report = export_dataset(rich_project, format_id, target)
    assert report.frames == 2 and not target.with_name(target.name + ".partial").exists()
    imported = _import_into(tmp_path, "back", format_id, target)
    fmt = get_format(format_id)
    try:
        original = [
            [
                o
                for o in frame
                if (not o.deleted or fmt.can(Capability.SOFT_DELETE))
                and (o.kind is ObjectKind.REGION or fmt.can(Capability.BOXES))
            ]
            for frame in all_objects(rich_project)
        ]
        back = all_objects(imported)
        assert [[o.label_id for o in f] for f in back] == [
            [o.label_id for o in f] for f in original
        ]
        for frame_a, frame_b in zip(original, back, strict=True):
            for a, b in zip(frame_a, frame_b, strict=True):
                assert (a.kind, a.deleted) == (b.kind, b.deleted)
                if fmt.can(Capability.CROWD):
                    assert (a.instance_id, a.crowd) == (b.instance_id, b.crowd)
                if fmt.can(Capability.TRACKS):
                    assert a.track_id == b.track_id
                if fmt.can(Capability.ATTRIBUTES):
                    assert dict(a.attributes) == dict(b.attributes)
                if fmt.can(Capability.PROVENANCE):
                    assert a.provenance == b.provenance
                elif fmt.can(Capability.SCORES):
                    assert a.provenance.confidence == b.provenance.confidence
                if a.kind is ObjectKind.BOX:
                    tolerance = BOX_TOLERANCE.get(format_id, 1e-9)
                    corners = zip(a.geometry.to_xywh(), b.geometry.to_xywh(), strict=True)
                    assert all(abs(u - v) <= tolerance for u, v in corners)
        for frame_a, frame_b in zip(rich_project.frames(), imported.frames(), strict=True):
            objects = rich_project.objects(frame_a.id)
            a = label_id_map(objects, SCHEMA, frame_a.height, frame_a.width)
            b = label_id_map(imported.objects(frame_b.id), SCHEMA, frame_b.height, frame_b.width)
            rows, cols = np.nonzero(a != b)
            if format_id in BOX_TOLERANCE:
                # Only pixels next to an edge may flip: roadmark's rasterizer (pycocotools)
                # snaps vertices to a 1/5-pixel grid, so a vertex moved by the last written
                # digit can move its edges' raster by up to a fifth of a pixel.
                edges = shapely.union_all(
                    [o.region.boundary for o in objects if o.kind is ObjectKind.REGION]
                ).buffer(0.2 + BOX_TOLERANCE[format_id])
                assert shapely.contains_xy(edges, cols + 0.5, rows + 0.5).all()
            else:
                assert not rows.size
    finally:
        imported.close()


@pytest.mark.parametrize("format_id", ROUND_TRIP)
def test_demo_frames_round_trip(format_id: str, tmp_path: Path):
    source = demo_project(tmp_path / "demo.roadmark")
    try:
        first = _target(tmp_path, format_id, "a0")
        export_dataset(source, format_id, first)
    finally:
        source.close()
    one = _import_into(tmp_path, "one", format_id, first)
    second = _target(tmp_path, format_id, "a1")
    export_dataset(one, format_id, second)
    two = _import_into(tmp_path, "two", format_id, second)
    try:
        keeps = get_format(format_id).can(Capability.PROVENANCE)
        assert_same_objects(all_objects(one), all_objects(two), provenance=keeps)
    finally:
        one.close()
        two.close()
