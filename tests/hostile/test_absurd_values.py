"""Absurd numbers are refused at the door: one line naming file and field, exit 2."""

from __future__ import annotations

import json
import sqlite3
import struct
import threading
import time
import zlib
from pathlib import Path

import pytest
import shapely

from roadmark.io.image_limits import DecodeBudget
from roadmark.io.store import Project
from tests.helpers import make_image
from tests.hostile.conftest import one_line_error, run_cli

CAR = 26


def png_claiming(width: int, height: int) -> bytes:
    """A small, well-formed PNG whose header declares ``width`` x ``height`` gray pixels
    (its pixel data is a short zlib stream: decoding it would allocate the full image)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\0" * (width + 1) * 4)  # the first rows only
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path]:
    """A project and a 64x48 image beside it."""
    image = make_image(tmp_path / "img.png")
    project = tmp_path / "p.roadmark"
    Project.create(project).close()
    return project, image


def _coco(tmp_path: Path, annotation: dict, *, image: dict | None = None, **top) -> Path:
    data = {
        "images": [image or {"id": 1, "file_name": "img.png", "width": 64, "height": 48}],
        "categories": top.pop("categories", [{"id": CAR, "name": "car"}]),
        "annotations": [{"id": 1, "image_id": 1, "category_id": CAR, "iscrowd": 0} | annotation],
    }
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(data))
    return path


def _frames(project: Path) -> int:
    with Project.open(project, read_only=True) as opened:
        return opened.frame_count()


@pytest.mark.parametrize(
    "segmentation",
    [
        [[1e12, 1e12, 1e12 + 5, 1e12, 1e12 + 5, 1e12 + 5]],  # far away
        [[0, 0, 1e12, 1e12, 1e12, 0, 0, 1e12]],  # self-crossing, far away
        [[0, 0, 40, 0, 40, 40, 0, float("nan")]],
    ],
)
def test_absurd_coco_polygons_are_refused(tmp_path: Path, setup, segmentation):
    project, _ = setup
    coco = _coco(tmp_path, {"segmentation": segmentation, "bbox": [0, 0, 5, 5]})
    one_line_error(
        run_cli("import", str(project), "--format", "coco", str(coco)),
        "coco.json", "annotations[0]", "segmentation[0]",
    )  # fmt: skip
    assert _frames(project) == 0


def test_an_absurd_coco_box_is_refused(tmp_path: Path, setup):
    project, _ = setup
    coco = _coco(tmp_path, {"bbox": [1e12, 0, 5, 5]})
    one_line_error(run_cli("import", str(project), "--format", "coco", str(coco)), "bbox")


def test_a_polygon_well_outside_is_clipped_and_exports(tmp_path: Path, setup):
    project, _ = setup
    # Reaches 6 image widths to the right: within the absurd limit, beyond the margin.
    coco = _coco(tmp_path, {"segmentation": [[10, 10, 400, 10, 400, 40, 10, 40]]})
    result = run_cli("import", str(project), "--format", "coco", str(coco))
    assert result.returncode == 0, result.stderr
    assert "clipped to that margin" in result.stderr
    with Project.open(project, read_only=True) as opened:
        (obj,) = opened.objects(opened.frames()[0].id)
        assert obj.geometry.bounds == (10.0, 10.0, 192.0, 40.0)  # 64 + 2 * 64
    for fmt, out in (("coco", "o.json"), ("cityscapes", "cs")):
        done = run_cli("export", str(project), "--format", fmt, str(tmp_path / out))
        assert done.returncode == 0, done.stderr


def _cityscapes(tmp_path: Path, polygon: list) -> Path:
    folder = tmp_path / "cs" / "gtFine" / "train" / "city"
    folder.mkdir(parents=True)
    left = tmp_path / "cs" / "leftImg8bit" / "train" / "city"
    left.mkdir(parents=True)
    make_image(left / "city_000000_000001_leftImg8bit.png")
    (folder / "city_000000_000001_gtFine_polygons.json").write_text(json.dumps({
        "imgHeight": 48, "imgWidth": 64,
        "objects": [{"label": "car", "polygon": polygon}],
    }))  # fmt: skip
    return tmp_path / "cs"


@pytest.mark.parametrize(
    "polygon",
    [
        [[1e12, 1e12], [1e12 + 5, 1e12], [1e12 + 5, 1e12 + 5]],
        [[0, 0], [1e12, 1e12], [1e12, 0], [0, 1e12]],
    ],
)
def test_absurd_cityscapes_polygons_are_refused(tmp_path: Path, setup, polygon):
    project, _ = setup
    source = _cityscapes(tmp_path, polygon)
    one_line_error(
        run_cli("import", str(project), "--format", "cityscapes", str(source)),
        "gtFine_polygons.json", "objects[0].polygon", "absurdly far",
    )  # fmt: skip
    assert _frames(project) == 0


@pytest.mark.parametrize(
    ("point", "needle"),
    [
        ([10**400, 5], "must be a finite number"),  # past float's range
        ([True, 5], "got True"),
        (["10", 5], "got '10'"),
        ([10, 5, 1], "must be [x, y]"),
    ],
)
def test_a_cityscapes_point_that_is_no_number_is_named(tmp_path: Path, setup, point, needle):
    project, _ = setup
    source = _cityscapes(tmp_path, [[0, 0], [20, 0], point, [0, 20]])
    one_line_error(
        run_cli("import", str(project), "--format", "cityscapes", str(source)),
        "gtFine_polygons.json", "objects[0].polygon", needle,
    )  # fmt: skip
    assert _frames(project) == 0


def test_an_rle_of_a_size_the_image_does_not_have_is_refused_before_decoding(tmp_path: Path, setup):
    project, _ = setup
    for side in (20000, 100000):
        coco = _coco(
            tmp_path,
            {"segmentation": {"size": [side, side], "counts": [side * side]}},
            image={"id": 1, "file_name": "img.png", "width": side, "height": side},
        )
        started = time.monotonic()
        one_line_error(
            run_cli("import", str(project), "--format", "coco", str(coco)), "coco.json", "images[0]"
        )
        assert time.monotonic() - started < 60
    # Declared 20000 x 20000 under a raised pixel limit: refused by the file's header.
    coco = _coco(
        tmp_path,
        {"segmentation": {"size": [48, 64], "counts": [48 * 64]}},
        image={"id": 1, "file_name": "img.png", "width": 6400, "height": 4800},
    )
    one_line_error(
        run_cli("import", str(project), "--format", "coco", str(coco)),
        "but the image img.png is 64 x 48",
    )
    assert _frames(project) == 0


@pytest.mark.parametrize("side", [30000, 100000])
def test_an_image_over_the_pixel_limit_is_refused_by_its_header(tmp_path: Path, setup, side: int):
    project, _ = setup
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_claiming(side, side))
    assert bomb.stat().st_size < 1_000_000
    one_line_error(run_cli("add", str(project), str(bomb)), "bomb.png", "limit")
    assert _frames(project) == 0


def test_the_pixel_limit_is_configurable(setup, monkeypatch: pytest.MonkeyPatch):
    project, image = setup
    monkeypatch.setenv("ROADMARK_MAX_IMAGE_PIXELS", "1000")
    one_line_error(run_cli("add", str(project), str(image)), "img.png", "64 x 48", "1,000")
    monkeypatch.delenv("ROADMARK_MAX_IMAGE_PIXELS")
    assert run_cli("add", str(project), str(image)).returncode == 0


def test_decoders_running_at_once_stay_within_the_budget():
    budget = DecodeBudget(100)
    peak = []
    lock = threading.Lock()

    def decode(nbytes: int) -> None:
        with budget.reserve(nbytes):
            with lock:
                peak.append(budget.in_use)
            time.sleep(0.02)

    threads = [threading.Thread(target=decode, args=(40,)) for _ in range(8)]
    threads.append(threading.Thread(target=decode, args=(500,)))  # alone: still let through
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert max(peak) <= 500 and all(p <= 100 for p in peak if p != 500)
    assert budget.in_use == 0


@pytest.mark.parametrize(
    ("annotation", "needles"),
    [
        ({"bbox": [0, 0, 5, 5], "track_id": 2**70}, ("annotations[0]", "track_id", "64 bits")),
        ({"bbox": [0, 0, 5, 5], "roadmark": {"instance_id": 2**64}}, ("instance_id", "64 bits")),
    ],
)
def test_ids_beyond_64_bits_are_refused(tmp_path: Path, setup, annotation, needles):
    project, _ = setup
    coco = _coco(tmp_path, annotation)
    one_line_error(run_cli("import", str(project), "--format", "coco", str(coco)), *needles)


def test_deeply_nested_json_is_refused(tmp_path: Path, setup):
    project, _ = setup
    deep = tmp_path / "coco.json"
    deep.write_text('{"images": ' + "[" * 200000 + "]" * 200000 + "}")
    one_line_error(
        run_cli("import", str(project), "--format", "coco", str(deep)), "nested too deeply"
    )


def test_a_lone_surrogate_in_a_label_name_is_refused(tmp_path: Path, setup):
    project, _ = setup
    coco = _coco(tmp_path, {"bbox": [0, 0, 5, 5]}, categories=[{"id": CAR, "name": "car\ud800"}])
    text = coco.read_text()
    assert "\\ud800" in text
    one_line_error(
        run_cli("import", str(project), "--format", "coco", str(coco), "--add-labels"),
        "coco.json", "categories[0].name", "surrogate",
    )  # fmt: skip


def test_an_absurd_geometry_in_the_store_is_one_line(tmp_path: Path, setup):
    """Written behind roadmark's back: exports refuse it instead of crashing."""
    project, image = setup
    assert run_cli("add", str(project), str(image)).returncode == 0
    far = shapely.to_wkb(shapely.box(1e12, 1e12, 1e12 + 5, 1e12 + 5))
    conn = sqlite3.connect(project)
    conn.execute(
        "INSERT INTO objects (frame_id, z, label_id, kind, x0, y0, x1, y1, geometry, attributes,"
        " crowd, source, created_by, created_at, updated_by, updated_at, verified, deleted)"
        " VALUES (1, 0, ?, 'region', 0, 0, 5, 5, ?, '{}', 0, 'human', 'x',"
        " '2025-01-01T00:00:00+00:00', 'x', '2025-01-01T00:00:00+00:00', 0, 0)",
        (CAR, far),
    )
    conn.commit()
    conn.close()
    for fmt, out in (("coco", "o.json"), ("cityscapes", "cs")):
        one_line_error(
            run_cli("export", str(project), "--format", fmt, str(tmp_path / out)),
            "objects row 1", "geometry",
        )  # fmt: skip


