"""The editing session against a real project store: commit, mirror, undo, redo."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import shapely

from roadmark.core.annotation import FrameStatus
from roadmark.core.document import DocumentChange, FrameDocument
from roadmark.core.edits import AddObjects, CommandGroup, EditError, SetZOrder, UpdateObjects
from roadmark.core.session import EditSession
from roadmark.io.store import FrameSpec, Project
from tests.helpers import box, region


@pytest.fixture
def project(tmp_path: Path) -> Project:
    project = Project.create(tmp_path / "p.roadmark")
    project.add_frames([FrameSpec(tmp_path / f"f{i}.png", None, 120, 80, "s", i) for i in range(2)])
    yield project
    project.close()


def frame_ids(project: Project) -> list[int]:
    return [frame.id for frame in project.frames()]


def test_add_is_committed_mirrored_and_undone_by_soft_delete(project: Project):
    first, _ = frame_ids(project)
    session = EditSession(project)
    document = session.open(first)
    changes: list[DocumentChange] = []
    document.changed.connect(lambda _doc, change: changes.append(change))
    command = session.execute(AddObjects(first, [region(7, 10, 10, 30, 20)], text="Draw polygon"))
    assert isinstance(command, AddObjects)
    (uid,) = command.uids
    stored = project.objects(first)
    assert [obj.uid for obj in stored.live()] == [uid]
    assert document.get(uid) is not None and document.label_at(15, 15) == 7
    assert changes[-1].order and changes[-1].window == (10, 10, 20, 30)
    assert project.frame(first).status is FrameStatus.IN_PROGRESS
    assert document.frame.status is FrameStatus.IN_PROGRESS

    assert session.undo() is command
    assert project.objects(first).live() == [] and project.objects(first)[0].deleted
    assert document.live() == [] and document.label_at(15, 15) is None
    assert session.redo() is command
    assert [obj.uid for obj in project.objects(first).live()] == [uid]
    assert document.label_at(15, 15) == 7


def test_update_reorder_and_group_round_trip(project: Project):
    first, _ = frame_ids(project)
    session = EditSession(project)
    document = session.open(first)
    add = session.execute(
        AddObjects(first, [region(7, 0, 0, 60, 40), region(26, 20, 10, 40, 30)], text="add")
    )
    assert isinstance(add, AddObjects)
    road, car = add.stored or ()
    moved = replace(car, geometry=shapely.box(50, 10, 70, 30))
    session.execute(UpdateObjects(first, [car], [moved], text="Move"))
    assert project.objects(first)[1].region.equals(moved.region)
    assert document.label_at(25, 20) == 7 and document.label_at(65, 20) == 26

    order = document.z_order()
    session.execute(SetZOrder(first, order, order[::-1], text="Send to bottom"))
    assert [o.uid for o in project.objects(first)] == order[::-1]
    assert document.label_at(55, 20) == 7  # the road now covers the car where they overlap

    session.undo()
    session.undo()
    assert [o.uid for o in project.objects(first)] == order
    assert project.objects(first)[1].region.equals(car.region)
    assert document.label_at(25, 20) == 26

    group = CommandGroup(
        [
            UpdateObjects(first, [road], [replace(road, deleted=True)], text="delete"),
            AddObjects(first, [box(26, 1, 1, 5, 5)], text="box"),
        ],
        text="Accept model labels",
    )
    session.execute(group)
    assert session.history.undo_text == "Accept model labels"
    live = project.objects(first).live()
    assert len(live) == 2 and {o.kind.value for o in live} == {"region", "box"}
    session.undo()
    assert [o.uid for o in project.objects(first).live()] == [road.uid, car.uid]


def test_a_failing_command_changes_nothing(project: Project):
    first, _ = frame_ids(project)
    session = EditSession(project)
    document = session.open(first)
    session.execute(AddObjects(first, [region(7, 0, 0, 10, 10)], text="add"))
    before = [o.uid for o in project.objects(first)]
    bad = CommandGroup(
        [
            AddObjects(first, [region(8, 20, 20, 30, 30)], text="ok"),
            SetZOrder(first, [1], [1], text="wrong z-order"),
        ],
        text="broken",
    )
    # SetZOrder with a list that misses the new object makes the store refuse it.
    with pytest.raises(Exception, match="z-order"):
        session.execute(bad)
    assert [o.uid for o in project.objects(first)] == before
    assert len(document.objects) == 1 and len(session.history) == 1


def test_edits_of_another_frame_leave_the_open_document_alone(project: Project):
    first, second = frame_ids(project)
    session = EditSession(project)
    document = session.open(first)
    session.execute(AddObjects(second, [region(7, 0, 0, 10, 10)], text="elsewhere"))
    assert document.objects == () and len(project.objects(second)) == 1
    assert project.frame(second).status is FrameStatus.IN_PROGRESS


def test_command_validation():
    obj = region(7, 0, 0, 1, 1)
    with pytest.raises(EditError):
        AddObjects(1, [], text="nothing")
    with pytest.raises(EditError):
        UpdateObjects(1, [obj], [obj], text="unstored")
    with pytest.raises(EditError):
        SetZOrder(1, [1, 2], [1, 3], text="different")


def test_update_commands_merge_by_key(project: Project):
    first, _ = frame_ids(project)
    session = EditSession(project)
    session.open(first)
    add = session.execute(AddObjects(first, [box(26, 0, 0, 10, 10)], text="add"))
    assert isinstance(add, AddObjects)
    (original,) = add.stored or ()
    current = original
    for step in range(1, 4):
        moved = replace(current, geometry=replace(current.geometry, x0=step, x1=10 + step))
        session.execute(UpdateObjects(first, [current], [moved], text="Move", merge_key="nudge"))
        current = moved
    assert len(session.history) == 2
    session.undo()
    assert project.objects(first)[0].geometry == original.geometry
    assert isinstance(session.document, FrameDocument)


def test_undoing_every_edit_of_a_frame_puts_its_status_back(project: Project):
    first, second = frame_ids(project)
    project.set_frame_status(first, FrameStatus.PRELABELED)
    session = EditSession(project)
    document = session.open(first)
    add = session.execute(AddObjects(first, [region(7, 0, 0, 60, 40)], text="add"))
    assert isinstance(add, AddObjects)
    (road,) = add.stored or ()
    session.execute(UpdateObjects(first, [road], [replace(road, label_id=8)], text="Change label"))
    session.execute(AddObjects(second, [region(7, 0, 0, 10, 10)], text="other frame"))
    assert project.frame(first).status is FrameStatus.IN_PROGRESS
    session.undo()  # the other frame's edit: it goes back to new
    assert project.frame(second).status is FrameStatus.NEW
    session.undo()  # one edit of the first frame is left: still in progress
    assert project.frame(first).status is FrameStatus.IN_PROGRESS
    events = []
    session.committed.connect(events.append)
    session.undo()
    assert project.frame(first).status is FrameStatus.PRELABELED
    assert document.frame.status is FrameStatus.PRELABELED
    assert events[-1].statuses == {first: FrameStatus.PRELABELED}
    session.redo()
    assert project.frame(first).status is FrameStatus.IN_PROGRESS
    assert events[-1].statuses == {first: FrameStatus.IN_PROGRESS}
    project.set_frame_status(first, FrameStatus.DONE)  # finished meanwhile: left alone
    document.set_frame_status(FrameStatus.DONE)
    session.undo()
    assert project.frame(first).status is FrameStatus.DONE
    # finished and reopened: once the window forgets the start, undo leaves it in progress
    session.redo()
    project.set_frame_status(first, FrameStatus.IN_PROGRESS)
    document.set_frame_status(FrameStatus.IN_PROGRESS)
    session.forget_start(first)
    session.undo()
    assert project.frame(first).status is FrameStatus.IN_PROGRESS
