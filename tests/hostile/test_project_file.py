"""The project file: nothing changes in a refused file, tampered rows are one line, and
writers wait their turn."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from roadmark.io.errors import NotAProjectError, ProjectLockedError
from roadmark.io.store import Project
from tests.helpers import box, make_image, region
from tests.hostile.conftest import one_line_error, run_cli
from tests.io.formats.conftest import label


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def images(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "images"
    folder.mkdir()
    return [make_image(folder / f"f{i}.png", seed=i) for i in range(3)]


def _project(tmp_path: Path, images: list[Path]) -> Path:
    path = tmp_path / "p.roadmark"
    with Project.create(path, user="tester") as project:
        from roadmark.io.frames import scan

        ids, _ = project.add_frames(scan(images))
        car = label("car")
        project.add_objects(ids[0], [region(car, 2, 2, 20, 20), box(car, 1, 1, 9, 9)])
    return path


def test_another_applications_database_stays_byte_identical(tmp_path: Path, images: list[Path]):
    other = tmp_path / "browser-history.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE visits (url TEXT)")
        conn.execute("INSERT INTO visits VALUES ('https://example.org')")
    conn.close()
    before = _digest(other)
    one_line_error(run_cli("add", str(other), str(images[0])), "is not a roadmark project")
    one_line_error(run_cli("info", str(other)), "is not a roadmark project")
    assert _digest(other) == before
    assert not other.with_name(other.name + "-wal").exists()
    with sqlite3.connect(other) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()


def _corrupt_a_page(path: Path) -> None:
    """Overwrite the middle of an index/table page of a checkpointed project file."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    assert pages > 4
    data = bytearray(path.read_bytes())
    start = (pages - 2) * page_size
    data[start : start + page_size] = b"\xa5" * page_size
    path.write_bytes(bytes(data))


def test_a_page_corrupted_project_is_refused_by_every_command(tmp_path: Path, images: list[Path]):
    path = _project(tmp_path, images)
    _corrupt_a_page(path)
    before = _digest(path)
    extra = make_image(tmp_path / "images" / "new.png", seed=9)
    one_line_error(run_cli("add", str(path), str(extra)), "p.roadmark", "damaged")
    one_line_error(run_cli("info", str(path)), "p.roadmark")
    assert _digest(path) == before
    with pytest.raises(NotAProjectError):
        Project.open(path)


@pytest.mark.parametrize(
    ("sql", "needles"),
    [
        ("UPDATE labels SET color = 'reddish' WHERE name = 'car'", ("labels row 26", "color")),
        ("UPDATE frames SET status = 'bogus' WHERE id = 1", ("frames row 1", "status")),
        (
            "UPDATE objects SET created_at = 'yesterday' WHERE id = 1",
            ("objects row 1", "created_at"),
        ),
        ("UPDATE objects SET geometry = x'00ff00' WHERE id = 1", ("objects row 1", "geometry")),
        ("UPDATE objects SET x1 = 'inf' WHERE id = 2", ("objects row 2", "geometry")),
        ("UPDATE objects SET x1 = 1e300 WHERE id = 2", ("objects row 2", "geometry")),
        ("UPDATE objects SET track_id = 'x' WHERE id = 2", ("objects row 2", "track_id")),
        ("DELETE FROM labels WHERE name = 'car'", ("objects row 1", "label_id")),
    ],
)
def test_tampered_rows_are_one_line_naming_row_and_field(
    tmp_path: Path, images: list[Path], sql: str, needles: tuple[str, ...]
):
    path = _project(tmp_path, images)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute(sql)
    conn.commit()
    conn.close()
    for fmt, out in (("coco", "out.json"), ("cityscapes", "cs")):
        result = run_cli("export", str(path), "--format", fmt, str(tmp_path / out))
        one_line_error(result, *needles)
        assert not (tmp_path / out).exists()


def test_two_adds_at_once_both_succeed(tmp_path: Path, images: list[Path]):
    """Concurrent writers take turns (BEGIN IMMEDIATE + the lock timeout)."""
    for attempt in range(3):
        path = tmp_path / f"c{attempt}.roadmark"
        Project.create(path).close()
        folders = []
        for side in range(2):
            folder = tmp_path / f"batch{attempt}-{side}"
            folder.mkdir()
            for i in range(6):
                make_image(folder / f"s{side}_{i}.png", seed=side * 10 + i)
            folders.append(folder)
        runs = [
            subprocess.Popen(
                [sys.executable, "-m", "roadmark", "add", str(path), str(folder)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for folder in folders
        ]
        for run in runs:
            _, err = run.communicate(timeout=180)
            assert run.returncode == 0, err
        with Project.open(path, read_only=True) as project:
            assert project.frame_count() == 12


def test_a_writer_that_waits_past_the_timeout_gets_the_locked_message(
    tmp_path: Path, images: list[Path], monkeypatch: pytest.MonkeyPatch
):
    path = _project(tmp_path, images)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        monkeypatch.setenv("ROADMARK_LOCK_TIMEOUT", "0.5")
        started = time.monotonic()
        one_line_error(run_cli("add", str(path), str(images[0])), "locked")
        with Project.open(path) as project, pytest.raises(ProjectLockedError):
            project.set_meta("x", "1")
        assert time.monotonic() - started >= 0.5
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with Project.open(path) as project:  # free again: the write goes through
        project.set_meta("x", "1")
