"""``roadmark import`` and ``roadmark export`` on the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from roadmark.cli import main
from roadmark.io.store import Project
from tests.io.formats import handmade
from tests.io.formats.conftest import demo_project


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "roadmark", *args], capture_output=True, text=True, timeout=120
    )


def test_export_then_import_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture):
    demo_project(tmp_path / "demo.roadmark", frames=3).close()
    assert main(["export", str(tmp_path / "demo.roadmark"), "--format", "coco",
                 str(tmp_path / "out.json"), "--frames", "0,2"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "on 2 frames to" in out
    assert len(json.loads((tmp_path / "out.json").read_text())["images"]) == 2
    assert main(["export", str(tmp_path / "demo.roadmark"), "--format", "cityscapes",
                 str(tmp_path / "cs")]) == 0  # fmt: skip
    assert main(["new", str(tmp_path / "p")]) == 0
    assert main(["import", str(tmp_path / "p.roadmark"), str(tmp_path / "cs"),
                 "--format", "cityscapes"]) == 0  # fmt: skip
    assert "on 3 frames (3 new)" in capsys.readouterr().out
    with Project.open(tmp_path / "p.roadmark") as project:
        assert project.frame_count() == 3


def test_map_and_add_labels_options(tmp_path: Path, capsys: pytest.CaptureFixture):
    json_path = handmade.write_example(tmp_path / "data")
    data = json.loads(json_path.read_text())
    data["objects"][1]["label"] = "street"
    data["objects"][2]["label"] = "curb"
    json_path.write_text(json.dumps(data))
    assert main(["new", str(tmp_path / "p")]) == 0
    args = ["import", str(tmp_path / "p.roadmark"), str(json_path), "--format", "cityscapes"]
    assert main([*args, "--map", "street=road", "--add-labels"]) == 0
    out = capsys.readouterr()
    assert "labels added: curb" in out.out
    assert "self-intersecting polygon repaired" in out.err
    with Project.open(tmp_path / "p.roadmark") as project:
        objects = project.objects(project.frames()[0].id)
        assert objects[1].label_id == project.schema.label("road").id
        assert objects[2].label_id == project.schema.label("curb").id


def _one_line_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if "warning" not in line]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path):
    project = tmp_path / "p.roadmark"
    Project.create(project).close()
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [{"id": 1, "file_name": "../../x.png", "width": 4, "height": 4}]}')
    _one_line_error(
        _run("import", str(project), str(bad), "--format", "coco"),
        "bad.json: images[0].file_name: '../../x.png' leaves the images folder",
    )
    _one_line_error(
        _run("import", str(project), str(bad), "--format", "labelme"), "--format: unknown format"
    )
    _one_line_error(
        _run("import", str(project), str(bad), "--format", "coco", "--map", "car"),
        "--map: expected FROM=TO",
    )
    json_path = handmade.write_example(tmp_path / "data")
    _one_line_error(
        _run("import", str(project), str(json_path), "--format", "cityscapes", "--map", "a=zz"),
        "--map: a=zz: 'zz' is not a label",
    )
    data = json.loads(json_path.read_text())
    data["objects"][0]["label"] = "heaven"
    json_path.write_text(json.dumps(data))
    _one_line_error(
        _run("import", str(project), str(json_path), "--format", "cityscapes"),
        "labels not in the project's schema 'cityscapes': 'heaven' (1)",
        "--add-labels",
    )
    _one_line_error(
        _run("export", str(project), str(tmp_path / "o.json"), "--format", "coco"),
        "no frames to export",
    )
    with Project.open(project) as opened:
        assert opened.frame_count() == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json", "data", "p.roadmark"]
