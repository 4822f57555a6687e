"""Workflow in the store: assignment, recorded moves, comments, time log, next frame."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateTable

from roadmark.core.annotation import Box, FrameStatus
from roadmark.core.frame_spec import FrameSpecError
from roadmark.core.timetracking import ActiveSpan
from roadmark.core.workflow import Action, CommentCategory, WorkflowError
from roadmark.io import workflow as wf
from roadmark.io import workflow_tables
from roadmark.io.frames import scan
from roadmark.io.locations import image_root, is_url
from roadmark.io.store import Project
from tests.helpers import make_image, region

S = FrameStatus


def make_project(path: Path | str, frames: int = 4) -> list[int]:
    base = image_root(str(path)) if is_url(path) else Path(path).parent
    assert base is not None
    folder = base / "images"
    folder.mkdir(exist_ok=True)
    specs = scan([make_image(folder / f"img{i}.png", seed=i) for i in range(frames)])
    with Project.create(path, user="boss") as project:
        ids, _ = project.add_frames(specs)
    return ids


def as_user(path: Path, user: str) -> Project:
    return Project.open(path, user=user)


@pytest.fixture
def project_path(store_location: str) -> Path | str:
    """These tests run on both back ends: a project file, then a PostgreSQL database."""
    return store_location if is_url(store_location) else Path(store_location)


@pytest.fixture
def ids(project_path: Path) -> list[int]:
    return make_project(project_path)


def test_tables_are_made_in_new_projects_and_portable(project_path: Path, ids: list[int]):
    with as_user(project_path, "boss") as project, project.reading() as conn:
        names = set(sa.inspect(conn).get_table_names())
    ours = {"frame_workflow", "frame_events", "review_comments", "time_log", "frame_versions"}
    assert ours | {"object_changes"} <= names
    for table in (
        workflow_tables.frame_workflow,
        workflow_tables.frame_events,
        workflow_tables.review_comments,
        workflow_tables.time_log,
        workflow_tables.frame_versions,
        workflow_tables.object_changes,
    ):
        ddl = str(CreateTable(table).compile(dialect=postgresql.dialect()))
        assert "AUTOINCREMENT" not in ddl.upper() and table.name in ddl


def test_full_cycle_with_rejection_is_recorded(project_path: Path, ids: list[int]):
    frame = ids[0]
    with as_user(project_path, "boss") as boss:
        wf.assign(boss, [frame], annotator="alice", reviewer="bob")
    with as_user(project_path, "alice") as alice:
        assert wf.move(alice, frame, Action.START) is S.IN_PROGRESS
        alice.add_objects(frame, [region(7, 0, 0, 10, 10)])
        assert wf.move(alice, frame, Action.FINISH) is S.DONE
    with as_user(project_path, "bob") as bob:
        assert wf.set_status(bob, frame, S.IN_REVIEW) is Action.START_REVIEW
        wf.add_comment(bob, frame, CommentCategory.MISSING_OBJECT, Box(30, 20, 30, 20), "a car")
        with pytest.raises(WorkflowError, match="1 review comment is still open"):
            wf.move(bob, frame, Action.ACCEPT)
        wf.move(bob, frame, Action.REJECT, reason="car at the right is missing")
    with as_user(project_path, "alice") as alice:
        assert alice.frame(frame).status is S.REJECTED
        assert wf.rejection_reason(alice, frame) == "car at the right is missing"
        wf.move(alice, frame, Action.START)
        assert wf.rejection_reason(alice, frame) == "car at the right is missing"
        alice.add_objects(frame, [region(26, 28, 18, 34, 24)])
        (open_comment,) = wf.comments(alice, frame, open_only=True)
        resolved = wf.resolve_comment(alice, open_comment.id)
        assert resolved.resolved_by == "alice" and not resolved.is_open
        wf.move(alice, frame, Action.FINISH)
        assert wf.rejection_reason(alice, frame) is None
    with as_user(project_path, "bob") as bob:
        wf.move(bob, frame, Action.START_REVIEW)
        assert wf.move(bob, frame, Action.ACCEPT) is S.ACCEPTED
        history = [(e.user, e.action, e.from_status, e.to_status) for e in wf.events(bob, frame)]
        assert history == [
            ("alice", Action.START, S.NEW, S.IN_PROGRESS),
            ("alice", Action.FINISH, S.IN_PROGRESS, S.DONE),
            ("bob", Action.START_REVIEW, S.DONE, S.IN_REVIEW),
            ("bob", Action.REJECT, S.IN_REVIEW, S.REJECTED),
            ("alice", Action.START, S.REJECTED, S.IN_PROGRESS),
            ("alice", Action.FINISH, S.IN_PROGRESS, S.DONE),
            ("bob", Action.START_REVIEW, S.DONE, S.IN_REVIEW),
            ("bob", Action.ACCEPT, S.IN_REVIEW, S.ACCEPTED),
        ]
        state = wf.frame_state(bob, frame)
        assert (state.assignee, state.reviewer, state.annotator) == ("alice", "bob", "alice")


def test_refused_moves_change_nothing_and_name_the_project(project_path: Path, ids: list[int]):
    with as_user(project_path, "alice") as alice:
        with pytest.raises(WorkflowError) as caught:
            wf.move(alice, ids[0], Action.ACCEPT)
        assert str(caught.value).startswith(f"{alice.location}: frame img0.png: cannot be")
        with pytest.raises(WorkflowError, match="cannot go from 'new' to 'accepted'"):
            wf.set_status(alice, ids[0], S.ACCEPTED)
        assert alice.frame(ids[0]).status is S.NEW and wf.events(alice) == []


def test_the_annotator_cannot_accept_their_own_work(project_path: Path, ids: list[int]):
    with as_user(project_path, "alice") as alice:
        wf.move(alice, ids[1], Action.START)
        wf.move(alice, ids[1], Action.FINISH)
        with pytest.raises(WorkflowError, match="alice, who cannot review their own work"):
            wf.move(alice, ids[1], Action.START_REVIEW)
    with as_user(project_path, "boss") as boss:
        with pytest.raises(WorkflowError, match="alice annotates this frame and cannot also"):
            wf.assign(boss, [ids[1]], reviewer="alice")
        with pytest.raises(WorkflowError, match="cannot also review"):
            wf.assign(boss, [ids[2]], annotator="carol", reviewer="carol")
        wf.assign(boss, [ids[2]], annotator="carol")
        wf.assign(boss, [ids[2]], annotator=None)
        assert boss.frame(ids[2]).assignee is None


def test_filters_and_next_frame(project_path: Path, ids: list[int]):
    with as_user(project_path, "boss") as boss:
        wf.assign(boss, ids[:3], annotator="alice")
        wf.assign(boss, [ids[0]], reviewer="bob")
    with as_user(project_path, "alice") as alice:
        wf.move(alice, ids[2], Action.START)
        assert wf.next_frame(alice, "alice").frame_id == ids[2]  # in progress before new
        wf.move(alice, ids[0], Action.START)
        wf.move(alice, ids[0], Action.FINISH)
        assert [s.frame_id for s in wf.frame_states(alice, assignee="alice")] == ids[:3]
        assert [s.frame_id for s in wf.frame_states(alice, status=S.DONE)] == [ids[0]]
        assert [s.frame_id for s in wf.frame_states(alice, reviewer="bob")] == [ids[0]]
        assert wf.next_frame(alice, "alice", review=True) is None  # only her own work is done
        assert wf.next_frame(alice, "dave").frame_id == ids[3]  # unassigned work
    with as_user(project_path, "bob") as bob:
        assert wf.next_frame(bob, "bob", review=True).frame_id == ids[0]
        wf.move(bob, ids[0], Action.START_REVIEW)
        wf.move(bob, ids[0], Action.REJECT, reason="sloppy")
    with as_user(project_path, "alice") as alice:
        assert wf.next_frame(alice, "alice").frame_id == ids[0]  # sent-back work first


def test_comments_anchor_checks_and_reopening(project_path: Path, ids: list[int]):
    with as_user(project_path, "bob") as bob:
        area = wf.add_comment(
            bob, ids[0], CommentCategory.LOOSE_BOUNDARY, Box(1, 2, 10, 12), " loose ", object_uid=5
        )
        assert (area.text, area.author, area.object_uid, area.is_point) == (
            "loose",
            "bob",
            5,
            False,
        )
        with pytest.raises(WorkflowError, match="outside the 64x48 frame"):
            wf.add_comment(bob, ids[0], CommentCategory.OTHER, Box(60, 40, 70, 50))
        with pytest.raises(WorkflowError, match="there is no comment 99"):
            wf.resolve_comment(bob, 99)
        wf.resolve_comment(bob, area.id)
        assert wf.comments(bob, ids[0], open_only=True) == []
        reopened = wf.resolve_comment(bob, area.id, resolved=False)
        assert reopened.is_open and wf.frame_state(bob, ids[0]).open_comments == 1
        assert wf.comments(bob) == [reopened]


def test_time_log(project_path: Path, ids: list[int]):
    t0 = datetime(2024, 5, 1, 9, tzinfo=UTC)
    with as_user(project_path, "alice") as alice:
        wf.log_time(
            alice,
            [
                ActiveSpan(ids[0], "brush", t0, 30.0),
                ActiveSpan(ids[0], "brush", t0 + timedelta(minutes=5), 12.5),
                ActiveSpan(ids[0], "box", t0, 10.0),
                ActiveSpan(ids[1], "box", t0, 0.0),  # nothing credited: not stored
            ],
        )
        wf.log_time(alice, [ActiveSpan(ids[1], "review", t0, 7.0)], user="bob")
        assert wf.time_spent(alice) == [
            wf.TimeEntry("alice", ids[0], "box", 10.0),
            wf.TimeEntry("alice", ids[0], "brush", 42.5),
            wf.TimeEntry("bob", ids[1], "review", 7.0),
        ]
        assert wf.time_spent(alice, user="bob", frame_id=ids[1]) == [
            wf.TimeEntry("bob", ids[1], "review", 7.0)
        ]


def test_select_frames_spec(project_path: Path, ids: list[int]):
    with as_user(project_path, "boss") as project:
        frames = project.frames()
        assert [f.id for f in wf.select_frames(frames, "0-1,3,1")] == [ids[0], ids[1], ids[3]]
        assert len(wf.select_frames(frames, "all")) == 4
        for bad, needle in (
            ("x", "'x' is not a frame number"),
            ("3-1", "bad range"),
            ("9", "there is no frame 9: frames are numbered 0 to 3"),
        ):
            with pytest.raises(FrameSpecError, match=needle):
                wf.select_frames(frames, bad)


def test_review_queue_order(project_path: Path, ids: list[int]):
    with as_user(project_path, "boss") as boss:
        wf.assign(boss, [ids[1]], reviewer="bob")
        wf.assign(boss, [ids[2]], reviewer="eve")
    for frame in ids:
        with as_user(project_path, "alice") as alice:
            wf.move(alice, frame, Action.START)
            wf.move(alice, frame, Action.FINISH)
    with as_user(project_path, "bob") as bob:
        wf.move(bob, ids[3], Action.START_REVIEW)
        # in review first, then done frames assigned to bob, then unassigned; not eve's
        assert [s.frame_id for s in wf.review_queue(bob, "bob")] == [ids[3], ids[1], ids[0]]
        assert wf.review_queue(bob, "alice") == []  # her own work
