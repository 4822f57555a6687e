"""COCO panoptic: checked against the format's reference definitions (panopticapi's
``rgb2id`` and ``panoptic2semantic_segmentation`` rule, pycocotools' areas and boxes) and
against cityscapesScripts' ``createPanopticImgs`` run on roadmark's own Cityscapes export."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import shapely
from cityscapesscripts.helpers.labels import id2label
from cityscapesscripts.preparation.createPanopticImgs import convert2panoptic
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from pycocotools import mask as coco_mask

from roadmark.core.annotation import AnnotationObject
from roadmark.core.jobs import JobCancelled
from roadmark.core.raster import instance_id_map, label_id_map
from roadmark.io.demo_project import build_demo_project
from roadmark.io.formats.coco_panoptic_read import id_to_rgb, rgb_to_id
from roadmark.io.formats.common import Job
from roadmark.io.formats.errors import FormatError
from roadmark.io.formats.jobs import export_dataset, import_dataset
from roadmark.io.store import Project
from tests.helpers import CancelAfterChecks
from tests.io.formats.conftest import (
    SCHEMA,
    all_objects,
    demo_project,
    label,
    make_images,
    project_with,
    prov,
)


def _reference_rgb2id(color: np.ndarray) -> np.ndarray:
    """panopticapi/utils.py ``rgb2id`` as published (``R + 256 G + 256^2 B``)."""
    color = color.astype(np.int32)
    return color[:, :, 0] + 256 * color[:, :, 1] + 256 * 256 * color[:, :, 2]


def _png_ids(path: Path) -> np.ndarray:
    """A panoptic PNG read the way panopticapi reads it (PIL, RGB)."""
    return _reference_rgb2id(np.array(Image.open(path), dtype=np.uint32))


def _semantic(annotation: dict, folder: Path) -> np.ndarray:
    """panopticapi's panoptic2semantic_segmentation: every pixel of a segment gets the
    segment's category_id; pixels of no segment stay 0."""
    pan = _png_ids(folder / annotation["file_name"])
    semantic = np.zeros(pan.shape, dtype=np.int32)
    for info in annotation["segments_info"]:
        semantic[pan == info["id"]] = info["category_id"]
    return semantic


def _maps(project: Project, frame) -> tuple[np.ndarray, np.ndarray]:
    objects = project.objects(frame.id)
    return (
        label_id_map(objects, SCHEMA, frame.height, frame.width),
        instance_id_map(objects, SCHEMA, frame.height, frame.width),
    )


def _without_extras(annotations: list[dict]) -> list[list[dict]]:
    return [
        [{k: v for k, v in info.items() if k != "roadmark"} for info in ann["segments_info"]]
        for ann in annotations
    ]


def test_id_encoding_is_panopticapis():
    ids = np.array([[0, 1, 255, 256], [65535, 65536, 1000 * 26 + 7, 256**3 - 1]])
    rgb = id_to_rgb(ids)
    assert rgb.dtype == np.uint8
    assert rgb[0, 3].tolist() == [0, 1, 0] and rgb[1, 3].tolist() == [255, 255, 255]
    assert np.array_equal(_reference_rgb2id(rgb), ids)
    assert np.array_equal(rgb_to_id(rgb), ids)


def test_demo_drive_semantic_matches_the_cityscapes_label_ids_export(tmp_path: Path):
    """The bundled demo's drive at its size (1024x512), labeled frames only."""
    source = build_demo_project(tmp_path / "demo" / "demo.roadmark", frames=3, labeled=3)
    try:
        export_dataset(source, "coco-panoptic", tmp_path / "pan.json")
        export_dataset(source, "cityscapes", tmp_path / "cs")
    finally:
        source.close()
    data = json.loads((tmp_path / "pan.json").read_text())
    assert (tmp_path / "pan").is_dir() and len(data["annotations"]) == 3
    label_files = sorted((tmp_path / "cs").rglob("*_gtFine_labelIds.png"))
    images = {image["id"]: image for image in data["images"]}
    compared = 0
    for annotation, label_file in zip(data["annotations"], label_files, strict=True):
        assert Path(images[annotation["image_id"]]["file_name"]).stem.startswith(
            label_file.name.removesuffix("_gtFine_labelIds.png")
        )
        label_ids = np.array(Image.open(label_file)).astype(np.int32)
        semantic = _semantic(annotation, tmp_path / "pan")
        labeled = label_ids != 0
        assert np.array_equal(semantic[labeled], label_ids[labeled])
        assert not semantic[~labeled].any()
        compared += int(labeled.sum())
        pan = _png_ids(tmp_path / "pan" / annotation["file_name"])
        assert not (set(np.unique(pan).tolist()) - {0}) ^ {
            info["id"] for info in annotation["segments_info"]
        }
        for info in annotation["segments_info"]:
            mask = pan == info["id"]
            rows, cols = np.nonzero(mask)
            box = [cols.min(), rows.min(), cols.max() - cols.min() + 1, rows.max() - rows.min() + 1]
            assert info["area"] == int(mask.sum())  # as panopticapi's converters count them
            assert info["bbox"] == [int(v) for v in box]
            encoded = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
            assert info["area"] == coco_mask.area(encoded)  # and pycocotools
            assert info["bbox"] == coco_mask.toBbox(encoded).tolist()
    assert compared > 3 * 1024 * 512 * 0.9


