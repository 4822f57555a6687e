"""KITTI: label_2 lines as the object devkit defines them (3D fields written back unchanged),
DontCare as an ignore box, the segmentation benchmark's semantic/instance maps (label id *
256 + instance), the sidecar, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import shapely

from roadmark.core.annotation import AnnotationObject, Box, ObjectKind
from roadmark.core.raster import label_id_map, region_mask
from roadmark.io.formats.errors import FormatError, UnknownLabelsError
from roadmark.io.formats.jobs import export_dataset, import_dataset
from roadmark.io.formats.kitti_files import number_text
from roadmark.io.store import Project
from tests.io.formats.conftest import SCHEMA, all_objects, label, make_images, prov

W, H = 160, 96
# Lines in the object devkit's layout (values as in KITTI's training labels).
LINES = [
    "Car 0.00 0 -1.58 58.70 17.33 61.41 20.01 1.65 1.67 3.64 -0.65 1.71 46.70 -1.59",
    "Pedestrian 0.00 2 -0.20 71.24 14.30 81.07 30.79 1.89 0.48 1.20 1.84 1.47 8.41 0.01",
    "Car 0.47 1 1.85 0.00 40.46 22.72 79.13 1.57 1.65 3.35 -4.71 1.67 8.61 1.34",
    "DontCare -1 -1 -10 50.38 16.97 59.06 19.01 -1 -1 -1 -1000 -1000 -1000 -10",
]
KITTI_MAP = ["--map", "Car=car", "--map", "Pedestrian=person"]


def _kitti(root: Path, lines: list[str] | None = None, *, names=("000000",)) -> Path:
    (root / "image_2").mkdir(parents=True, exist_ok=True)
    (root / "label_2").mkdir(exist_ok=True)
    for index, name in enumerate(names):
        image = make_images(root / "tmp", index + 1, width=W, height=H)[index]
        image.rename(root / "image_2" / f"{name}.png")
        if lines is not None:
            (root / "label_2" / f"{name}.txt").write_text("\n".join(lines) + "\n")
    return root


def _maps(root: Path, name: str, instance: np.ndarray, *, semantic: bool = True) -> None:
    (root / "instance").mkdir(exist_ok=True)
    cv2.imwrite(str(root / "instance" / f"{name}.png"), instance.astype(np.uint16))
    if semantic:
        (root / "semantic").mkdir(exist_ok=True)
        cv2.imwrite(str(root / "semantic" / f"{name}.png"), (instance // 256).astype(np.uint8))


@pytest.fixture
def project(tmp_path: Path):
    with Project.create(tmp_path / "p.roadmark", user="tester") as opened:
        yield opened


def test_object_labels_import_with_devkit_fields(project: Project, tmp_path: Path):
    root = _kitti(tmp_path / "kitti", LINES)
    report = import_dataset(project, "kitti", root, mapping={"Car": "car", "Pedestrian": "person"})
    assert report.objects == 4 and report.frames_added == 1
    (objects,) = all_objects(project)
    assert [o.kind for o in objects] == [ObjectKind.BOX] * 4
    assert [SCHEMA.by_id[o.label_id].name for o in objects] == [
        "car",
        "person",
        "car",
        "unlabeled",  # DontCare: the schema's ignore label
    ]
    assert objects[0].geometry == Box(58.70, 17.33, 61.41, 20.01)
    assert dict(objects[0].attributes) == {}
    assert dict(objects[1].attributes) == {"occluded": True}  # occluded 2: largely
    assert dict(objects[2].attributes) == {"occluded": True, "truncated": True}
    assert all(o.provenance.source == "import:kitti" for o in objects)


def test_unedited_lines_are_written_back_unchanged(project: Project, tmp_path: Path):
    root = _kitti(tmp_path / "kitti", LINES)
    import_dataset(project, "kitti", root, mapping={"Car": "car", "Pedestrian": "person"})
    export_dataset(project, "kitti", tmp_path / "out")
    written = (tmp_path / "out" / "label_2" / "000000.txt").read_text().splitlines()
    renamed = {"Car": "car", "Pedestrian": "person"}
    assert written == [
        renamed.get(line.split()[0], line.split()[0]) + line[line.index(" ") :] for line in LINES
    ]
    assert (tmp_path / "out" / "image_2" / "000000.png").read_bytes() == (
        root / "image_2" / "000000.png"
    ).read_bytes()
    # an edited box loses its 3D values (they described the old box); the attributes win
    frame = project.frames()[0]
    first = project.objects(frame.id)[0]
    moved = AnnotationObject(
        first.label_id, Box(10, 10, 20, 30.125), first.provenance, attributes={"occluded": True}
    )
    project.replace_objects(frame.id, [moved, *list(project.objects(frame.id))[1:]])
    export_dataset(project, "kitti", tmp_path / "out2")
    lines = (tmp_path / "out2" / "label_2" / "000000.txt").read_text().splitlines()
    assert lines[0] == "car 0.00 1 -10 10.00 10.00 20.00 30.125 -1 -1 -1 -1000 -1000 -1000 -10"
    assert lines[3] == LINES[3]  # DontCare again


def test_unknown_types_are_listed_and_can_be_added(project: Project, tmp_path: Path):
    root = _kitti(tmp_path / "kitti", LINES)
    with pytest.raises(UnknownLabelsError, match=r"'Car' \(2\), 'Pedestrian' \(1\)"):
        import_dataset(project, "kitti", root)
    assert project.frame_count() == 0
    report = import_dataset(project, "kitti", root, add_labels=True)
    assert report.labels_added == ["Car", "Pedestrian"]
    export_dataset(project, "kitti", tmp_path / "out")
    assert (tmp_path / "out" / "label_2" / "000000.txt").read_text().splitlines() == LINES


def test_scores_and_names_with_spaces(project: Project, tmp_path: Path):
    lines = ["traffic_sign 0.00 0 -10 1.50 2.25 8.00 9.00 -1 -1 -1 -1000 -1000 -1000 -10 0.8125"]
    import_dataset(project, "kitti", _kitti(tmp_path / "kitti", lines))
    (obj,) = all_objects(project)[0]
    assert obj.label_id == label("traffic sign") and obj.provenance.confidence == 0.8125
    export_dataset(project, "kitti", tmp_path / "out")
    assert (tmp_path / "out" / "label_2" / "000000.txt").read_text().splitlines() == lines
    assert number_text(0.1 + 0.2) == "0.30000000000000004" and number_text(3.5) == "3.50"


def _instance_map() -> np.ndarray:
    """A KITTI semantics instance map: road (stuff), two cars, a car crowd, a person."""
    values = np.zeros((H, W), dtype=np.int64)
    values[60:, :] = label("road") * 256
    values[50:80, 20:60] = label("car") * 256 + 1
    values[55:85, 70:110] = label("car") * 256 + 2
    values[40:52, 62:68] = label("car") * 256  # no instance: a crowd
    values[30:70, 120:130] = label("person") * 256 + 1
    values[30:40, 125:140] = label("person") * 256 + 1
    return values


def test_segmentation_maps_import_exactly_and_export_the_same_pixels(
    project: Project, tmp_path: Path
):
    root = _kitti(tmp_path / "kitti", names=("000000_10",))
    values = _instance_map()
    _maps(root, "000000_10", values)
    report = import_dataset(project, "kitti", root)
    assert report.objects == 5
    objects = all_objects(project)[0]
    found = {(o.label_id, o.instance_id, o.crowd) for o in objects}
    assert found == {
        (label("road"), None, False),
        (label("car"), 1, False),
        (label("car"), 2, False),
        (label("car"), None, True),
        (label("person"), 1, False),
    }
    for obj in objects:
        value = obj.label_id * 256 + (obj.instance_id or 0)
        assert np.array_equal(region_mask(obj.region, H, W), values == value)
    export_dataset(project, "kitti", tmp_path / "out")
    out = tmp_path / "out"
    instance = cv2.imread(str(out / "instance" / "000000_10.png"), cv2.IMREAD_UNCHANGED)
    semantic = cv2.imread(str(out / "semantic" / "000000_10.png"), cv2.IMREAD_UNCHANGED)
    assert instance.dtype == np.uint16 and semantic.dtype == np.uint8
    assert np.array_equal(semantic, values // 256)
    # instances numbered 1, 2 per label in z-order; the same segments as the source
    assert {int(v) for v in np.unique(instance)} == {int(v) for v in np.unique(values)}
    assert (out / "semantic_rgb" / "000000_10.png").is_file()
    assert (out / "label_2" / "000000_10.txt").read_text() == ""


def test_instance_map_alone_and_the_training_folder(project: Project, tmp_path: Path):
    root = _kitti(tmp_path / "data" / "training", names=("000007",))
    _maps(root, "000007", _instance_map(), semantic=False)
    report = import_dataset(project, "kitti", tmp_path / "data")
    assert report.objects == 5


def test_export_paints_regions_in_z_order_and_keeps_them_in_the_sidecar(
    project: Project, tmp_path: Path
):
    image = make_images(tmp_path / "images", 1, width=W, height=H)[0]
    hidden = AnnotationObject(label("car"), shapely.box(10, 10, 30, 30), prov(), instance_id=4)
    objects = [
        AnnotationObject(label("road"), shapely.box(0, 0, W, H), prov()),
        hidden,
        AnnotationObject(label("building"), shapely.box(5, 5, 40, 40), prov()),  # covers it
        AnnotationObject(label("car"), Box(1.5, 2.5, 30, 40), prov(), track_id=3),
    ]
    from tests.io.formats.conftest import project_with

    source = project_with(tmp_path / "s.roadmark", [(image, objects)])
    export_dataset(source, "kitti", tmp_path / "out")
    instance = cv2.imread(str(tmp_path / "out" / "instance" / "000000.png"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(instance // 256, label_id_map(objects, SCHEMA, H, W))
    import_dataset(project, "kitti", tmp_path / "out")
    back = all_objects(project)[0]
    assert [o.label_id for o in back] == [o.label_id for o in objects]
    assert back[1].same_content(hidden) and back[3].track_id == 3  # the hidden car is kept
    source.close()

    # a map edited by another tool: the sidecar is ignored (warned), the maps decide
    edited = instance.copy()
    edited[60:70, 60:70] = label("sky") * 256
    cv2.imwrite(str(tmp_path / "out" / "instance" / "000000.png"), edited)
    cv2.imwrite(str(tmp_path / "out" / "semantic" / "000000.png"), (edited // 256).astype(np.uint8))
    with Project.create(tmp_path / "q.roadmark") as other:
        report = import_dataset(other, "kitti", tmp_path / "out")
        assert any("does not match the KITTI files" in str(w) for w in report.warnings)
        regions = [o for o in all_objects(other)[0] if o.kind is ObjectKind.REGION]
        assert {o.label_id for o in regions} == {label("road"), label("building"), label("sky")}


def test_frame_names_are_kept_when_they_are_kitti_names(rich_project: Project, tmp_path: Path):
    export_dataset(rich_project, "kitti", tmp_path / "out")
    names = sorted(p.name for p in (tmp_path / "out" / "image_2").iterdir())
    assert names == ["000000.png", "000001.png"]  # frame0.png, frame1.png are numbered
    with Project.create(tmp_path / "k.roadmark") as project:
        import_dataset(project, "kitti", tmp_path / "out")
        export_dataset(project, "kitti", tmp_path / "again")
    assert sorted(p.name for p in (tmp_path / "again" / "image_2").iterdir()) == names


def _fails(project: Project, source: Path, message: str, field: str | None, path: str = ""):
    with pytest.raises(FormatError, match=message) as info:
        import_dataset(project, "kitti", source, mapping={"Car": "car"})
    assert info.value.path and info.value.path.endswith(path), info.value.path
    assert info.value.field == field, str(info.value)
    assert project.frame_count() == 0


@pytest.mark.parametrize(
    ("line", "message", "field"),
    [
        ("Car 0 0 0 1 2 3", "expected 15 values", "line 2"),
        (LINES[0].replace("-1.58", "left"), "finite number", "line 2.alpha"),
        (LINES[0].replace("-1.58", "nan"), "finite number", "line 2.alpha"),
        (LINES[0].replace(" 0 -1.58", " 5 -1.58"), "-1, 0, 1, 2 or 3", "line 2.occluded"),
        (LINES[0].replace("61.41", "50.00"), "must not be less", "line 2.bbox"),
    ],
)
def test_bad_lines(project: Project, tmp_path: Path, line: str, message: str, field: str):
    root = _kitti(tmp_path / "kitti", [LINES[0], line])
    _fails(project, root, message, field, "label_2/000000.txt")


def test_bad_folders_and_maps(project: Project, tmp_path: Path):
    _fails(project, tmp_path / "nothing", "no such folder", None)
    (tmp_path / "empty").mkdir()
    _fails(project, tmp_path / "empty", "has no label_2", None)
    root = _kitti(tmp_path / "a", [LINES[0]])
    (root / "image_2" / "000000.png").unlink()
    _fails(project, root, "image 000000.png not found", "image", "label_2/000000.txt")
    root = _kitti(tmp_path / "b", [LINES[0]])
    values = _instance_map()
    _maps(root, "000000", values)
    (root / "instance" / "000000.png").write_bytes(b"not a png")
    _fails(project, root, "not a readable PNG", None, "instance/000000.png")
    _maps(root, "000000", values)
    cv2.imwrite(str(root / "instance" / "000000.png"), (values // 256).astype(np.uint8))
    _fails(project, root, "16-bit", "instance", "instance/000000.png")
    _maps(root, "000000", values)
    cv2.imwrite(str(root / "semantic" / "000000.png"), np.zeros((H, W, 3), np.uint8))
    _fails(project, root, "single-channel", None, "semantic/000000.png")
    _maps(root, "000000", values)
    semantic = (values // 256).astype(np.uint8)
    semantic[0, 0] = label("sky")
    cv2.imwrite(str(root / "semantic" / "000000.png"), semantic)
    _fails(project, root, "differ from 000000.png in the semantic folder at 1 pixels", "instance")
    _maps(root, "000000", np.where(values > 0, values, 200 * 256))
    _fails(project, root, "label id 200 is not in the project's schema", "semantic")
    _maps(root, "000000", values[:, :100])
    _fails(project, root, "says the image is 100x96 but", "size")
    root = _kitti(tmp_path / "c", [LINES[0]])
    (root / "roadmark").mkdir()
    (root / "roadmark" / "000000.json").write_text('{"objects": [{"line": "x"}]}')
    _fails(project, root, "must be an integer", "objects[0].line", "roadmark/000000.json")
    (root / "roadmark" / "000000.json").write_text('{"objects": [{"label": "car", "region": []}]}')
    _fails(project, root, "list of polygons", "objects[0].region", "roadmark/000000.json")
    bow_tie = [[[[0, 0], [10, 10], [10, 0], [0, 10]]]]
    (root / "roadmark" / "000000.json").write_text(
        json.dumps({"objects": [{"label": "car", "region": bow_tie}]})
    )
    _fails(project, root, "not a valid region", "objects[0].region", "roadmark/000000.json")


def test_labels_that_do_not_fit_kitti_maps_are_refused(tmp_path: Path):
    image = make_images(tmp_path / "images", 1, width=W, height=H)[0]
    objects = [
        AnnotationObject(label("car"), shapely.box(i, 0, i + 0.9, 5), prov()) for i in range(256)
    ]
    from tests.io.formats.conftest import project_with

    with project_with(tmp_path / "s.roadmark", [(image, objects)]) as source:
        with pytest.raises(FormatError, match="more than 255 instances of 'car'") as info:
            export_dataset(source, "kitti", tmp_path / "out")
        assert info.value.path == str(image.resolve()) and info.value.field == "instance"
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_demo_drive_maps_match_the_cityscapes_export(tmp_path: Path):
    """KITTI's semantic map is Cityscapes' labelIds; its instance map has the same segments
    as Cityscapes' instanceIds (KITTI counts instances from 1, Cityscapes from 0)."""
    from tests.io.formats.conftest import demo_project

    with demo_project(tmp_path / "demo.roadmark", frames=2) as demo:
        export_dataset(demo, "kitti", tmp_path / "kitti")
        export_dataset(demo, "cityscapes", tmp_path / "cs")
        names = [demo.frame_file(f).name.replace("_leftImg8bit.png", "") for f in demo.frames()]
    for position, name in enumerate(names):
        gt = tmp_path / "cs" / "gtFine" / "default" / "demo" / name
        kitti = f"{position:06d}"  # the demo's names are not KITTI names

        def read(path: Path) -> np.ndarray:
            return cv2.imread(str(path), cv2.IMREAD_UNCHANGED).astype(np.int64)

        semantic = read(tmp_path / "kitti" / "semantic" / f"{kitti}.png")
        instance = read(tmp_path / "kitti" / "instance" / f"{kitti}.png")
        assert np.array_equal(semantic, read(Path(f"{gt}_gtFine_labelIds.png")))
        cs = read(Path(f"{gt}_gtFine_instanceIds.png"))
        pairs = np.unique(np.stack([instance.ravel(), cs.ravel()]), axis=1)
        assert len(np.unique(pairs[0])) == len(np.unique(pairs[1])) == pairs.shape[1]
        assert len(np.unique(instance % 256)) > 2  # the drive has several instances