@pytest.mark.parametrize(
    ("name", "text", "needles"),
    [
        ("s.json", '{"name": "s", "labels": [{"name": "a\\ud800", "id": 1}]}',
         ("labels[0].name", "surrogate")),
        ("s.yaml", 'name: s\nlabels:\n  - {name: "a\\ud800", id: 1}\n', ("labels[0].name",)),
        ("d.json", '{"labels": ' + "[" * 100000 + "]" * 100000 + "}", ("nested too deeply",)),
        ("d.yaml", "labels: " + "[" * 100000 + "]" * 100000 + "\n", ("nested too deeply",)),
    ],
)  # fmt: skip
def test_hostile_schema_files_are_one_line(tmp_path: Path, name: str, text: str, needles):
    schema = tmp_path / name
    schema.write_text(text)
    one_line_error(
        run_cli("new", str(tmp_path / "p.roadmark"), "--schema", str(schema)), name, *needles
    )
    assert not (tmp_path / "p.roadmark").exists()


def test_a_declared_size_is_compared_upright_after_exif_orientation(tmp_path: Path, setup):
    """A camera JPEG stored 64 x 48 with EXIF orientation 6 is a 48 x 64 frame."""
    from PIL import Image

    project, _ = setup
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (64, 48), (200, 10, 10)).save(tmp_path / "cam.jpg", exif=exif)
    coco = _coco(
        tmp_path,
        {"bbox": [1, 1, 5, 5]},
        image={"id": 1, "file_name": "cam.jpg", "width": 48, "height": 64},
    )
    result = run_cli("import", str(project), "--format", "coco", str(coco))
    assert result.returncode == 0, result.stderr
    with Project.open(project, read_only=True) as opened:
        frame = opened.frames()[0]
        assert (frame.width, frame.height) == (48, 64)
