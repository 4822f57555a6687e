"""YOLO: the Ultralytics layout and label rules, coordinate precision, joined rings, splits,
confidences, and bad input named by file and line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import shapely
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Polygon

from roadmark.core.annotation import AnnotationObject, Box, as_region
from roadmark.core.errors import GeometryError
from roadmark.io.formats.errors import FormatError
from roadmark.io.formats.jobs import export_dataset, import_dataset
from roadmark.io.formats.yolo import DECIMALS, joined_ring
from roadmark.io.formats.yolo_lines import even_odd_region
from roadmark.io.store import Project
from tests.io.formats.conftest import (
    HEIGHT,
    SCHEMA,
    WIDTH,
    all_objects,
    label,
    make_images,
    project_with,
    prov,
)

_NUMBER = re.compile(r"^\d+$|^[01]\.\d{6}$")


def _lines(folder: Path) -> dict[str, list[list[str]]]:
    return {
        path.relative_to(folder).as_posix(): [
            line.split() for line in path.read_text().splitlines()
        ]
        for path in sorted((folder / "labels").rglob("*.txt"))
    }


def _ultralytics_check(folder: Path) -> None:
    """What Ultralytics' ``verify_image_label`` demands of every label line: a class index
    below ``nc``, 4 box values or an even number >= 6 of polygon values (a confidence may
    follow), everything normalized to 0..1; and an image for every label file."""
    data = yaml.safe_load((folder / "data.yaml").read_text())
    assert "path" not in data and {"train", "val", "names", "nc"} <= set(data)
    assert len(data["names"]) == data["nc"]
    for name, lines in _lines(folder).items():
        image_stem = (folder / name.replace("labels/", "images/", 1)).with_suffix("")
        assert list(image_stem.parent.glob(image_stem.name + ".*")), name
        for values in lines:
            assert all(_NUMBER.match(v) for v in values), values
            assert 0 <= int(values[0]) < data["nc"]
            count = len(values) - 1
            assert count in (4, 5) or count >= 6
            assert all(0 <= float(v) <= 1 for v in values[1:])


def test_export_follows_the_ultralytics_layout(rich_project: Project, tmp_path: Path):
    report = export_dataset(rich_project, "yolo", tmp_path / "y")
    _ultralytics_check(tmp_path / "y")
    data = yaml.safe_load((tmp_path / "y" / "data.yaml").read_text())
    assert data["train"] == data["val"] == "images/train"
    assert data["names"] == {i: lab.name for i, lab in enumerate(SCHEMA.labels)}
    assert data["roadmark"]["label_ids"][3] == SCHEMA.labels[3].id
    lines = _lines(tmp_path / "y")["labels/train/frame0.txt"]
    assert len(lines) == 9  # ten objects, one of them deleted
    classes = [data["names"][int(values[0])] for values in lines]
    assert classes[:3] == ["road", "building", "car"] and classes[-2] == "traffic sign"
    sign = [float(v) for v in lines[-2][1:]]  # Box(10.5, 5.25, 18.75, 14.0)
    assert sign == [
        round(14.625 / WIDTH, DECIMALS),
        round(9.625 / HEIGHT, DECIMALS),
        round(8.25 / WIDTH, DECIMALS),
        round(8.75 / HEIGHT, DECIMALS),
    ]
    assert lines[-1][-1] == "0.875000" and len(lines[-1]) == 6  # box with its confidence
    assert report.stats["boxes"] == 2 and report.stats["deleted_skipped"] == 1
    assert (tmp_path / "y" / "images" / "train" / "frame0.png").is_file()


def test_coordinates_are_exact_to_six_decimals(tmp_path: Path):
    rng = np.random.default_rng(3)
    objects = []
    for _ in range(20):
        x, y = rng.uniform(0, WIDTH - 20), rng.uniform(0, HEIGHT - 20)
        w, h = rng.uniform(1, 20), rng.uniform(1, 20)
        objects.append(AnnotationObject(label("car"), Box(x, y, x + w, y + h), prov()))
        objects.append(
            AnnotationObject(
                label("road"), Polygon([(x, y), (x + w, y + 1), (x + 2, y + h)]), prov()
            )
        )
    images = make_images(tmp_path / "images", 1)
    with project_with(tmp_path / "p.roadmark", [(images[0], objects)]) as project:
        export_dataset(project, "yolo", tmp_path / "y")
    lines = _lines(tmp_path / "y")["labels/train/frame0.txt"]
    for obj, values in zip(objects, lines, strict=True):
        written = [float(v) for v in values[1:]]
        if isinstance(obj.geometry, Box):
            b = obj.geometry
            exact = [(b.x0 + b.x1) / 2 / WIDTH, (b.y0 + b.y1) / 2 / HEIGHT]
            exact += [b.width / WIDTH, b.height / HEIGHT]
        else:
            exact = [
                v / size
                for point in joined_ring(obj.geometry)
                for v, size in zip(point, (WIDTH, HEIGHT), strict=True)
            ]
        assert all(abs(a - b) <= 0.5e-6 + 1e-12 for a, b in zip(written, exact, strict=True))
    with Project.create(tmp_path / "q.roadmark") as back:
        import_dataset(back, "yolo", tmp_path / "y")
        for a, b in zip(objects, all_objects(back)[0], strict=True):
            if isinstance(a.geometry, Box):
                corners = zip(a.geometry.to_xywh(), b.geometry.to_xywh(), strict=True)
                assert all(abs(u - v) <= 1e-6 * WIDTH for u, v in corners)
            else:
                assert shapely.equals_exact(a.geometry, b.geometry, 1e-6 * WIDTH)
        export_dataset(back, "yolo", tmp_path / "again")
    assert _lines(tmp_path / "again") == _lines(tmp_path / "y")  # stable text


@pytest.mark.parametrize(
    "region",
    [
        Polygon([(2, 2), (70, 2), (70, 50), (2, 50)], [[(20, 15), (40, 15), (40, 35), (20, 35)]]),
        MultiPolygon([shapely.box(100.5, 40.25, 108.75, 70), shapely.box(112, 44, 118.5, 66.5)]),
        MultiPolygon(
            [
                Polygon(
                    [(10, 10), (60, 10), (60, 60), (10, 60)],
                    [[(15, 15), (25, 15), (25, 25)], [(40, 40), (50, 40), (50, 50), (40, 50)]],
                ),
                shapely.box(70, 5, 80, 90),
                shapely.box(90, 70, 150, 80),
            ]
        ),
    ],
)
def test_parts_and_holes_join_into_one_line_and_come_back(region):
    ring = joined_ring(region)
    assert ring.shape[1] == 2 and len(ring) >= 3
    assert even_odd_region([tuple(point) for point in ring]).equals(region)


blob = st.tuples(
    st.floats(0, 100), st.floats(0, 100), st.floats(1, 25), st.booleans()
).map(lambda t: shapely.box(t[0], t[1], t[0] + t[2], t[1] + t[2] / 2) if t[3]
      else shapely.Point(t[0], t[1]).buffer(t[2], 3))  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(parts=st.lists(blob, min_size=1, max_size=7), holes=st.lists(blob, max_size=3))
def test_any_region_joins_and_comes_back_exactly(parts, holes):
    """Cuts may cross other parts and holes; the even-odd fill still gives the region."""
    try:
        region = as_region(shapely.union_all(parts).difference(shapely.union_all(holes)))
    except GeometryError:
        return
    # Slivers far below float precision (a part minus a hole shifted by 1e-98 px) cannot
    # survive any outline round trip; they are not what a label file holds.
    assume(region.area > 1e-6)
    back = even_odd_region([tuple(point) for point in joined_ring(region)])
    assert back.symmetric_difference(region).area <= 1e-9 * max(region.area, 1.0)


def test_a_bow_tie_fills_as_opencv_does():
    region = even_odd_region([(0, 0), (10, 10), (10, 0), (0, 10)])
    assert region.area == pytest.approx(50) and region.geom_type == "MultiPolygon"


def test_splits_from_folder_names_and_list_files(tmp_path: Path):
    images = make_images(tmp_path / "data" / "train", 2) + make_images(tmp_path / "data" / "val", 1)
    car = AnnotationObject(label("car"), shapely.box(10, 10, 40, 30), prov(), instance_id=1)
    with project_with(tmp_path / "p.roadmark", [(image, [car]) for image in images]) as project:
        export_dataset(project, "yolo", tmp_path / "y")
    data = yaml.safe_load((tmp_path / "y" / "data.yaml").read_text())
    assert (data["train"], data["val"]) == ("images/train", "images/val")
    assert sorted(_lines(tmp_path / "y")) == [
        "labels/train/frame0.txt",
        "labels/train/frame1.txt",
        "labels/val/frame0.txt",
    ]
    (tmp_path / "y" / "train.txt").write_text(
        "images/train/frame1.png\n\nimages/train/frame0.png\n"
    )
    data |= {"train": "train.txt", "names": [data["names"][i] for i in range(data["nc"])]}
    data.pop("roadmark")
    (tmp_path / "y" / "data.yaml").write_text(yaml.safe_dump(data))
    with Project.create(tmp_path / "q.roadmark") as back:
        report = import_dataset(back, "yolo", tmp_path / "y")
        assert report.frames == 3
        names = [Path(f.path).name for f in back.frames()]
        assert names == ["frame1.png", "frame0.png", "frame0.png"]
        assert [o.instance_id for frame in all_objects(back) for o in frame] == [1, 1, 1]


def test_ultralytics_written_labels_import(tmp_path: Path):
    """Lines as Ultralytics writes them (``%g``, a confidence last with save_conf)."""
    folder = tmp_path / "ds"
    make_images(folder / "images" / "val", 1, width=64, height=48)
    (folder / "labels" / "val").mkdir(parents=True)
    (folder / "labels" / "val" / "frame0.txt").write_text(
        "1 0.5 0.5 0.25 0.5\n"
        "0 0.1 0.1 0.5 0.1 0.5 0.5 0.1 0.5\n"
        "1 0.25 0.25 0.5 0.5 0.75\n"
        "0 0 0 1 0 1 1 0.9\n"
    )
    (folder / "d.yaml").write_text("path: .\nval: images/val\nnames:\n  0: road\n  1: car\n")
    with Project.create(tmp_path / "p.roadmark") as project:
        import_dataset(project, "yolo", folder)
        objects = all_objects(project)[0]
    car, road = label("car"), label("road")
    assert [(o.label_id, o.kind.value) for o in objects] == [
        (car, "box"),
        (road, "region"),
        (car, "box"),
        (road, "region"),
    ]
    assert objects[0].geometry == Box(24.0, 12.0, 40.0, 36.0)
    assert objects[1].region.symmetric_difference(shapely.box(6.4, 4.8, 32, 24)).area < 1e-9
    assert objects[2].provenance.confidence == 0.75
    assert objects[3].provenance.confidence == 0.9 and objects[3].region.area == 64 * 48 / 2


def test_clipped_objects_are_warned(tmp_path: Path):
    objects = [
        AnnotationObject(label("road"), shapely.box(-10, 50, 200, 120), prov()),
        AnnotationObject(label("car"), Box(150, 90, 170, 100), prov()),
    ]
    images = make_images(tmp_path / "images", 1)
    with project_with(tmp_path / "p.roadmark", [(images[0], objects)]) as project:
        report = export_dataset(project, "yolo", tmp_path / "y")
    assert report.stats["clipped"] == 2
    assert any("clipped" in str(w) for w in report.warnings)
    _ultralytics_check(tmp_path / "y")


def _dataset(tmp_path: Path, lines: str, yaml_text: str = "train: images/train\nnames: [car]\n"):
    folder = tmp_path / "ds"
    make_images(folder / "images" / "train", 1, width=64, height=48)
    (folder / "labels" / "train").mkdir(parents=True, exist_ok=True)
    (folder / "labels" / "train" / "frame0.txt").write_text(lines)
    (folder / "data.yaml").write_text(yaml_text)
    return folder


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ("0 0.5 0.5\n", "got 2 values"),
        ("0 0.5 0.5 0.1 0.1\n1 0.5 0.5 0.1 0.1\n", r"class '1' is not one of the 1 classes"),
        ("0.5 0.5 0.5 0.1 0.1\n", "is not one of"),
        ("0 0.5 1.5 0.1 0.1\n", "normalized to 0..1"),
        ("0 0.5 -0.1 0.1 0.1\n", "normalized to 0..1"),
        ("0 0.5 abc 0.1 0.1\n", "'abc' is not a number"),
        ("0 0.5 nan 0.1 0.1\n", "not a finite number"),
        ("0 0.5 0.5 0.1 0.1 1.5\n", "confidence must lie in 0..1"),
    ],
)
def test_bad_label_lines_name_the_file_and_line(tmp_path: Path, lines: str, message: str):
    folder = _dataset(tmp_path, lines)
    with Project.create(tmp_path / "p.roadmark") as project:
        with pytest.raises(FormatError, match=message) as info:
            import_dataset(project, "yolo", folder)
        assert project.frame_count() == 0
    assert info.value.path.endswith("labels/train/frame0.txt")
    assert info.value.field == f"line {lines.count(chr(10))}"


@pytest.mark.parametrize(
    ("yaml_text", "message", "field"),
    [
        ("train: [images/train\n", r"not valid YAML \(line 2", None),
        ("- a\n- b\n", "must be a mapping", None),
        ("train: images/train\n", "list of class names", "names"),
        ("train: images/train\nnames: {0: car, 2: bus}\n", "0, 1, ...", "names"),
        ("train: images/train\nnames: [car, 5]\n", "must be a name", "names[1]"),
        ("train: images/train\nnc: 3\nnames: [car]\n", "says 3 classes", "nc"),
        ("train: images/nothing\nnames: [car]\n", "does not exist", "train"),
        ("train: 5\nnames: [car]\n", "folder or a .txt list", "train"),
        ("val: images/train\npath: /no/such/folder\nnames: [car]\n", "does not exist", "path"),
        ("names: [car]\n", "lists no images", None),
    ],
)
def test_bad_dataset_yaml(tmp_path: Path, yaml_text: str, message: str, field: str | None):
    folder = _dataset(tmp_path, "0 0.5 0.5 0.1 0.1\n", yaml_text)
    with Project.create(tmp_path / "p.roadmark") as project:
        with pytest.raises(FormatError, match=message) as info:
            import_dataset(project, "yolo", folder / "data.yaml")
        assert project.frame_count() == 0
    assert info.value.path == str(folder / "data.yaml") and info.value.field == field


def test_source_must_name_one_yaml_and_unknown_classes_are_listed(tmp_path: Path):
    folder = _dataset(tmp_path, "0 0.5 0.5 0.1 0.1\n", "train: images/train\nnames: [lorry]\n")
    (folder / "other.yaml").write_text("names: [a]\n")
    with Project.create(tmp_path / "p.roadmark") as project:
        with pytest.raises(FormatError, match=r"has 2 \.yaml files"):
            import_dataset(project, "yolo", folder)
        with pytest.raises(FormatError, match="takes no --images") as info:
            import_dataset(project, "yolo", folder / "data.yaml", images=folder)
        assert info.value.field == "--images"
        with pytest.raises(FormatError, match="the yolo format reads no mask files") as info:
            import_dataset(project, "yolo", folder / "data.yaml", masks=folder)
        assert info.value.field == "--masks"
        with pytest.raises(FormatError, match=r"'lorry' \(1\).*--add-labels"):
            import_dataset(project, "yolo", folder / "data.yaml")
        report = import_dataset(project, "yolo", folder / "data.yaml", mapping={"lorry": "truck"})
        assert report.objects == 1
        assert all_objects(project)[0][0].label_id == label("truck")


def test_label_files_of_images_without_one_and_json_unrelated(tmp_path: Path):
    folder = _dataset(tmp_path, "")
    make_images(folder / "images" / "train" / "more", 1, width=64, height=48)
    with Project.create(tmp_path / "p.roadmark") as project:
        report = import_dataset(project, "yolo", folder)
        assert report.frames == 2 and report.objects == 0
    assert json.loads(json.dumps(report.labels_added)) == []
