"""BDD100K (Scalabel JSON): detection frames, tracking videos as sequences and tracks,
box2d's inclusive corners, poly2d with Bezier curves and open lines, RLE masks, attributes,
bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from pycocotools import mask as coco_mask

from roadmark.core.annotation import AnnotationObject, Box, ObjectKind
from roadmark.core.raster import region_mask
from roadmark.io.formats.errors import FormatError, UnknownLabelsError
from roadmark.io.formats.jobs import export_dataset, import_dataset
from roadmark.io.store import Project
from tests.io.formats.conftest import all_objects, label, make_images, project_with, prov

W, H = 160, 96
MAPPING = {"pedestrian": "person"}
SHORT_MASK = coco_mask.encode(np.asfortranarray(np.ones((40, W), np.uint8)))["counts"].decode()


def _det_frame(name: str) -> dict:
    hole = np.zeros((H, W), dtype=np.uint8)
    hole[10:40, 10:60] = 1
    hole[20:30, 20:40] = 0
    counts = coco_mask.encode(np.asfortranarray(hole))
    return {
        "name": name,
        "attributes": {"weather": "clear", "scene": "city street", "timeofday": "daytime"},
        "timestamp": 10000,
        "labels": [
            {
                "id": 0,
                "category": "traffic light",
                "attributes": {"occluded": False, "truncated": False, "trafficLightColor": "g"},
                "box2d": {"x1": 10.5, "y1": 5.25, "x2": 17.75, "y2": 13.0},
            },
            {
                "id": 1,
                "category": "car",
                "attributes": {"occluded": True, "truncated": False, "crowd": False},
                "box2d": {"x1": 40.0, "y1": 50.0, "x2": 79.0, "y2": 69.0},
                "score": 0.625,
            },
            {
                "id": 2,
                "category": "car",
                "attributes": {"crowd": True},
                "poly2d": [
                    {"vertices": [[90, 60], [120, 60], [120, 80]], "types": "LLL", "closed": True}
                ],
            },
            {
                "id": 3,
                "category": "road",
                "poly2d": [
                    {
                        "vertices": [[0, 96], [0, 70], [40, 60], [120, 60], [160, 70], [160, 96]],
                        "types": "LLCCLL",
                        "closed": True,
                    }
                ],
            },
            {
                "id": 4,
                "category": "road",
                "poly2d": [{"vertices": [[5, 90], [80, 62]], "types": "LL", "closed": False}],
            },
            {
                "id": 5,
                "category": "building",
                "rle": {"counts": counts["counts"].decode(), "size": [H, W]},
            },
            {
                "id": 6,
                "category": "pedestrian",
                "box2d": {"x1": 130, "y1": 30, "x2": 139, "y2": 59},
            },
        ],
    }


def _det(folder: Path, frames: list[dict] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    images = make_images(folder / "images", 2, width=W, height=H)
    frames = frames or [_det_frame(images[0].name), {"name": images[1].name, "labels": None}]
    path = folder / "det_val.json"
    path.write_text(json.dumps(frames))
    return path


@pytest.fixture
def project(tmp_path: Path):
    with Project.create(tmp_path / "p.roadmark", user="tester") as opened:
        yield opened


def test_detection_frames_import(project: Project, tmp_path: Path):
    report = import_dataset(project, "bdd100k", _det(tmp_path / "bdd"), mapping=MAPPING)
    assert report.frames == 2 and report.objects == 6
    warnings = [str(w) for w in report.warnings]
    assert any("'trafficLightColor' dropped on 1 object" in w for w in warnings)
    assert any("1 open poly2d line(s)" in w for w in warnings)
    objects = all_objects(project)[0]
    light, car, crowd, road, building, person = objects
    assert light.geometry == Box(10.5, 5.25, 18.75, 14.0)  # x2, y2 are the last pixel inside
    assert person.geometry == Box(130, 30, 140, 60)
    assert dict(light.attributes) == {"occluded": False}
    assert dict(car.attributes) == {"occluded": True, "truncated": False}
    assert car.provenance.confidence == 0.625 and car.instance_id is None
    assert crowd.crowd and crowd.instance_id is None and crowd.kind is ObjectKind.REGION
    assert road.region.area > 4000 and road.region.is_valid  # the curve was sampled
    mask = region_mask(building.region, H, W)
    assert mask.sum() == 50 * 30 - 20 * 10 and not mask[25, 30]  # the hole of the RLE
    assert all(o.track_id is None for o in objects)  # no videoName: ids are not tracks
    assert all(o.provenance.source == "import:bdd100k" for o in objects)
    sequences = {frame.sequence for frame in project.frames()}
    assert sequences == {"images"}  # named as `roadmark add` names them


def test_unknown_categories_are_listed(project: Project, tmp_path: Path):
    with pytest.raises(UnknownLabelsError, match=r"'pedestrian' \(1\)"):
        import_dataset(project, "bdd100k", _det(tmp_path / "bdd"))
    assert project.frame_count() == 0


def _track(folder: Path) -> Path:
    """Two videos in the tracking layout: images/<video>/<name>, one JSON per video."""
    labels = folder / "labels"
    labels.mkdir(parents=True)
    for video, ids in (("b1c66a42-6f7d68ca", ["7", "abc"]), ("b1c9c847-3bda4659", ["7", "9"])):
        frames = []
        for index in range(3):
            name = f"{video}-{index + 1:07d}.jpg"
            image = make_images(folder / "tmp", 1, width=W, height=H)[0]
            (folder / "images" / video).mkdir(parents=True, exist_ok=True)
            image.rename(folder / "images" / video / name)
            boxes = [
                {
                    "id": track,
                    "category": "car",
                    "attributes": {"occluded": False, "truncated": False, "crowd": False},
                    "box2d": {
                        "x1": 10.0 + index + k * 50,
                        "y1": 20.0,
                        "x2": 40.0 + index + k * 50,
                        "y2": 50.0,
                    },
                }
                for k, track in enumerate(ids)
            ]
            frames.append({"name": name, "videoName": video, "frameIndex": index, "labels": boxes})
        frames.reverse()  # the order in the file does not matter, frameIndex does
        (labels / f"{video}.json").write_text(json.dumps(frames))
    return labels


def test_tracking_videos_become_sequences_and_tracks(project: Project, tmp_path: Path):
    labels = _track(tmp_path / "track")
    report = import_dataset(project, "bdd100k", labels, images=tmp_path / "track" / "images")
    assert report.frames == 6
    frames = project.frames()
    assert [(f.sequence, f.sequence_index) for f in frames] == [
        ("b1c66a42-6f7d68ca", 0),
        ("b1c66a42-6f7d68ca", 1),
        ("b1c66a42-6f7d68ca", 2),
        ("b1c9c847-3bda4659", 0),
        ("b1c9c847-3bda4659", 1),
        ("b1c9c847-3bda4659", 2),
    ]
    tracks = [[o.track_id for o in project.objects(f.id)] for f in frames]
    assert tracks == [[7, 8]] * 3 + [[7, 9]] * 3  # "abc" gets the next free number
    first = project.objects(frames[1].id)[0]
    assert first.geometry == Box(11.0, 20.0, 42.0, 51.0)  # x2 41 is the last pixel in

    export_dataset(project, "bdd100k", tmp_path / "out.json")
    written = json.loads((tmp_path / "out.json").read_text())
    assert [(f["videoName"], f["frameIndex"]) for f in written] == [
        (f.sequence, f.sequence_index) for f in frames
    ]
    label0 = written[1]["labels"][0]
    assert label0["id"] == "7" and label0["category"] == "car"
    # Scalabel's box2d_to_bbox: width = x2 - x1 + 1
    box = label0["box2d"]
    assert (box["x2"] - box["x1"] + 1, box["y2"] - box["y1"] + 1) == (31.0, 31.0)
    with Project.create(tmp_path / "again.roadmark") as again:
        import_dataset(again, "bdd100k", tmp_path / "out.json")
        assert [(f.sequence, f.sequence_index) for f in again.frames()] == [
            (f.sequence, f.sequence_index) for f in frames
        ]
        assert [[o.track_id for o in again.objects(f.id)] for f in again.frames()] == tracks


def test_export_writes_polygons_masks_and_extras(tmp_path: Path):
    image = make_images(tmp_path / "images", 1, width=W, height=H)[0]
    ring = shapely.box(10, 10, 60, 50).difference(shapely.box(20, 20, 30, 30))
    objects = [
        AnnotationObject(label("building"), ring, prov()),
        AnnotationObject(label("car"), shapely.box(70.5, 10, 90, 30.25), prov(), instance_id=3),
        AnnotationObject(label("car"), Box(1, 2, 3, 4), prov(), deleted=True),
        AnnotationObject(label("car"), Box(5, 6, 7.5, 8), prov(source="model:x", confidence=0.5)),
    ]
    with project_with(tmp_path / "s.roadmark", [(image, objects)]) as source:
        report = export_dataset(source, "bdd100k", tmp_path / "out.json")
    assert report.stats["deleted_skipped"] == 1 and report.stats["rle"] == 1
    (frame,) = json.loads((tmp_path / "out.json").read_text())
    assert frame["size"] == {"width": W, "height": H}
    building, car, box = frame["labels"]
    decoded = coco_mask.decode(
        {"size": building["rle"]["size"], "counts": building["rle"]["counts"]}
    )
    assert np.array_equal(decoded.astype(bool), region_mask(ring, H, W))
    assert car["poly2d"][0]["closed"] and car["poly2d"][0]["types"] == "LLLL"
    assert car["roadmark"]["instance_id"] == 3
    assert box["score"] == 0.5 and box["roadmark"]["source"] == "model:x"


def _fails(project: Project, path: Path, message: str, field: str | None):
    with pytest.raises(FormatError, match=message) as info:
        import_dataset(project, "bdd100k", path, mapping=MAPPING)
    assert info.value.path == str(path), info.value.path
    assert info.value.field == field, str(info.value)
    assert project.frame_count() == 0


@pytest.mark.parametrize(
    ("change", "message", "field"),
    [
        ({"name": "../x.png"}, "leaves the images folder", "frames[0].name"),
        ({"name": "missing.png"}, "'missing.png' not found", "frames[0].name"),
        ({"videoName": 5}, "video name", "frames[0].videoName"),
        ({"frameIndex": -1}, "at least 0", "frames[0].frameIndex"),
        ({"size": {"width": W, "height": "x"}}, "integer", "frames[0].size.height"),
        ({"size": {"width": W, "height": 50}}, "says the image is 160x50", "size"),
        ({"labels": {}}, "must be a list", "frames[0].labels"),
        ({"labels": [5]}, "must be an object", "frames[0].labels[0]"),
        ({"labels": [{"box2d": {}}]}, "label name", "frames[0].labels[0].category"),
        ({"labels": [{"category": "car"}]}, "box2d, poly2d or rle", "frames[0].labels[0]"),
        (
            {"labels": [{"category": "car", "box2d": {"x1": 1, "y1": 1, "x2": "a", "y2": 3}}]},
            "finite number",
            "frames[0].labels[0].box2d.x2",
        ),
        (
            {"labels": [{"category": "car", "box2d": {"x1": 9, "y1": 1, "x2": 3, "y2": 3}}]},
            "must not be less",
            "frames[0].labels[0].box2d",
        ),
        (
            {"labels": [{"category": "car", "box2d": {}, "attributes": {"crowd": 1}}]},
            "true or false",
            "frames[0].labels[0].attributes.crowd",
        ),
        (
            {"labels": [{"category": "car", "poly2d": [{"vertices": [[1, 2], [3]]}]}]},
            r"point 1 must be \[x, y\]",
            "frames[0].labels[0].poly2d[0].vertices",
        ),
        (
            {
                "labels": [
                    {
                        "category": "car",
                        "poly2d": [{"vertices": [[1, 2], [3, 4], [5, 1]], "types": "LL"}],
                    }
                ]
            },
            "one L or C per vertex",
            "frames[0].labels[0].poly2d[0].types",
        ),
        (
            {
                "size": {"width": W, "height": H},
                "labels": [{"category": "car", "rle": {"counts": "x", "size": [40, W]}}],
            },
            "does not match the frame's size",
            "frames[0].labels[0].rle.size",
        ),
        (
            {"labels": [{"category": "car", "rle": {"counts": SHORT_MASK, "size": [40, W]}}]},
            "says the image is 160x40",
            "size",
        ),
        (
            {"labels": [{"category": "car", "rle": {"counts": "!!", "size": [H, W]}}]},
            "malformed RLE",
            "frames[0].labels[0].rle.counts",
        ),
        (
            {
                "labels": [
                    {
                        "category": "car",
                        "box2d": {"x1": 1, "y1": 1, "x2": 2, "y2": 2},
                        "roadmark": {"track_id": "x"},
                    }
                ]
            },
            "integer",
            "frames[0].labels[0].roadmark.track_id",
        ),
    ],
)
def test_bad_entries(project: Project, tmp_path: Path, change: dict, message: str, field: str):
    path = _det(tmp_path / "bdd")
    frames = json.loads(path.read_text())
    frames[0] |= {"name": "frame0.png", "labels": []} if "name" not in change else {}
    frames[0] |= change
    if "labels" not in change:
        frames[0]["labels"] = []
    path.write_text(json.dumps(frames))
    _fails(project, path, message, field)


def test_bad_files(project: Project, tmp_path: Path):
    path = _det(tmp_path / "bdd")
    path.write_text('{"frames": 3}')
    _fails(project, path, "list of frames", None)
    path.write_text("[1]")
    _fails(project, path, "must be an object", "frames[0]")
    path.write_text("[{")
    _fails(project, path, "not valid JSON", None)
    _fails(project, tmp_path / "missing.json", "no such file or folder", None)
    (tmp_path / "empty").mkdir()
    _fails(project, tmp_path / "empty", "has no .json label files", None)


def test_the_bdd100k_schema_keeps_the_categories_and_attributes(tmp_path: Path):
    from roadmark.io.schema_files import load_schema

    frame = _det_frame("frame0.png")
    frame["labels"] = [label for label in frame["labels"] if "box2d" in label]
    path = _det(tmp_path / "bdd", [frame])
    with Project.create(tmp_path / "b.roadmark", load_schema("bdd100k")) as project:
        report = import_dataset(project, "bdd100k", path)  # no --map needed
        assert report.warnings == []
        light, _car, person = all_objects(project)[0]
        assert dict(light.attributes) == {
            "occluded": False,
            "truncated": False,
            "trafficLightColor": "g",
        }
        assert project.schema.by_id[person.label_id].name == "pedestrian"
        export_dataset(project, "bdd100k", tmp_path / "out.json")
    (written,) = json.loads((tmp_path / "out.json").read_text())
    assert written["labels"][0]["attributes"] == frame["labels"][0]["attributes"]
    assert [label["category"] for label in written["labels"]] == [
        "traffic light",
        "car",
        "pedestrian",
    ]
