"""Copy and paste of objects within a frame and across frames, one undo step each."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from roadmark.annotators.clipboard import PASTE_OFFSET, copy_objects
from roadmark.annotators.editor import Editor
from roadmark.core.annotation import Box, Provenance
from roadmark.core.session import EditSession
from roadmark.io.store import FrameSpec, Project
from tests.helpers import box, region


@pytest.fixture
def two_frames(tmp_path: Path):
    """A 200 x 100 frame with a road, a tracked car region and a car box, and an empty
    120 x 60 frame."""
    project = Project.create(tmp_path / "p.roadmark", user="ann")
    ids, _ = project.add_frames(
        [
            FrameSpec(tmp_path / "a.png", None, 200, 100, "s", 0),
            FrameSpec(tmp_path / "b.png", None, 120, 60, "s", 1),
        ]
    )
    model = Provenance.new("model:seg", "ann", confidence=0.7)
    project.add_objects(
        ids[0],
        [
            region(7, 0, 50, 200, 100),
            replace(region(26, 90, 30, 150, 70, instance_id=1, track_id=5), provenance=model),
            box(26, 100, 20, 160, 80, instance_id=2, attributes={"occluded": True}),
        ],
    )
    editor = Editor(EditSession(project), project.schema)
    editor.open(ids[0])
    yield project, editor, ids
    project.close()


def test_copy_takes_live_selected_objects_in_z_order(two_frames):
    _project, editor, ids = two_frames
    document = editor.document
    assert document is not None
    road, _car, car_box = document.live()
    document.select([car_box.uid, road.uid])
    clipboard = editor.copy_selection()
    assert clipboard is not None and clipboard.frame_id == ids[0]
    assert [o.uid for o in clipboard.objects] == [road.uid, car_box.uid]  # bottom first
    document.clear_selection()
    assert editor.copy_selection() is None and editor.clipboard is clipboard  # kept
    assert copy_objects(document, [12345]) is None


def test_paste_on_the_same_frame_is_one_step_shifted_with_new_instances(two_frames):
    project, editor, ids = two_frames
    document = editor.document
    assert document is not None
    _, car, car_box = document.live()
    document.select([car.uid, car_box.uid])
    editor.copy_selection()
    command = editor.paste()
    assert command is not None and command.text == "Paste 2 objects"
    assert editor.session.history.undo_text == "Paste 2 objects"
    live = project.objects(ids[0]).live()
    assert len(live) == 5
    pasted_car, pasted_box = live[-2:]  # on top, in the copied order
    assert set(document.selection) == {pasted_car.uid, pasted_box.uid}
    assert pasted_car.region.bounds == pytest.approx(
        (90 + PASTE_OFFSET, 30 + PASTE_OFFSET, 150 + PASTE_OFFSET, 70 + PASTE_OFFSET)
    )
    assert isinstance(pasted_box.geometry, Box)
    assert pasted_box.geometry.x0 == 100 + PASTE_OFFSET
    assert pasted_box.geometry.y1 == 80 + PASTE_OFFSET
    assert {pasted_car.instance_id, pasted_box.instance_id} == {3, 4}
    assert pasted_car.track_id is None  # a track has one region per frame
    assert pasted_box.attributes == {"occluded": True}
    assert pasted_car.provenance.source == "human" and pasted_car.provenance.created_by == "ann"
    assert pasted_car.provenance.confidence is None

    second = editor.paste()  # a second paste moves further, so the copies stay apart
    assert second is not None
    assert project.objects(ids[0]).live()[-2].region.bounds[0] == 90 + 2 * PASTE_OFFSET

    editor.undo()
    editor.undo()
    assert len(project.objects(ids[0]).live()) == 3
    editor.redo()
    assert len(project.objects(ids[0]).live()) == 5


def test_paste_on_another_frame_keeps_place_and_track_and_clips(two_frames):
    project, editor, ids = two_frames
    document = editor.document
    assert document is not None
    road, car, car_box = document.live()
    document.select([road.uid, car.uid, car_box.uid])
    editor.copy_selection()
    editor.open(ids[1])  # 120 x 60: the road and the car are cut at its border
    command = editor.paste()
    assert command is not None and command.text == "Paste 3 objects"
    road2, car2, box2 = project.objects(ids[1]).live()
    assert road2.region.bounds == pytest.approx((0, 50, 120, 60))
    assert car2.region.bounds == pytest.approx((90, 30, 120, 60))
    assert car2.track_id == 5 and car2.instance_id == 1 and box2.instance_id == 2
    assert isinstance(box2.geometry, Box)
    assert (box2.geometry.x0, box2.geometry.y0, box2.geometry.x1, box2.geometry.y1) == (
        100,
        20,
        120,
        60,
    )
    assert project.frame(ids[1]).status.value == "in_progress"
    editor.undo()  # one step removes all three, and the frame is new again
    assert project.objects(ids[1]).live() == []
    assert project.frame(ids[1]).status.value == "new"
    editor.redo()
    editor.paste()  # the track already has a region here: the second copy is off it
    tracks = [o.track_id for o in project.objects(ids[1]).live()]
    assert tracks == [None, 5, None, None, None, None]


def test_paste_with_nothing_on_the_frame_or_clipboard_does_nothing(two_frames, tmp_path):
    project, editor, ids = two_frames
    assert editor.paste() is None  # empty clipboard
    document = editor.document
    assert document is not None
    # a box entirely right of the small frame's width
    (far,) = project.add_objects(ids[0], [box(26, 150, 0, 190, 40)])
    editor.open(ids[0])
    editor.document.select([far.uid])  # type: ignore[union-attr]
    editor.copy_selection()
    editor.open(ids[1])
    assert editor.paste() is None
    assert not project.objects(ids[1]).live()
