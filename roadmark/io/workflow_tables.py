"""Tables of the quality workflow, on the project's one :data:`roadmark.io.tables.metadata`.

Importing this module registers them, so :meth:`roadmark.io.store.Project.create` makes
them with the rest. Portable SQL as in :mod:`roadmark.io.tables`: ISO-8601 text times,
``Boolean`` flags, JSON as text.

- ``frame_workflow``: per frame, the reviewer, who finished it last and the gold flag
  (status and assignee stay on ``frames``);
- ``frame_events``: every workflow move (who, when, from, to, reason);
- ``review_comments``: issue markers pinned to a point or area, resolved or open;
- ``time_log``: active time spans per user, frame and tool;
- ``frame_versions``: snapshots of a frame's objects, the gold reference and each
  annotator's submission when they finish;
- ``object_changes``: the audit log, one row per change to an object with the object
  before and after as JSON.
"""

from __future__ import annotations

import sqlalchemy as sa

from roadmark.io.tables import metadata


def _frame_fk() -> sa.Column:
    return sa.Column(
        "frame_id", sa.Integer, sa.ForeignKey("frames.id", ondelete="CASCADE"), nullable=False
    )


frame_workflow = sa.Table(
    "frame_workflow",
    metadata,
    sa.Column(
        "frame_id",
        sa.Integer,
        sa.ForeignKey("frames.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("reviewer", sa.String(128)),
    sa.Column("annotator", sa.String(128)),  # who finished the frame last
    sa.Column("gold", sa.Boolean, nullable=False, default=False),
    sa.Index("ix_frame_workflow_reviewer", "reviewer"),
)

frame_events = sa.Table(
    "frame_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _frame_fk(),
    sa.Column("user_name", sa.String(128), nullable=False),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("from_status", sa.String(16), nullable=False),
    sa.Column("to_status", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Index("ix_frame_events_frame", "frame_id", "id"),
    sa.Index("ix_frame_events_action", "action"),
)

review_comments = sa.Table(
    "review_comments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _frame_fk(),
    sa.Column("author", sa.String(128), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("category", sa.String(32), nullable=False),
    sa.Column("text", sa.Text, nullable=False, default=""),
    sa.Column("x0", sa.Float, nullable=False),
    sa.Column("y0", sa.Float, nullable=False),
    sa.Column("x1", sa.Float, nullable=False),
    sa.Column("y1", sa.Float, nullable=False),
    sa.Column("object_id", sa.Integer),  # no foreign key: the comment outlives the object
    sa.Column("resolved_by", sa.String(128)),
    sa.Column("resolved_at", sa.String(40)),
    sa.Index("ix_review_comments_frame", "frame_id"),
)

time_log = sa.Table(
    "time_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _frame_fk(),
    sa.Column("user_name", sa.String(128), nullable=False),
    sa.Column("tool", sa.String(64), nullable=False),
    sa.Column("started_at", sa.String(40), nullable=False),
    sa.Column("seconds", sa.Float, nullable=False),
    sa.Index("ix_time_log_user_frame", "user_name", "frame_id"),
    sa.Index("ix_time_log_frame", "frame_id"),
)

frame_versions = sa.Table(
    "frame_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _frame_fk(),
    sa.Column("kind", sa.String(16), nullable=False),  # gold | submission
    sa.Column("user_name", sa.String(128), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("objects", sa.Text, nullable=False),  # JSON list, see roadmark.io.changelog
    sa.Index("ix_frame_versions_frame", "frame_id", "kind"),
)

object_changes = sa.Table(
    "object_changes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _frame_fk(),
    sa.Column("object_id", sa.Integer),  # NULL for a change of the frame's z-order
    sa.Column("user_name", sa.String(128), nullable=False),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("before_json", sa.Text),  # JSON of the object before; NULL when it was added
    sa.Column("after_json", sa.Text),  # JSON of the object after; NULL when it was removed
    sa.Index("ix_object_changes_frame", "frame_id", "id"),
    sa.Index("ix_object_changes_object", "object_id"),
)
