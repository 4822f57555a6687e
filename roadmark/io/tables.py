"""The project database's tables (SQLAlchemy Core) and their versioned migrations.

Portable SQL only: the same tables run on SQLite (one ``.roadmark`` file) and PostgreSQL
(team projects). Times are ISO-8601 text with a UTC offset, booleans are ``Boolean``,
geometry is WKB in ``LargeBinary``, JSON is text written by :mod:`json`.

Migrations: a new project is created from the tables below and stamped with
:data:`SCHEMA_VERSION`. An older project is brought forward by running the functions in
:data:`MIGRATIONS` (``MIGRATIONS[v]`` turns version ``v`` into ``v + 1``) in one
transaction when it is opened. Alembic would add an environment folder and a second
version table to every single-file project for the same effect; a list of functions is
enough for an embedded store that migrates itself on open.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

SCHEMA_VERSION = 1
FORMAT_NAME = "roadmark-project"

metadata = sa.MetaData()

meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

labels = sa.Table(
    "labels",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("train_id", sa.Integer, nullable=False),
    sa.Column("category", sa.String(64), nullable=False),
    sa.Column("category_id", sa.Integer, nullable=False),
    sa.Column("has_instances", sa.Boolean, nullable=False),
    sa.Column("ignore_in_eval", sa.Boolean, nullable=False),
    sa.Column("color", sa.String(7), nullable=False),
    sa.Column("attributes", sa.Text, nullable=False, default="[]"),
    sa.Column("shortcut", sa.String(32)),
)

frames = sa.Table(
    "frames",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("path", sa.Text, nullable=False),
    # -1 for an image file; the frame number for a video (NOT NULL so the unique
    # constraint behaves the same on SQLite and PostgreSQL).
    sa.Column("video_frame", sa.Integer, nullable=False, default=-1),
    sa.Column("width", sa.Integer, nullable=False),
    sa.Column("height", sa.Integer, nullable=False),
    sa.Column("sequence", sa.Text, nullable=False),
    sa.Column("sequence_index", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, default="new"),
    sa.Column("assignee", sa.String(128)),
    sa.Column("added_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
    sa.UniqueConstraint("path", "video_frame", name="uq_frames_source"),
    sa.Index("ix_frames_sequence", "sequence", "sequence_index"),
)

objects = sa.Table(
    "objects",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "frame_id", sa.Integer, sa.ForeignKey("frames.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("z", sa.Integer, nullable=False),
    sa.Column("label_id", sa.Integer, sa.ForeignKey("labels.id"), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("x0", sa.Float, nullable=False),
    sa.Column("y0", sa.Float, nullable=False),
    sa.Column("x1", sa.Float, nullable=False),
    sa.Column("y1", sa.Float, nullable=False),
    sa.Column("geometry", sa.LargeBinary),  # WKB of the region; NULL for a box
    sa.Column("instance_id", sa.Integer),
    sa.Column("track_id", sa.Integer),
    sa.Column("attributes", sa.Text, nullable=False, default="{}"),
    sa.Column("crowd", sa.Boolean, nullable=False, default=False),
    sa.Column("source", sa.String(128), nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("updated_by", sa.String(128), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
    sa.Column("verified", sa.Boolean, nullable=False, default=False),
    sa.Column("confidence", sa.Float),
    sa.Column("deleted", sa.Boolean, nullable=False, default=False),
    sa.Index("ix_objects_frame_z", "frame_id", "z"),
    sa.Index("ix_objects_track", "track_id"),
)

Migration = Callable[[sa.Connection], None]

# MIGRATIONS[v] upgrades a project of version v to v + 1. Version 1 is the first release,
# so nothing is listed yet; a change to the tables above adds a function here and bumps
# SCHEMA_VERSION.
MIGRATIONS: dict[int, Migration] = {}
