"""Tables of team projects, on the project's one :data:`roadmark.io.tables.metadata`.

Importing this module registers them (:mod:`roadmark.io.store` does), so new projects get
them and the version 1 -> 2 migration creates them in older ones. Portable SQL as in
:mod:`roadmark.io.tables`; lease and claim expiry times are POSIX seconds (``Float``) so
that "expired" is one comparison on both back ends.

- ``members``: who is on the project and with which role (annotator, reviewer, lead); a
  project without members is a one-person project where everyone may do everything;
- ``frame_leases``: who is editing which frame right now, from which machine, until when;
- ``prelabel_claims``: frames a pre-labeling worker has taken for a model, until when.
"""

from __future__ import annotations

import sqlalchemy as sa

from roadmark.io.tables import metadata

members = sa.Table(
    "members",
    metadata,
    sa.Column("user_name", sa.String(128), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("added_by", sa.String(128), nullable=False),
    sa.Column("added_at", sa.String(40), nullable=False),
)

frame_leases = sa.Table(
    "frame_leases",
    metadata,
    sa.Column(
        "frame_id",
        sa.Integer,
        sa.ForeignKey("frames.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("user_name", sa.String(128), nullable=False),
    sa.Column("machine", sa.String(255), nullable=False),
    sa.Column("since", sa.String(40), nullable=False),  # ISO-8601, for people to read
    sa.Column("expires", sa.Float, nullable=False),  # POSIX seconds
)

prelabel_claims = sa.Table(
    "prelabel_claims",
    metadata,
    sa.Column(
        "frame_id", sa.Integer, sa.ForeignKey("frames.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("model_digest", sa.String(64), nullable=False),
    sa.Column("worker", sa.String(255), nullable=False),
    sa.Column("expires", sa.Float, nullable=False),
    sa.PrimaryKeyConstraint("frame_id", "model_digest", name="pk_prelabel_claims"),
)


# -- live updates --------------------------------------------------------------------------

NOTIFY_CHANNEL = "roadmark_changes"

# Tables whose changes open editors show: (table, the column naming the frame).
WATCHED_TABLES = (
    ("frames", "id"),
    ("frame_workflow", "frame_id"),
    ("review_comments", "frame_id"),
    ("predictions", "frame_id"),
    ("objects", "frame_id"),
    ("frame_leases", "frame_id"),
)


def _notify_ddl() -> list[str]:
    statements = []
    for table, column in WATCHED_TABLES:
        function = f"roadmark_notify_{table}"
        statements.append(
            f"""CREATE OR REPLACE FUNCTION {function}() RETURNS trigger AS $$
DECLARE row_frame integer;
BEGIN
    IF TG_OP = 'DELETE' THEN row_frame := OLD.{column}; ELSE row_frame := NEW.{column}; END IF;
    PERFORM pg_notify('{NOTIFY_CHANNEL}', json_build_object(
        'table', TG_TABLE_NAME, 'op', TG_OP, 'frame', row_frame,
        'at', extract(epoch from clock_timestamp()))::text);
    RETURN NULL;
END $$ LANGUAGE plpgsql"""
        )
        statements.append(f"DROP TRIGGER IF EXISTS {function} ON {table}")
        statements.append(
            f"CREATE TRIGGER {function} AFTER INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {function}()"
        )
    return statements


def install_notify_triggers(target: sa.MetaData, connection: sa.Connection, **_: object) -> None:
    """On PostgreSQL, make every change of a watched table send a NOTIFY on
    :data:`NOTIFY_CHANNEL` (JSON: table, op, frame, at), delivered when it commits."""
    if connection.dialect.name != "postgresql":
        return
    for statement in _notify_ddl():
        connection.exec_driver_sql(statement)


# Runs after every create_all: new projects, the version 2 migration and copies.
sa.event.listen(metadata, "after_create", install_notify_triggers)
