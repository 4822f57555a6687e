"""Cityscapes import and export, cross-checked with cityscapesScripts' own rasterization."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import shapely
import sqlalchemy as sa
from cityscapesscripts.helpers.annotation import Annotation
from cityscapesscripts.preparation.json2instanceImg import createInstanceImage
from cityscapesscripts.preparation.json2labelImg import createLabelImage
from shapely.geometry import Polygon

from roadmark.core.errors import GeometryError
from roadmark.core.raster import (
    color_map,
    instance_id_map,
    label_id_map,
    region_mask,
    train_id_map,
)
from roadmark.io.formats.cityscapes_files import format_date, parse_date
from roadmark.io.formats.cityscapes_geometry import (
    fill,
    mismatched_pixels,
    polygon_to_region,
    region_to_polygons,
)
from roadmark.io.formats.errors import FormatError, UnknownLabelsError
from roadmark.io.formats.jobs import export_dataset, import_dataset
from roadmark.io.store import Project
from tests.io.formats import handmade
from tests.io.formats.conftest import SCHEMA, demo_project, label

MAPS = ("labelIds", "labelTrainIds", "instanceIds", "color")


def _annotation(path: Path) -> Annotation:
    annotation = Annotation()
    annotation.fromJsonFile(str(path))
    return annotation


def _read_png(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image is not None, path
    return cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA) if image.ndim == 3 else image


def _cityscapes_maps(json_path: Path) -> dict[str, np.ndarray]:
    annotation = _annotation(json_path)
    return {
        "labelIds": np.asarray(createLabelImage(annotation, "ids")),
        "labelTrainIds": np.asarray(createLabelImage(annotation, "trainIds")),
        "instanceIds": np.asarray(createInstanceImage(annotation, "ids")),
        "color": np.asarray(createLabelImage(annotation, "color")),
    }


def _files(folder: Path, suffix: str) -> list[Path]:
    return sorted(folder.rglob(f"*{suffix}"))


def test_exported_maps_are_roadmarks_and_cityscapesscripts_draws_the_same(tmp_path: Path):
    project = demo_project(tmp_path / "demo.roadmark", frames=2, width=1024, height=512)
    try:
        report = export_dataset(project, "cityscapes", tmp_path / "cs")
        frames = project.frames()
        objects = [project.objects(f.id) for f in frames]
    finally:
        project.close()
    assert report.stats["mismatched_pixels"] == 0 and report.stats["original_polygons"] == 0
    jsons = _files(tmp_path / "cs" / "gtFine", "_gtFine_polygons.json")
    assert len(jsons) == 2
    assert len(_files(tmp_path / "cs" / "leftImg8bit", "_leftImg8bit.png")) == 2
    for json_path, frame, frame_objects in zip(jsons, frames, objects, strict=True):
        stem = str(json_path)[: -len("polygons.json")]
        ours = {name: _read_png(Path(f"{stem}{name}.png")) for name in MAPS}
        h, w = frame.height, frame.width
        assert ours["labelIds"].dtype == np.uint8 and ours["instanceIds"].dtype == np.uint16
        assert np.array_equal(ours["labelIds"], label_id_map(frame_objects, SCHEMA, h, w))
        assert np.array_equal(ours["labelTrainIds"], train_id_map(frame_objects, SCHEMA, h, w))
        assert np.array_equal(ours["instanceIds"], instance_id_map(frame_objects, SCHEMA, h, w))
        assert np.array_equal(ours["color"][..., :3], color_map(ours["labelIds"], SCHEMA))
        theirs = _cityscapes_maps(json_path)
        for name in ("labelIds", "labelTrainIds", "color"):
            assert np.array_equal(ours[name], theirs[name]), name
        agreement = np.mean(ours["instanceIds"] == theirs["instanceIds"])
        assert agreement >= 0.999
        if not report.stats["split_instances"]:
            assert agreement == 1.0


def test_every_kind_of_region_is_drawn_the_same_by_cityscapesscripts(rich_project, tmp_path):
    report = export_dataset(rich_project, "cityscapes", tmp_path / "cs")
    assert report.stats["mismatched_pixels"] == 0
    assert report.stats["split_instances"] == 1  # the two-part person
    json_path = _files(tmp_path / "cs", "_gtFine_polygons.json")[0]
    frame = rich_project.frames()[0]
    objects = rich_project.objects(frame.id)
    theirs = _cityscapes_maps(json_path)
    ours = label_id_map(objects, SCHEMA, frame.height, frame.width)
    assert np.array_equal(theirs["labelIds"], ours)
    data = json.loads(json_path.read_text())
    labels = [entry["label"] for entry in data["objects"]]
    assert "cargroup" in labels and labels.count("person") == 1 and "persongroup" in labels
    # the second piece of the person is a group for json2instanceImg: bare id there only
    ours_instances = instance_id_map(objects, SCHEMA, frame.height, frame.width)
    differ = ours_instances != theirs["instanceIds"]
    assert differ.any() and set(ours_instances[differ]) == {24000}
    assert set(theirs["instanceIds"][differ]) == {24}
    smaller = region_mask(shapely.box(112, 44, 118.5, 66.5), frame.height, frame.width)
    assert np.array_equal(differ, smaller)
    assert [entry["deleted"] for entry in data["objects"]].count(1) == 1
    building = next(e for e in data["objects"] if e["label"] == "building")
    assert building["verified"] == 1 and building["user"] == "ben"
    assert building["date"] == "02-Mar-2024 17:05:12"
    boxes = json.loads(json_path.with_name(json_path.name.replace("polygons", "boxes")).read_text())
    assert [b["label"] for b in boxes["objects"]] == ["traffic sign", "car"]
    assert boxes["objects"][0]["bbox"] == [10.5, 5.25, 8.25, 8.75]
    assert all("bbox" not in entry for entry in data["objects"])


def test_an_exported_outline_that_doubles_back_imports_unrepaired_as_pils_pixels():
    # a person of a demo export: its trace runs back along itself through pixel centers
    # (GEOS: "Self-intersection"), which PIL fills as the raster it came from
    points = [(873, 438), (873, 439), (872, 440), (873, 441), (874, 441), (875, 442), (875, 447),
              (876, 448), (875, 447), (874, 448), (874, 449), (873, 450), (873, 458), (872, 459),
              (871, 459), (871, 450), (870, 449), (871, 449), (871, 453), (872, 454), (873, 453),
              (873, 449), (872, 448), (871, 449), (870, 449), (869, 448), (869, 442), (870, 441),
              (871, 441), (872, 440), (872, 438)]
    assert not Polygon(points).is_valid
    back = polygon_to_region(points)
    assert not back.repaired and not back.degenerate
    assert np.array_equal(region_mask(back.region, 470, 890), fill([points], 470, 890))


def test_mismatched_pixels_counts_where_pils_fill_differs():
    square = [[2, 1], [6, 1], [6, 4], [2, 4]]  # PIL fills columns 2..6 of rows 1..4
    mask = fill([square], 8, 10).astype(np.uint8)
    assert mask.sum() == 20 and mismatched_pixels([square], mask) == 0
    mask[0, 0] = 1  # one extra pixel
    mask[2, 3] = 0  # one missing
    assert mismatched_pixels([square], mask) == 2
    assert mismatched_pixels([square], np.asfortranarray(mask)) == 2


def test_holes_are_joined_by_cuts_that_add_no_pixel():
    ring = shapely.box(2, 2, 40, 30).difference(shapely.box(10, 8, 20, 20))
    ring = ring.difference(shapely.box(25.5, 10.25, 33.7, 24.2))
    exported = region_to_polygons(ring, 40, 50)
    assert len(exported.polygons) == 1 and exported.mismatched == 0
    back = polygon_to_region(exported.polygons[0])
    assert not back.repaired  # zero-width cuts are not self-intersections
    assert len(back.region.interiors) == 2


def test_import_agrees_with_json2labelimg_on_generated_frames(tmp_path: Path):
    source = demo_project(tmp_path / "demo.roadmark", frames=2, width=1024, height=512)
    try:
        export_dataset(source, "cityscapes", tmp_path / "cs")
    finally:
        source.close()
    with Project.create(tmp_path / "p.roadmark") as project:
        import_dataset(project, "cityscapes", tmp_path / "cs")
        for frame, json_path in zip(
            project.frames(), _files(tmp_path / "cs", "_gtFine_polygons.json"), strict=True
        ):
            objects = project.objects(frame.id)
            theirs = _cityscapes_maps(json_path)
            ours = label_id_map(objects, SCHEMA, frame.height, frame.width)
            assert np.array_equal(ours, theirs["labelIds"])
            ours = instance_id_map(objects, SCHEMA, frame.height, frame.width)
            assert np.mean(ours == theirs["instanceIds"]) >= 0.9999


@pytest.mark.parametrize(
    "points",
    [
        [(2, 2), (12, 12), (12, 2), (2, 12)],  # a bow tie
        [(2, 2), (20, 2), (20, 12), (2, 12), (2, 6), (8, 6), (8, 9), (5, 9), (5, 4), (2, 4)],
        # a traced outline that doubles back along one-pixel spikes (from a demo export)
        [(390, 214), (390, 216), (389, 217), (390, 218), (392, 218), (392, 222), (393, 223),
         (393, 226), (393, 224), (392, 223), (391, 224), (391, 229), (390, 230), (390, 236),
         (389, 236), (388, 237), (388, 232), (387, 231), (387, 227), (386, 226), (388, 226),
         (388, 231), (389, 232), (390, 231), (390, 226), (389, 225), (388, 226), (386, 226),
         (386, 218), (388, 218), (389, 217), (389, 216), (388, 215), (389, 214)],
    ],
)  # fmt: skip
def test_self_crossing_polygons_import_as_the_pixels_pil_fills(points):
    imported = polygon_to_region(points)
    assert imported.region.is_valid and not imported.degenerate
    height, width = 400, 500
    assert np.array_equal(
        region_mask(imported.region, height, width), fill([points], height, width)
    )


def test_random_self_crossing_polygons_import_as_the_pixels_pil_fills():
    """Repaired with a few pixel squares or vectorized whole: PIL's pixels either way."""
    rng = np.random.default_rng(7)
    height, width = 64, 64
    for _ in range(60):
        points = [(int(x), int(y)) for x, y in rng.integers(5, 45, (int(rng.integers(4, 14)), 2))]
        if Polygon(points).is_valid:  # a simple polygon: PIL's fill up to pycocotools' grid
            continue
        try:
            imported = polygon_to_region(points)
        except GeometryError:
            continue
        if imported.degenerate:
            continue
        assert imported.region.is_valid
        assert np.array_equal(
            region_mask(imported.region, height, width), fill([points], height, width)
        ), points


