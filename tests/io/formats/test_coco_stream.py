"""COCO import streamed: any key order, annotations not grouped by image, the same result
and the same errors as a file in the usual order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from roadmark.io.formats import coco_stream
from roadmark.io.formats.errors import FormatError
from roadmark.io.formats.jobs import import_dataset
from roadmark.io.store import Project
from tests.io.formats.conftest import make_images

WIDTH, HEIGHT = 64, 48


def _refused(project_path: Path, path: Path, message: str, field: str) -> None:
    """Importing ``path`` into a new project fails naming the file and ``field``, and adds
    no frame."""
    with Project.create(project_path) as project:
        with pytest.raises(FormatError, match=message) as caught:
            import_dataset(project, "coco", path)
        assert caught.value.field == field and caught.value.path == str(path)
        assert project.frame_count() == 0


def _annotations() -> list[dict]:
    """Three images: two cars and a box on image 1, a person on 2, a crowd RLE on 3."""
    return [
        {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[2, 2, 20, 2, 20, 20]]},
        {"id": 2, "image_id": 2, "category_id": 2, "segmentation": [[5, 5, 30, 5, 30, 40, 5, 40]]},
        {"id": 3, "image_id": 1, "category_id": 1, "segmentation": [[30, 10, 60, 10, 45, 40]]},
        {
            "id": 4,
            "image_id": 3,
            "category_id": 1,
            "iscrowd": 1,
            "segmentation": {"size": [HEIGHT, WIDTH], "counts": [100, 20, 28, 20, 2904]},
        },
        {"id": 5, "image_id": 1, "category_id": 2, "bbox": [1.5, 2.5, 10, 12]},
    ]


def _write(folder: Path, name: str, keys: list[str], annotations: list[dict]) -> Path:
    images = [
        {"id": i + 1, "file_name": f"frame{i}.png", "width": WIDTH, "height": HEIGHT}
        for i in range(3)
    ]
    data = {
        "info": {"description": "test"},
        "images": images,
        "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "person"}],
        "annotations": annotations,
    }
    path = folder / name
    path.write_text(json.dumps({key: data[key] for key in keys}))
    return path


def _import(path: Path, tmp_path: Path, name: str) -> Project:
    project = Project.create(tmp_path / f"{name}.roadmark")
    import_dataset(project, "coco", path)
    return project


def test_key_order_and_grouping_do_not_change_the_import(tmp_path: Path, monkeypatch):
    make_images(tmp_path, 3, width=WIDTH, height=HEIGHT)
    usual = _write(
        tmp_path, "usual.json", ["info", "images", "categories", "annotations"],
        sorted(_annotations(), key=lambda a: a["image_id"]),
    )  # fmt: skip
    # annotations first, interleaved across images, categories last; a tiny spill batch
    # so that the annotations cross several inserts
    monkeypatch.setattr(coco_stream, "SPILL_BATCH", 2)
    shuffled = _write(
        tmp_path, "shuffled.json", ["annotations", "info", "images", "categories"],
        _annotations(),
    )  # fmt: skip
    with _import(usual, tmp_path, "usual") as first, _import(shuffled, tmp_path, "sh") as second:
        assert [f.path for f in first.frames()] == [f.path for f in second.frames()]
        counts = [len(first.objects(f.id)) for f in first.frames()]
        assert counts == [3, 1, 1]
        for a, b in zip(first.frames(), second.frames(), strict=True):
            # z-order inside an image follows the file, whatever the grouping
            ours, theirs = list(first.objects(a.id)), list(second.objects(b.id))
            assert len(ours) == len(theirs)
            assert all(x.same_content(y) for x, y in zip(ours, theirs, strict=True))


@pytest.mark.parametrize(
    ("keys", "change", "message", "field"),
    [
        (["annotations", "images", "categories"], {"image_id": 9}, "no image has id 9",
         "annotations[1].image_id"),
        (["images", "annotations", "categories"], {"image_id": 9}, "no image has id 9",
         "annotations[1].image_id"),
        (["images", "categories", "annotations"], {"id": 1}, "duplicate annotation id 1",
         "annotations[1].id"),
    ],
)  # fmt: skip
def test_bad_annotations_are_named_wherever_they_are(
    tmp_path: Path, keys: list[str], change: dict, message: str, field: str
):
    make_images(tmp_path, 3, width=WIDTH, height=HEIGHT)
    annotations = _annotations()
    annotations[1].update(change)
    path = _write(tmp_path, "bad.json", keys, annotations)
    _refused(tmp_path / "p.roadmark", path, message, field)


def test_no_categories_with_annotations_and_a_top_level_list_are_refused(tmp_path: Path):
    make_images(tmp_path, 3, width=WIDTH, height=HEIGHT)
    path = _write(tmp_path, "nocat.json", ["images", "annotations"], _annotations())
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    with Project.create(tmp_path / "p.roadmark") as project:
        with pytest.raises(FormatError, match="must be a list, got NoneType") as caught:
            import_dataset(project, "coco", path)
        assert caught.value.field == "categories"
        with pytest.raises(FormatError, match="must be an object with images"):
            import_dataset(project, "coco", listed)


def test_values_cut_by_the_read_buffer_read_the_same(tmp_path: Path, monkeypatch):
    """The pass reads a few bytes at a time: numbers, strings and objects split across
    reads give the same frames, objects and warnings as one read of the whole file."""
    make_images(tmp_path, 3, width=WIDTH, height=HEIGHT)
    annotations = _annotations()
    annotations[0]["roadmark"] = {"created_by": "é漢\U0001f600", "track_id": 123456789}
    annotations[1]["segmentation"] = [[5.125, 5, 30.0625, 5, 30, 40, 5, 40.5]]
    path = tmp_path / "spaced.json"
    data = json.loads(_write(tmp_path, "x.json", ["info", "images", "categories", "annotations"],
                             annotations).read_text())  # fmt: skip
    data = {"year": 20241234567} | data  # a number at the top level can be cut too
    path.write_text(json.dumps(data, indent="\t", ensure_ascii=False).replace("\n", "\r\n"))
    reports = []
    for chunk in (1 << 22, 1, 3, 7):
        monkeypatch.setattr(coco_stream, "READ_CHUNK", chunk)
        with Project.create(tmp_path / f"c{chunk}.roadmark") as project:
            report = import_dataset(project, "coco", path)
            objects = [
                (
                    o.label_id,
                    str(getattr(o.geometry, "wkt", o.geometry)),
                    o.track_id,
                    o.provenance.created_by,
                )
                for f in project.frames()
                for o in project.objects(f.id)
            ]
            reports.append((report.frames, report.objects, objects))
    assert reports[0][:2] == (3, 5)
    assert ("POLYGON ((5.125 5, 30.0625 5, 30 40, 5 40.5, 5.125 5))" in
            [wkt for _, wkt, _, _ in reports[0][2]])  # fmt: skip
    assert (26, "POLYGON ((2 2, 20 2, 20 20, 2 2))", 123456789, "é漢\U0001f600") in reports[0][2]
    assert all(report == reports[0] for report in reports[1:])


@pytest.mark.parametrize(
    ("text", "message", "field"),
    [
        ('"bbox": [1, NaN, 2, 2]', "finite number, got nan", "annotations[0].bbox[1]"),
        ('"bbox": [1, 1, 2, 2], "area": -Infinity', "got -inf", "annotations[0].area"),
        ('"bbox": [1, 1, 2, 2], "area": 1E400', "got inf", "annotations[0].area"),
        ('"segmentation": [[1, 1, 9, 1, ' + "9" * 400 + ".5, 9]]", "got inf",
         "annotations[0].segmentation[0][4]"),
        ('"bbox": [1, 1, 2, 2], "track_id": 9223372036854775808', "64 bits",
         "annotations[0].track_id"),
        ('"bbox": [1, 1, 2, 2], "x": ' + "[" * 100 + "]" * 100, "nested too deeply", None),
    ],
)  # fmt: skip
def test_numbers_no_field_can_hold_are_refused_by_their_place(
    tmp_path: Path, monkeypatch, text: str, message: str, field: str | None
):
    """NaN, infinities (a constant, an exponent, a float literal too long) and integers
    beyond 64 bits are refused where they are, whichever read they arrive in."""
    make_images(tmp_path, 3, width=WIDTH, height=HEIGHT)
    path = _write(tmp_path, "bad.json", ["images", "categories", "annotations"], [])
    path.write_text(
        path.read_text().replace(
            '"annotations": []', '"annotations": [{"id": 1, "image_id": 1, "category_id": 1, '
            + text + "}]",
        )
    )  # fmt: skip
    for chunk in (1 << 22, 5):
        monkeypatch.setattr(coco_stream, "READ_CHUNK", chunk)
        _refused(tmp_path / f"p{chunk}.roadmark", path, message, field)


def test_nesting_up_to_the_limit_is_read(tmp_path: Path):
    make_images(tmp_path, 3, width=WIDTH, height=HEIGHT)
    path = _write(tmp_path, "deep.json", ["images", "categories", "annotations"], [])
    # the annotation, its "x" and 98 lists inside: 100 levels
    nested = '{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2], "x": '
    nested += "[" * 99 + "]" * 99 + "}"
    path.write_text(path.read_text().replace('"annotations": []', f'"annotations": [{nested}]'))
    with Project.create(tmp_path / "p.roadmark") as project:
        assert import_dataset(project, "coco", path).objects == 1


def test_frames_are_listed_once_per_import_however_many_chunks(tmp_path: Path, monkeypatch):
    """A chunk's new frames are added to what the import knows instead of listing every
    frame of the project again (which made large imports quadratic)."""
    from roadmark.io.formats import get_format

    make_images(tmp_path, 3, width=WIDTH, height=HEIGHT)
    annotations = _annotations()
    keys = ["info", "images", "categories", "annotations"]
    everything = _write(tmp_path, "all.json", keys, annotations)
    only_third = tmp_path / "third.json"  # frame2.png alone, with its annotation
    data = json.loads(everything.read_text())
    data["images"] = data["images"][2:]
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] == 3]
    only_third.write_text(json.dumps(data))
    with Project.create(tmp_path / "p.roadmark") as project:
        import_dataset(project, "coco", only_third)  # frame2.png is in the project already
        listed = []
        frames = Project.frames
        monkeypatch.setattr(
            Project, "frames", lambda self, **kw: listed.append(1) or frames(self, **kw)
        )
        coco_format = type(get_format("coco"))
        monkeypatch.setattr(coco_format, "import_chunk", 1)  # one frame a chunk: three chunks
        report = import_dataset(project, "coco", everything)
        assert len(listed) == 1
        assert (report.frames, report.frames_added, report.objects) == (3, 2, 5)
        monkeypatch.undo()
        counts = {f.path: len(project.objects(f.id)) for f in project.frames()}
        assert counts == {"frame0.png": 3, "frame1.png": 1, "frame2.png": 2}
        assert [w.message for w in report.warnings] == [
            "the frame had objects already; imported ones are on top of them (use --replace "
            "to replace them)"
        ]


def test_polygon_extent_warnings_and_refusal(tmp_path: Path):
    """Where a polygon lies against the image decides the warnings (kept, clipped to the
    margin) and an absurd coordinate is refused, naming the polygon."""
    make_images(tmp_path, 3, width=WIDTH, height=HEIGHT)
    far = 3 * WIDTH + 10  # beyond two image sizes to the right
    rings = [
        [70, 5, 90, 5, 80, 20],  # right of the image: lies outside
        [50, 5, 69, 5, 60, 20],  # reaches 5 px past the right edge
        [-1, 0, 10, 0, 5, HEIGHT + 1],  # within a pixel of the edges: no warning
        [5, -1.5, 20, 5, 10, 20],  # reaches above the top
        [10, 10, far, 10, 20, 30],  # beyond the margin: clipped
    ]
    annotations = [
        {"id": i + 1, "image_id": 1, "category_id": 1, "segmentation": [ring]}
        for i, ring in enumerate(rings)
    ]
    path = _write(tmp_path, "edges.json", ["images", "categories", "annotations"], annotations)
    with Project.create(tmp_path / "p.roadmark") as project:
        report = import_dataset(project, "coco", path)
        warned = [(w.field, w.message.split(";")[0]) for w in report.warnings]
        assert warned == [
            ("annotations[0] (id 1).segmentation[0]", "polygon lies outside the 64x48 image"),
            ("annotations[1] (id 2).segmentation[0]", "polygon reaches outside the 64x48 image"),
            ("annotations[3] (id 4).segmentation[0]", "polygon reaches outside the 64x48 image"),
            ("annotations[4] (id 5).segmentation[0]", "polygon reaches outside the 64x48 image"),
            (
                "annotations[4] (id 5).segmentation[0]",
                "polygon reaches more than two image sizes outside the image",
            ),
        ]
        clipped = list(project.objects(project.frames()[0].id))[-1]
        assert clipped.region.bounds[2] == 3 * WIDTH  # cut at the margin
    annotations[2]["segmentation"] = [[5, 5, 1e6, 5, 10, 20]]
    path = _write(tmp_path, "absurd.json", ["images", "categories", "annotations"], annotations)
    with Project.create(tmp_path / "q.roadmark") as project:
        with pytest.raises(FormatError, match="coordinate 1e\\+06 is absurdly far") as caught:
            import_dataset(project, "coco", path)
        assert caught.value.field == "annotations[2] (id 3).segmentation[0]"
