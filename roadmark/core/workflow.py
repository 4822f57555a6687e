"""The frame workflow: statuses, the moves between them, who may make each move.

A frame goes ``new -> prelabeled -> in_progress -> done -> in_review -> accepted``; a
reviewer who finds problems rejects it with a reason (``in_review -> rejected``) and the
annotator takes it back (``rejected -> in_progress``), fixes it and finishes it again.

Rules on people (user names, as recorded in provenance):

- a frame assigned to an annotator is started, finished and reopened only by them;
- a frame with a reviewer is reviewed only by that reviewer;
- nobody reviews their own work: the user who finished the frame last (or, when nobody
  finished it here, its assignee) cannot start its review, accept it or reject it;
- a frame with open review comments cannot be accepted, and a rejection needs a reason.

Everything here is plain data and functions; the project store applies a move with
:func:`check_move` and records it (``roadmark.io.workflow``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from roadmark.core.annotation import Box, FrameStatus
from roadmark.core.errors import RoadmarkError


class WorkflowError(RoadmarkError):
    """A workflow move that the frame's status or the user's role does not allow."""


class Action(StrEnum):
    """A move in the workflow; :data:`MOVES` says from where to where."""

    PRELABEL = "prelabel"
    START = "start"
    FINISH = "finish"
    REOPEN = "reopen"
    START_REVIEW = "start_review"
    ACCEPT = "accept"
    REJECT = "reject"
    RECONSIDER = "reconsider"
    RESET = "reset"
    UNSTART = "unstart"


S = FrameStatus

# action -> (statuses it may start from, status it leads to)
MOVES: dict[Action, tuple[frozenset[FrameStatus], FrameStatus]] = {
    Action.PRELABEL: (frozenset({S.NEW}), S.PRELABELED),
    Action.START: (frozenset({S.NEW, S.PRELABELED, S.REJECTED}), S.IN_PROGRESS),
    Action.FINISH: (frozenset({S.IN_PROGRESS}), S.DONE),
    Action.REOPEN: (frozenset({S.DONE}), S.IN_PROGRESS),
    Action.START_REVIEW: (frozenset({S.DONE}), S.IN_REVIEW),
    Action.ACCEPT: (frozenset({S.IN_REVIEW}), S.ACCEPTED),
    Action.REJECT: (frozenset({S.IN_REVIEW}), S.REJECTED),
    Action.RECONSIDER: (frozenset({S.ACCEPTED}), S.IN_REVIEW),
    Action.RESET: (frozenset(FrameStatus), S.NEW),
    # Undoing every edit of a frame in the session that started it puts it back where it
    # was before (new, pre-labeled or rejected: see ``back_to`` in :func:`check_move`).
    Action.UNSTART: (frozenset({S.IN_PROGRESS}), S.NEW),
}

# Who does each move: the annotator's moves follow the assignment, the reviewer's moves
# follow the reviewer assignment and exclude the frame's annotator.
ANNOTATOR_MOVES = frozenset({Action.START, Action.FINISH, Action.REOPEN, Action.UNSTART})
REVIEWER_MOVES = frozenset({Action.START_REVIEW, Action.ACCEPT, Action.REJECT, Action.RECONSIDER})

_VERBS = {
    Action.PRELABEL: "pre-labeled",
    Action.START: "started",
    Action.FINISH: "finished",
    Action.REOPEN: "reopened",
    Action.START_REVIEW: "reviewed",
    Action.ACCEPT: "accepted",
    Action.REJECT: "rejected",
    Action.RECONSIDER: "reconsidered",
    Action.RESET: "reset",
    Action.UNSTART: "un-started",
}


def status_text(status: FrameStatus) -> str:
    """A status as people write it (``in review``)."""
    return status.value.replace("_", " ")


@dataclass(frozen=True)
class FrameState:
    """What the workflow rules look at for one frame.

    Attributes:
        frame_id: The store's frame id.
        name: The frame's display name (used in messages).
        status: Current status.
        assignee: Annotator the frame is assigned to, if any.
        reviewer: Reviewer the frame is assigned to, if any.
        annotator: Who finished the frame last, if anybody did.
        gold: The frame is a gold frame (its reference labels are kept apart).
        open_comments: How many review comments on the frame are not resolved.
    """

    frame_id: int
    name: str
    status: FrameStatus
    assignee: str | None = None
    reviewer: str | None = None
    annotator: str | None = None
    gold: bool = False
    open_comments: int = 0

    @property
    def author(self) -> str | None:
        """Whose work a review judges: who finished it, else its assignee."""
        return self.annotator or self.assignee


def check_move(
    state: FrameState,
    action: Action,
    user: str,
    *,
    reason: str | None = None,
    back_to: FrameStatus | None = None,
) -> FrameStatus:
    """The status ``action`` by ``user`` leads to, after checking every rule.

    ``back_to`` is where an "unstart" leads (the status the frame had before it was
    started: new, pre-labeled or rejected); it defaults to new.

    Raises:
        WorkflowError: The move is not allowed; the message says why and what would be.
    """
    where = f"frame {state.name}"
    sources, target = MOVES[action]
    if state.status not in sources:
        allowed = " or ".join(sorted(f"'{status_text(s)}'" for s in sources))
        raise WorkflowError(
            f"cannot be {_VERBS[action]}: it is '{status_text(state.status)}' and only "
            f"{allowed} frames can be",
            field=where,
        )
    if action in ANNOTATOR_MOVES and state.assignee and user != state.assignee:
        raise WorkflowError(
            f"is assigned to {state.assignee}; {user} cannot have it {_VERBS[action]}",
            field=where,
        )
    if action in REVIEWER_MOVES:
        if state.author and user == state.author:
            raise WorkflowError(
                f"was annotated by {user}, who cannot review their own work", field=where
            )
        if state.reviewer and user != state.reviewer:
            raise WorkflowError(
                f"is to be reviewed by {state.reviewer}, not by {user}", field=where
            )
    if action is Action.ACCEPT and state.open_comments:
        noun = "comment is" if state.open_comments == 1 else "comments are"
        raise WorkflowError(
            f"cannot be accepted: {state.open_comments} review {noun} still open "
            "(resolve them, or reject the frame)",
            field=where,
        )
    if action is Action.REJECT and not (reason and reason.strip()):
        raise WorkflowError("cannot be rejected without a reason", field=where)
    if action is Action.RESET and not state.gold:
        raise WorkflowError(
            "is not a gold frame; only gold frames are reset for another annotator",
            field=where,
        )
    if action is Action.UNSTART:
        startable = MOVES[Action.START][0]
        target = back_to or S.NEW
        if target not in startable:
            raise WorkflowError(
                f"cannot be un-started back to '{status_text(target)}'; only to "
                + " or ".join(sorted(f"'{status_text(s)}'" for s in startable)),
                field=where,
            )
    return target


def action_to(state: FrameState, target: FrameStatus) -> Action:
    """The single move that takes the frame from its status to ``target``.

    Raises:
        WorkflowError: No single move does; the message lists where the frame can go.
    """
    if state.status is target:
        raise WorkflowError(f"is already '{status_text(target)}'", field=f"frame {state.name}")
    for action, (sources, goal) in MOVES.items():
        if action in (Action.RESET, Action.UNSTART):
            continue
        if goal is target and state.status in sources:
            return action
    reachable = sorted(
        {
            f"'{status_text(goal)}'"
            for action, (sources, goal) in MOVES.items()
            if state.status in sources and action not in (Action.RESET, Action.UNSTART)
        }
    )
    return_text = ", ".join(reachable) if reachable else "nowhere"
    raise WorkflowError(
        f"cannot go from '{status_text(state.status)}' to '{status_text(target)}'; "
        f"from '{status_text(state.status)}' it can go to {return_text}",
        field=f"frame {state.name}",
    )


def parse_status(text: str) -> FrameStatus:
    """A status from its name, with spaces or dashes for underscores (``in review``).

    Raises:
        WorkflowError: Not a status.
    """
    key = text.strip().lower().replace(" ", "_").replace("-", "_")
    try:
        return FrameStatus(key)
    except ValueError:
        names = ", ".join(s.value for s in FrameStatus)
        raise WorkflowError(f"unknown status '{text}' (one of {names})", field="status") from None


class CommentCategory(StrEnum):
    """What a review comment says is wrong."""

    WRONG_LABEL = "wrong_label"
    MISSING_OBJECT = "missing_object"
    LOOSE_BOUNDARY = "loose_boundary"
    OTHER = "other"

    @property
    def text(self) -> str:
        return self.value.replace("_", " ")


def parse_category(text: str) -> CommentCategory:
    """A comment category from its name (spaces or dashes allowed).

    Raises:
        WorkflowError: Not a category.
    """
    key = text.strip().lower().replace(" ", "_").replace("-", "_")
    try:
        return CommentCategory(key)
    except ValueError:
        names = ", ".join(c.value for c in CommentCategory)
        raise WorkflowError(
            f"unknown comment category '{text}' (one of {names})", field="category"
        ) from None


@dataclass(frozen=True)
class ReviewComment:
    """An issue marker pinned to a point or an area of a frame.

    Attributes:
        id: The store's id.
        frame_id: The frame it is on.
        author: Who wrote it.
        created_at: When.
        category: What kind of problem it marks.
        text: The reviewer's words (may be empty).
        anchor: Where it is pinned, in image pixels; a point is a box of size zero.
        object_uid: The object it is about, if any.
        resolved_by: Who resolved it, ``None`` while it is open.
        resolved_at: When it was resolved.
    """

    id: int
    frame_id: int
    author: str
    created_at: datetime
    category: CommentCategory
    text: str
    anchor: Box
    object_uid: int | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.resolved_by is None

    @property
    def is_point(self) -> bool:
        return self.anchor.width == 0 and self.anchor.height == 0

    @property
    def summary(self) -> str:
        """One line: category and text."""
        return f"{self.category.text}: {self.text}" if self.text else self.category.text


@dataclass(frozen=True)
class WorkflowEvent:
    """One recorded move of a frame.

    Attributes:
        frame_id: The frame.
        user: Who made the move.
        at: When.
        action: The move.
        from_status: Status before.
        to_status: Status after.
        reason: The reason given (always present for a rejection).
    """

    frame_id: int
    user: str
    at: datetime
    action: Action
    from_status: FrameStatus
    to_status: FrameStatus
    reason: str | None = None