def _devkit_parse(line: str) -> dict:
    """A line read as the KITTI tools read it (the object devkit's ``sscanf`` types, as the
    Python loaders that follow it: ``int`` occlusion, ``float`` for the rest)."""
    fields = line.split(" ")
    out = {"type": fields[0], "truncated": float(fields[1]), "occluded": int(fields[2])}
    out["alpha"] = float(fields[3])
    out["bbox"] = [float(v) for v in fields[4:8]]
    out["dimensions"] = [float(v) for v in fields[8:11]]
    out["location"] = [float(v) for v in fields[11:14]]
    out["rotation_y"] = float(fields[14])
    if len(fields) == 16:
        out["score"] = float(fields[15])
    assert len(fields) in (15, 16)
    return out


def test_exported_lines_read_as_the_devkit_reads_them(rich_project: Project, tmp_path: Path):
    export_dataset(rich_project, "kitti", tmp_path / "out")
    lines = (tmp_path / "out" / "label_2" / "000000.txt").read_text().splitlines()
    parsed = [_devkit_parse(line) for line in lines]
    boxes = [o for o in all_objects(rich_project)[0] if o.kind is ObjectKind.BOX]
    assert [p["type"] for p in parsed] == ["traffic_sign", "car"]
    for entry, obj in zip(parsed, boxes, strict=True):
        box = obj.geometry
        assert entry["bbox"] == [box.x0, box.y0, box.x1, box.y1]
        assert entry["occluded"] in (0, 1) and entry["dimensions"] == [-1, -1, -1]
    assert parsed[1]["score"] == 0.875 and "score" not in parsed[0]