def test_export_then_import_gives_identical_label_and_instance_maps(
    rich_project: Project, tmp_path: Path
):
    export_dataset(rich_project, "coco-panoptic", tmp_path / "out.json")
    with Project.create(tmp_path / "back.roadmark") as back:
        import_dataset(back, "coco-panoptic", tmp_path / "out.json")
        for frame_a, frame_b in zip(rich_project.frames(), back.frames(), strict=True):
            labels_a, instances_a = _maps(rich_project, frame_a)
            labels_b, instances_b = _maps(back, frame_b)
            assert np.array_equal(labels_a, labels_b)
            assert np.array_equal(instances_a, instances_b)


def test_demo_drive_round_trip_keeps_the_maps(tmp_path: Path):
    source = demo_project(tmp_path / "demo.roadmark", frames=2, width=384, height=192)
    try:
        export_dataset(source, "coco-panoptic", tmp_path / "a.json")
        with Project.create(tmp_path / "back.roadmark") as back:
            import_dataset(back, "coco-panoptic", tmp_path / "a.json")
            for frame_a, frame_b in zip(source.frames(), back.frames(), strict=True):
                for map_a, map_b in zip(_maps(source, frame_a), _maps(back, frame_b), strict=True):
                    assert np.array_equal(map_a, map_b)
            export_dataset(back, "coco-panoptic", tmp_path / "b.json")
    finally:
        source.close()
    first = json.loads((tmp_path / "a.json").read_text())["annotations"]
    second = json.loads((tmp_path / "b.json").read_text())["annotations"]
    assert _without_extras(first) == _without_extras(second)
    for a, b in zip(first, second, strict=True):
        assert np.array_equal(
            _png_ids(tmp_path / "a" / a["file_name"]), _png_ids(tmp_path / "b" / b["file_name"])
        )


def test_import_of_cityscapesscripts_panoptic_conversion(tmp_path: Path):
    """createPanopticImgs converts roadmark's Cityscapes export (the reference converter);
    importing its output gives the project's label map on every pixel it keeps, and the
    same instances."""
    source = demo_project(tmp_path / "demo.roadmark", frames=2, width=384, height=192)
    try:
        export_dataset(source, "cityscapes", tmp_path / "cs")
        expected = [_maps(source, frame) for frame in source.frames()]
    finally:
        source.close()
    (tmp_path / "ref").mkdir()
    convert2panoptic(str(tmp_path / "cs" / "gtFine"), str(tmp_path / "ref"), False, ["default"])
    reference = tmp_path / "ref" / "cityscapes_panoptic_default.json"
    # createPanopticImgs names each image <base>_gtFine_leftImg8bit.png (it keeps "_gtFine"
    # from the instance file's name); the images are put where its file names point.
    images = tmp_path / "images"
    images.mkdir()
    for image in (tmp_path / "cs" / "leftImg8bit").rglob("*_leftImg8bit.png"):
        shutil.copyfile(image, images / image.name.replace("_leftImg8bit", "_gtFine_leftImg8bit"))
    with Project.create(tmp_path / "back.roadmark") as back:
        report = import_dataset(back, "coco-panoptic", reference, images=images)
        assert report.frames == 2 and report.objects > 10
        for (labels, instances), frame in zip(expected, back.frames(), strict=True):
            got_labels, got_instances = _maps(back, frame)
            kept = np.isin(labels, [i for i, lab in id2label.items() if not lab.ignoreInEval])
            assert kept.mean() > 0.5
            assert np.array_equal(got_labels[kept], labels[kept])
            assert not got_labels[~kept].any()
            pairs = {(a, b) for a, b in zip(instances[kept], got_instances[kept], strict=True)}
            assert len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs})


def _frame_with(tmp_path: Path, objects: list[AnnotationObject]) -> Project:
    images = make_images(tmp_path / "images", 1)
    return project_with(tmp_path / "p.roadmark", [(images[0], objects)])


