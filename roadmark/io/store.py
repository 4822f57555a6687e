"""The project store: one SQLite file ``NAME.roadmark`` (or a PostgreSQL URL).

Every public method that writes is one transaction; several can be grouped into one with
``with project.transaction(): ...``. Killing the process loses at most the transaction in
progress (SQLite in WAL mode, synchronous=NORMAL is durable at each commit).

Images are referenced, never copied: a frame's path is stored relative to the project's
folder, so moving the folder together with its images keeps the project working.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import shapely
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from roadmark import __version__
from roadmark.core.annotation import (
    AnnotationObject,
    Box,
    Frame,
    FrameAnnotations,
    FrameStatus,
    ObjectKind,
    utc_now,
)
from roadmark.core.errors import SchemaError
from roadmark.core.schema import AttributeSpec, Label, LabelSchema, cityscapes_schema
from roadmark.io import changelog as audit
from roadmark.io import tables as t
from roadmark.io import team_tables as tt
from roadmark.io import workflow_tables  # workflow_tables and team_tables register tables
from roadmark.io.errors import (
    FrameLeasedError,
    NotAProjectError,
    ProjectError,
    ProjectLockedError,
    ProjectReadOnlyError,
    ProjectVersionError,
    StaleEditError,
)
from roadmark.io.locations import database_url, display_location, image_root, is_url
from roadmark.io.roles import Permission, require
from roadmark.io.rows import frame_from_row, label_attributes, label_color, object_from_row
from roadmark.io.settings import Settings

PROJECT_SUFFIX = ".roadmark"
DEFAULT_LOCK_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class FrameSpec:
    """A frame to add: where its pixels are and where it sits in a sequence.

    Attributes:
        path: Absolute path of the image or video file.
        video_frame: Frame number in the video, ``None`` for an image.
        width: Width in pixels (after EXIF orientation).
        height: Height in pixels.
        sequence: Sequence name.
        sequence_index: Position in the sequence.
    """

    path: Path
    video_frame: int | None
    width: int
    height: int
    sequence: str
    sequence_index: int


_is_url = is_url


def _lock_timeout() -> float:
    return float(os.environ.get("ROADMARK_LOCK_TIMEOUT", DEFAULT_LOCK_TIMEOUT_S))


def _iso(when: datetime) -> str:
    return when.isoformat()


class Project:
    """An open project. Use :meth:`create` or :meth:`open`, then :meth:`close`.

    Attributes:
        location: The project file, or the database URL of a team project.
        root: The folder that relative frame paths are resolved against.
        user: The user name written into provenance.
        read_only: Opened without write access.
    """

    def __init__(
        self, engine: Engine, location: str, root: Path, *, user: str, read_only: bool
    ) -> None:
        self._engine = engine
        self.location = location
        self.root = root
        self.user = user
        self.read_only = read_only
        self._local = threading.local()
        self._schema: LabelSchema | None = None
        # The version of each object this project last read or wrote: an update is refused
        # when the row has moved on since (someone else changed it).
        self._versions: dict[int, int] = {}
        self._versions_lock = threading.Lock()

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        location: str | Path,
        schema: LabelSchema | None = None,
        *,
        user: str | None = None,
        root: Path | None = None,
    ) -> Project:
        """Create a new, empty project.

        Args:
            location: A ``.roadmark`` file that does not exist yet, or a database URL.
            schema: Label schema; the Cityscapes table by default.
            user: User name for provenance; the setting (or OS login) by default.
            root: Folder that frame paths are relative to (the file's folder by default).

        Raises:
            ProjectError: The file exists already or cannot be written.
        """
        if not _is_url(location):
            path = Path(location)
            if path.exists():
                raise ProjectError("exists already; open it instead", path=str(path))
            if not path.parent.is_dir():
                raise ProjectError("the folder does not exist", path=str(path))
        project = cls._connect(location, user=user, root=root, read_only=False, create=True)
        schema = schema or cityscapes_schema()
        try:
            with project._wrap_errors(), project._engine.begin() as conn:
                if _is_url(location) and "meta" in sa.inspect(conn).get_table_names():
                    raise ProjectError(
                        "already holds a roadmark project; open it instead",
                        path=project.location,
                    )
                t.metadata.create_all(conn)
                now = _iso(utc_now())
                conn.execute(
                    t.meta.insert(),
                    [
                        {"key": "format", "value": t.FORMAT_NAME},
                        {"key": "schema_version", "value": str(t.SCHEMA_VERSION)},
                        {"key": "created_at", "value": now},
                        {"key": "created_with", "value": __version__},
                    ],
                )
                project._write_schema(conn, schema)
            if not _is_url(location):
                _enable_wal(project._engine)
        except BaseException:
            project.close()
            if not _is_url(location):
                for suffix in ("", "-wal", "-shm", "-journal"):
                    Path(f"{location}{suffix}").unlink(missing_ok=True)
            raise
        project._schema = schema
        return project

    @classmethod
    def open(
        cls,
        location: str | Path,
        *,
        user: str | None = None,
        read_only: bool = False,
        root: Path | None = None,
    ) -> Project:
        """Open an existing project, migrating it to the current version if needed.

        Raises:
            ProjectError: Missing file; :class:`NotAProjectError`,
                :class:`ProjectVersionError`, :class:`ProjectReadOnlyError` or
                :class:`ProjectLockedError` for the specific problems.
        """
        if not _is_url(location):
            path = Path(location)
            if not path.is_file():
                raise ProjectError("no such project file", path=str(path))
            if not read_only and not _writable(path):
                raise ProjectReadOnlyError(
                    "is read-only; make it writable or open it read-only", path=str(path)
                )
        project = cls._connect(location, user=user, root=root, read_only=read_only, create=False)
        try:
            project._check_and_migrate()
        except BaseException:
            project.close()
            raise
        return project

    @classmethod
    def _connect(
        cls,
        location: str | Path,
        *,
        user: str | None,
        root: Path | None,
        read_only: bool,
        create: bool,
    ) -> Project:
        user = user or Settings.load().user_name
        if _is_url(location):
            shown = display_location(str(location))
            engine = sa.create_engine(database_url(str(location)), pool_recycle=3600)
            root = root or image_root(shown) or Path.cwd()
            return cls(engine, shown, root, user=user, read_only=read_only)
        path = Path(location).resolve()
        engine = sqlite_engine(path, read_only=read_only, create=create)
        root = root or image_root(str(path)) or path.parent
        return cls(engine, str(path), root, user=user, read_only=read_only)

    @property
    def dialect(self) -> str:
        """The database's dialect: ``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for the team modules that need the raw database)."""
        return self._engine

    def close(self) -> None:
        """Release the database; the project object must not be used afterwards."""
        self._engine.dispose()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_and_migrate(self) -> None:
        # Nothing is written before the file is known to be an undamaged roadmark project:
        # a refused file stays byte-identical.
        with self._wrap_errors():
            with self._engine.connect() as conn:
                conn = conn.execution_options(**{_READING: True})
                names = sa.inspect(conn).get_table_names()
                if "meta" not in names:
                    raise NotAProjectError("is not a roadmark project", path=self.location)
                values = dict(conn.execute(sa.select(t.meta.c.key, t.meta.c.value)).all())
            if values.get("format") != t.FORMAT_NAME:
                raise NotAProjectError("is not a roadmark project", path=self.location)
            try:
                version = int(values.get("schema_version", ""))
            except ValueError as error:
                raise NotAProjectError(
                    "has no valid schema_version", path=self.location, field="meta"
                ) from error
            self._check_pages()
            if version > t.SCHEMA_VERSION:
                raise ProjectVersionError(
                    f"was written by a newer roadmark (project version {version}, this "
                    f"roadmark reads up to {t.SCHEMA_VERSION}); update roadmark",
                    path=self.location,
                )
            if version < t.SCHEMA_VERSION:
                if self.read_only:
                    raise ProjectReadOnlyError(
                        f"needs migrating from version {version} but is open read-only",
                        path=self.location,
                    )
                migrate(self._engine, version)
            if not self.read_only and not _is_url(self.location):
                _enable_wal(self._engine)

    def _check_pages(self) -> None:
        """Every command checks the file the same way before it reads or writes: SQLite's
        ``quick_check`` (page structure, record formats, ...)."""
        if _is_url(self.location):
            return
        with self._engine.connect() as conn:
            conn = conn.execution_options(**{_READING: True})
            found = conn.exec_driver_sql("PRAGMA quick_check(1)").scalar()
        if found != "ok":
            detail = " ".join(str(found).replace("*** in database main ***", "").split())
            raise NotAProjectError(
                f"is damaged ({detail}); restore it from a backup", path=self.location
            )

    def _unreadable(self, text: str) -> NotAProjectError:
        """A file SQLite cannot read: damaged (a SQLite file with bad pages) or not one."""
        if "malformed" in text:
            return NotAProjectError(
                "is damaged (database disk image is malformed); restore it from a backup",
                path=self.location,
            )
        return NotAProjectError("is not a roadmark project (not a database)", path=self.location)

    @contextmanager
    def _wrap_errors(self) -> Iterator[None]:
        try:
            yield
        except sa.exc.OperationalError as error:
            text = str(error.orig or error).lower()
            if "locked" in text or "busy" in text:
                raise ProjectLockedError(
                    "is locked by another process (try again when it has finished)",
                    path=self.location,
                ) from error
            if "readonly" in text or "read-only" in text:
                raise ProjectReadOnlyError("is read-only", path=self.location) from error
            if "not a database" in text or "malformed" in text:
                raise self._unreadable(text) from error
            if "connection" in text and ("failed" in text or "refused" in text):
                raise ProjectError(
                    f"cannot connect to the database ({_first_line(error.orig)})",
                    path=self.location,
                ) from error
            if "disk" in text and ("full" in text or "i/o" in text):
                raise ProjectError(f"cannot write ({error.orig})", path=self.location) from error
            raise ProjectError(f"database error: {error.orig}", path=self.location) from error
        except sa.exc.DatabaseError as error:
            text = str(error.orig or error).lower()
            if "not a database" in text or "malformed" in text:
                raise self._unreadable(text) from error
            raise ProjectError(f"database error: {error.orig}", path=self.location) from error

    # -- transactions ----------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """One transaction; calls on this project inside it join it instead of committing.

        Everything written inside is committed when the block ends and rolled back if it
        raises.
        """
        current: sa.Connection | None = getattr(self._local, "conn", None)
        if current is not None:
            yield current
            return
        if self.read_only:
            raise ProjectReadOnlyError("is open read-only", path=self.location)
        pending: dict[int, int] = {}
        with self._wrap_errors(), self._engine.begin() as conn:
            self._local.conn = conn
            self._local.versions = pending
            try:
                yield conn
            except BaseException:
                self._schema = None  # a label change inside was rolled back: read it anew
                raise
            finally:
                self._local.conn = None
                self._local.versions = None
        with self._versions_lock:  # committed: the versions written are now the known ones
            self._versions.update(pending)

    def reading(self) -> AbstractContextManager[sa.Connection]:
        """A connection to read with (the current transaction's, inside one)."""
        return self._reading()

    def require(self, permission: Permission) -> None:
        """Refuse an action the user's role does not allow (see :mod:`roadmark.io.roles`).

        Raises:
            PermissionDeniedError: It is not allowed.
        """
        with self._reading() as conn:
            require(conn, self.user, permission, self.location)

    def known_version(self, uid: int) -> int | None:
        """The version of object ``uid`` that this project last read or wrote."""
        with self._versions_lock:
            return self._versions.get(uid)

    def _remember_versions(self, versions: dict[int, int]) -> None:
        pending: dict[int, int] | None = getattr(self._local, "versions", None)
        if pending is not None:  # inside a transaction: known once it commits
            pending.update(versions)
        else:
            with self._versions_lock:
                self._versions.update(versions)

    @contextmanager
    def _reading(self) -> Iterator[sa.Connection]:
        current: sa.Connection | None = getattr(self._local, "conn", None)
        if current is not None:
            yield current
            return
        with self._wrap_errors(), self._engine.connect() as conn:
            yield conn.execution_options(**{_READING: True})

    # -- meta ------------------------------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        with self._reading() as conn:
            value = conn.execute(sa.select(t.meta.c.value).where(t.meta.c.key == key)).scalar()
        return default if value is None else value

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as conn:
            updated = conn.execute(
                t.meta.update().where(t.meta.c.key == key).values(value=value)
            ).rowcount
            if not updated:
                conn.execute(t.meta.insert().values(key=key, value=value))

    @property
    def version(self) -> int:
        return int(self.get_meta("schema_version", "0") or 0)

    # -- label schema ----------------------------------------------------------------------

    @property
    def schema(self) -> LabelSchema:
        """The project's label schema (read once, then kept)."""
        if self._schema is None:
            self._schema = self._read_schema()
        return self._schema

    def set_schema(self, schema: LabelSchema) -> None:
        """Replace the label table.

        Raises:
            SchemaError: A label that objects use is missing from ``schema``.
        """
        with self.transaction() as conn:
            require(conn, self.user, Permission.CHANGE_SCHEMA, self.location)
            used = set(conn.execute(sa.select(t.objects.c.label_id).distinct()).scalars())
            missing = sorted(used - set(schema.by_id))
            if missing:
                raise SchemaError(
                    f"labels with ids {missing} are used by objects and cannot be removed",
                    path=self.location,
                )
            self._write_schema(conn, schema)
        self._schema = schema

    def _write_schema(self, conn: sa.Connection, schema: LabelSchema) -> None:
        # Labels are updated in place (objects reference their ids), new ones inserted,
        # unused ones removed.
        existing = set(conn.execute(sa.select(t.labels.c.id)).scalars())
        rows = [
            {
                "id": label.id,
                "position": position,
                "name": label.name,
                "train_id": label.train_id,
                "category": label.category,
                "category_id": label.category_id,
                "has_instances": label.has_instances,
                "ignore_in_eval": label.ignore_in_eval,
                "color": label.hex_color,
                "attributes": json.dumps(list(label.attributes)),
                "shortcut": label.shortcut,
            }
            for position, label in enumerate(schema.labels)
        ]
        # Rename through a temporary name so swapping two labels' names cannot collide.
        for row in rows:
            if row["id"] in existing:
                conn.execute(
                    t.labels.update()
                    .where(t.labels.c.id == row["id"])
                    .values(name=f"\x01roadmark-rename-{row['id']}")
                )
        for row in rows:
            if row["id"] in existing:
                conn.execute(t.labels.update().where(t.labels.c.id == row["id"]).values(**row))
            else:
                conn.execute(t.labels.insert().values(**row))
        stale = existing - {row["id"] for row in rows}
        if stale:
            conn.execute(t.labels.delete().where(t.labels.c.id.in_(stale)))
        header = {
            "schema_name": schema.name,
            "schema_description": schema.description,
            "schema_attributes": json.dumps(
                {name: spec.to_dict() for name, spec in schema.attributes.items()}
            ),
        }
        for key, value in header.items():
            if not conn.execute(
                t.meta.update().where(t.meta.c.key == key).values(value=value)
            ).rowcount:
                conn.execute(t.meta.insert().values(key=key, value=value))

    def _read_schema(self) -> LabelSchema:
        with self._reading() as conn:
            label_rows = (
                conn.execute(sa.select(t.labels).order_by(t.labels.c.position)).mappings().all()
            )
            header = dict(
                conn.execute(
                    sa.select(t.meta.c.key, t.meta.c.value).where(t.meta.c.key.like("schema_%"))
                ).all()
            )
        raw_attributes = json.loads(header.get("schema_attributes", "{}"))
        attributes = {
            name: AttributeSpec(
                name=name,
                type=spec.get("type", "bool"),
                default=spec.get("default", False),
                choices=tuple(spec.get("choices", ())),
                description=spec.get("description", ""),
            )
            for name, spec in raw_attributes.items()
        }
        labels = tuple(
            Label(
                name=row["name"],
                id=row["id"],
                train_id=row["train_id"],
                category=row["category"],
                category_id=row["category_id"],
                has_instances=bool(row["has_instances"]),
                ignore_in_eval=bool(row["ignore_in_eval"]),
                color=label_color(row, self.location),
                attributes=label_attributes(row, self.location),
                shortcut=row["shortcut"],
            )
            for row in label_rows
        )
        return LabelSchema(
            name=header.get("schema_name", "custom"),
            labels=labels,
            attributes=attributes,
            description=header.get("schema_description", ""),
        )

    # -- frames ----------------------------------------------------------------------------

    def relative_path(self, path: Path) -> str:
        """How ``path`` is stored: relative to :attr:`root` when possible, POSIX separators."""
        path = Path(path).resolve()
        try:
            return Path(os.path.relpath(path, self.root.resolve())).as_posix()
        except ValueError:  # another drive on Windows
            return path.as_posix()

    def frame_file(self, frame: Frame) -> Path:
        """The absolute path of a frame's image or video file (relative paths are resolved
        against :attr:`root`, which ``roadmark config image-root`` maps per machine)."""
        path = Path(frame.path)
        return path if path.is_absolute() else (self.root / path)

    def add_frames(self, specs: Iterable[FrameSpec]) -> tuple[list[int], int]:
        """Add frames in one transaction; frames the project has already are skipped.

        Returns:
            The ids of the new frames, and how many were skipped as already present.
        """
        specs = list(specs)
        now = _iso(utc_now())
        with self.transaction() as conn:
            require(conn, self.user, Permission.ADD_FRAMES, self.location)
            known = {
                (row.path, row.video_frame)
                for row in conn.execute(sa.select(t.frames.c.path, t.frames.c.video_frame))
            }
            rows = []
            for spec in specs:
                key = (
                    self.relative_path(spec.path),
                    -1 if spec.video_frame is None else spec.video_frame,
                )
                if key in known:
                    continue
                known.add(key)
                rows.append(
                    {
                        "path": key[0],
                        "video_frame": key[1],
                        "width": spec.width,
                        "height": spec.height,
                        "sequence": spec.sequence,
                        "sequence_index": spec.sequence_index,
                        "status": FrameStatus.NEW.value,
                        "assignee": None,
                        "added_at": now,
                        "updated_at": now,
                    }
                )
            ids: list[int] = []
            for row in rows:
                ids.append(conn.execute(t.frames.insert().values(**row)).inserted_primary_key[0])
        return ids, len(specs) - len(ids)

    def frames(self, *, status: FrameStatus | None = None) -> list[Frame]:
        """All frames (or those with ``status``), ordered by sequence and position.

        Only the rows are read; no image is decoded.
        """
        query = sa.select(*_FRAME_COLUMNS).order_by(
            t.frames.c.sequence, t.frames.c.sequence_index, t.frames.c.id
        )
        if status is not None:
            query = query.where(t.frames.c.status == status.value)
        with self._reading() as conn:
            return [frame_from_row(row, self.location) for row in conn.execute(query)]

    def frame(self, frame_id: int) -> Frame:
        with self._reading() as conn:
            row = conn.execute(sa.select(*_FRAME_COLUMNS).where(t.frames.c.id == frame_id)).first()
        if row is None:
            raise ProjectError(f"has no frame {frame_id}", path=self.location)
        return frame_from_row(row, self.location)

    def frame_count(self) -> int:
        with self._reading() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(t.frames)).scalar() or 0)

    def set_frame_status(self, frame_id: int, status: FrameStatus) -> None:
        with self.transaction() as conn:
            conn.execute(
                t.frames.update()
                .where(t.frames.c.id == frame_id)
                .values(status=status.value, updated_at=_iso(utc_now()))
            )

    # -- objects ---------------------------------------------------------------------------

    def objects(self, frame_id: int) -> FrameAnnotations:
        """A frame's objects in z-order, soft-deleted ones included."""
        frame = self.frame(frame_id)
        with self._reading() as conn:
            found = (
                conn.execute(
                    sa.select(t.objects)
                    .where(t.objects.c.frame_id == frame_id)
                    .order_by(t.objects.c.z, t.objects.c.id)
                )
                .mappings()
                .all()
            )
        self._remember_versions({row["id"]: row["version"] for row in found})
        labels = self.schema.by_id
        return FrameAnnotations(
            frame, [object_from_row(row, self.location, labels) for row in found]
        )

    def add_objects(
        self, frame_id: int, objects: Sequence[AnnotationObject], *, at_bottom: bool = False
    ) -> list[AnnotationObject]:
        """Store new objects on top of the frame's stack (or under it, ``at_bottom``).

        Returns:
            The objects with their store ids (``uid``) set.
        """
        self._check_labels(objects)
        with self.transaction() as conn:
            require(conn, self.user, Permission.EDIT_OBJECTS, self.location)
            self._check_lease(conn, frame_id)
            zs = conn.execute(
                sa.select(sa.func.min(t.objects.c.z), sa.func.max(t.objects.c.z)).where(
                    t.objects.c.frame_id == frame_id
                )
            ).one()
            if at_bottom:
                start = (zs[0] if zs[0] is not None else 0) - len(objects)
            else:
                start = (zs[1] if zs[1] is not None else -1) + 1
            rows = [
                _object_row(obj) | {"frame_id": frame_id, "z": start + offset}
                for offset, obj in enumerate(objects)
            ]
            uids: list[int] = []
            if rows:  # one batched INSERT ... RETURNING, ids in the order of the rows
                insert = t.objects.insert().returning(t.objects.c.id, sort_by_parameter_order=True)
                uids = list(conn.execute(insert, rows).scalars())
            stored = [replace(obj, uid=uid) for obj, uid in zip(objects, uids, strict=True)]
            audit.log_added(conn, self.user, frame_id, stored)
            self._remember_versions(dict.fromkeys(uids, 1))
        return stored

    def update_objects(self, objects: Sequence[AnnotationObject]) -> None:
        """Write back edited objects (matched by ``uid``), keeping their z-order.

        Each row's version must still be the one this project last read or wrote (an
        object it never read is taken as it is now); the write bumps it.

        Raises:
            StaleEditError: Someone else changed one of the objects since it was read;
                nothing is written.
            FrameLeasedError: Another person is editing the frame.
        """
        self._check_labels(objects)
        if any(obj.uid is None for obj in objects):
            raise ProjectError("cannot update an object that was never stored")
        with self.transaction() as conn:
            require(conn, self.user, Permission.EDIT_OBJECTS, self.location)
            o = t.objects.c
            uids = [obj.uid for obj in objects if obj.uid is not None]
            rows = conn.execute(sa.select(o.id, o.version, o.frame_id).where(o.id.in_(uids)))
            current: dict[int, int] = {}
            frame_ids: set[int] = set()
            for uid, version, frame_id in rows:
                current[uid] = version
                frame_ids.add(frame_id)
            self._check_lease(conn, *frame_ids)
            expected_versions: dict[int, int] = {}
            for uid in uids:
                expected = self.known_version(uid)
                expected_versions[uid] = current.get(uid, 1) if expected is None else expected
                if uid in current and current[uid] != expected_versions[uid]:
                    raise self._stale(conn, uid, expected_versions[uid])
            audit.log_updates(conn, self.user, objects)
            written: dict[int, int] = {}
            for obj in objects:
                assert obj.uid is not None
                expected = written.get(obj.uid, expected_versions[obj.uid])
                done = conn.execute(
                    t.objects.update()
                    .where(o.id == obj.uid, o.version == expected)
                    .values(**_object_row(obj), version=expected + 1)
                ).rowcount
                if not done:
                    raise self._stale(conn, obj.uid, expected)
                written[obj.uid] = expected + 1
            self._remember_versions(written)

    def _stale(self, conn: sa.Connection, uid: int, expected: int) -> ProjectError:
        o = t.objects.c
        row = conn.execute(sa.select(o.frame_id, o.version).where(o.id == uid)).first()
        if row is None:
            return ProjectError(f"has no object {uid}", path=self.location)
        changes = workflow_tables.object_changes.c
        last = conn.execute(
            sa.select(changes.user_name, changes.at)
            .where(changes.object_id == uid)
            .order_by(changes.id.desc())
            .limit(1)
        ).first()
        by = f"{last.user_name} at {last.at[:19].replace('T', ' ')} UTC" if last else "someone"
        return StaleEditError(
            f"object {uid} was changed by {by} (version {row.version}; this edit was based "
            f"on version {expected}); the frame must be reloaded",
            path=self.location,
            field=f"frame {row.frame_id}",
        )

    def _check_lease(self, conn: sa.Connection, *frame_ids: int) -> None:
        if not frame_ids:
            return
        lease = tt.frame_leases.c
        row = conn.execute(
            sa.select(lease.frame_id, lease.user_name, lease.since).where(
                lease.frame_id.in_(frame_ids),
                lease.user_name != self.user,
                lease.expires > time.time(),
            )
        ).first()
        if row is not None:
            raise FrameLeasedError(
                f"is being edited by {row.user_name} since {row.since[:19].replace('T', ' ')} "
                "UTC; it is read-only for you until they leave it",
                path=self.location,
                field=f"frame {row.frame_id}",
            )

    def set_z_order(self, frame_id: int, uids: Sequence[int]) -> None:
        """Make ``uids`` (all of the frame's objects) the z-order, bottom first."""
        with self.transaction() as conn:
            require(conn, self.user, Permission.EDIT_OBJECTS, self.location)
            self._check_lease(conn, frame_id)
            present = set(
                conn.execute(
                    sa.select(t.objects.c.id).where(t.objects.c.frame_id == frame_id)
                ).scalars()
            )
            if present != set(uids) or len(uids) != len(present):
                raise ProjectError(f"z-order must list each object of frame {frame_id} once")
            audit.log_z_order(conn, self.user, frame_id, uids)
            for z, uid in enumerate(uids):
                conn.execute(t.objects.update().where(t.objects.c.id == uid).values(z=z))

    def replace_objects(
        self, frame_id: int, objects: Sequence[AnnotationObject]
    ) -> list[AnnotationObject]:
        """Replace all of a frame's objects (an import), in z-order, in one transaction."""
        with self.transaction() as conn:
            audit.log_removal(conn, self.user, frame_id)
            conn.execute(t.objects.delete().where(t.objects.c.frame_id == frame_id))
            return self.add_objects(frame_id, [replace(o, uid=None) for o in objects])

    def _check_labels(self, objects: Sequence[AnnotationObject]) -> None:
        unknown = sorted({obj.label_id for obj in objects} - set(self.schema.by_id))
        if unknown:
            raise SchemaError(f"unknown label id(s) {unknown}", path=self.location)

    # -- summaries -------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """Counts for ``roadmark info``: frames, objects by kind/label/source, statuses."""
        with self._reading() as conn:
            live = t.objects.c.deleted == sa.false()
            by_status = dict(
                conn.execute(
                    sa.select(t.frames.c.status, sa.func.count()).group_by(t.frames.c.status)
                ).all()
            )
            by_kind = dict(
                conn.execute(
                    sa.select(t.objects.c.kind, sa.func.count())
                    .where(live)
                    .group_by(t.objects.c.kind)
                ).all()
            )
            by_label_id = dict(
                conn.execute(
                    sa.select(t.objects.c.label_id, sa.func.count())
                    .where(live)
                    .group_by(t.objects.c.label_id)
                ).all()
            )
            by_source = dict(
                conn.execute(
                    sa.select(t.objects.c.source, sa.func.count())
                    .where(live)
                    .group_by(t.objects.c.source)
                ).all()
            )
            deleted = conn.execute(
                sa.select(sa.func.count()).select_from(t.objects).where(~live)
            ).scalar()
        schema = self.schema
        frames = sum(by_status.values())
        return {
            "project": self.location,
            "frames": frames,
            "objects": sum(by_kind.values()),
            "deleted_objects": int(deleted or 0),
            "objects_by_kind": {k: by_kind.get(k, 0) for k in (ObjectKind.BOX, ObjectKind.REGION)},
            "objects_by_label": dict(
                Counter({schema.by_id[i].name: n for i, n in by_label_id.items()}).most_common()
            ),
            "objects_by_source": dict(Counter(by_source).most_common()),
            "labels": len(schema),
            "schema": schema.name,
            "statuses": {s.value: by_status.get(s.value, 0) for s in FrameStatus},
        }


