"""Working together on one project: claiming frames and edit leases.

**Claiming** ("next frame for me") hands out a frame atomically: the person's own unfinished
frames come first; otherwise one unassigned new or pre-labeled frame is assigned to them by
a single ``WITH c AS (SELECT ... FOR UPDATE SKIP LOCKED) UPDATE ...`` on PostgreSQL (on
SQLite the one statement runs under the database's write lock), so two people asking at
the same moment never get the same frame.

**Leases**: opening a frame for editing takes its lease (user, machine, expiry
:data:`LEASE_SECONDS` ahead), renewed while the person works. While a lease is live the
store refuses everybody else's edits on the frame (:class:`FrameLeasedError`, "being
edited by NAME since TIME"); a lease left by a crashed machine simply expires; a lead can
break one.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from roadmark.core.annotation import FrameStatus, utc_now
from roadmark.core.workflow import FrameState
from roadmark.io import roles
from roadmark.io import tables as t
from roadmark.io import team_tables as tt
from roadmark.io import workflow_tables as wt
from roadmark.io.errors import FrameLeasedError, ProjectError
from roadmark.io.roles import Permission, Role
from roadmark.io.store import Project
from roadmark.io.workflow import ANNOTATION_ORDER, frame_state, frame_states

LEASE_SECONDS = 300.0  # a lease not renewed for 5 minutes has expired
RENEW_SECONDS = 60.0  # how often an open editor renews its lease
CLAIMABLE = (FrameStatus.PRELABELED, FrameStatus.NEW)
CLAIM_ATTEMPTS = 20


def machine_name() -> str:
    """This machine's name, as recorded in leases and claims."""
    return socket.gethostname() or "unknown"


# -- claiming -----------------------------------------------------------------------------


def claim_next(project: Project) -> FrameState | None:
    """The next frame for the project's user, assigned to them atomically.

    Their own rejected, in-progress, pre-labeled and new frames come first (already
    theirs); otherwise the first unassigned new or pre-labeled frame (project order, gold
    frames and frames someone else is editing left out) becomes theirs.

    Returns:
        The frame's state, or ``None`` when there is nothing left to claim.

    Raises:
        PermissionDeniedError: The user's role may not claim frames.
    """
    project.require(Permission.CLAIM_FRAMES)
    user = project.user
    mine = [s for s in frame_states(project, assignee=user) if s.status in ANNOTATION_ORDER]
    if mine:
        mine.sort(key=lambda s: ANNOTATION_ORDER.index(s.status))
        return mine[0]
    frame_id = claim_frame_ids(project, 1)
    return frame_state(project, frame_id[0]) if frame_id else None


def claim_frame_ids(project: Project, count: int) -> list[int]:
    """Assign up to ``count`` unassigned new or pre-labeled frames to the user, atomically.

    One statement, the first of its transaction: on PostgreSQL the candidate rows are
    locked with ``FOR UPDATE SKIP LOCKED`` (concurrent claimers take the next rows instead
    of waiting), and the ``assignee IS NULL`` condition is checked again on the locked rows.
    """
    for _ in range(CLAIM_ATTEMPTS):
        with project.transaction() as conn:
            claimed = sorted(conn.execute(claim_statement(project.user, count)).scalars())
        # PostgreSQL applies LIMIT before re-checking rows another claimer changed at the
        # same moment, so an empty answer is trusted only when nothing is left to claim.
        if claimed or not _claimable_left(project):
            return claimed
    return []


def _claimable_left(project: Project) -> bool:
    f = t.frames.c
    with project.reading() as conn:
        return (
            conn.execute(
                sa.select(f.id)
                .where(f.assignee.is_(None), f.status.in_([s.value for s in CLAIMABLE]))
                .limit(1)
            ).first()
            is not None
        )


def claim_statement(user: str, count: int) -> sa.Update:
    """The one statement of :func:`claim_frame_ids` (``UPDATE ... RETURNING id``)."""
    f, w = t.frames.c, wt.frame_workflow.c
    candidate = t.frames.alias("candidate")  # not correlated with the frames updated
    c = candidate.c
    lease = tt.frame_leases.c
    gold = sa.select(w.frame_id).where(w.gold == sa.true())
    leased = sa.select(lease.frame_id).where(lease.user_name != user, lease.expires > time.time())
    candidates = (
        sa.select(c.id)
        .where(
            c.assignee.is_(None),
            c.status.in_([s.value for s in CLAIMABLE]),
            c.id.not_in(gold),
            c.id.not_in(leased),
        )
        .order_by(c.sequence, c.sequence_index, c.id)
        .limit(count)
        .with_for_update(skip_locked=True, of=candidate)
        .cte("claimable")
    )
    # A CTE runs once; an IN (subquery ... LIMIT) may be re-run by the planner and then
    # hand out more rows than asked for.
    return (
        t.frames.update()
        .where(f.id == candidates.c.id, f.assignee.is_(None))
        .values(assignee=user, updated_at=utc_now().isoformat())
        .returning(f.id)
    )