def test_hidden_regions_are_warned_and_stuff_segments_get_free_ids(tmp_path: Path):
    road, car = label("road"), label("car")
    objects = [
        AnnotationObject(road, shapely.box(0, 50, 160, 96), prov()),
        AnnotationObject(road, shapely.box(0, 0, 40, 20), prov()),  # a second road region
        AnnotationObject(car, shapely.box(10, 60, 30, 80), prov(), instance_id=1),
        AnnotationObject(car, shapely.box(5, 55, 35, 85), prov(), instance_id=2),  # covers #3
        AnnotationObject(label("unlabeled"), shapely.box(100, 0, 110, 10), prov()),
    ]
    with _frame_with(tmp_path, objects) as project:
        report = export_dataset(project, "coco-panoptic", tmp_path / "o.json")
    assert report.stats["hidden"] == 1 and report.stats["renumbered"] == 2
    assert any("covered entirely" in str(w) for w in report.warnings)
    annotation = json.loads((tmp_path / "o.json").read_text())["annotations"][0]
    (hidden,) = annotation["roadmark"]["unseen"]
    assert hidden["roadmark"]["object"] == 2
    assert shapely.from_wkt(hidden["wkt"]).equals(shapely.box(10, 60, 30, 80))
    infos = annotation["segments_info"]
    ids = [info["id"] for info in infos]
    assert ids[0] == road and ids[2] == car * 1000 + 1  # the hidden car was instance k=0
    assert len(set(ids)) == 4 and 0 not in ids
    assert [info["roadmark"]["object"] for info in infos] == [0, 1, 3, 4]


def test_masks_option_and_companion_folder(rich_project: Project, tmp_path: Path):
    out = tmp_path / "exports"
    out.mkdir()
    export_dataset(rich_project, "coco-panoptic", out / "pan.json")
    assert sorted(p.name for p in out.iterdir()) == ["pan", "pan.json"]
    with pytest.raises(FormatError, match="exists already"):
        export_dataset(rich_project, "coco-panoptic", out / "pan.json")
    (out / "pan").rename(tmp_path / "elsewhere")
    with Project.create(tmp_path / "q.roadmark") as project:
        with pytest.raises(FormatError, match="use --masks DIR") as info:
            import_dataset(project, "coco-panoptic", out / "pan.json")
        assert info.value.field == "annotations[0].file_name" and project.frame_count() == 0
        report = import_dataset(
            project, "coco-panoptic", out / "pan.json", masks=tmp_path / "elsewhere"
        )
        assert report.frames == 2
    (out / "other").mkdir()
    with pytest.raises(FormatError, match="exists already"):
        export_dataset(rich_project, "coco-panoptic", out / "other.json")
    assert not (out / "other.json").exists()
    with pytest.raises(JobCancelled):
        export_dataset(
            rich_project, "coco-panoptic", out / "c.json", job=Job(cancel=CancelAfterChecks(2))
        )
    assert sorted(p.name for p in out.iterdir()) == ["other", "pan.json"]
    export_dataset(rich_project, "coco-panoptic", out / "pan.json", overwrite=True, frames="1")
    assert len(list((out / "pan").iterdir())) == 1


def test_boxes_and_extras_survive_in_the_roadmark_key(rich_project: Project, tmp_path: Path):
    export_dataset(rich_project, "coco-panoptic", tmp_path / "o.json")
    data = json.loads((tmp_path / "o.json").read_text())
    boxes = data["annotations"][0]["roadmark"]["boxes"]
    assert [b["bbox"] for b in boxes] == [[10.5, 5.25, 8.25, 8.75], [121.0, 71.5, 28.0, 17.5]]
    assert boxes[1]["roadmark"]["confidence"] == 0.875
    categories = {c["id"]: c for c in data["categories"]}
    assert categories[label("car")]["isthing"] == 1 and categories[label("road")]["isthing"] == 0
    assert all(c["id"] >= 0 for c in data["categories"])