def migrate(
    engine: Engine,
    from_version: int,
    migrations: dict[int, t.Migration] | None = None,
    to_version: int | None = None,
) -> None:
    """Run the migrations from ``from_version`` up, in one transaction.

    Raises:
        ProjectVersionError: A step is missing (the project cannot be upgraded).
    """
    steps = t.MIGRATIONS if migrations is None else migrations
    target = t.SCHEMA_VERSION if to_version is None else to_version
    with engine.begin() as conn:
        for version in range(from_version, target):
            if version not in steps:
                raise ProjectVersionError(f"no migration from project version {version}")
            steps[version](conn)
        conn.execute(
            t.meta.update().where(t.meta.c.key == "schema_version").values(value=str(target))
        )


def _first_line(error: object) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else "no details"


def _writable(path: Path) -> bool:
    # Honor the permission bits even for root, who could write anyway: a project the user
    # marked read-only stays unchanged.
    mode = path.stat().st_mode
    if not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        return False
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


_READING = "roadmark_reading"  # execution option: this connection only reads


def _enable_wal(engine: Engine) -> None:
    """Switch a project file to WAL mode (kept in the file; outside any transaction)."""
    raw = engine.raw_connection()
    try:
        raw.driver_connection.execute("PRAGMA journal_mode=WAL")  # type: ignore[union-attr]
    finally:
        raw.close()


