"""Cityscapes import reads the files ahead (in worker processes for many files): parsed,
with the polygons' regions and text worked out, the same objects and originals as reading
each polygon in order, and each file read once."""

from __future__ import annotations

import gc
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import shapely
import sqlalchemy as sa

from roadmark.io.formats import cityscapes, parallel
from roadmark.io.formats.cityscapes import file_regions
from roadmark.io.formats.cityscapes_geometry import polygon_to_region, polygons_to_regions
from roadmark.io.formats.errors import FormatError
from roadmark.io.formats.jobs import export_dataset, import_dataset
from roadmark.io.formats.sources import import_sources
from roadmark.io.store import Project
from tests.io.formats.conftest import demo_project


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cs")
    source = demo_project(folder / "demo.roadmark", frames=3, width=512, height=256)
    try:
        export_dataset(source, "cityscapes", folder / "cs")
    finally:
        source.close()
    return folder / "cs"


def _objects(project: Project) -> list[tuple[int, bytes]]:
    return [
        (obj.label_id, shapely.to_wkb(obj.geometry))
        for frame in project.frames()
        for obj in project.objects(frame.id)
    ]


def test_the_batched_regions_are_those_of_each_polygon_alone():
    rng = np.random.default_rng(0)
    outlines = [[(float(x), float(y)) for x, y in rng.integers(0, 40, (n, 2))] for n in
                rng.integers(3, 9, 60)]  # fmt: skip  (bow ties and degenerate ones among them)
    outlines += [[(1.0, 1.0)] * 3, [(0.0, 0.0), (5.0, 0.0), (9.0, 0.0)]]
    outlines += [[(2.0, 2.0), (30.0, 2.0), (30.0, 20.0), (2.0, 20.0)]]
    batched_all = polygons_to_regions(outlines)
    for one, batched in zip(map(polygon_to_region, outlines), batched_all, strict=True):
        assert (one.repaired, one.degenerate) == (batched.repaired, batched.degenerate)
        assert one.region.equals_exact(batched.region, 0)


def test_file_regions_match_the_files_polygons(tree: Path):
    file = next(tree.rglob("*_gtFine_polygons.json"))
    content = json.loads(file.read_text())
    objects = content["objects"]
    ahead = file_regions(file)
    assert ahead is not None and len(ahead.ready) == len(objects)
    # the parsed file, less the polygons worked out
    assert ahead.data == content | {
        "objects": [{k: v for k, v in item.items() if k != "polygon"} for item in objects]
    }
    for item, done in zip(objects, ahead.ready, strict=True):
        assert done is not None
        extent, imported, text = done
        outline = np.asarray(item["polygon"], dtype=float)
        assert extent == (*outline.min(axis=0), *outline.max(axis=0))
        assert imported.region.equals_exact(polygon_to_region(outline).region, 0)
        assert json.loads(text) == item["polygon"]


def test_a_broken_file_or_object_is_left_to_the_reading_in_order(tmp_path: Path):
    bad = tmp_path / "x_gtFine_polygons.json"
    bad.write_text("{not json")
    assert file_regions(bad) is None
    bad.write_text("[1, 2]")
    assert file_regions(bad) is None
    bad.write_text(json.dumps({"imgWidth": 64, "imgHeight": 48, "objects": {}}))
    assert file_regions(bad) is None
    bad.write_text(json.dumps({"imgWidth": 64, "imgHeight": 48, "objects": [
        {"label": "car", "polygon": [[0, 0], [10, 0], [True, 10]]},
        {"label": "car", "polygon": [[0, 0], [1e12, 0], [0, 10]]},
        {"label": "car", "polygon": [[0, 0], [10, 0], [0, 10]]},
        "not an object",
    ]}))  # fmt: skip
    ahead = file_regions(bad)
    assert ahead is not None and ahead.ready[0] is None and ahead.ready[1] is None
    assert ahead.ready[2] is not None and ahead.ready[3] is None
    objects = ahead.data["objects"]  # those left to the reading in order keep their points
    assert "polygon" in objects[0] and "polygon" in objects[1] and "polygon" not in objects[2]


def test_a_file_read_ahead_is_not_read_again(tree: Path, tmp_path: Path, monkeypatch):
    with Project.create(tmp_path / "plain.roadmark") as project:
        monkeypatch.setattr(cityscapes, "file_regions", lambda file: None)
        import_dataset(project, "cityscapes", tree)
        plain = _objects(project)
        plain_originals = _originals(project)
        assert plain_originals  # every polygon kept as the file wrote it
    monkeypatch.undo()
    read: list[Path] = []
    real = cityscapes.read_json_bytes

    def counting(path: Path) -> tuple[object, bytes]:
        read.append(path)
        return real(path)

    monkeypatch.setattr(cityscapes, "read_json_bytes", counting)
    with Project.create(tmp_path / "ahead.roadmark") as project:
        import_dataset(project, "cityscapes", tree)
        assert _objects(project) == plain
        assert _originals(project) == plain_originals
    assert read == []


def _originals(project: Project) -> list[object]:
    with project.engine.connect() as conn:
        rows = conn.execute(
            sa.select(import_sources.c.original).order_by(import_sources.c.object_id)
        )
        return [json.loads(text) for (text,) in rows]


def test_outlines_read_ahead_from_the_same_bytes_are_not_parsed_again(
    tree: Path, tmp_path: Path, monkeypatch
):
    with Project.create(tmp_path / "plain.roadmark") as project:
        monkeypatch.setattr(cityscapes, "file_regions", lambda file: None)
        import_dataset(project, "cityscapes", tree)
        plain = _objects(project)
    monkeypatch.undo()
    parsed: list[object] = []
    real = cityscapes.point_array

    def counting(value, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs["where"]:  # the reading in order (the worker's reading names no file)
            parsed.append(value)
        return real(value, **kwargs)

    monkeypatch.setattr(cityscapes, "point_array", counting)
    with Project.create(tmp_path / "ahead.roadmark") as project:
        import_dataset(project, "cityscapes", tree)
        assert _objects(project) == plain
    assert parsed == []  # every outline came from the worker's reading of the same bytes


def test_worker_processes_give_the_same_objects(tree: Path, tmp_path: Path, monkeypatch):
    with Project.create(tmp_path / "threads.roadmark") as project:
        import_dataset(project, "cityscapes", tree)
        in_threads = _objects(project)
    monkeypatch.setattr(parallel, "PROCESS_MIN_FRAMES", 1)  # three files: processes
    with Project.create(tmp_path / "processes.roadmark") as project:
        import_dataset(project, "cityscapes", tree)
        assert _objects(project) == in_threads


def test_the_collection_threshold_is_raised_for_the_import_and_restored(
    tree: Path, tmp_path: Path, monkeypatch
):
    before = gc.get_threshold()
    seen: list[tuple[int, int, int]] = []
    real = cityscapes.CityscapesFormat._read_file

    def reading(self, *args, **kwargs):
        seen.append(gc.get_threshold())
        return real(self, *args, **kwargs)

    monkeypatch.setattr(cityscapes.CityscapesFormat, "_read_file", reading)
    with Project.create(tmp_path / "p.roadmark") as project:
        import_dataset(project, "cityscapes", tree)
        assert seen and all(t[0] >= 100_000 for t in seen)
        assert gc.get_threshold() == before
        broken = tmp_path / "broken"
        shutil.copytree(tree, broken)
        next(broken.rglob("*_gtFine_polygons.json")).write_text("{not json")
        with pytest.raises(FormatError):
            import_dataset(project, "cityscapes", broken)
        assert gc.get_threshold() == before
