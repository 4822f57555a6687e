"""Opening a project's database: the checks before anything is written, and the migrations.

A new project is created from :mod:`roadmark.io.tables` and stamped with
:data:`~roadmark.io.tables.SCHEMA_VERSION`. An older project is brought forward by running
the functions in :data:`MIGRATIONS` (``MIGRATIONS[v]`` turns version ``v`` into ``v + 1``)
in one transaction when it is opened. Alembic would add an environment folder and a second
version table to every single-file project for the same effect; a list of functions is
enough for an embedded store that migrates itself on open.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from roadmark import __version__
from roadmark.core.annotation import utc_now
from roadmark.core.schema import LabelSchema
from roadmark.io import tables as t
from roadmark.io import team_tables, workflow_tables  # noqa: F401 (their tables join t.metadata)
from roadmark.io.engine import READING, check_pages, database_errors, enable_wal
from roadmark.io.errors import (
    NotAProjectError,
    ProjectError,
    ProjectReadOnlyError,
    ProjectVersionError,
)
from roadmark.io.label_rows import write_schema

Migration = Callable[[sa.Connection], None]


def _v1_region_outlines(conn: sa.Connection) -> None:
    """Version 2: uncertain regions keep their outline, predictions the wrong pixels the
    model expects on the frame (the queue's coverage is measured against it). Regions
    stored before have no outline (their box stands in)."""
    binary = sa.LargeBinary().compile(dialect=conn.dialect)  # BLOB, or bytea on PostgreSQL
    real = sa.Float().compile(dialect=conn.dialect)
    conn.exec_driver_sql(f"ALTER TABLE uncertainty_regions ADD COLUMN outline {binary}")
    conn.exec_driver_sql(f"ALTER TABLE predictions ADD COLUMN expected_errors {real}")


def _v2_team_columns_and_tables(conn: sa.Connection) -> None:
    """Version 3: object versions and the team tables (members, leases, claims)."""
    conn.execute(sa.text("ALTER TABLE objects ADD COLUMN version INTEGER NOT NULL DEFAULT 1"))
    t.metadata.create_all(conn)  # only the tables that are missing


def _v3_compact_change_log(conn: sa.Connection) -> None:
    """Version 4: change-log updates keep only the changed fields (a changed geometry once).

    The tables are unchanged and older whole-object entries are still read
    (:func:`roadmark.io.changelog.expand`); the version is bumped so that an older roadmark,
    whose log readers expect whole objects in every entry, refuses the project instead of
    failing on its first compact entry.
    """
    del conn


# MIGRATIONS[v] upgrades a project of version v to v + 1; a change to the tables (or to what
# their rows mean) adds a function here and bumps SCHEMA_VERSION.
MIGRATIONS: dict[int, Migration] = {
    1: _v1_region_outlines,
    2: _v2_team_columns_and_tables,
    3: _v3_compact_change_log,
}


def create_tables(
    conn: sa.Connection, schema: LabelSchema, *, location: str, is_file: bool
) -> None:
    """Make a new project's tables, stamped with this version, holding ``schema``.

    Raises:
        ProjectError: A database (not a file) already holds a roadmark project.
    """
    if not is_file and "meta" in sa.inspect(conn).get_table_names():
        raise ProjectError("already holds a roadmark project; open it instead", path=location)
    t.metadata.create_all(conn)
    conn.execute(
        t.meta.insert(),
        [
            {"key": "format", "value": t.FORMAT_NAME},
            {"key": "schema_version", "value": str(t.SCHEMA_VERSION)},
            {"key": "created_at", "value": utc_now().isoformat()},
            {"key": "created_with", "value": __version__},
        ],
    )
    write_schema(conn, schema)


def migrate(
    engine: Engine,
    from_version: int,
    migrations: dict[int, Migration] | None = None,
    to_version: int | None = None,
) -> None:
    """Run the migrations from ``from_version`` up, in one transaction.

    Raises:
        ProjectVersionError: A step is missing (the project cannot be upgraded).
    """
    steps = MIGRATIONS if migrations is None else migrations
    target = t.SCHEMA_VERSION if to_version is None else to_version
    with engine.begin() as conn:
        for version in range(from_version, target):
            if version not in steps:
                raise ProjectVersionError(f"no migration from project version {version}")
            steps[version](conn)
        conn.execute(
            t.meta.update().where(t.meta.c.key == "schema_version").values(value=str(target))
        )


def check_and_migrate(
    engine: Engine, location: str, *, read_only: bool, is_file: bool, pages_checked: bool = False
) -> None:
    """Check that the database is an undamaged roadmark project, then migrate it.

    Nothing is written before the file is known to be an undamaged roadmark project: a
    refused file stays byte-identical. A project file is switched to WAL mode once checked.
    ``pages_checked``: the file's pages were checked when this process opened it before
    and it is still open (SQLite's ``quick_check`` reads the whole file; it is skipped).

    Raises:
        NotAProjectError: Not a roadmark project, or a damaged one.
        ProjectVersionError: Written by a newer roadmark.
        ProjectReadOnlyError: It needs migrating but is open read-only.
    """
    with database_errors(location):
        with engine.connect() as conn:
            conn = conn.execution_options(**{READING: True})
            names = sa.inspect(conn).get_table_names()
            if "meta" not in names:
                raise NotAProjectError("is not a roadmark project", path=location)
            values = dict(conn.execute(sa.select(t.meta.c.key, t.meta.c.value)).all())
        if values.get("format") != t.FORMAT_NAME:
            raise NotAProjectError("is not a roadmark project", path=location)
        try:
            version = int(values.get("schema_version", ""))
        except ValueError as error:
            raise NotAProjectError(
                "has no valid schema_version", path=location, field="meta"
            ) from error
        if is_file and not pages_checked:
            check_pages(engine, location)
        if version > t.SCHEMA_VERSION:
            raise ProjectVersionError(
                f"was written by a newer roadmark (project version {version}, this "
                f"roadmark reads up to {t.SCHEMA_VERSION}); update roadmark",
                path=location,
            )
        if version < t.SCHEMA_VERSION:
            if read_only:
                raise ProjectReadOnlyError(
                    f"needs migrating from version {version} but is open read-only",
                    path=location,
                )
            migrate(engine, version)
        if not read_only and is_file:
            enable_wal(engine)
