"""Team project commands on the command line, against a real PostgreSQL database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from roadmark.cli import main
from tests.helpers import make_image
from tests.test_cli import _one_line_error, run


def _out(capsys: pytest.CaptureFixture) -> str:
    return capsys.readouterr().out


def test_a_team_project_from_the_command_line(
    pg_database: str, tmp_path: Path, capsys: pytest.CaptureFixture
):
    images = tmp_path / "share" / "images"
    images.mkdir(parents=True)
    for i in range(3):
        make_image(images / f"f{i}.png", seed=i)
    assert main(["new", pg_database]) == 0
    assert "created postgresql://postgres@/" in _out(capsys)
    assert main(["config", "image-root", pg_database, str(tmp_path / "share")]) == 0
    assert main(["config", "image-root", pg_database]) == 0
    assert str(tmp_path / "share") in _out(capsys)
    assert main(["add", pg_database, str(images)]) == 0
    assert "added 3 frames" in _out(capsys)
    assert main(["info", pg_database, "--json"]) == 0
    assert json.loads(_out(capsys))["frames"] == 3

    assert main(["members", pg_database, "--add", "lea", "--role", "lead"]) == 0
    assert (
        main(["members", pg_database, "--user", "lea", "--add", "anna", "--role", "annotator"]) == 0
    )
    _out(capsys)
    assert main(["members", pg_database, "--json"]) == 0
    assert json.loads(_out(capsys)) == {"lea": "lead", "anna": "annotator"}

    for name, expected in (("anna", "f0.png"), ("lea", "f1.png"), ("anna", "f0.png")):
        assert main(["frames", pg_database, "--next", "--claim", "--user", name, "--json"]) == 0
        (row,) = json.loads(_out(capsys))
        assert row["name"] == expected and row["assignee"] == name
    assert main(["leases", pg_database]) == 0
    assert "nobody is editing" in _out(capsys)

    copy = tmp_path / "copy.roadmark"
    assert main(["copy", pg_database, str(copy)]) == 0
    assert "3 frames" in _out(capsys)
    assert main(["frames", str(copy), "--assignee", "anna", "--json"]) == 0
    assert [row["name"] for row in json.loads(_out(capsys))] == ["f0.png"]


def test_team_command_errors_are_one_line_without_the_password(pg_cluster, tmp_path: Path):
    secret = "s3cr3t-pw"
    url = pg_cluster.url("nosuchdb").replace("postgres@", f"postgres:{secret}@")
    result = run("info", url)
    _one_line_error(result, "postgresql://postgres@/nosuchdb", "cannot connect")
    assert secret not in result.stderr
    _one_line_error(run("new", "mysql://host/db"), "'mysql' databases are not supported")
    url = pg_cluster.new_database()
    assert run("new", url).returncode == 0
    _one_line_error(run("new", url), "already holds a roadmark project")
    (tmp_path / "p.roadmark").touch()
    _one_line_error(
        run("members", pg_cluster.url(), "--add", "x", "--role", "boss"), "not a roadmark project"
    )
    result = run("config", "image-root", str(tmp_path / "p.roadmark"), str(tmp_path / "nope"))
    _one_line_error(result, "nope", "is not a folder")


def test_the_image_root_is_per_machine_and_a_missing_image_names_its_path(
    pg_database: str, tmp_path: Path
):
    from roadmark.io.errors import FrameSourceError
    from roadmark.io.frames import FrameLoader
    from roadmark.io.locations import set_image_root
    from roadmark.io.store import Project

    linux = tmp_path / "mnt" / "footage"
    (linux / "run1").mkdir(parents=True)
    make_image(linux / "run1" / "a.png")
    set_image_root(pg_database, linux)
    assert main(["new", pg_database]) == 0
    assert main(["add", pg_database, str(linux / "run1")]) == 0
    with Project.open(pg_database) as project:
        (frame,) = project.frames()
        assert frame.path == "run1/a.png"  # stored relative to the image root
        assert project.frame_file(frame) == linux / "run1" / "a.png"
    # another machine mounts the share elsewhere; the same project opens there
    other = tmp_path / "Z"
    other.mkdir()
    set_image_root(pg_database, other)
    with Project.open(pg_database) as project:
        (frame,) = project.frames()
        loader = FrameLoader(lambda path: project.root / path)
        with pytest.raises(FrameSourceError, match="image not found") as error:
            loader.load(frame.path)
        assert str(other / "run1" / "a.png") in str(error.value)
        loader.close()
