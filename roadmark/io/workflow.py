"""Workflow in the project store: assignments, status moves, review comments, time log.

Every function takes an open :class:`~roadmark.io.store.Project` and acts as its user
(``project.user``). Moves are checked with :func:`roadmark.core.workflow.check_move` and
recorded in ``frame_events`` in the same transaction as the status change; finishing a
frame also stores a snapshot of its objects as that user's submission (used for gold
scores and agreement, see :mod:`roadmark.io.gold`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from roadmark.core.annotation import Box, Frame, FrameStatus, utc_now
from roadmark.core.frame_spec import parse_frame_spec
from roadmark.core.timetracking import ActiveSpan
from roadmark.core.workflow import (
    MOVES,
    Action,
    CommentCategory,
    FrameState,
    ReviewComment,
    WorkflowError,
    WorkflowEvent,
    action_to,
    check_move,
)
from roadmark.io import tables as t
from roadmark.io import workflow_tables as wt
from roadmark.io.codec import object_to_json
from roadmark.io.errors import ProjectError
from roadmark.io.roles import Permission
from roadmark.io.store import Project

# Order in which "next frame for me" offers an annotator's frames: sent-back work first.
ANNOTATION_ORDER = (
    FrameStatus.REJECTED,
    FrameStatus.IN_PROGRESS,
    FrameStatus.PRELABELED,
    FrameStatus.NEW,
)
UNCHANGED: Any = object()

# The permission each move needs (roadmark.io.roles.PERMISSIONS says which roles have it).
MOVE_PERMISSIONS: dict[Action, Permission] = {
    Action.PRELABEL: Permission.PRELABEL,
    Action.START: Permission.WORK_FRAMES,
    Action.FINISH: Permission.WORK_FRAMES,
    Action.REOPEN: Permission.WORK_FRAMES,
    Action.UNSTART: Permission.WORK_FRAMES,
    Action.START_REVIEW: Permission.REVIEW,
    Action.ACCEPT: Permission.REVIEW,
    Action.REJECT: Permission.REVIEW,
    Action.RECONSIDER: Permission.REVIEW,
    Action.RESET: Permission.MARK_GOLD,
}


def _fail(project: Project, error: WorkflowError) -> WorkflowError:
    error.path = project.location
    return error


# -- frame selection ----------------------------------------------------------------------


def select_frames(frames: Sequence[Frame], spec: str) -> list[Frame]:
    """Frames by 0-based position in project order: ``all``, ``3``, ``0-9,12,20-22``
    (the rules of :func:`roadmark.core.frame_spec.parse_frame_spec`).

    Raises:
        FrameSpecError: A malformed part, a position past the last frame, or an empty text.
    """
    return [frames[p] for p in parse_frame_spec(spec, len(frames), empty_is_all=False)]


# -- state and assignment -----------------------------------------------------------------


def frame_states(
    project: Project,
    *,
    status: FrameStatus | None = None,
    assignee: str | None = None,
    reviewer: str | None = None,
    frame_id: int | None = None,
) -> list[FrameState]:
    """Workflow state of every frame (in project order), optionally filtered."""
    f, w, c = t.frames.c, wt.frame_workflow.c, wt.review_comments.c
    # A correlated count (an index lookup per frame) rather than a grouped subquery, so
    # that one frame's state does not count every comment of the project.
    open_comments = (
        sa.select(sa.func.count())
        .where(c.frame_id == f.id, c.resolved_by.is_(None))
        .correlate(t.frames)
        .scalar_subquery()
        .label("n")
    )
    query = (
        sa.select(
            f.id,
            f.path,
            f.video_frame,
            f.status,
            f.assignee,
            w.reviewer,
            w.annotator,
            w.gold,
            open_comments,
        )
        .select_from(t.frames.outerjoin(wt.frame_workflow, w.frame_id == f.id))
        .order_by(f.sequence, f.sequence_index, f.id)
    )
    if status is not None:
        query = query.where(f.status == status.value)
    if assignee is not None:
        query = query.where(f.assignee == assignee)
    if reviewer is not None:
        query = query.where(w.reviewer == reviewer)
    if frame_id is not None:
        query = query.where(f.id == frame_id)
    with project.reading() as conn:
        return [_state(row) for row in conn.execute(query)]


def frame_state(project: Project, frame_id: int) -> FrameState:
    """One frame's workflow state (one query).

    Raises:
        ProjectError: No such frame.
    """
    found = frame_states(project, frame_id=frame_id)
    if not found:
        raise ProjectError(f"has no frame {frame_id}", path=project.location)
    return found[0]


def _state(row: Any) -> FrameState:
    base = row.path.rsplit("/", 1)[-1]
    return FrameState(
        frame_id=row.id,
        name=base if row.video_frame < 0 else f"{base}#{row.video_frame}",
        status=FrameStatus(row.status),
        assignee=row.assignee,
        reviewer=row.reviewer,
        annotator=row.annotator,
        gold=bool(row.gold),
        open_comments=int(row.n or 0),
    )


def update_frame_workflow(conn: sa.Connection, frame_id: int, **values: Any) -> None:
    """Set columns of a frame's ``frame_workflow`` row, making the row when it is missing."""
    w = wt.frame_workflow
    if not conn.execute(w.update().where(w.c.frame_id == frame_id).values(**values)).rowcount:
        conn.execute(w.insert().values(frame_id=frame_id, **({"gold": False} | values)))


