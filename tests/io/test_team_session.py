"""The editing session against a shared store: someone else's change first, then ours."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from roadmark.core.edits import UpdateObjects
from roadmark.core.errors import EditConflictError
from roadmark.core.session import EditSession, SessionEvent
from roadmark.io.store import Project
from tests.helpers import region
from tests.io.test_team import _specs


@pytest.fixture
def two_people(store_location: str, tmp_path: Path):
    with Project.create(store_location, user="lea") as lea:
        (frame_id,), _ = lea.add_frames(_specs(tmp_path / "images", 1))
        lea.add_objects(frame_id, [region(7, 0, 0, 10, 10), region(8, 20, 20, 30, 30)])
    with (
        Project.open(store_location, user="anna") as anna,
        Project.open(store_location, user="ben") as ben,
    ):
        yield anna, ben, frame_id


def test_a_change_that_conflicts_is_dropped_and_the_frame_reloaded(two_people):
    anna, ben, frame_id = two_people
    session = EditSession(anna)
    document = session.open(frame_id)
    a = document.objects[0]
    ben.update_objects([dataclasses.replace(ben.objects(frame_id)[0], label_id=24)])
    with pytest.raises(EditConflictError, match=r"changed by ben.*could not be applied"):
        session.execute(UpdateObjects(frame_id, [a], [dataclasses.replace(a, label_id=26)],
                                      text="Relabel"))  # fmt: skip
    assert session.document is document and document.objects[0].label_id == 24  # reloaded
    assert not session.history.can_undo  # nothing of anna's is pretended to be stored
    assert anna.objects(frame_id)[0].label_id == 24  # ben's change stands
    # with the reloaded frame her next edit goes through
    fresh = document.objects[0]
    session.execute(UpdateObjects(frame_id, [fresh], [dataclasses.replace(fresh, label_id=26)],
                                  text="Relabel"))  # fmt: skip
    assert ben.objects(frame_id)[0].label_id == 26


def test_a_change_still_applicable_after_the_reload_is_kept(two_people):
    anna, ben, frame_id = two_people
    session = EditSession(anna)
    events: list[SessionEvent] = []
    session.committed.connect(events.append)
    document = session.open(frame_id)
    b = document.objects[1]
    theirs = ben.objects(frame_id)[1]
    ben.update_objects([dataclasses.replace(theirs, label_id=24)])  # touched, then put back
    ben.update_objects([theirs])
    session.execute(UpdateObjects(frame_id, [b], [dataclasses.replace(b, label_id=26)],
                                  text="Relabel"))  # fmt: skip
    assert events[-1].note and "reloaded" in events[-1].note
    assert session.history.can_undo and document.objects[1].label_id == 26
    assert ben.objects(frame_id)[1].label_id == 26
    session.undo()  # and the undo stack works on from there
    assert ben.objects(frame_id)[1].label_id == 8
