"""The command line contract: outputs, exit status 2 and one line on bad input."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from roadmark.cli import main
from roadmark.io.store import Project
from roadmark.io.tables import SCHEMA_VERSION
from tests.helpers import make_image


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "roadmark", *args], capture_output=True, text=True, timeout=120
    )


def test_new_add_info(tmp_path: Path, capsys: pytest.CaptureFixture):
    images = tmp_path / "images"
    images.mkdir()
    for i in range(3):
        make_image(images / f"f{i}.png", seed=i)
    project = tmp_path / "p.roadmark"
    assert main(["new", str(project)]) == 0
    assert main(["add", str(project), str(images)]) == 0
    assert "added 3 frames" in capsys.readouterr().out
    assert main(["add", str(project), str(images / "f0.png")]) == 0
    assert "1 already in the project" in capsys.readouterr().out
    assert main(["info", str(project), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["frames"] == 3 and info["objects"] == 0 and info["labels"] == 35
    assert info["statuses"]["new"] == 3 and info["objects_by_source"] == {}
    assert main(["info", str(project)]) == 0
    assert "frames   3" in capsys.readouterr().out


def test_new_with_custom_yaml_schema(tmp_path: Path, capsys: pytest.CaptureFixture):
    schema = tmp_path / "s.yaml"
    schema.write_text("name: lanes\nlabels:\n  - {name: lane, id: 1}\n  - {name: curb, id: 2}\n")
    assert main(["new", str(tmp_path / "p"), "--schema", str(schema)]) == 0
    with Project.open(tmp_path / "p.roadmark") as project:
        assert [label.name for label in project.schema] == ["lane", "curb"]


def _one_line_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path):
    project = tmp_path / "p.roadmark"
    images = tmp_path / "i"
    images.mkdir()
    make_image(images / "ok.png")
    assert main(["new", str(project)]) == 0
    assert main(["add", str(project), str(images / "ok.png")]) == 0
    (images / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    _one_line_error(run("add", str(project), str(images)), "bad.jpg", "not a readable image")
    _one_line_error(run("add", str(project), str(tmp_path / "nope.png")), "nope.png")
    (tmp_path / "empty").mkdir()
    _one_line_error(run("add", str(project), str(tmp_path / "empty")), "folder has no images")
    (tmp_path / "v.mp4").write_bytes(b"junk" * 50)
    _one_line_error(run("add", str(project), str(tmp_path / "v.mp4")), "v.mp4", "video")
    (tmp_path / "x.roadmark").write_text("hello")
    _one_line_error(
        run("info", str(tmp_path / "x.roadmark")), "x.roadmark", "not a roadmark project"
    )
    _one_line_error(run("new", str(project)), "exists already")
    bad_schema = tmp_path / "s.json"
    bad_schema.write_text('{"labels": [{"name": "a", "id": 1, "color": "red"}]}')
    _one_line_error(
        run("new", str(tmp_path / "q"), "--schema", str(bad_schema)), "s.json", "'color'"
    )
    # nothing half-written: the project still opens with its one frame
    with Project.open(project) as opened:
        assert opened.frame_count() == 1


def test_newer_locked_and_read_only_projects(tmp_path: Path):
    project = tmp_path / "p.roadmark"
    make_image(tmp_path / "a.png")
    Project.create(project).close()
    holder = sqlite3.connect(project, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        _one_line_error(run("add", str(project), str(tmp_path / "a.png")), "p.roadmark", "locked")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    project.chmod(0o444)
    try:
        _one_line_error(
            run("add", str(project), str(tmp_path / "a.png")), "p.roadmark", "read-only"
        )
    finally:
        project.chmod(0o644)
    with sqlite3.connect(project) as conn:
        conn.execute("update meta set value = '7' where key = 'schema_version'")
    _one_line_error(run("info", str(project)), "p.roadmark", "newer roadmark")
    with sqlite3.connect(project) as conn:
        conn.execute(
            "update meta set value = ? where key = 'schema_version'", (str(SCHEMA_VERSION),)
        )
    assert run("info", str(project)).returncode == 0
