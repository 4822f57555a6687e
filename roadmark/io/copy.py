"""Copy a whole project between SQLite and PostgreSQL, in either direction.

Everything is copied: frames, labels, objects (with their versions), predictions and
uncertainty regions, the audit log, the workflow (assignments, events, gold references,
submissions), review comments, time records, members, leases and claims. Row ids are kept,
so references between tables stay valid. The target is written in one transaction: the
tables are created, the rows inserted, and the row counts of every table compared with the
source before it commits; a failure leaves no target behind (a new file is removed, a
database keeps no tables).

Frame paths are stored relative to the image root. When the source's and target's roots
differ the paths are rewritten so they still point at the same files; a PostgreSQL target
without a mapped image root on this machine is mapped to the source's root.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import sqlalchemy as sa

from roadmark.io import tables as t
from roadmark.io.engine import sqlite_engine
from roadmark.io.errors import ProjectError
from roadmark.io.locations import database_url, display_location, image_root, is_url, set_image_root
from roadmark.io.store import PROJECT_SUFFIX, Project

BATCH = 1000
Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class CopyResult:
    """What was copied.

    Attributes:
        source: The source's location.
        target: The target's location (a URL without its password).
        rows: Rows per table, as checked in the target before it committed.
        image_root: The folder the target's frame paths are relative to on this machine.
    """

    source: str
    target: str
    rows: dict[str, int]
    image_root: Path


def copy_project(
    source: str | Path, target: str | Path, *, progress: Progress | None = None
) -> CopyResult:
    """Copy the project at ``source`` to ``target`` (a new file or an empty database).

    Raises:
        ProjectError: The source cannot be read, the target exists or is not empty, or
            the counts differ after copying (nothing is left at the target then).
    """
    with Project.open(source, read_only=True) as src:
        if is_url(target):
            shown = display_location(str(target))
            engine = sa.create_engine(database_url(str(target)))
            root = image_root(shown) or src.root
            created_file: Path | None = None
        else:
            path = Path(target)
            if path.suffix != PROJECT_SUFFIX:
                raise ProjectError(f"must end in {PROJECT_SUFFIX}", path=str(path))
            if path.exists():
                raise ProjectError("exists already; copy to a new file", path=str(path))
            if not path.parent.is_dir():
                raise ProjectError("the folder does not exist", path=str(path))
            shown = str(path.resolve())
            engine = sqlite_engine(path.resolve(), create=True)
            root = image_root(shown) or path.resolve().parent
            created_file = path.resolve()
        try:
            rows = _copy(src, engine, shown, _relocator(src.root, root), progress)
        except BaseException:
            engine.dispose()
            if created_file is not None:
                for suffix in ("", "-wal", "-shm", "-journal"):
                    Path(f"{created_file}{suffix}").unlink(missing_ok=True)
            raise
        engine.dispose()
        if is_url(target) and image_root(shown) is None:
            set_image_root(shown, root)
        return CopyResult(source=src.location, target=shown, rows=rows, image_root=root)


def _relocator(source_root: Path, target_root: Path) -> Callable[[str], str]:
    source_root, target_root = source_root.resolve(), target_root.resolve()
    if source_root == target_root:
        return lambda path: path

    def relocate(path: str) -> str:
        if PurePosixPath(path).is_absolute() or Path(path).is_absolute():
            return path
        absolute = source_root / path
        try:
            return Path(os.path.relpath(absolute, target_root)).as_posix()
        except ValueError:  # another drive on Windows
            return absolute.as_posix()

    return relocate


def _copy(
    src: Project,
    engine: sa.Engine,
    shown: str,
    relocate: Callable[[str], str],
    progress: Progress | None,
) -> dict[str, int]:
    counts: dict[str, int] = {}
    with src.engine.connect() as read:
        if src.dialect == "postgresql":  # one consistent snapshot of every table
            read = read.execution_options(isolation_level="REPEATABLE READ")
        with engine.begin() as write:
            existing = sa.inspect(write).get_table_names()
            if existing:
                what = "a roadmark project" if "meta" in existing else "tables"
                raise ProjectError(f"already holds {what}; copy into an empty database", path=shown)
            t.metadata.create_all(write)
            for table in t.metadata.sorted_tables:
                counts[table.name] = _copy_table(read, write, table, relocate, progress)
            _check_counts(write, counts, shown)
            if engine.dialect.name == "postgresql":
                _reset_sequences(write)
    return counts


def _copy_table(
    read: sa.Connection,
    write: sa.Connection,
    table: sa.Table,
    relocate: Callable[[str], str],
    progress: Progress | None,
) -> int:
    order = list(table.primary_key.columns)
    result = read.execution_options(yield_per=BATCH).execute(sa.select(table).order_by(*order))
    copied = 0
    for batch in result.mappings().partitions():
        rows = [dict(row) for row in batch]
        if table is t.frames:
            for row in rows:
                row["path"] = relocate(row["path"])
        write.execute(table.insert(), rows)
        copied += len(rows)
        if progress is not None:
            progress(table.name, copied)
    return copied


def _check_counts(write: sa.Connection, expected: dict[str, int], shown: str) -> None:
    for name, count in expected.items():
        table = t.metadata.tables[name]
        found = write.execute(sa.select(sa.func.count()).select_from(table)).scalar()
        if found != count:
            raise ProjectError(
                f"copied {found} rows of {name} but the source has {count}; nothing was kept",
                path=shown,
            )


def _reset_sequences(write: sa.Connection) -> None:
    """After inserting explicit ids, make PostgreSQL's id sequences continue after them."""
    for table in t.metadata.sorted_tables:
        keys = list(table.primary_key.columns)
        if len(keys) != 1 or not isinstance(keys[0].type, sa.Integer):
            continue
        if keys[0].autoincrement is False:
            continue
        name, column = table.name, keys[0].name
        write.execute(
            sa.text(
                f"SELECT setval(pg_get_serial_sequence('{name}', '{column}'), "
                f"COALESCE((SELECT MAX({column}) FROM {name}), 0) + 1, false)"
            )
        )
