"""The engine under a project: pragmas, write transactions, and errors as roadmark's own."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from roadmark.io.engine import READING, database_errors, enable_wal, sqlite_engine, writable
from roadmark.io.errors import (
    NotAProjectError,
    ProjectError,
    ProjectLockedError,
    ProjectReadOnlyError,
)


def _operational(message: str) -> sa.exc.OperationalError:
    return sa.exc.OperationalError("SELECT 1", {}, sqlite3.OperationalError(message))


@pytest.mark.parametrize(
    ("message", "error", "text"),
    [
        ("database is locked", ProjectLockedError, "locked by another process"),
        ("attempt to write a readonly database", ProjectReadOnlyError, "read-only"),
        ("file is not a database", NotAProjectError, "not a roadmark project"),
        ("database disk image is malformed", NotAProjectError, "is damaged"),
        ("disk I/O error", ProjectError, "cannot write"),
        ("no such table: frames", ProjectError, "database error: no such table"),
    ],
)
def test_database_errors_become_project_errors(message: str, error: type, text: str):
    with pytest.raises(error, match=text) as raised, database_errors("p.roadmark"):
        raise _operational(message)
    assert raised.value.path == "p.roadmark"


def test_a_file_engine_has_foreign_keys_wal_and_immediate_writes(tmp_path: Path):
    path = tmp_path / "p.roadmark"
    engine = sqlite_engine(path, create=True)
    enable_wal(engine)
    other = sqlite_engine(path)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        # A write transaction holds the write lock from its start: another writer waits
        # (here: gives up at once), a reader goes ahead.
        with engine.begin():
            raw = sqlite3.connect(path, timeout=0)
            try:
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    raw.execute("BEGIN IMMEDIATE")
            finally:
                raw.close()
            with other.connect() as reader:
                reader = reader.execution_options(**{READING: True})
                assert reader.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0
    finally:
        engine.dispose()
        other.dispose()


def test_writable_honours_the_permission_bits(tmp_path: Path):
    path = tmp_path / "p.roadmark"
    path.write_bytes(b"")
    assert writable(path)
    path.chmod(0o444)
    try:
        assert not writable(path)
    finally:
        path.chmod(0o644)


def test_a_file_open_in_this_process_is_not_page_checked_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A second Project on an open file (a background job's) skips quick_check, which reads
    the whole file; once every Project on it is closed (or collected) the next open checks."""
    import gc

    from roadmark.io import migrations
    from roadmark.io.store import Project

    path = tmp_path / "p.roadmark"
    Project.create(path).close()
    checked: list[str] = []
    real = migrations.check_pages

    def counting(engine: sa.Engine, where: str) -> None:
        checked.append(where)
        real(engine, where)

    monkeypatch.setattr(migrations, "check_pages", counting)
    with Project.open(path) as window:
        assert len(checked) == 1
        with Project.open(path) as job:
            assert job is not window and len(checked) == 1
        Project.open(path).close()
        assert len(checked) == 1
    Project.open(path).close()
    assert len(checked) == 2
    forgotten = Project.open(path)  # never closed: collected
    del forgotten
    gc.collect()
    Project.open(path).close()
    assert len(checked) == 4