def test_foreign_panoptic_data_imports_with_instance_numbers(tmp_path: Path):
    """Data without roadmark extras (as panopticapi's converters write it)."""
    folder = tmp_path / "ds"
    make_images(folder, 1, width=64, height=48)
    ids = np.zeros((48, 64), dtype=np.int64)
    ids[:, :] = 7001  # road
    ids[10:20, 5:25] = 1_000_001  # a car
    ids[30:40, 30:60] = 1_000_002  # another car
    ids[0:5, 0:5] = 0  # void
    (folder / "panoptic").mkdir()
    cv2.imwrite(str(folder / "panoptic" / "frame0.png"), id_to_rgb(ids)[:, :, ::-1])
    segments = [
        {"id": 7001, "category_id": 7, "iscrowd": 0, "area": 1},
        {"id": 1_000_001, "category_id": 26, "iscrowd": 0},
        {"id": 1_000_002, "category_id": 26, "iscrowd": 1},
        {"id": 55, "category_id": 26},
    ]
    document = {
        "images": [{"id": "a", "file_name": "frame0.png", "width": 64, "height": 48}],
        "annotations": [{"image_id": "a", "file_name": "frame0.png", "segments_info": segments}],
        "categories": [
            {"id": 7, "name": "street", "isthing": 0},
            {"id": 26, "name": "car", "isthing": 1},
        ],
    }
    (folder / "panoptic.json").write_text(json.dumps(document))
    with Project.create(tmp_path / "p.roadmark") as project:
        report = import_dataset(
            project, "coco-panoptic", folder / "panoptic.json", mapping={"street": "road"}
        )
        objects = all_objects(project)[0]
        warnings = [w.message for w in report.warnings]
    assert [(o.label_id, o.instance_id, o.crowd) for o in objects] == [
        (label("road"), None, False),
        (label("car"), 1, False),
        (label("car"), None, True),
    ]
    assert objects[1].region.equals(shapely.box(5, 10, 25, 20))
    assert objects[0].region.area == 48 * 64 - 25 - 200 - 300
    assert any(m.startswith("area 1 differs") for m in warnings)
    assert any("segment 55 has no pixels" in m for m in warnings)


def test_unlisted_pixels_are_warned_and_left_unlabeled(rich_project: Project, tmp_path: Path):
    export_dataset(rich_project, "coco-panoptic", tmp_path / "o.json")
    data = json.loads((tmp_path / "o.json").read_text())
    dropped = data["annotations"][0]["segments_info"].pop(0)
    (tmp_path / "o.json").write_text(json.dumps(data))
    with Project.create(tmp_path / "q.roadmark") as project:
        report = import_dataset(project, "coco-panoptic", tmp_path / "o.json")
        assert any(
            f"({dropped['id']})" in w.message and "left unlabeled" in w.message
            for w in report.warnings
        )
        frame = project.frames()[0]
        labels, _ = _maps(project, frame)
    assert not (labels == dropped["category_id"]).any()


def test_an_object_edited_after_import_exports_its_new_shape(tmp_path: Path):
    car = label("car")
    objects = [AnnotationObject(car, shapely.box(10, 10, 40, 30), prov(), instance_id=1)]
    with _frame_with(tmp_path, objects) as project:
        export_dataset(project, "coco-panoptic", tmp_path / "a.json")
    with Project.create(tmp_path / "b.roadmark") as back:
        import_dataset(back, "coco-panoptic", tmp_path / "a.json")
        frame = back.frames()[0]
        obj = back.objects(frame.id)[0]
        back.replace_objects(frame.id, [replace(obj, geometry=shapely.box(10, 10, 20, 30))])
        export_dataset(back, "coco-panoptic", tmp_path / "c.json")
    info = json.loads((tmp_path / "c.json").read_text())["annotations"][0]["segments_info"][0]
    assert info["area"] == 200 and info["bbox"] == [10, 10, 10, 20]


shape = st.tuples(
    st.floats(-10, 150), st.floats(-10, 90), st.floats(1, 60), st.booleans()
).map(lambda t: shapely.box(t[0], t[1], t[0] + t[2], t[1] + t[2] * 0.6) if t[3]
      else shapely.Point(t[0], t[1]).buffer(t[2] / 2, 4))  # fmt: skip
scene_object = st.tuples(
    shape, st.sampled_from(["road", "car", "person", "sky", "unlabeled"]), st.booleans()
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(items=st.lists(scene_object, min_size=1, max_size=8))
def test_any_scene_exports_and_imports_with_the_same_maps(tmp_path_factory, items):
    folder = tmp_path_factory.mktemp("scene")
    objects = [
        AnnotationObject(label(name), geometry, prov(), crowd=crowd and name == "car")
        for geometry, name, crowd in items
    ]
    with _frame_with(folder, objects) as project:
        export_dataset(project, "coco-panoptic", folder / "o.json")
        with Project.create(folder / "back.roadmark") as back:
            import_dataset(back, "coco-panoptic", folder / "o.json")
            for map_a, map_b in zip(
                _maps(project, project.frames()[0]), _maps(back, back.frames()[0]), strict=True
            ):
                assert np.array_equal(map_a, map_b)
