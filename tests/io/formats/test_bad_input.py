"""Bad input: clear errors naming the file, the entry and the field; repairs are warned;
nothing is written unless the whole import succeeds; a failed export leaves nothing."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from roadmark.core.frame_spec import FrameSpecError
from roadmark.core.jobs import CancelToken, JobCancelled
from roadmark.io.errors import ProjectError
from roadmark.io.formats.common import ExportContext, Job
from roadmark.io.formats.errors import FormatError
from roadmark.io.formats.jobs import _export_frames, export_dataset, import_dataset
from roadmark.io.store import Project
from tests.helpers import CancelAfterChecks
from tests.io.formats.conftest import make_images, project_with

SQUARE = [[2, 2], [20, 2], [20, 20], [2, 20]]


def _cityscapes(folder: Path, objects: list, *, size=(48, 64), name="x_000000_000001") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    image = make_images(folder, 1, width=size[1], height=size[0])[0]
    image.rename(folder / f"{name}_leftImg8bit.png")
    path = folder / f"{name}_gtFine_polygons.json"
    path.write_text(json.dumps({"imgHeight": 48, "imgWidth": 64, "objects": objects}))
    return path


def _coco(folder: Path, **changes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    make_images(folder, 1, width=64, height=48)
    data = {
        "images": [{"id": 1, "file_name": "frame0.png", "width": 64, "height": 48}],
        "categories": [{"id": 1, "name": "car"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[2, 2, 20, 2, 20, 20]]}
        ],
    }
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(data.get(key), list):
            data[key][0].update(value)
        else:
            data[key] = value
    path = folder / "coco.json"
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def project(tmp_path: Path):
    with Project.create(tmp_path / "p.roadmark") as opened:
        yield opened


def _fails(project: Project, fmt: str, source: Path, message: str, field: str | None, **kw):
    with pytest.raises(FormatError, match=message) as info:
        import_dataset(project, fmt, source, **kw)
    assert info.value.path is not None
    if field is not None:
        assert info.value.field == field, str(info.value)
    assert project.frame_count() == 0
    return info.value


@pytest.mark.parametrize(
    ("text", "message"),
    [("{not json", r"not valid JSON \(line 1, column 2"), (b"\xff\xfe", "not valid JSON")],
)
def test_malformed_json(project: Project, tmp_path: Path, text, message):
    path = _cityscapes(tmp_path / "cs", [])
    coco = _coco(tmp_path / "coco")
    for file in (path, coco):
        file.write_bytes(text if isinstance(text, bytes) else text.encode())
    error = _fails(project, "cityscapes", path, message, None)
    assert error.path == str(path)
    _fails(project, "coco", coco, message, None)


@pytest.mark.parametrize(
    ("objects", "message", "field"),
    [
        ([{"label": "car"}], "list of", "objects[0].polygon"),
        ([{"label": 7, "polygon": SQUARE}], "label name", "objects[0].label"),
        (
            [{"label": "car", "polygon": [[1, 1], [5, 5]]}],
            "at least 3 points",
            "objects[0].polygon",
        ),
        (
            [{"label": "car", "polygon": [[1, 1], [5, "a"], [2, 7]]}],
            "number",
            "objects[0].polygon[1]",
        ),
        (
            [{"label": "car", "polygon": [[1, 1, 1], [5, 5], [2, 7]]}],
            r"\[x, y\]",
            "objects[0].polygon",
        ),
        ([{"label": "car", "polygon": SQUARE, "deleted": "yes"}], "0, 1", "objects[0].deleted"),
        ([{"label": "car", "polygon": SQUARE, "user": 5}], "text", "objects[0].user"),
        ([{"label": "car", "polygon": SQUARE, "roadmark": []}], "object", "objects[0].roadmark"),
        (
            [{"label": "car", "polygon": SQUARE, "roadmark": {"created_at": "yesterday"}}],
            "ISO-8601",
            "objects[0].roadmark.created_at",
        ),
        ("nope", "must be a list", "objects"),
    ],
)
def test_cityscapes_wrong_types(project: Project, tmp_path: Path, objects, message, field):
    _fails(project, "cityscapes", _cityscapes(tmp_path / "cs", objects), message, field)


def test_cityscapes_header_and_size_mismatch(project: Project, tmp_path: Path):
    path = _cityscapes(tmp_path / "a", [])
    path.write_text(json.dumps({"imgHeight": "48", "imgWidth": 64, "objects": []}))
    _fails(project, "cityscapes", path, "integer", "imgHeight")
    path = _cityscapes(tmp_path / "b", [{"label": "car", "polygon": SQUARE}], size=(40, 64))
    _fails(project, "cityscapes", path, "says the image is 64x48 but .* is 64x40", "size")


def test_repairs_and_out_of_image_polygons_are_warned(project: Project, tmp_path: Path):
    objects = [
        {"label": "car", "polygon": [[2, 2], [20, 20], [20, 2], [2, 20]]},  # bow tie
        {"label": "road", "polygon": [[50, 40], [90, 40], [90, 60]]},  # reaches outside
        {"label": "sky", "polygon": [[100, 100], [120, 100], [120, 120]]},  # outside
    ]
    report = import_dataset(project, "cityscapes", _cityscapes(tmp_path / "cs", objects))
    fields = [(w.field, w.message.split(";")[0]) for w in report.warnings]
    assert fields == [
        ("objects[0].polygon", "self-intersecting polygon repaired (make_valid)"),
        ("objects[1].polygon", "polygon reaches outside the 64x48 image"),
        ("objects[2].polygon", "polygon lies outside the 64x48 image"),
    ]
    assert report.objects == 3  # repaired and kept, never dropped
    coco = _coco(
        tmp_path / "coco",
        annotations={"segmentation": [[2, 2, 20, 20, 20, 2, 2, 20]]},
    )
    with Project.create(tmp_path / "q.roadmark") as other:
        report = import_dataset(other, "coco", coco)
        assert [w.field for w in report.warnings] == ["annotations[0] (id 1).segmentation[0]"]
        assert report.objects == 1


def test_missing_images_and_duplicate_images(project: Project, tmp_path: Path):
    path = _cityscapes(tmp_path / "cs", [])
    (tmp_path / "cs" / "x_000000_000001_leftImg8bit.png").unlink()
    _fails(project, "cityscapes", path, "not found", "image")
    coco = _coco(tmp_path / "coco", images={"file_name": "sub/missing.png"})
    _fails(project, "coco", coco, "'sub/missing.png' not found", "images[0].file_name")
    images = tmp_path / "imgs"
    images.mkdir()
    for split in ("a", "b"):
        _cityscapes(tmp_path / "two" / split, [], name="x_000000_000001")
    image = tmp_path / "two" / "a" / "x_000000_000001_leftImg8bit.png"
    image.rename(images / image.name)
    error = _fails(
        project, "cityscapes", tmp_path / "two", "annotates the same image", "image", images=images
    )
    assert error.path.endswith("b/x_000000_000001_gtFine_polygons.json")
    two = [{"id": i, "file_name": "frame0.png", "width": 64, "height": 48} for i in (1, 2)]
    _fails(project, "coco", _coco(tmp_path / "c2", images=two), "annotates the same image", "image")


@pytest.mark.parametrize("name", ["../../x.png", "/etc/passwd", "..\\..\\x.png", "C:/x.png"])
def test_path_traversal_is_refused(project: Project, tmp_path: Path, name: str):
    coco = _coco(tmp_path / "coco", images={"file_name": name})
    _fails(project, "coco", coco, "leaves the images folder", "images[0].file_name")


@pytest.mark.parametrize(
    ("changes", "message", "field"),
    [
        ({"images": [{"id": 1}, {"id": 1}]}, "duplicate image id 1", "images[1].id"),
        (
            {"categories": [{"id": 1, "name": "car"}] * 2},
            "duplicate category id",
            "categories[1].id",
        ),
        ({"annotations": "x"}, "must be a list", "annotations"),
        ({"images": {"id": True}}, "integer or a string", "images[0].id"),
        ({"images": {"width": "64"}}, "integer", "images[0].width"),
        ({"annotations": {"image_id": 2}}, "no image has id 2", "annotations[0].image_id"),
        ({"annotations": {"category_id": 0}}, "no category", "annotations[0] (id 1).category_id"),
        ({"annotations": {"iscrowd": 2}}, "0 or 1", "annotations[0] (id 1).iscrowd"),
        (
            {"annotations": {"segmentation": 5}},
            "polygons or an RLE",
            "annotations[0] (id 1).segmentation",
        ),
        (
            {"annotations": {"segmentation": [[1, 2, 3, 4]]}},
            "at least 3 points",
            "annotations[0] (id 1).segmentation[0]",
        ),
        (
            {"annotations": {"segmentation": [[1, 2, 3]]}},
            "flat list",
            "annotations[0] (id 1).segmentation[0]",
        ),
        (
            {"annotations": {"segmentation": None, "bbox": [1, 2, 3]}},
            r"\[x, y, w, h\]",
            "annotations[0] (id 1).bbox",
        ),
        (
            {"annotations": {"segmentation": None, "bbox": [1, 2, -3, 4]}},
            "negative",
            "annotations[0] (id 1).bbox",
        ),
        (
            {"annotations": {"segmentation": None}},
            "segmentation or a bbox",
            "annotations[0] (id 1)",
        ),
        ({"annotations": {"score": "high"}}, "number", "annotations[0] (id 1).score"),
        (
            {"annotations": {"segmentation": {"size": [40, 64], "counts": "abc"}}},
            r"RLE size \[40, 64\] does not match the image \(48 x 64\)",
            "annotations[0] (id 1).segmentation.size",
        ),
        (
            {"annotations": {"segmentation": {"size": [48, 64], "counts": [5, 7]}}},
            "add up to 12",
            "annotations[0] (id 1).segmentation.counts",
        ),
        (
            {"annotations": {"segmentation": {"size": [48, 64], "counts": 12}}},
            "string or a list",
            "annotations[0] (id 1).segmentation.counts",
        ),
    ],
)
def test_coco_bad_entries(project: Project, tmp_path: Path, changes, message, field):
    if "images" in changes and isinstance(changes["images"], list):
        changes = {
            "images": [
                {"file_name": "frame0.png", "width": 64, "height": 48} | i
                for i in changes["images"]
            ]
        }
    _fails(project, "coco", _coco(tmp_path / "coco", **changes), message, field)


def test_duplicate_annotation_ids(project: Project, tmp_path: Path):
    ann = {"id": 4, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2]}
    coco = _coco(tmp_path / "coco", annotations=[ann, ann])
    _fails(project, "coco", coco, "duplicate annotation id 4", "annotations[1].id")


def test_nothing_is_written_when_a_late_file_fails(project: Project, tmp_path: Path):
    good = _cityscapes(
        tmp_path / "cs", [{"label": "tram", "polygon": SQUARE}], name="a_000000_000001"
    )
    bad = _cityscapes(
        tmp_path / "cs", [{"label": "car", "polygon": [[1, 1]]}], name="b_000000_000001"
    )
    assert good.parent == bad.parent
    schema = project.schema
    _fails(
        project,
        "cityscapes",
        tmp_path / "cs",
        "at least 3 points",
        "objects[0].polygon",
        add_labels=True,
    )
    assert project.schema == schema
    with Project.open(project.location) as again:
        assert again.frame_count() == 0 and "tram" not in again.schema.by_name


def test_cancelling_an_import_rolls_everything_back(project: Project, tmp_path: Path):
    _cityscapes(tmp_path / "cs", [{"label": "tram", "polygon": SQUARE}], name="a_000000_000001")
    _cityscapes(tmp_path / "cs", [{"label": "car", "polygon": SQUARE}], name="b_000000_000001")
    stages: list[str] = []
    stop = CancelToken()

    def progress(done: int, total: int, stage: str = "") -> None:
        if not stages or stages[-1] != stage:
            stages.append(stage)
        if stage == "writing" and done == 1:
            stop.cancel()  # the first frame was written inside the transaction

    job = Job(progress=progress, cancel=stop)
    with pytest.raises(JobCancelled):
        import_dataset(project, "cityscapes", tmp_path / "cs", add_labels=True, job=job)
    assert stages == ["reading", "checking images", "writing"]
    assert project.frame_count() == 0 and "tram" not in project.schema.by_name
    with Project.open(project.location) as again:
        assert again.frame_count() == 0 and "tram" not in again.schema.by_name


def test_a_failed_or_cancelled_export_leaves_nothing(rich_project: Project, tmp_path: Path):
    out = tmp_path / "exports"
    out.mkdir()
    for fmt, name in (("cityscapes", "cs"), ("coco", "cs.json")):
        with pytest.raises(JobCancelled):
            export_dataset(rich_project, fmt, out / name, job=Job(cancel=CancelAfterChecks(2)))
        assert list(out.iterdir()) == []
    export_dataset(rich_project, "coco", out / "a.json")
    before = (out / "a.json").read_bytes()
    with pytest.raises(FormatError, match="exists already"):
        export_dataset(rich_project, "coco", out / "a.json")
    with pytest.raises(JobCancelled):
        export_dataset(
            rich_project,
            "coco",
            out / "a.json",
            overwrite=True,
            job=Job(cancel=CancelAfterChecks(2)),
        )
    assert (out / "a.json").read_bytes() == before and sorted(p.name for p in out.iterdir()) == [
        "a.json"
    ]
    export_dataset(rich_project, "coco", out / "a.json", overwrite=True, frames="1")
    assert (
        json.loads((out / "a.json").read_text())["images"][0]["id"] == rich_project.frames()[1].id
    )
    with pytest.raises(FormatError, match=r"must be a \.json file"):
        export_dataset(rich_project, "coco", out / "a.txt")
    with pytest.raises(FormatError, match="does not exist"):
        export_dataset(rich_project, "cityscapes", out / "missing" / "cs")
    with pytest.raises(FrameSpecError, match="there is no frame 5"):
        export_dataset(rich_project, "cityscapes", out / "cs", frames="0-5")
    assert sorted(p.name for p in out.iterdir()) == ["a.json"]


def test_a_frame_deleted_while_an_export_runs_is_refused(tmp_path: Path):
    """The export reads each frame's objects without its row; a frame gone since the
    export listed it (another workstation deleted it) is still refused, not written empty."""
    (image,) = make_images(tmp_path / "images", 1)
    with project_with(tmp_path / "p.roadmark", [(image, [])]) as project:
        (frame,) = project.frames()
        gone = dataclasses.replace(frame, id=frame.id + 1000)
        context = ExportContext(project.schema, [frame, gone], {}, tmp_path / "images")
        written = _export_frames(project, "coco", context, {"objects": 0})
        assert next(written).objects == []  # an empty frame that exists
        with pytest.raises(ProjectError, match=f"has no frame {gone.id}"):
            next(written)