def test_reexporting_an_imported_tree_gives_the_same_maps(tmp_path: Path):
    source = demo_project(tmp_path / "demo.roadmark", frames=2, width=1024, height=512)
    try:
        export_dataset(source, "cityscapes", tmp_path / "cs")
    finally:
        source.close()
    with Project.create(tmp_path / "p.roadmark") as project:
        import_dataset(project, "cityscapes", tmp_path / "cs")
        export_dataset(project, "cityscapes", tmp_path / "again")
    first = sorted(p for p in (tmp_path / "cs").rglob("*_gtFine_*.png"))
    assert len(first) == 8
    for path in first:
        other = tmp_path / "again" / path.relative_to(tmp_path / "cs")
        a = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        b = cv2.imread(str(other), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(a, b), path.name


def test_import_agrees_with_cityscapesscripts_on_a_hand_made_example(tmp_path: Path):
    json_path = handmade.write_example(tmp_path / "data")
    with Project.create(tmp_path / "p.roadmark") as project:
        report = import_dataset(project, "cityscapes", json_path)
        frame = project.frames()[0]
        objects = list(project.objects(frame.id))
        theirs = _cityscapes_maps(json_path)
        h, w = frame.height, frame.width
        assert np.mean(label_id_map(objects, SCHEMA, h, w) == theirs["labelIds"]) >= 0.999
        assert np.mean(train_id_map(objects, SCHEMA, h, w) == theirs["labelTrainIds"]) >= 0.999
        assert np.mean(instance_id_map(objects, SCHEMA, h, w) == theirs["instanceIds"]) >= 0.999
    assert [str(warning) for warning in report.warnings] == [
        f"{json_path}: objects[37].polygon: self-intersecting polygon repaired (make_valid)"
    ]
    assert frame.sequence == "handmade_000000" and frame.sequence_index == 1
    crowd = [o for o in objects if o.crowd]
    assert [SCHEMA.by_id[o.label_id].name for o in crowd] == ["car"]
    cars = [o for o in objects if o.label_id == label("car") and not o.crowd]
    assert [o.instance_id for o in cars] == list(range(1, 8))
    assert all(o.provenance.created_by == "annotator3" for o in cars)
    assert cars[0].provenance.updated_at == parse_date("28-Feb-2016 14:48:51")
    deleted = [o for o in objects if o.deleted]
    assert len(deleted) == 1 and deleted[0].instance_id is None
    assert all(o.provenance.source == "import:cityscapes" for o in objects)


def test_unedited_objects_export_their_original_points_and_edited_ones_are_traced(
    tmp_path: Path,
):
    json_path = handmade.write_example(tmp_path / "data")
    original = json.loads(json_path.read_text())["objects"]
    with Project.create(tmp_path / "p.roadmark") as project:
        import_dataset(project, "cityscapes", json_path)
        frame = project.frames()[0]
        objects = list(project.objects(frame.id))
        car = next(o for o in objects if o.label_id == label("car") and not o.crowd)
        moved = replace(car, geometry=shapely.affinity.translate(car.geometry, 3.25, 0))
        project.update_objects([moved, replace(objects[0], label_id=label("terrain"))])
        report = export_dataset(project, "cityscapes", tmp_path / "out")
    written = json.loads(_files(tmp_path / "out", "_gtFine_polygons.json")[0].read_text())
    polygons = [entry["polygon"] for entry in written["objects"]]
    car_index = objects.index(car)
    assert report.stats["original_polygons"] == len(original) - 1
    for index, entry in enumerate(original):
        if index != car_index:
            assert entry["polygon"] in polygons, index
    assert original[car_index]["polygon"] not in polygons
    assert written["objects"][0]["label"] == "terrain"  # relabeled, same points
    assert written["objects"][0]["polygon"] == original[0]["polygon"]
    # the points as the file wrote them: integers stay integers ("12", not "12.0")
    text = _files(tmp_path / "out", "_gtFine_polygons.json")[0].read_text()
    assert all(isinstance(v, int) for point in original[1]["polygon"] for v in point)
    assert json.dumps(original[1]["polygon"]) in text


def test_original_points_are_found_by_a_digest_of_the_imported_shape_or_by_the_shape(
    tmp_path: Path,
):
    """New imports keep a 16-byte digest of each shape; projects imported before keep the
    shape's WKB itself, and their unedited objects still export their original points."""
    from roadmark.io.formats import sources

    json_path = handmade.write_example(tmp_path / "data")
    with Project.create(tmp_path / "p.roadmark") as project:
        import_dataset(project, "cityscapes", json_path)
        objects = {o.uid: o for o in project.objects(project.frames()[0].id)}
        table = sources.import_sources
        with project.transaction() as conn:
            keys = dict(conn.execute(sa.select(table.c.object_id, table.c.geometry)).all())
            assert {len(key) for key in keys.values()} == {sources.DIGEST_BYTES}
        fresh = export_dataset(project, "cityscapes", tmp_path / "fresh").stats
        with project.transaction() as conn:  # as an older roadmark stored them
            for uid in keys:
                conn.execute(
                    table.update()
                    .where(table.c.object_id == uid)
                    .values(geometry=sources.geometry_key(objects[uid]))
                )
        older = export_dataset(project, "cityscapes", tmp_path / "older").stats
    assert fresh["original_polygons"] == older["original_polygons"] == len(keys) > 10


def test_folder_of_jsons_next_to_images_and_images_option(tmp_path: Path):
    json_path = handmade.write_example(tmp_path / "flat")
    with Project.create(tmp_path / "p.roadmark") as project:
        assert import_dataset(project, "cityscapes", tmp_path / "flat").frames == 1
    elsewhere = tmp_path / "labels"
    elsewhere.mkdir()
    moved = elsewhere / json_path.name
    json_path.rename(moved)
    with Project.create(tmp_path / "q.roadmark") as project:
        with pytest.raises(FormatError, match=r"not found.*--images") as info:
            import_dataset(project, "cityscapes", elsewhere)
        assert info.value.field == "image" and info.value.path == str(moved)
        import_dataset(project, "cityscapes", elsewhere, images=tmp_path / "flat")
        assert project.frame_count() == 1


def test_unknown_labels_error_map_or_add(tmp_path: Path):
    folder = tmp_path / "data"
    json_path = handmade.write_example(folder)
    data = json.loads(json_path.read_text())
    data["objects"][1]["label"] = "tramway"
    data["objects"][2]["label"] = "kerbgroup"
    json_path.write_text(json.dumps(data))
    with Project.create(tmp_path / "p.roadmark") as project:
        with pytest.raises(UnknownLabelsError, match=r"'kerbgroup' \(1\), 'tramway' \(1\)") as info:
            import_dataset(project, "cityscapes", json_path)
        assert info.value.names == {"kerbgroup": 1, "tramway": 1}
        assert project.frame_count() == 0
        with pytest.raises(FormatError, match="'nope' is not a label"):
            import_dataset(project, "cityscapes", json_path, mapping={"tramway": "nope"})
        report = import_dataset(
            project, "cityscapes", json_path, mapping={"tramway": "rail track"}, add_labels=True
        )
        assert report.labels_added == ["kerb"]
        objects = project.objects(project.frames()[0].id)
        assert objects[1].label_id == label("rail track")
        kerb = project.schema.label("kerb")
        assert objects[2].label_id == kerb.id and objects[2].crowd
        assert kerb.color not in {other.color for other in SCHEMA.labels}


def test_dates_round_trip_in_cityscapes_form():
    when = parse_date("28-Feb-2016 14:48:51")
    assert when is not None and format_date(when) == "28-Feb-2016 14:48:51"
    assert parse_date("2016-02-28") is None and parse_date("31-Feb-2016 10:00:00") is None


def test_fill_is_what_cityscapesscripts_draws():
    polygon = [[1, 1], [30, 4], [8, 25]]
    annotation = Annotation()
    annotation.fromJsonText(
        json.dumps(
            {"imgHeight": 30, "imgWidth": 40, "objects": [{"label": "car", "polygon": polygon}]}
        )
    )
    theirs = np.asarray(createLabelImage(annotation, "ids")) == label("car")
    assert np.array_equal(fill([polygon], 30, 40), theirs)