# -- leases -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lease:
    """Someone is editing a frame.

    Attributes:
        frame_id: The frame.
        user: Who holds it.
        machine: The machine they work on.
        since: When they took it.
        expires: POSIX time at which it lapses unless renewed.
    """

    frame_id: int
    user: str
    machine: str
    since: datetime
    expires: float

    @property
    def describe(self) -> str:
        """``being edited by anna (ws-12) since 2026-05-01 09:12 UTC``."""
        return (
            f"being edited by {self.user} ({self.machine}) since "
            f"{self.since.strftime('%Y-%m-%d %H:%M')} UTC"
        )


def _lease(row: sa.Row) -> Lease:
    return Lease(
        frame_id=row.frame_id,
        user=row.user_name,
        machine=row.machine,
        since=datetime.fromisoformat(row.since),
        expires=row.expires,
    )


def holder(project: Project, frame_id: int) -> Lease | None:
    """The live lease of a frame, if anyone holds one."""
    c = tt.frame_leases.c
    with project.reading() as conn:
        row = conn.execute(
            sa.select(tt.frame_leases).where(c.frame_id == frame_id, c.expires > time.time())
        ).first()
    return None if row is None else _lease(row)


def leases(project: Project) -> list[Lease]:
    """Every live lease, by frame."""
    c = tt.frame_leases.c
    with project.reading() as conn:
        rows = conn.execute(
            sa.select(tt.frame_leases).where(c.expires > time.time()).order_by(c.frame_id)
        ).all()
    return [_lease(row) for row in rows]


def acquire(
    project: Project, frame_id: int, *, machine: str | None = None, seconds: float = LEASE_SECONDS
) -> Lease:
    """Take (or renew) the edit lease of a frame for the project's user.

    Raises:
        FrameLeasedError: Someone else holds a live lease on it.
        PermissionDeniedError: The user may not edit objects (not a member).
    """
    project.require(Permission.EDIT_OBJECTS)
    machine = machine or machine_name()
    c = tt.frame_leases.c
    now = time.time()
    since = utc_now().isoformat()
    try:
        with project.transaction() as conn:
            # Renew our own lease (keeping its start) or take over an expired one.
            renewed = conn.execute(
                tt.frame_leases.update()
                .where(c.frame_id == frame_id, c.user_name == project.user, c.expires > now)
                .values(machine=machine, expires=now + seconds)
            ).rowcount
            if not renewed:
                taken = conn.execute(
                    tt.frame_leases.update()
                    .where(c.frame_id == frame_id, c.expires <= now)
                    .values(
                        user_name=project.user, machine=machine, since=since, expires=now + seconds
                    )
                ).rowcount
                if not taken:
                    conn.execute(
                        tt.frame_leases.insert().values(
                            frame_id=frame_id,
                            user_name=project.user,
                            machine=machine,
                            since=since,
                            expires=now + seconds,
                        )
                    )
    except ProjectError as error:  # a concurrent insert won: a live lease is in the way
        current = holder(project, frame_id)
        if current is not None and current.user != project.user:
            raise FrameLeasedError(
                current.describe, path=project.location, field=f"frame {frame_id}"
            ) from error
        raise
    found = holder(project, frame_id)
    if found is None or found.user != project.user:
        raise FrameLeasedError(
            found.describe if found else "could not be leased",
            path=project.location,
            field=f"frame {frame_id}",
        )
    return found


def release(project: Project, frame_id: int) -> None:
    """Give up the user's lease of a frame (nothing happens when they hold none)."""
    c = tt.frame_leases.c
    with project.transaction() as conn:
        conn.execute(
            tt.frame_leases.delete().where(c.frame_id == frame_id, c.user_name == project.user)
        )


def break_lease(project: Project, frame_id: int) -> Lease | None:
    """Remove whoever's lease holds a frame (leads only); returns the lease broken.

    Raises:
        PermissionDeniedError: The user is not a lead.
    """
    project.require(Permission.BREAK_LEASES)
    current = holder(project, frame_id)
    with project.transaction() as conn:
        conn.execute(tt.frame_leases.delete().where(tt.frame_leases.c.frame_id == frame_id))
    return current


# -- members ------------------------------------------------------------------------------


def members(project: Project) -> dict[str, Role]:
    """The project's members and their roles (empty: a one-person project)."""
    with project.reading() as conn:
        return roles.members(conn)


def set_member(project: Project, user: str, role: Role | None) -> None:
    """Add ``user`` with ``role``, change it, or remove them (``None``), as the project's
    user (a lead, once the project has members).

    Raises:
        PermissionDeniedError: Not a lead, or the project would be left without one.
    """
    with project.transaction() as conn:
        roles.set_member(conn, project.user, user, role, project.location)
