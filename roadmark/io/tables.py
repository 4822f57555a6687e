"""The project database's tables (SQLAlchemy Core); their migrations are in
:mod:`roadmark.io.migrations`.

Portable SQL only: the same tables run on SQLite (one ``.roadmark`` file) and PostgreSQL
(team projects). Times are ISO-8601 text with a UTC offset, booleans are ``Boolean``,
geometry is WKB in ``LargeBinary``, JSON is text written by :mod:`json`.

A new project is created from the tables below and stamped with :data:`SCHEMA_VERSION`;
a change to the tables bumps it and adds a step to
:data:`roadmark.io.migrations.MIGRATIONS`.
"""

from __future__ import annotations

import sqlalchemy as sa

SCHEMA_VERSION = 4
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
    # Bumped by every write: an edit based on an older version is refused (team projects).
    sa.Column("version", sa.Integer, nullable=False, default=1, server_default="1"),
    sa.Index("ix_objects_frame_z", "frame_id", "z"),
    sa.Index("ix_objects_track", "track_id"),
)

# Model predictions, kept apart from the human labels in ``objects`` until accepted: one row
# per frame and model. Maps are PNG images (uint8, or uint16 label ids when the schema needs
# them) at the map resolution recorded in map_width/map_height; boxes are JSON text.
predictions = sa.Table(
    "predictions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "frame_id", sa.Integer, sa.ForeignKey("frames.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("model_digest", sa.String(64), nullable=False),
    sa.Column("task", sa.String(16), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("map_width", sa.Integer),
    sa.Column("map_height", sa.Integer),
    sa.Column("label_map", sa.LargeBinary),  # PNG of schema label ids (0 = nothing)
    sa.Column("confidence", sa.LargeBinary),  # PNG, top-1 probability * 255
    sa.Column("margin", sa.LargeBinary),  # PNG, (top-1 - top-2 probability) * 255
    sa.Column("entropy", sa.LargeBinary),  # PNG, entropy / log(classes) * 255
    sa.Column("boxes", sa.Text, nullable=False, default="[]"),
    sa.Column("expected_errors", sa.Float),  # sum of 1 - confidence, frame pixels (v2)
    sa.UniqueConstraint("frame_id", "model", name="uq_predictions_frame_model"),
    sa.Index("ix_predictions_model", "model"),
)

# Where a model is unsure: connected regions of uncertain pixels and uncertain boxes, in
# frame pixels. score = expected number of wrong pixels; the review queue sorts by it.
uncertainty_regions = sa.Table(
    "uncertainty_regions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "prediction_id",
        sa.Integer,
        sa.ForeignKey("predictions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "frame_id", sa.Integer, sa.ForeignKey("frames.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # pixels | box_score | box_flip
    sa.Column("x0", sa.Float, nullable=False),
    sa.Column("y0", sa.Float, nullable=False),
    sa.Column("x1", sa.Float, nullable=False),
    sa.Column("y1", sa.Float, nullable=False),
    sa.Column("area", sa.Float, nullable=False),
    sa.Column("mean_uncertainty", sa.Float, nullable=False),
    sa.Column("classes", sa.Text, nullable=False, default="[]"),  # label ids, most pixels first
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("resolved", sa.Boolean, nullable=False, default=False),
    sa.Column("outline", sa.LargeBinary),  # WKB of a pixel region's shape (v2); NULL: box
    sa.Index("ix_uncertainty_regions_rank", "resolved", "score"),
    sa.Index("ix_uncertainty_regions_frame", "frame_id"),
    sa.Index("ix_uncertainty_regions_prediction", "prediction_id"),
)
