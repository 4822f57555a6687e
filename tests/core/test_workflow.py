"""The workflow state machine: every move from every status, and who may make it."""

from __future__ import annotations

import itertools

import pytest

from roadmark.core.annotation import Box, FrameStatus
from roadmark.core.workflow import (
    MOVES,
    Action,
    CommentCategory,
    FrameState,
    ReviewComment,
    WorkflowError,
    action_to,
    check_move,
    parse_category,
    parse_status,
)

S = FrameStatus

# The workflow as the issue describes it, written out independently of MOVES.
EXPECTED = {
    (S.NEW, Action.PRELABEL): S.PRELABELED,
    (S.NEW, Action.START): S.IN_PROGRESS,
    (S.PRELABELED, Action.START): S.IN_PROGRESS,
    (S.REJECTED, Action.START): S.IN_PROGRESS,
    (S.IN_PROGRESS, Action.FINISH): S.DONE,
    (S.DONE, Action.REOPEN): S.IN_PROGRESS,
    (S.DONE, Action.START_REVIEW): S.IN_REVIEW,
    (S.IN_REVIEW, Action.ACCEPT): S.ACCEPTED,
    (S.IN_REVIEW, Action.REJECT): S.REJECTED,
    (S.ACCEPTED, Action.RECONSIDER): S.IN_REVIEW,
    (S.IN_PROGRESS, Action.UNSTART): S.NEW,  # every edit undone: back to where it was
}


def state(status: FrameStatus, **kw) -> FrameState:
    return FrameState(frame_id=1, name="f1.png", status=status, **kw)


@pytest.mark.parametrize(
    ("status", "action"), list(itertools.product(FrameStatus, Action)), ids=str
)
def test_every_move_from_every_status(status: FrameStatus, action: Action):
    frame = state(status, gold=True)
    if action is Action.RESET:
        assert check_move(frame, action, "ann") is S.NEW  # any status, gold frames only
        return
    expected = EXPECTED.get((status, action))
    if expected is None:
        with pytest.raises(WorkflowError) as caught:
            check_move(frame, action, "ann", reason="r")
        message = str(caught.value)
        assert message.startswith("frame f1.png: cannot be ")
        assert f"it is '{status.value.replace('_', ' ')}'" in message
        assert "only " in message
    else:
        assert check_move(frame, action, "ann", reason="because") is expected


def test_moves_table_matches_the_expected_workflow():
    derived = {
        (source, action): goal
        for action, (sources, goal) in MOVES.items()
        if action is not Action.RESET
        for source in sources
    }
    assert derived == EXPECTED


def test_assigned_frames_are_worked_only_by_their_assignee():
    frame = state(S.IN_PROGRESS, assignee="alice")
    assert check_move(frame, Action.FINISH, "alice") is S.DONE
    with pytest.raises(WorkflowError, match="is assigned to alice; bob cannot have it finished"):
        check_move(frame, Action.FINISH, "bob")


def test_nobody_reviews_their_own_work():
    done = state(S.DONE, assignee="alice", annotator="alice")
    with pytest.raises(WorkflowError, match="annotated by alice, who cannot review their own"):
        check_move(done, Action.START_REVIEW, "alice")
    review = state(S.IN_REVIEW, annotator="carol")
    for action in (Action.ACCEPT, Action.REJECT):
        with pytest.raises(WorkflowError, match="carol, who cannot review"):
            check_move(review, action, "carol", reason="x")
    # Without a finisher recorded, the assignee's work is protected as well.
    with pytest.raises(WorkflowError, match="cannot review their own work"):
        check_move(state(S.IN_REVIEW, assignee="dan"), Action.ACCEPT, "dan")
    assert check_move(review, Action.ACCEPT, "bob") is S.ACCEPTED


def test_assigned_reviewer_only():
    review = state(S.IN_REVIEW, annotator="alice", reviewer="bob")
    with pytest.raises(WorkflowError, match="is to be reviewed by bob, not by eve"):
        check_move(review, Action.ACCEPT, "eve")
    assert check_move(review, Action.ACCEPT, "bob") is S.ACCEPTED


def test_accept_needs_comments_resolved_and_reject_needs_a_reason():
    review = state(S.IN_REVIEW, annotator="alice", open_comments=2)
    with pytest.raises(WorkflowError, match="2 review comments are still open"):
        check_move(review, Action.ACCEPT, "bob")
    with pytest.raises(WorkflowError, match="1 review comment is still open"):
        check_move(state(S.IN_REVIEW, open_comments=1), Action.ACCEPT, "bob")
    for reason in (None, "", "   "):
        with pytest.raises(WorkflowError, match="cannot be rejected without a reason"):
            check_move(review, Action.REJECT, "bob", reason=reason)
    assert check_move(review, Action.REJECT, "bob", reason="car missing") is S.REJECTED


def test_reset_only_for_gold_frames():
    with pytest.raises(WorkflowError, match="is not a gold frame"):
        check_move(state(S.ACCEPTED), Action.RESET, "boss")


def test_action_to_finds_the_single_move_or_says_where_it_can_go():
    assert action_to(state(S.DONE), S.IN_REVIEW) is Action.START_REVIEW
    assert action_to(state(S.REJECTED), S.IN_PROGRESS) is Action.START
    with pytest.raises(WorkflowError, match=r"frame f1\.png: is already 'done'"):
        action_to(state(S.DONE), S.DONE)
    with pytest.raises(WorkflowError) as caught:
        action_to(state(S.DONE), S.ACCEPTED)
    assert str(caught.value) == (
        "frame f1.png: cannot go from 'done' to 'accepted'; from 'done' it can go to "
        "'in progress', 'in review'"
    )


def test_parse_status_and_category():
    assert parse_status("in review") is S.IN_REVIEW
    assert parse_status("In-Progress") is S.IN_PROGRESS
    with pytest.raises(WorkflowError, match="unknown status 'finished'"):
        parse_status("finished")
    assert parse_category("missing object") is CommentCategory.MISSING_OBJECT
    with pytest.raises(WorkflowError, match="unknown comment category"):
        parse_category("typo")


def test_comment_point_and_summary():
    from datetime import UTC, datetime

    point = ReviewComment(
        1, 1, "bob", datetime(2024, 1, 1, tzinfo=UTC), CommentCategory.OTHER, "", Box(3, 4, 3, 4)
    )
    assert point.is_point and point.is_open and point.summary == "other"
    area = ReviewComment(
        2,
        1,
        "bob",
        datetime(2024, 1, 1, tzinfo=UTC),
        CommentCategory.LOOSE_BOUNDARY,
        "too wide",
        Box(0, 0, 5, 5),
        resolved_by="alice",
    )
    assert not area.is_point and not area.is_open
    assert area.summary == "loose boundary: too wide"


def test_unstart_goes_back_only_to_a_status_work_starts_from():
    frame = state(S.IN_PROGRESS, assignee="ann")
    assert check_move(frame, Action.UNSTART, "ann", back_to=S.REJECTED) is S.REJECTED
    assert check_move(frame, Action.UNSTART, "ann", back_to=S.PRELABELED) is S.PRELABELED
    with pytest.raises(WorkflowError, match="un-started back to 'done'; only to"):
        check_move(frame, Action.UNSTART, "ann", back_to=S.DONE)
    with pytest.raises(WorkflowError, match="assigned to ann; bob cannot"):
        check_move(frame, Action.UNSTART, "bob")
    with pytest.raises(WorkflowError, match=r"from 'in progress' it can go to 'done'$"):
        action_to(frame, S.NEW)  # not a move people choose
