"""COCO panoptic bad input: one clear error naming the file and the entry, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from roadmark.io.formats.coco_panoptic_read import id_to_rgb
from roadmark.io.formats.errors import FormatError
from roadmark.io.formats.jobs import import_dataset
from roadmark.io.store import Project
from tests.io.formats.conftest import make_images


def _dataset(folder: Path, *, png: np.ndarray | None = None, **changes) -> Path:
    """A one-image panoptic dataset (a car segment 5 on void), with ``changes`` applied:
    a dict updates the first entry of that list, anything else replaces the key."""
    make_images(folder, 1, width=64, height=48)
    ids = np.zeros((48, 64), dtype=np.int64)
    ids[10:20, 10:30] = 5
    (folder / "pan").mkdir(exist_ok=True)
    image = id_to_rgb(ids)[:, :, ::-1] if png is None else png
    cv2.imwrite(str(folder / "pan" / "frame0.png"), image)
    data = {
        "images": [{"id": 1, "file_name": "frame0.png", "width": 64, "height": 48}],
        "annotations": [
            {
                "image_id": 1,
                "file_name": "frame0.png",
                "segments_info": [{"id": 5, "category_id": 26, "iscrowd": 0}],
            }
        ],
        "categories": [{"id": 26, "name": "car", "isthing": 1}],
    }
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(data.get(key), list):
            data[key][0].update(value)
        else:
            data[key] = value
    path = folder / "pan.json"
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def project(tmp_path: Path):
    with Project.create(tmp_path / "p.roadmark") as opened:
        yield opened


def _fails(project: Project, source: Path, message: str, field: str | None) -> FormatError:
    with pytest.raises(FormatError, match=message) as info:
        import_dataset(project, "coco-panoptic", source)
    assert info.value.path is not None
    assert info.value.field == field, str(info.value)
    assert project.frame_count() == 0
    return info.value


def test_the_good_dataset_imports(project: Project, tmp_path: Path):
    report = import_dataset(project, "coco-panoptic", _dataset(tmp_path / "ds"))
    assert (report.frames, report.objects, report.warnings) == (1, 1, [])


SEGMENT = {"id": 5, "category_id": 26, "iscrowd": 0}


@pytest.mark.parametrize(
    ("changes", "message", "field"),
    [
        ({"categories": "x"}, "must be a list", "categories"),
        ({"images": None}, "must be a list", "images"),
        ({"categories": [{"id": 26, "name": ""}]}, "must be a name", "categories[0].name"),
        (
            {"categories": [{"id": 26, "name": "car", "isthing": 2}]},
            "0 or 1",
            "categories[0].isthing",
        ),
        (
            {"categories": [{"id": 26, "name": "car"}, {"id": 26, "name": "bus"}]},
            "duplicate category id 26",
            "categories[1].id",
        ),
        ({"images": {"id": [1]}}, "integer or a string", "images[0].id"),
        ({"images": {"height": 0}}, "at least 1", "images[0].height"),
        ({"images": {"file_name": "../x.png"}}, "leaves the images folder", "images[0].file_name"),
        ({"images": {"file_name": "nope.png"}}, "not found", "images[0].file_name"),
        ({"annotations": {"image_id": 2}}, "no image has id 2", "annotations[0].image_id"),
        (
            {"annotations": [{"image_id": 1, "file_name": "frame0.png", "segments_info": []}] * 2},
            "second annotation",
            "annotations[1].image_id",
        ),
        ({"annotations": {"segments_info": {}}}, "must be a list", "annotations[0].segments_info"),
        (
            {"annotations": {"file_name": "/etc/passwd"}},
            "leaves the images folder",
            "annotations[0].file_name",
        ),
        (
            {"annotations": {"file_name": "missing.png"}},
            "use --masks DIR",
            "annotations[0].file_name",
        ),
        (
            {"annotations": {"segments_info": [SEGMENT | {"id": 0}]}},
            "at least 1",
            "annotations[0].segments_info[0].id",
        ),
        (
            {"annotations": {"segments_info": [SEGMENT | {"id": 256**3}]}},
            "at most 256",
            "annotations[0].segments_info[0].id",
        ),
        (
            {"annotations": {"segments_info": [SEGMENT | {"id": "5"}]}},
            "integer",
            "annotations[0].segments_info[0].id",
        ),
        (
            {"annotations": {"segments_info": [SEGMENT, SEGMENT]}},
            "duplicate segment id 5",
            "annotations[0].segments_info[1].id",
        ),
        (
            {"annotations": {"segments_info": [SEGMENT | {"category_id": 3}]}},
            "no category has id 3",
            "annotations[0].segments_info[0].category_id",
        ),
        (
            {"annotations": {"segments_info": [SEGMENT | {"iscrowd": True}]}},
            "0 or 1",
            "annotations[0].segments_info[0].iscrowd",
        ),
        (
            {"annotations": {"segments_info": [SEGMENT | {"area": "big"}]}},
            "finite number",
            "annotations[0].segments_info[0].area",
        ),
        (
            {"annotations": {"segments_info": [SEGMENT | {"roadmark": {"instance_id": "a"}}]}},
            "integer",
            "annotations[0].segments_info[0].roadmark.instance_id",
        ),
        (
            {"annotations": {"roadmark": {"boxes": [{"category_id": 26, "bbox": [1, 2]}]}}},
            r"\[x, y, w, h\]",
            "annotations[0].roadmark.boxes[0].bbox",
        ),
        (
            {"annotations": {"roadmark": {"unseen": [{"category_id": 26, "wkt": "POINT (1 2)"}]}}},
            "WKT of a polygon",
            "annotations[0].roadmark.unseen[0].wkt",
        ),
        (
            {"annotations": {"roadmark": {"unseen": [{"category_id": 26, "wkt": "POLYGON (("}]}}},
            "WKT of a polygon",
            "annotations[0].roadmark.unseen[0].wkt",
        ),
        (
            {"annotations": {"roadmark": {"unseen": [{"category_id": 26}]}}},
            "WKT of a polygon",
            "annotations[0].roadmark.unseen[0].wkt",
        ),
        (
            {"annotations": {"roadmark": {"boxes": "x"}}},
            "must be a list",
            "annotations[0].roadmark.boxes",
        ),
    ],
)
def test_bad_entries(project: Project, tmp_path: Path, changes, message, field):
    _fails(project, _dataset(tmp_path / "ds", **changes), message, field)


@pytest.mark.parametrize(
    ("png", "message"),
    [
        (np.zeros((48, 64), dtype=np.uint8), "8-bit RGB"),
        (np.zeros((48, 64, 3), dtype=np.uint16), "8-bit RGB"),
        (np.zeros((40, 64, 3), dtype=np.uint8), "is 64x40 but the image is 64x48"),
    ],
)
def test_bad_pngs_name_the_png(project: Project, tmp_path: Path, png, message):
    error = _fails(project, _dataset(tmp_path / "ds", png=png), message, None)
    assert error.path == str(tmp_path / "ds" / "pan" / "frame0.png")


def test_a_png_that_is_not_an_image(project: Project, tmp_path: Path):
    source = _dataset(tmp_path / "ds")
    (tmp_path / "ds" / "pan" / "frame0.png").write_bytes(b"not a png")
    _fails(project, source, "not a readable PNG", None)


def test_folders_and_broken_json(project: Project, tmp_path: Path):
    source = _dataset(tmp_path / "ds")
    _fails(project, tmp_path / "ds", "got a folder", None)
    source.write_text("[1, 2")
    _fails(project, source, r"not valid JSON \(line 1", None)
    source.write_text("[1, 2]")
    _fails(project, source, "must be an object", None)


def test_unknown_labels_are_listed_then_added_or_mapped(project: Project, tmp_path: Path):
    categories = [{"id": 26, "name": "lorry", "isthing": 1}]
    source = _dataset(tmp_path / "ds", categories=categories)
    with pytest.raises(FormatError, match=r"'lorry' \(1\).*--add-labels"):
        import_dataset(project, "coco-panoptic", source)
    assert project.frame_count() == 0 and "lorry" not in project.schema.by_name
    report = import_dataset(project, "coco-panoptic", source, add_labels=True)
    assert report.labels_added == ["lorry"] and report.objects == 1
    with Project.create(tmp_path / "q.roadmark") as other:
        import_dataset(other, "coco-panoptic", source, mapping={"lorry": "truck"})
        frame = other.frames()[0]
        assert other.objects(frame.id)[0].label_id == other.schema.label("truck").id
