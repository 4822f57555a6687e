"""Round trips for every registered format that imports and exports (generated from the
registry): import -> export -> import gives the same objects, in the same order, with the
same labels, geometry (0.01 px), flags, ids, attributes and provenance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from roadmark.core.annotation import ObjectKind
from roadmark.core.raster import label_id_map
from roadmark.io.formats import Capability, get_format, registered_formats
from roadmark.io.formats.jobs import export_dataset, import_dataset
from roadmark.io.store import Project
from tests.io.formats.conftest import SCHEMA, all_objects, assert_same_objects, demo_project

ROUND_TRIP = sorted(
    set(registered_formats(Capability.IMPORT)) & set(registered_formats(Capability.EXPORT))
)


def _target(tmp_path: Path, format_id: str, name: str) -> Path:
    fmt = get_format(format_id)
    return tmp_path / (name + fmt.suffix if fmt.output == "file" else name)


def _import_into(tmp_path: Path, name: str, format_id: str, source: Path) -> Project:
    project = Project.create(tmp_path / f"{name}.roadmark", user="tester")
    import_dataset(project, format_id, source)
    return project


def test_every_builtin_format_round_trips():
    assert {"coco", "cityscapes"} <= set(ROUND_TRIP)


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
    try:
        objects_one, objects_two = all_objects(one), all_objects(two)
        assert_same_objects(objects_one, objects_two)
        kinds = {obj.kind for frame in objects_one for obj in frame}
        assert kinds == {ObjectKind.BOX, ObjectKind.REGION}
        assert any(obj.crowd for obj in objects_one[0])
        assert any(obj.attributes for obj in objects_one[0])
        assert any(obj.provenance.confidence == 0.875 for obj in objects_one[0])
        assert any(obj.provenance.verified for obj in objects_one[0])
        deleted = any(obj.deleted for obj in objects_one[0])
        assert deleted == get_format(format_id).can(Capability.SOFT_DELETE)
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
    try:
        original = [
            [o for o in frame if not o.deleted or get_format(format_id).can(Capability.SOFT_DELETE)]
            for frame in all_objects(rich_project)
        ]
        back = all_objects(imported)
        assert [[o.label_id for o in f] for f in back] == [
            [o.label_id for o in f] for f in original
        ]
        for frame_a, frame_b in zip(original, back, strict=True):
            for a, b in zip(frame_a, frame_b, strict=True):
                assert (a.instance_id, a.track_id, a.crowd, a.deleted) == (
                    b.instance_id,
                    b.track_id,
                    b.crowd,
                    b.deleted,
                )
                assert dict(a.attributes) == dict(b.attributes)
                assert a.provenance == b.provenance
                if a.kind is ObjectKind.BOX:
                    assert a.same_content(b, tolerance=1e-9)
        for frame_a, frame_b in zip(rich_project.frames(), imported.frames(), strict=True):
            a = label_id_map(
                rich_project.objects(frame_a.id), SCHEMA, frame_a.height, frame_a.width
            )
            b = label_id_map(imported.objects(frame_b.id), SCHEMA, frame_b.height, frame_b.width)
            assert np.array_equal(a, b)
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
        assert_same_objects(all_objects(one), all_objects(two))
    finally:
        one.close()
        two.close()