def test_the_kitti_schema_keeps_every_field_as_an_attribute(tmp_path: Path):
    """With ``roadmark new P --schema kitti`` the types need no --map, and the devkit's
    fields (3D ones included) are object attributes, written back even for an edited box."""
    from roadmark.io.schema_files import load_schema

    root = _kitti(tmp_path / "kitti", LINES)
    with Project.create(tmp_path / "k.roadmark", load_schema("kitti")) as project:
        import_dataset(project, "kitti", root)
        frame = project.frames()[0]
        objects = list(project.objects(frame.id))
        names = [project.schema.by_id[o.label_id].name for o in objects]
        assert names == ["Car", "Pedestrian", "Car", "DontCare"]
        assert dict(objects[0].attributes) == {
            "truncated": "0.00",
            "occluded": "0",
            "alpha": "-1.58",
            "dimensions": "1.65 1.67 3.64",
            "location": "-0.65 1.71 46.70",
            "rotation_y": "-1.59",
        }
        assert dict(objects[3].attributes) == {}
        attributes = dict(objects[0].attributes) | {"alpha": "-1.50", "occluded": "1"}
        moved = AnnotationObject(
            objects[0].label_id, Box(50, 17, 60, 20.5), objects[0].provenance, attributes=attributes
        )
        project.replace_objects(frame.id, [moved, *objects[1:]])
        export_dataset(project, "kitti", tmp_path / "out")
        lines = (tmp_path / "out" / "label_2" / "000000.txt").read_text().splitlines()
        assert lines[0] == (
            "Car 0.00 1 -1.50 50.00 17.00 60.00 20.50 1.65 1.67 3.64 -0.65 1.71 46.70 -1.59"
        )
        assert lines[1:] == LINES[1:]
        broken = AnnotationObject(
            objects[0].label_id, Box(1, 2, 3, 4), objects[0].provenance,
            attributes=attributes | {"dimensions": "1.65 wide"},
        )  # fmt: skip
        project.replace_objects(frame.id, [broken])
        with pytest.raises(FormatError, match="'dimensions' must hold 3 number") as info:
            export_dataset(project, "kitti", tmp_path / "out2")
        assert info.value.field == "dimensions" and info.value.path.endswith("000000.png")
    assert not (tmp_path / "out2").exists()
