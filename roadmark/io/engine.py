"""The database engine under a project: SQLite pragmas, transactions that take the write
lock when they begin, the file checks, and database errors as roadmark's own.

A project file is SQLite with foreign keys on, ``synchronous=NORMAL`` and (once the file is
known to be a project) WAL mode. pysqlite's own transaction handling is switched off so
that SQLAlchemy's BEGIN starts each transaction: write transactions begin ``IMMEDIATE``
(waiting up to the lock timeout, ``ROADMARK_LOCK_TIMEOUT`` seconds, for another writer),
connections marked with :data:`READING` begin deferred. A team project is a PostgreSQL URL
with SQLAlchemy's defaults.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
import weakref
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from roadmark.io.errors import (
    NotAProjectError,
    ProjectError,
    ProjectLockedError,
    ProjectReadOnlyError,
)
from roadmark.io.locations import database_url

DEFAULT_LOCK_TIMEOUT_S = 10.0
READING = "roadmark_reading"  # execution option: this connection only reads
_OPEN_FILES: Counter[str] = Counter()  # project files this process has open, and how often
_OPEN_LOCK = threading.Lock()


class Reader(Protocol):
    """Anything that hands out a connection to read with (an open project)."""

    def reading(self) -> AbstractContextManager[sa.Connection]: ...


def lock_timeout() -> float:
    """Seconds a writer waits for another one to finish (``ROADMARK_LOCK_TIMEOUT``)."""
    return float(os.environ.get("ROADMARK_LOCK_TIMEOUT", DEFAULT_LOCK_TIMEOUT_S))


def url_engine(location: str) -> Engine:
    """An engine on a team project's database URL."""
    return sa.create_engine(database_url(location), pool_recycle=3600)


def sqlite_engine(path: Path, *, read_only: bool = False, create: bool = False) -> Engine:
    """An engine on a project file: foreign keys on, WAL, real transactions.

    pysqlite's own transaction handling is switched off so that SQLAlchemy's BEGIN starts
    the transaction (DDL in migrations is then transactional too, and lock errors show at
    the statement that meets them).
    """
    mode = "ro" if read_only else ("rwc" if create else "rw")
    uri = f"file:{Path(path).as_posix()}?mode={mode}"
    timeout = lock_timeout()

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=False)

    engine = sa.create_engine("sqlite://", creator=connect, poolclass=sa.pool.QueuePool)
    _configure_sqlite(engine, read_only=read_only)
    return engine


def _configure_sqlite(engine: Engine, *, read_only: bool) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        # Let SQLAlchemy emit BEGIN itself (pysqlite's implicit transactions would
        # otherwise start late and hide lock errors).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if not read_only:
            # Changes nothing in the file; WAL mode (which does) is switched on only once
            # the file is known to be a project (Project.open, Project.create).
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: sa.Connection) -> None:
        # A write transaction takes the write lock when it starts (waiting up to the lock
        # timeout for another writer to finish); a deferred one would meet the lock at its
        # first write and fail at once in WAL mode. Reads stay deferred.
        reading = read_only or conn.get_execution_options().get(READING, False)
        conn.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")


def enable_wal(engine: Engine) -> None:
    """Switch a project file to WAL mode (kept in the file; outside any transaction)."""
    raw = engine.raw_connection()
    try:
        raw.driver_connection.execute("PRAGMA journal_mode=WAL")  # type: ignore[union-attr]
    finally:
        raw.close()


def writable(path: Path) -> bool:
    """Whether a project file may be opened for writing.

    The permission bits are honoured even for root, who could write anyway: a project the
    user marked read-only stays unchanged.
    """
    mode = path.stat().st_mode
    if not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        return False
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def check_pages(engine: Engine, location: str) -> None:
    """SQLite's ``quick_check`` (page structure, record formats, ...) of a project file.

    Raises:
        NotAProjectError: The file is damaged.
    """
    with engine.connect() as conn:
        conn = conn.execution_options(**{READING: True})
        found = conn.exec_driver_sql("PRAGMA quick_check(1)").scalar()
    if found != "ok":
        detail = " ".join(str(found).replace("*** in database main ***", "").split())
        raise NotAProjectError(f"is damaged ({detail}); restore it from a backup", path=location)


def _unreadable(text: str, location: str) -> NotAProjectError:
    """A file SQLite cannot read: damaged (a SQLite file with bad pages) or not one."""
    if "malformed" in text:
        return NotAProjectError(
            "is damaged (database disk image is malformed); restore it from a backup",
            path=location,
        )
    return NotAProjectError("is not a roadmark project (not a database)", path=location)


def _first_line(error: object) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else "no details"


@contextmanager
def database_errors(location: str) -> Iterator[None]:
    """Turn the database's errors inside the block into :class:`ProjectError` subclasses.

    Raises:
        ProjectLockedError: Another process holds the lock.
        ProjectReadOnlyError: The file cannot be written.
        NotAProjectError: The file is not a database, or a damaged one.
        ProjectError: Any other database error (connection refused, disk full, ...).
    """
    try:
        yield
    except sa.exc.OperationalError as error:
        text = str(error.orig or error).lower()
        if "locked" in text or "busy" in text:
            raise ProjectLockedError(
                "is locked by another process (try again when it has finished)",
                path=location,
            ) from error
        if "readonly" in text or "read-only" in text:
            raise ProjectReadOnlyError("is read-only", path=location) from error
        if "not a database" in text or "malformed" in text:
            raise _unreadable(text, location) from error
        if "connection" in text and ("failed" in text or "refused" in text):
            raise ProjectError(
                f"cannot connect to the database ({_first_line(error.orig)})",
                path=location,
            ) from error
        if "disk" in text and ("full" in text or "i/o" in text):
            raise ProjectError(f"cannot write ({error.orig})", path=location) from error
        raise ProjectError(f"database error: {error.orig}", path=location) from error
    except sa.exc.DatabaseError as error:
        text = str(error.orig or error).lower()
        if "not a database" in text or "malformed" in text:
            raise _unreadable(text, location) from error
        raise ProjectError(f"database error: {error.orig}", path=location) from error



def track_open(owner: object, location: str) -> tuple[bool, Callable[[], object]]:
    """Count ``owner`` (a :class:`~roadmark.io.store.Project`) among this process's open
    projects on ``location`` until it is closed or collected.

    Returns:
        Whether another one was open already (so a project file's pages were checked when
        that one opened, and a second connection, such as a background job's, need not read
        the whole file again), and the function that stops counting ``owner`` (runs once).
    """
    with _OPEN_LOCK:
        _OPEN_FILES[location] += 1
        before = _OPEN_FILES[location] > 1
    return before, weakref.finalize(owner, _release, location)


def _release(location: str) -> None:
    with _OPEN_LOCK:
        _OPEN_FILES[location] -= 1
        if _OPEN_FILES[location] <= 0:
            del _OPEN_FILES[location]
