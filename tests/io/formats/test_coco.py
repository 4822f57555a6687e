"""COCO import and export, checked with pycocotools."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as coco_mask
from pycocotools.coco import COCO

from roadmark.core.annotation import Box, ObjectKind
from roadmark.core.raster import region_mask
from roadmark.io.formats.errors import UnknownLabelsError
from roadmark.io.formats.jobs import export_dataset, import_dataset
from roadmark.io.store import Project
from tests.io.formats.conftest import SCHEMA, demo_project, label, make_images


def test_pycocotools_loads_the_export_and_decodes_our_masks(rich_project: Project, tmp_path):
    target = tmp_path / "instances.json"
    report = export_dataset(rich_project, "coco", target)
    assert report.stats["rle"] == 3 and report.stats["boxes"] == 2  # 2 holes, 1 crowd
    assert report.stats["deleted_skipped"] == 1
    coco = COCO(str(target))
    frames = {frame.id: frame for frame in rich_project.frames()}
    assert sorted(coco.getImgIds()) == sorted(frames)
    assert [img["file_name"] for img in coco.loadImgs(sorted(frames))] == [
        "frame0.png",
        "frame1.png",
    ]
    categories = {c["id"]: c for c in coco.loadCats(coco.getCatIds())}
    assert categories[label("car")] == {"id": 26, "name": "car", "supercategory": "vehicle"}
    assert label("sidewalk") not in categories  # only the deleted object used it
    for image_id, frame in frames.items():
        live = [o for o in rich_project.objects(image_id) if not o.deleted]
        annotations = coco.loadAnns(coco.getAnnIds(imgIds=[image_id]))
        assert [a["category_id"] for a in annotations] == [o.label_id for o in live]
        for ann, obj in zip(annotations, live, strict=True):
            assert ann["iscrowd"] == int(obj.crowd)
            if obj.kind is ObjectKind.BOX:
                assert "segmentation" not in ann
                assert ann["bbox"] == list(obj.geometry.to_xywh())
                continue
            ours = region_mask(obj.geometry, frame.height, frame.width)
            decoded = coco.annToMask(ann).astype(bool)
            assert np.array_equal(decoded, ours)
            assert ann["area"] == ours.sum()
            holes = any(p.interiors for p in getattr(obj.geometry, "geoms", [obj.geometry]))
            assert isinstance(ann["segmentation"], dict) == (obj.crowd or holes)
    model_box = coco.loadAnns(coco.getAnnIds(imgIds=[min(frames)]))[-1]
    assert model_box["score"] == 0.875 and model_box["track_id"] == 8
    assert model_box["roadmark"]["source"] == "model:demo"
    car = coco.loadAnns(coco.getAnnIds(imgIds=[min(frames)]))[2]
    assert car["attributes"] == {"occluded": True, "truncated": False}


def test_demo_frames_decode_identically(tmp_path: Path):
    with demo_project(tmp_path / "demo.roadmark", frames=2) as project:
        export_dataset(project, "coco", tmp_path / "out.json")
        coco = COCO(str(tmp_path / "out.json"))
        for frame in project.frames():
            objects = project.objects(frame.id)
            annotations = coco.loadAnns(coco.getAnnIds(imgIds=[frame.id]))
            assert len(annotations) == len(objects)
            for ann, obj in zip(annotations, objects, strict=True):
                ours = region_mask(obj.geometry, frame.height, frame.width)
                assert np.array_equal(coco.annToMask(ann).astype(bool), ours)


def _rle(mask: np.ndarray, *, compressed: bool) -> dict:
    if compressed:
        encoded = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
        return {"size": list(encoded["size"]), "counts": encoded["counts"].decode()}
    flat = mask.flatten(order="F").astype(np.int8)
    changes = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
    counts = np.diff(np.concatenate([[0], changes])).tolist()
    return {"size": list(mask.shape), "counts": counts}


def _dataset(tmp_path: Path) -> tuple[Path, dict, dict[str, np.ndarray]]:
    """A COCO file written by another tool: image ids 0 and a string, category ids from 0,
    subfolders, polygons, compressed and uncompressed RLE, a crowd, a box-only object."""
    (tmp_path / "imgs" / "day").mkdir(parents=True)
    make_images(tmp_path / "imgs" / "day", 1, width=64, height=48)
    make_images(tmp_path / "imgs", 1, width=64, height=48)
    hole = np.zeros((48, 64), bool)
    hole[10:30, 5:40] = True
    hole[15:20, 10:20] = False
    crowd = np.zeros((48, 64), bool)
    crowd[30:45, 40:60] = True
    masks = {"hole": hole, "crowd": crowd}
    data = {
        "images": [
            {"id": 0, "file_name": "day/frame0.png", "width": 64, "height": 48},
            {"id": "img-b", "file_name": "frame0.png", "width": 64, "height": 48},
        ],
        "categories": [
            {"id": 0, "name": "road", "supercategory": "flat"},
            {"id": 1, "name": "car", "supercategory": "vehicle"},
            {"id": 2, "name": "person", "supercategory": "human"},
        ],
        "annotations": [
            {
                "id": 10,
                "image_id": 0,
                "category_id": 0,
                "iscrowd": 0,
                "segmentation": [[0, 30, 64, 30, 64, 48, 0, 48]],
                "bbox": [0, 30, 64, 18],
            },
            {
                "id": 11,
                "image_id": 0,
                "category_id": 1,
                "iscrowd": 0,
                "segmentation": [[5.5, 5.5, 20.25, 6, 18, 20.75], [30, 5, 40, 5, 40, 15]],
                "bbox": [5.5, 5, 34.5, 15.75],
            },
            {
                "id": 12,
                "image_id": "img-b",
                "category_id": 1,
                "iscrowd": 0,
                "segmentation": _rle(hole, compressed=True),
            },
            {
                "id": 13,
                "image_id": "img-b",
                "category_id": 2,
                "iscrowd": 1,
                "segmentation": _rle(crowd, compressed=False),
            },
            {"id": 14, "image_id": "img-b", "category_id": 2, "bbox": [1.5, 2, 10, 20]},
        ],
    }
    path = tmp_path / "imgs" / "annotations.json"
    path.write_text(json.dumps(data))
    return path, data, masks


def test_imports_polygons_rle_crowds_string_and_zero_ids(tmp_path: Path):
    path, data, masks = _dataset(tmp_path)
    with Project.create(tmp_path / "p.roadmark") as project:
        report = import_dataset(project, "coco", path)
        assert (report.frames, report.frames_added, report.objects) == (2, 2, 5)
        frames = {Path(f.path).as_posix(): f for f in project.frames()}
        first = frames["imgs/day/frame0.png"]
        second = frames["imgs/frame0.png"]
        road, car = project.objects(first.id)
        assert road.label_id == label("road") and car.label_id == label("car")
        polygons = data["annotations"][1]["segmentation"]
        expected = coco_mask.decode(coco_mask.merge(coco_mask.frPyObjects(polygons, 48, 64)))
        assert np.array_equal(region_mask(car.geometry, 48, 64), expected.astype(bool))
        assert car.instance_id == 1 and car.provenance.source == "import:coco"
        hole, crowd, box = project.objects(second.id)
        assert np.array_equal(region_mask(hole.geometry, 48, 64), masks["hole"])
        assert len(hole.geometry.interiors) == 1 and not hole.crowd
        assert np.array_equal(region_mask(crowd.geometry, 48, 64), masks["crowd"])
        assert crowd.crowd and crowd.instance_id is None
        assert box.geometry == Box(1.5, 2, 11.5, 22)


def test_unknown_categories_are_listed_mapped_or_added(tmp_path: Path):
    path, data, _ = _dataset(tmp_path)
    data["categories"][2]["name"] = "pedestrian"
    data["categories"].append({"id": 3, "name": "unused"})
    path.write_text(json.dumps(data))
    with Project.create(tmp_path / "p.roadmark") as project:
        with pytest.raises(UnknownLabelsError, match=r"'pedestrian' \(2\)") as info:
            import_dataset(project, "coco", path)
        assert "unused" not in str(info.value)  # categories no annotation uses do not matter
        import_dataset(project, "coco", path, mapping={"pedestrian": "person"})
        frame = project.frames()[1]
        assert [o.label_id for o in project.objects(frame.id)][1:] == [label("person")] * 2
    with Project.create(tmp_path / "q.roadmark") as project:
        report = import_dataset(project, "coco", path, add_labels=True)
        assert report.labels_added == ["pedestrian"]
        assert project.schema.label("pedestrian").id == max(SCHEMA.by_id) + 1


def test_images_are_found_under_the_recorded_root_or_images_option(tmp_path: Path):
    with demo_project(tmp_path / "demo.roadmark", frames=1) as project:
        (tmp_path / "elsewhere").mkdir()
        export_dataset(project, "coco", tmp_path / "elsewhere" / "out.json")
    with Project.create(tmp_path / "p.roadmark") as project:
        assert import_dataset(project, "coco", tmp_path / "elsewhere" / "out.json").frames == 1
        frame = project.frames()[0]
        assert frame.path == "demo-images/demo_000000_000000_leftImg8bit.png"
        assert frame.sequence == "demo_000000"
    with Project.create(tmp_path / "q.roadmark") as project:
        report = import_dataset(
            project, "coco", tmp_path / "elsewhere" / "out.json", images=tmp_path / "demo-images"
        )
        assert report.frames_added == 1


@pytest.mark.parametrize(
    "ring",
    [
        [(2.3, 2.1), (30.5, 28.2), (30.1, 2.7), (2.8, 29.9)],  # a bow tie, float corners
        # a traced outline doubling back along one-pixel spikes
        [(40, 4), (40, 6), (39, 7), (40, 8), (42, 8), (42, 12), (43, 13), (43, 16), (43, 14),
         (42, 13), (41, 14), (41, 19), (40, 20), (40, 26), (39, 26), (38, 27), (38, 22),
         (37, 21), (37, 17), (36, 16), (38, 16), (38, 21), (39, 22), (40, 21), (40, 16),
         (39, 15), (38, 16), (36, 16), (36, 8), (38, 8), (39, 7), (39, 6), (38, 5), (39, 4)],
    ],
)  # fmt: skip
def test_self_crossing_polygons_import_as_pycocotools_decodes_them(tmp_path: Path, ring):
    make_images(tmp_path, 1, 64, 48)
    flat = [float(v) for point in ring for v in point]
    data = {
        "images": [{"id": 1, "file_name": "frame0.png", "width": 64, "height": 48}],
        "categories": [{"id": 1, "name": "car"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [flat], "iscrowd": 0}
        ],
    }
    path = tmp_path / "a.json"
    path.write_text(json.dumps(data))
    with Project.create(tmp_path / "p.roadmark") as project:
        report = import_dataset(project, "coco", path)
        assert any("self-intersecting" in str(w) for w in report.warnings)
        (car,) = project.objects(project.frames()[0].id)
        assert car.geometry.is_valid
        expected = coco_mask.decode(coco_mask.merge(coco_mask.frPyObjects([flat], 48, 64)))
        assert np.array_equal(region_mask(car.geometry, 48, 64), expected.astype(bool))