def assign(
    project: Project,
    frame_ids: Iterable[int],
    *,
    annotator: str | None = UNCHANGED,
    reviewer: str | None = UNCHANGED,
) -> None:
    """Assign frames to an annotator and/or a reviewer (``None`` clears an assignment).

    Raises:
        WorkflowError: The same person would annotate and review a frame.
    """
    ids = list(frame_ids)
    with project.transaction() as conn:
        project.require(Permission.ASSIGN)
        for frame_id in ids:
            state = frame_state(project, frame_id)
            new_annotator = state.assignee if annotator is UNCHANGED else annotator
            new_reviewer = state.reviewer if reviewer is UNCHANGED else reviewer
            if new_reviewer and new_reviewer in (new_annotator, state.annotator):
                raise _fail(
                    project,
                    WorkflowError(
                        f"{new_reviewer} annotates this frame and cannot also review it",
                        field=f"frame {state.name}",
                    ),
                )
            if annotator is not UNCHANGED:
                conn.execute(
                    t.frames.update()
                    .where(t.frames.c.id == frame_id)
                    .values(assignee=annotator, updated_at=utc_now().isoformat())
                )
            if reviewer is not UNCHANGED:
                update_frame_workflow(conn, frame_id, reviewer=reviewer)


# -- moves --------------------------------------------------------------------------------


def move(
    project: Project,
    frame_id: int,
    action: Action,
    *,
    reason: str | None = None,
    back_to: FrameStatus | None = None,
) -> FrameStatus:
    """Make a workflow move as the project's user, checked and recorded.

    Finishing stores the frame's live objects as the user's submission; a reset (gold
    frames only) removes the frame's objects so the next annotator starts blank.

    Returns:
        The frame's new status.

    Raises:
        WorkflowError: The move is not allowed (see :func:`~roadmark.core.workflow.check_move`).
    """
    user = project.user
    with project.transaction() as conn:
        project.require(MOVE_PERMISSIONS[action])
        # Lock the frame's row (PostgreSQL) so two people cannot both make a move from the
        # same status (two reviewers starting one review); SQLite serializes writers.
        conn.execute(sa.select(t.frames.c.id).where(t.frames.c.id == frame_id).with_for_update())
        state = frame_state(project, frame_id)
        try:
            target = check_move(state, action, user, reason=reason, back_to=back_to)
        except WorkflowError as error:
            raise _fail(project, error) from None
        if action is Action.FINISH:
            live = project.objects(frame_id).live()
            conn.execute(
                wt.frame_versions.insert().values(
                    frame_id=frame_id,
                    kind="submission",
                    user_name=user,
                    created_at=utc_now().isoformat(),
                    objects=json.dumps([object_to_json(obj) for obj in live]),
                )
            )
            update_frame_workflow(conn, frame_id, annotator=user)
        if action is Action.RESET:
            project.replace_objects(frame_id, [])
            update_frame_workflow(conn, frame_id, annotator=None)
        project.set_frame_status(frame_id, target)
        record_event(conn, frame_id, user, action, state.status, target, reason)
    return target


def set_status(
    project: Project, frame_id: int, target: FrameStatus, *, reason: str | None = None
) -> Action:
    """Move a frame to ``target`` by the one move that leads there.

    Raises:
        WorkflowError: No single move leads there, or the move is not allowed.
    """
    try:
        action = action_to(frame_state(project, frame_id), target)
    except WorkflowError as error:
        raise _fail(project, error) from None
    move(project, frame_id, action, reason=reason)
    return action


def record_event(
    conn: sa.Connection,
    frame_id: int,
    user: str,
    action: Action,
    before: FrameStatus,
    after: FrameStatus,
    reason: str | None,
) -> None:
    """Append a move to ``frame_events`` (inside the caller's transaction)."""
    conn.execute(
        wt.frame_events.insert().values(
            frame_id=frame_id,
            user_name=user,
            at=utc_now().isoformat(),
            action=action.value,
            from_status=before.value,
            to_status=after.value,
            reason=reason.strip() if reason and reason.strip() else None,
        )
    )


