"""The project store: one SQLite file ``NAME.roadmark`` (or a PostgreSQL URL).

Every public method that writes is one transaction; several can be grouped into one with
``with project.transaction(): ...``. Killing the process loses at most the transaction in
progress (SQLite in WAL mode, synchronous=NORMAL is durable at each commit).

Images are referenced, never copied: a frame's path is stored relative to the project's
folder, so moving the folder together with its images keeps the project working.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from roadmark.core.annotation import (
    AnnotationObject,
    Frame,
    FrameAnnotations,
    FrameStatus,
    utc_now,
)
from roadmark.core.errors import SchemaError
from roadmark.core.schema import LabelSchema, cityscapes_schema
from roadmark.io import changelog
from roadmark.io import tables as t
from roadmark.io.codec import object_row, object_rows
from roadmark.io.engine import (
    READING,
    database_errors,
    enable_wal,
    sqlite_engine,
    track_open,
    url_engine,
    writable,
)
from roadmark.io.errors import (
    ProjectError,
    ProjectReadOnlyError,
    StaleEditError,
)
from roadmark.io.frame_spec import FrameSpec
from roadmark.io.label_rows import read_schema, write_schema
from roadmark.io.locations import display_location, image_root, is_url
from roadmark.io.migrations import check_and_migrate, create_tables
from roadmark.io.roles import Permission, refuse_leased, require
from roadmark.io.rows import frame_from_row, objects_from_rows
from roadmark.io.settings import Settings

PROJECT_SUFFIX = ".roadmark"


class Project:
    """An open project. Use :meth:`create` or :meth:`open`, then :meth:`close`.

    Attributes:
        location: The project file, or the database URL of a team project.
        root: The folder that relative frame paths are resolved against.
        user: The user name written into provenance.
        read_only: Opened without write access.
        shares_open_file: Another project of this process had it open already (pages checked).
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
        # each object's version last read or written: a stale update (row moved on) is refused
        self._versions: dict[int, int] = {}
        self._versions_lock = threading.Lock()
        self.shares_open_file, self._release = track_open(self, location)

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
        if not is_url(location):
            path = Path(location)
            if path.exists():
                raise ProjectError("exists already; open it instead", path=str(path))
            if not path.parent.is_dir():
                raise ProjectError("the folder does not exist", path=str(path))
        project = cls._connect(location, user=user, root=root, read_only=False, create=True)
        schema = schema or cityscapes_schema()
        try:
            with database_errors(project.location), project.engine.begin() as conn:
                create_tables(conn, schema, location=project.location, is_file=not is_url(location))
            if not is_url(location):
                enable_wal(project.engine)
        except BaseException:
            project.close()
            if not is_url(location):
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
        if not is_url(location):
            path = Path(location)
            if not path.is_file():
                raise ProjectError("no such project file", path=str(path))
            if not read_only and not writable(path):
                raise ProjectReadOnlyError(
                    "is read-only; make it writable or open it read-only", path=str(path)
                )
        project = cls._connect(location, user=user, root=root, read_only=read_only, create=False)
        try:
            check_and_migrate(
                project.engine,
                project.location,
                read_only=read_only,
                is_file=not is_url(location),
                pages_checked=project.shares_open_file,
            )
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
        if is_url(location):
            shown = display_location(str(location))
            engine = url_engine(str(location))
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
        self._release()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
        with database_errors(self.location), self._engine.begin() as conn:
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

    def require(self, permission: Permission) -> None:
        """Refuse an action the user's role does not allow (see :mod:`roadmark.io.roles`).

        Raises:
            PermissionDeniedError: It is not allowed.
        """
        with self.reading() as conn:
            require(conn, self.user, permission, self.location)

    def known_version(self, uid: int) -> int | None:
        """The version of object ``uid`` that this project last read or wrote."""
        with self._versions_lock:
            return self._versions.get(uid)

    def known_versions(self) -> dict[int, int]:
        """Every object version this project has read or written (a copy)."""
        with self._versions_lock:
            return dict(self._versions)

    def adopt_versions(self, versions: dict[int, int]) -> None:
        """Take the versions another Project of this database read (a job's): what it planned
        is then refused for an object changed since."""
        self._remember_versions(dict(versions))

    def _remember_versions(self, versions: dict[int, int]) -> None:
        pending: dict[int, int] | None = getattr(self._local, "versions", None)
        if pending is not None:  # inside a transaction: known once it commits
            pending.update(versions)
        else:
            with self._versions_lock:
                self._versions.update(versions)

    @contextmanager
    def reading(self) -> Iterator[sa.Connection]:
        """A connection to read with (the current transaction's, inside one)."""
        current: sa.Connection | None = getattr(self._local, "conn", None)
        if current is not None:
            yield current
            return
        with database_errors(self.location), self._engine.connect() as conn:
            yield conn.execution_options(**{READING: True})

    # -- meta ------------------------------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        with self.reading() as conn:
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
            with self.reading() as conn:
                self._schema = read_schema(conn, self.location)
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
            write_schema(conn, schema)
        self._schema = schema

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
        now = utc_now().isoformat()
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
                inserted = conn.execute(t.frames.insert().values(**row)).inserted_primary_key
                assert inserted is not None
                ids.append(inserted[0])
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
        with self.reading() as conn:
            return [frame_from_row(row, self.location) for row in conn.execute(query)]

    def frame(self, frame_id: int) -> Frame:
        with self.reading() as conn:
            row = conn.execute(sa.select(*_FRAME_COLUMNS).where(t.frames.c.id == frame_id)).first()
        if row is None:
            raise ProjectError(f"has no frame {frame_id}", path=self.location)
        return frame_from_row(row, self.location)

    def frame_count(self) -> int:
        with self.reading() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(t.frames)).scalar() or 0)

    def stored_object_count(self, frame_id: int) -> int:
        """How many object rows a frame has, soft-deleted ones included (what reading its
        objects costs), counted without reading them."""
        query = sa.select(sa.func.count()).where(t.objects.c.frame_id == frame_id)
        with self.reading() as conn:
            return int(conn.execute(query).scalar() or 0)

    def set_frame_status(self, frame_id: int, status: FrameStatus) -> None:
        with self.transaction() as conn:
            conn.execute(
                t.frames.update()
                .where(t.frames.c.id == frame_id)
                .values(status=status.value, updated_at=utc_now().isoformat())
            )

    # -- objects ---------------------------------------------------------------------------

    def objects(self, frame_id: int, *, tracked_only: bool = False) -> FrameAnnotations:
        """A frame's objects in z-order, soft-deleted ones included (``tracked_only``: only
        those on a track, read through the track index)."""
        frame = self.frame(frame_id)
        return FrameAnnotations(frame, self.frame_objects(frame_id, tracked_only=tracked_only))

    def frame_objects(
        self, frame_id: int, *, tracked_only: bool = False
    ) -> list[AnnotationObject]:
        """:meth:`objects` without reading the frame's row again, for a caller that has the
        frame (an export, a sequence): a frame that does not exist has no objects."""
        query = sa.select(t.objects).where(t.objects.c.frame_id == frame_id)
        if tracked_only:
            query = query.where(t.objects.c.track_id.is_not(None))
        with self.reading() as conn:
            found = conn.execute(query.order_by(t.objects.c.z, t.objects.c.id)).mappings().all()
        self._remember_versions({row["id"]: row["version"] for row in found})
        return objects_from_rows(found, self.location, self.schema.by_id)

    def add_objects(
        self, frame_id: int, objects: Sequence[AnnotationObject], *, at_bottom: bool = False
    ) -> list[AnnotationObject]:
        """Store new objects on top of the frame's stack (or under it, ``at_bottom``);
        returns them with their store ids (``uid``) set."""
        self._check_labels(objects)
        with self.transaction() as conn:
            require(conn, self.user, Permission.EDIT_OBJECTS, self.location)
            refuse_leased(conn, self.user, self.location, frame_id)
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
                row | {"frame_id": frame_id, "z": start + offset}
                for offset, row in enumerate(object_rows(objects))
            ]
            by_z: dict[int, int] = {}
            if rows:  # batched RETURNING, ids told by z (SQLite returns no batch in order)
                insert = t.objects.insert().returning(t.objects.c.id, t.objects.c.z)
                by_z = {z: uid for uid, z in conn.execute(insert, rows)}
            uids = [by_z[row["z"]] for row in rows]
            stored = [replace(obj, uid=uid) for obj, uid in zip(objects, uids, strict=True)]
            bounds = [(row["x0"], row["y0"], row["x1"], row["y1"]) for row in rows]
            changelog.log_added(conn, self.user, frame_id, stored, bounds)
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
            refuse_leased(conn, self.user, self.location, *frame_ids)
            expected_versions: dict[int, int] = {}
            for uid in uids:
                expected = self.known_version(uid)
                expected_versions[uid] = current.get(uid, 1) if expected is None else expected
                if uid in current and current[uid] != expected_versions[uid]:
                    raise self._stale(conn, uid, expected_versions[uid])
            changelog.log_updates(conn, self.user, objects)
            written: dict[int, int] = {}
            for obj in objects:
                assert obj.uid is not None
                expected = written.get(obj.uid, expected_versions[obj.uid])
                done = conn.execute(
                    t.objects.update()
                    .where(o.id == obj.uid, o.version == expected)
                    .values(**object_row(obj), version=expected + 1)
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
        last = changelog.last_change(conn, uid)
        by = f"{last[0]} at {last[1][:19].replace('T', ' ')} UTC" if last else "someone"
        return StaleEditError(
            f"object {uid} was changed by {by} (version {row.version}; this edit was based "
            f"on version {expected}); the frame must be reloaded",
            path=self.location,
            field=f"frame {row.frame_id}",
        )

    def set_z_order(self, frame_id: int, uids: Sequence[int]) -> None:
        """Make ``uids`` (all of the frame's objects) the z-order, bottom first."""
        with self.transaction() as conn:
            require(conn, self.user, Permission.EDIT_OBJECTS, self.location)
            refuse_leased(conn, self.user, self.location, frame_id)
            present = set(
                conn.execute(
                    sa.select(t.objects.c.id).where(t.objects.c.frame_id == frame_id)
                ).scalars()
            )
            if present != set(uids) or len(uids) != len(present):
                raise ProjectError(f"z-order must list each object of frame {frame_id} once")
            changelog.log_z_order(conn, self.user, frame_id, uids)
            for z, uid in enumerate(uids):
                conn.execute(t.objects.update().where(t.objects.c.id == uid).values(z=z))

    def replace_objects(
        self, frame_id: int, objects: Sequence[AnnotationObject]
    ) -> list[AnnotationObject]:
        """Replace all of a frame's objects (an import), in z-order, in one transaction."""
        with self.transaction() as conn:
            changelog.log_removal(conn, self.user, frame_id)
            conn.execute(t.objects.delete().where(t.objects.c.frame_id == frame_id))
            return self.add_objects(frame_id, [replace(o, uid=None) for o in objects])

    def _check_labels(self, objects: Sequence[AnnotationObject]) -> None:
        unknown = sorted({obj.label_id for obj in objects} - set(self.schema.by_id))
        if unknown:
            raise SchemaError(f"unknown label id(s) {unknown}", path=self.location)


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