def sqlite_engine(path: Path, *, read_only: bool = False, create: bool = False) -> Engine:
    """An engine on a project file: foreign keys on, WAL, real transactions.

    pysqlite's own transaction handling is switched off so that SQLAlchemy's BEGIN starts
    the transaction (DDL in migrations is then transactional too, and lock errors show at
    the statement that meets them).
    """
    mode = "ro" if read_only else ("rwc" if create else "rw")
    uri = f"file:{Path(path).as_posix()}?mode={mode}"
    timeout = _lock_timeout()

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
        reading = read_only or conn.get_execution_options().get(_READING, False)
        conn.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")


_FRAME_COLUMNS = (
    t.frames.c.id,
    t.frames.c.path,
    t.frames.c.video_frame,
    t.frames.c.width,
    t.frames.c.height,
    t.frames.c.sequence,
    t.frames.c.sequence_index,
    t.frames.c.status,
    t.frames.c.assignee,
)


def _object_row(obj: AnnotationObject) -> dict[str, Any]:
    bounds = obj.bounds
    prov = obj.provenance
    return {
        "label_id": obj.label_id,
        "kind": obj.kind.value,
        "x0": bounds.x0,
        "y0": bounds.y0,
        "x1": bounds.x1,
        "y1": bounds.y1,
        "geometry": None if isinstance(obj.geometry, Box) else shapely.to_wkb(obj.geometry),
        "instance_id": obj.instance_id,
        "track_id": obj.track_id,
        "attributes": json.dumps(dict(obj.attributes), sort_keys=True),
        "crowd": obj.crowd,
        "source": prov.source,
        "created_by": prov.created_by,
        "created_at": _iso(prov.created_at),
        "updated_by": prov.updated_by,
        "updated_at": _iso(prov.updated_at),
        "verified": prov.verified,
        "confidence": prov.confidence,
        "deleted": obj.deleted,
    }