def record_prelabeled(
    conn: sa.Connection, frame_ids: Iterable[int], user: str, *, model: str | None = None
) -> list[int]:
    """Make the pre-label move for the frames of ``frame_ids`` that it applies to (new
    ones), each recorded by ``user`` with the ``model``'s name as the reason (inside the
    caller's transaction, which checks :attr:`Permission.PRELABEL`).

    Returns:
        The ids of the frames that moved, ascending.
    """
    starts, target = MOVES[Action.PRELABEL]
    f = t.frames.c
    ready = f.status.in_([status.value for status in starts])
    # Lock the rows (PostgreSQL) so a frame someone starts meanwhile is not moved back.
    found = conn.execute(
        sa.select(f.id, f.status).where(f.id.in_(sorted(set(frame_ids))), ready).with_for_update()
    ).all()
    moved = sorted(row.id for row in found)
    if moved:
        conn.execute(
            t.frames.update()
            .where(f.id.in_(moved), ready)
            .values(status=target.value, updated_at=utc_now().isoformat())
        )
    for row in sorted(found):
        record_event(conn, row.id, user, Action.PRELABEL, FrameStatus(row.status), target, model)
    return moved


def events(project: Project, frame_id: int | None = None) -> list[WorkflowEvent]:
    """Recorded moves (of one frame, or all), oldest first."""
    e = wt.frame_events.c
    query = sa.select(wt.frame_events).order_by(e.id)
    if frame_id is not None:
        query = query.where(e.frame_id == frame_id)
    with project.reading() as conn:
        return [
            WorkflowEvent(
                frame_id=row.frame_id,
                user=row.user_name,
                at=datetime.fromisoformat(row.at),
                action=Action(row.action),
                from_status=FrameStatus(row.from_status),
                to_status=FrameStatus(row.to_status),
                reason=row.reason,
            )
            for row in conn.execute(query)
        ]


def rejection_reason(project: Project, frame_id: int) -> str | None:
    """Why the frame was sent back, while the rework is pending (rejected or in progress)."""
    state = frame_state(project, frame_id)
    if state.status not in (FrameStatus.REJECTED, FrameStatus.IN_PROGRESS):
        return None
    for event in reversed(events(project, frame_id)):
        if event.action is Action.REJECT:
            return event.reason
        if event.action in (Action.FINISH, Action.RESET, Action.ACCEPT):
            return None
    return None


def next_frame(project: Project, user: str, *, review: bool = False) -> FrameState | None:
    """The next frame for ``user``: their own work first, then unassigned work.

    Annotation: the user's rejected, in-progress, pre-labeled and new frames (in that
    order), then unassigned pre-labeled and new frames. Review: frames the user is
    reviewing, then done frames for them to review (theirs, or without a reviewer), never
    the user's own work.
    """
    if review:
        queue = review_queue(project, user)
        return queue[0] if queue else None
    states = frame_states(project)
    mine = [s for s in states if s.assignee == user and s.status in ANNOTATION_ORDER]
    mine.sort(key=lambda s: ANNOTATION_ORDER.index(s.status))
    if mine:
        return mine[0]
    for s in states:
        if s.assignee is None and s.status in (FrameStatus.PRELABELED, FrameStatus.NEW):
            return s
    return None


def review_queue(project: Project, user: str) -> list[FrameState]:
    """Frames for ``user`` to review, in order: those they are reviewing, then done frames
    assigned to them, then done frames without a reviewer; never the user's own work."""
    candidates = [
        s
        for s in frame_states(project)
        if s.status in (FrameStatus.IN_REVIEW, FrameStatus.DONE)
        and s.reviewer in (user, None)
        and s.author != user
    ]
    return sorted(
        candidates, key=lambda s: (s.status is not FrameStatus.IN_REVIEW, s.reviewer != user)
    )


# -- review comments ----------------------------------------------------------------------


