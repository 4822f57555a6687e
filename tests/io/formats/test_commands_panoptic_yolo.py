"""``roadmark import/export --format coco-panoptic|yolo`` on the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from roadmark.cli import main
from roadmark.io.stats import project_info
from roadmark.io.store import Project
from tests.io.formats.conftest import demo_project


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "roadmark", *args], capture_output=True, text=True, timeout=120
    )


def _one_line_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if "warning" not in line]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_export_and_import_both_formats(tmp_path: Path, capsys: pytest.CaptureFixture):
    demo = tmp_path / "demo.roadmark"
    demo_project(demo, frames=3).close()
    assert main(["export", str(demo), "--format", "coco-panoptic", str(tmp_path / "pan.json"),
                 "--frames", "0,2"]) == 0  # fmt: skip
    assert "on 2 frames to" in capsys.readouterr().out
    assert len(list((tmp_path / "pan").iterdir())) == 2
    assert main(["export", str(demo), "--format", "yolo", str(tmp_path / "y")]) == 0
    (tmp_path / "pan").rename(tmp_path / "pngs")
    for name, args in (
        ("a", [str(tmp_path / "pan.json"), "--format", "coco-panoptic",
               "--masks", str(tmp_path / "pngs")]),
        ("b", [str(tmp_path / "y" / "data.yaml"), "--format", "yolo"]),
    ):  # fmt: skip
        assert main(["new", str(tmp_path / name)]) == 0
        assert main(["import", str(tmp_path / f"{name}.roadmark"), *args]) == 0
    out = capsys.readouterr().out
    assert "on 2 frames (2 new)" in out and "on 3 frames (3 new)" in out
    with Project.open(tmp_path / "a.roadmark") as project:
        assert project.frame_count() == 2 and project_info(project)["objects"] > 10


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path):
    demo = tmp_path / "demo.roadmark"
    demo_project(demo, frames=1).close()
    project = tmp_path / "p.roadmark"
    Project.create(project).close()
    assert _run("export", str(demo), "--format", "coco-panoptic", str(tmp_path / "pan.json"))
    _one_line_error(
        _run("import", str(project), str(tmp_path / "pan.json"), "--format", "coco-panoptic",
             "--masks", str(tmp_path / "nowhere")),
        "nowhere: --masks: no such folder",
    )  # fmt: skip
    png = next((tmp_path / "pan").iterdir())
    png.write_bytes(b"broken")
    _one_line_error(
        _run("import", str(project), str(tmp_path / "pan.json"), "--format", "coco-panoptic"),
        f"{png}: is not a readable PNG",
    )
    _one_line_error(
        _run("export", str(demo), "--format", "coco-panoptic", str(tmp_path / "pan.json")),
        "pan.json: exists already",
    )
    (tmp_path / "pan.json").unlink()
    _one_line_error(
        _run("export", str(demo), "--format", "coco-panoptic", str(tmp_path / "pan.json")),
        "pan: exists already",
    )
    assert _run("export", str(demo), "--format", "yolo", str(tmp_path / "y")).returncode == 0
    label_file = next((tmp_path / "y" / "labels").rglob("*.txt"))
    label_file.write_text("0 0.5 0.5 0.2\n")
    _one_line_error(
        _run("import", str(project), str(tmp_path / "y"), "--format", "yolo"),
        f"{label_file}: line 1: expected 'class cx cy w h'",
    )
    with Project.open(project) as opened:
        assert opened.frame_count() == 0
