"""Pre-labeling on many machines: workers claim batches of unpredicted frames.

Any number of ``roadmark prelabel --worker`` processes, started by whatever the cluster
uses (a Slurm array, a Kubernetes Job, torchrun, ssh), share one project without a
coordinator. Each claims up to N frames that have no prediction of the model file (by
digest) and no live claim, in one ``INSERT ... SELECT ... ON CONFLICT DO UPDATE WHERE the
old claim expired`` statement (so two workers never both win a frame), predicts them,
stores the predictions and drops its claims. A worker killed midway leaves claims that
expire after ``seconds`` and are then taken by the others.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from roadmark.io import tables as t
from roadmark.io import team_tables as tt
from roadmark.io.roles import Permission
from roadmark.io.store import Project

CLAIM_SECONDS = 600.0
CLAIM_ATTEMPTS = 20


@dataclass(frozen=True)
class Outstanding:
    """What is left of a model's pre-labeling.

    Attributes:
        unpredicted: Frames without a prediction of the model file.
        claimed: Of those, frames under a live claim (being predicted somewhere).
    """

    unpredicted: int
    claimed: int


def _unpredicted(digest: str) -> sa.ColumnElement[bool]:
    p = t.predictions.c
    return t.frames.c.id.not_in(sa.select(p.frame_id).where(p.model_digest == digest))


def claim_batch(
    project: Project, digest: str, worker: str, count: int, *, seconds: float = CLAIM_SECONDS
) -> list[int]:
    """Claim up to ``count`` unpredicted, unclaimed frames for ``worker`` (project order).

    Returns:
        The claimed frame ids (empty when every unpredicted frame is claimed by others).

    Raises:
        PermissionDeniedError: The user may not store predictions.
    """
    project.require(Permission.PRELABEL)
    for _ in range(CLAIM_ATTEMPTS):
        now = time.time()
        claims = tt.prelabel_claims
        live = sa.select(claims.c.frame_id).where(
            claims.c.model_digest == digest, claims.c.expires > now
        )
        f = t.frames.c
        candidates = (
            sa.select(
                f.id,
                sa.literal(digest, sa.String),
                sa.literal(worker, sa.String),
                sa.literal(now + seconds, sa.Float),
            )
            .where(_unpredicted(digest), f.id.not_in(live))
            .order_by(f.sequence, f.sequence_index, f.id)
            .limit(count)
        )
        dialect = postgresql if project.dialect == "postgresql" else sqlite
        insert = dialect.insert(claims).from_select(
            ["frame_id", "model_digest", "worker", "expires"], candidates
        )
        statement = insert.on_conflict_do_update(
            index_elements=["frame_id", "model_digest"],
            set_={"worker": insert.excluded.worker, "expires": insert.excluded.expires},
            where=claims.c.expires <= now,
        ).returning(claims.c.frame_id)
        with project.transaction() as conn:
            claimed = sorted(conn.execute(statement).scalars())
        left = outstanding(project, digest)
        if claimed or left.unpredicted <= left.claimed:  # lost no race: nothing left to take
            return claimed
    return []


def release(project: Project, digest: str, worker: str, frame_ids: list[int]) -> None:
    """Drop ``worker``'s claims of ``frame_ids`` (done, or given up)."""
    c = tt.prelabel_claims.c
    with project.transaction() as conn:
        conn.execute(
            tt.prelabel_claims.delete().where(
                c.model_digest == digest, c.worker == worker, c.frame_id.in_(frame_ids)
            )
        )


def outstanding(project: Project, digest: str) -> Outstanding:
    """How many frames still lack the model's prediction, and how many are claimed."""
    c = tt.prelabel_claims.c
    with project.reading() as conn:
        unpredicted = conn.execute(
            sa.select(sa.func.count()).select_from(t.frames).where(_unpredicted(digest))
        ).scalar()
        claimed = conn.execute(
            sa.select(sa.func.count())
            .select_from(t.frames)
            .where(
                _unpredicted(digest),
                t.frames.c.id.in_(
                    sa.select(c.frame_id).where(c.model_digest == digest, c.expires > time.time())
                ),
            )
        ).scalar()
    return Outstanding(int(unpredicted or 0), int(claimed or 0))