def add_comment(
    project: Project,
    frame_id: int,
    category: CommentCategory,
    anchor: Box,
    text: str = "",
    *,
    object_uid: int | None = None,
) -> ReviewComment:
    """Pin a comment to a point (a zero-size box) or an area of a frame.

    Raises:
        WorkflowError: The anchor lies outside the frame.
    """
    frame = project.frame(frame_id)
    if anchor.x0 < 0 or anchor.y0 < 0 or anchor.x1 > frame.width or anchor.y1 > frame.height:
        raise WorkflowError(
            f"is outside the {frame.width}x{frame.height} frame",
            path=project.location,
            field="comment position",
        )
    now = utc_now()
    with project.transaction() as conn:
        project.require(Permission.COMMENT)
        comment_id = conn.execute(
            wt.review_comments.insert()
            .values(
                frame_id=frame_id,
                author=project.user,
                created_at=now.isoformat(),
                category=category.value,
                text=text.strip(),
                x0=anchor.x0,
                y0=anchor.y0,
                x1=anchor.x1,
                y1=anchor.y1,
                object_id=object_uid,
            )
            .returning(wt.review_comments.c.id)
        ).scalar_one()
    return ReviewComment(
        id=comment_id,
        frame_id=frame_id,
        author=project.user,
        created_at=now,
        category=category,
        text=text.strip(),
        anchor=anchor,
        object_uid=object_uid,
    )


def resolve_comment(project: Project, comment_id: int, *, resolved: bool = True) -> ReviewComment:
    """Mark a comment resolved by the project's user (or open again, ``resolved=False``).

    Raises:
        WorkflowError: No such comment.
    """
    c = wt.review_comments.c
    values = (
        {"resolved_by": project.user, "resolved_at": utc_now().isoformat()}
        if resolved
        else {"resolved_by": None, "resolved_at": None}
    )
    with project.transaction() as conn:
        project.require(Permission.RESOLVE_COMMENTS)
        done = conn.execute(
            wt.review_comments.update().where(c.id == comment_id).values(**values)
        ).rowcount
        if not done:
            raise WorkflowError(
                f"there is no comment {comment_id}", path=project.location, field="comment"
            )
    return comment(project, comment_id)


def comment(project: Project, comment_id: int) -> ReviewComment:
    """One comment by id.

    Raises:
        WorkflowError: No such comment.
    """
    found = _comments(project, wt.review_comments.c.id == comment_id)
    if not found:
        raise WorkflowError(
            f"there is no comment {comment_id}", path=project.location, field="comment"
        )
    return found[0]


def comments(
    project: Project, frame_id: int | None = None, *, open_only: bool = False
) -> list[ReviewComment]:
    """Comments of one frame (or all), oldest first."""
    c = wt.review_comments.c
    where: list[Any] = []
    if frame_id is not None:
        where.append(c.frame_id == frame_id)
    if open_only:
        where.append(c.resolved_by.is_(None))
    return _comments(project, sa.and_(sa.true(), *where))


def _comments(project: Project, where: Any) -> list[ReviewComment]:
    c = wt.review_comments.c
    with project.reading() as conn:
        rows = conn.execute(sa.select(wt.review_comments).where(where).order_by(c.id)).all()
    return [
        ReviewComment(
            id=row.id,
            frame_id=row.frame_id,
            author=row.author,
            created_at=datetime.fromisoformat(row.created_at),
            category=CommentCategory(row.category),
            text=row.text,
            anchor=Box(row.x0, row.y0, row.x1, row.y1),
            object_uid=row.object_id,
            resolved_by=row.resolved_by,
            resolved_at=None
            if row.resolved_at is None
            else datetime.fromisoformat(row.resolved_at),
        )
        for row in rows
    ]


# -- time log -----------------------------------------------------------------------------


def log_time(project: Project, spans: Sequence[ActiveSpan], *, user: str | None = None) -> None:
    """Store active-time spans (from :meth:`ActiveTimer.flush`) for ``user`` (the project's
    user by default)."""
    rows = [
        {
            "frame_id": span.frame_id,
            "user_name": user or project.user,
            "tool": span.tool,
            "started_at": span.started_at.isoformat(),
            "seconds": float(span.seconds),
        }
        for span in spans
        if span.seconds > 0
    ]
    if rows:
        with project.transaction() as conn:
            conn.execute(wt.time_log.insert(), rows)


@dataclass(frozen=True)
class TimeEntry:
    """Active seconds of one user on one frame with one tool."""

    user: str
    frame_id: int
    tool: str
    seconds: float


def time_spent(
    project: Project, *, frame_id: int | None = None, user: str | None = None
) -> list[TimeEntry]:
    """Active time summed per user, frame and tool."""
    c = wt.time_log.c
    query = (
        sa.select(c.user_name, c.frame_id, c.tool, sa.func.sum(c.seconds))
        .group_by(c.user_name, c.frame_id, c.tool)
        .order_by(c.user_name, c.frame_id, c.tool)
    )
    if frame_id is not None:
        query = query.where(c.frame_id == frame_id)
    if user is not None:
        query = query.where(c.user_name == user)
    with project.reading() as conn:
        return [TimeEntry(u, f, tool, float(s)) for u, f, tool, s in conn.execute(query)]
