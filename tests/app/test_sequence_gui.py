"""Sequence tools in the window: propagation, tracks and interpolation, GrabCut, video."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import shapely
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from roadmark.annotators.changes import HUMAN, INTERPOLATED, PROPAGATED
from roadmark.app.main_window import MainWindow
from roadmark.core.annotation import AnnotationObject, Box, Provenance
from roadmark.io.frames import scan, write_image
from roadmark.io.store import Project
from tests.annotators.test_propagation import scene
from tests.app.conftest import drag, show
from tests.helpers import box, region
from tests.io.test_frames import _write_video

ROAD, CAR = 7, 26
STEP = (6, 2)  # the textured patch moves this far per frame


def _open(qtbot, path: Path, frame: int = 0) -> MainWindow:
    window = MainWindow.open_project(str(path), frame=frame, prefetch=False)
    qtbot.addWidget(window)
    window.resize(1200, 800)
    show(qtbot, window)
    window.canvas.fit()
    window.sequence_tools.jobs.dialogs = False
    return window


def _live(window: MainWindow, row: int):
    return window.project.objects(window.frames.frame(row).id).live()


def _idle(qtbot, window: MainWindow) -> None:
    tools = window.sequence_tools
    qtbot.waitUntil(lambda: not tools.jobs.busy and not tools.segmenter.busy, timeout=20000)


@pytest.fixture
def moving_project(tmp_path: Path) -> Path:
    """Three frames of a textured patch moving by STEP; frame 0 has a road and a car box."""
    folder = tmp_path / "drive"
    folder.mkdir()
    for i in range(3):
        write_image(folder / f"f{i}.png", scene(100 + STEP[0] * i, 80 + STEP[1] * i))
    path = tmp_path / "p.roadmark"
    with Project.create(path) as project:
        ids, _ = project.add_frames(scan([folder]))
        project.add_objects(
            ids[0],
            [region(ROAD, 0, 0, 320, 240), box(CAR, 100, 80, 180, 140, track_id=1, instance_id=1)],
        )
    return path


def test_propagate_to_next_frame_then_undo_and_redo(qtbot, moving_project: Path):
    window = _open(qtbot, moving_project)
    window.actions["sequence.propagate"].trigger()
    _idle(qtbot, window)
    assert window.current_row == 1  # the window follows the objects to the next frame
    moved = _live(window, 1)
    assert [o.provenance.source for o in moved] == [PROPAGATED, PROPAGATED]
    car = next(o for o in moved if o.label_id == CAR)
    expected = Box(100 + STEP[0], 80 + STEP[1], 180 + STEP[0], 140 + STEP[1])
    assert isinstance(car.geometry, Box)
    assert shapely.hausdorff_distance(car.geometry.to_polygon(), expected.to_polygon()) < 1.0
    assert car.track_id == 1
    assert "unreliable flow" in window.statusBar().currentMessage()
    assert window.session.history.undo_text.startswith("Propagate to")

    window.undo()
    assert _live(window, 1) == []
    window.redo()
    assert len(_live(window, 1)) == 2
    # Propagating again from frame 1 reaches frame 2; the last frame has nowhere to go.
    window.actions["sequence.propagate"].trigger()
    _idle(qtbot, window)
    assert window.current_row == 2 and len(_live(window, 2)) == 2
    window.actions["sequence.propagate"].trigger()
    _idle(qtbot, window)
    assert "last of sequence" in (window.last_error or "")
    window.close()



def test_a_plan_is_made_on_the_job_s_own_project_and_its_versions_are_adopted(
    qtbot, moving_project: Path, monkeypatch: pytest.MonkeyPatch
):
    """The worker reads through its own Project (never the window's, which belongs to the
    GUI thread); the window's project then knows the versions the plan was made from."""
    from roadmark.app.features import sequence_tools

    seen: list[Project] = []
    real = sequence_tools.plan_propagation

    def spy(project: Project, *args, **kwargs):
        seen.append(project)
        return real(project, *args, **kwargs)

    monkeypatch.setattr(sequence_tools, "plan_propagation", spy)
    window = _open(qtbot, moving_project)
    first = window.frames.frame(0).id
    road = next(o for o in window.project.objects(first).live() if o.label_id == ROAD)
    window.actions["sequence.propagate"].trigger()
    _idle(qtbot, window)
    assert len(seen) == 1 and seen[0] is not window.project
    assert seen[0].location == window.project.location
    assert window.project.known_version(road.uid) == 1
    assert len(_live(window, 1)) == 2
    window.close()

@pytest.fixture
def five_frames(tmp_path: Path) -> Path:
    folder = tmp_path / "seq"
    folder.mkdir()
    for i in range(5):
        write_image(folder / f"f{i}.png", scene(100, 80))
    path = tmp_path / "p.roadmark"
    with Project.create(path) as project:
        ids, _ = project.add_frames(scan([folder]))
        project.add_objects(ids[0], [box(CAR, 10, 10, 30, 30)])
        project.add_objects(ids[4], [box(CAR, 90, 50, 110, 70)])
    return path


def _select_only_box(window: MainWindow) -> None:
    document = window.editor.document
    assert document is not None
    document.select([o.uid for o in document.live()])


def test_keyframe_interpolation_edit_and_undo(qtbot, five_frames: Path):
    window = _open(qtbot, five_frames)
    tracks = window.sequence_tools
    _select_only_box(window)
    QTest.keyClick(window, Qt.Key.Key_T)  # start a new track with the selection
    assert [o.track_id for o in _live(window, 0)] == [1]
    window.select_row(4)
    _select_only_box(window)
    QTest.keyClick(window, Qt.Key.Key_T, Qt.KeyboardModifier.ShiftModifier)  # the chosen track
    assert [o.track_id for o in _live(window, 4)] == [1]
    QTest.keyClick(window, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier)  # interpolate
    _idle(qtbot, window)
    middle = [_live(window, row)[0] for row in (1, 2, 3)]
    assert [o.provenance.source for o in middle] == [INTERPOLATED] * 3
    assert [o.geometry for o in middle] == [
        Box(30, 20, 50, 40),
        Box(50, 30, 70, 50),
        Box(70, 40, 90, 60),
    ]
    qtbot.waitUntil(lambda: bool(tracks.tracks_dock.summaries), timeout=5000)
    qtbot.waitUntil(lambda: tracks.tracks_dock.summaries[0].interpolated == 3, timeout=5000)
    assert tracks.tracks_dock.table.item(0, 3).text() == "0, 4"

    # Adjusting the interpolated box on frame 2 makes it a keyframe; re-interpolating
    # moves its neighbors; undo brings them back, one step each.
    window.select_row(2)
    _select_only_box(window)
    window.canvas.setFocus()
    for _ in range(2):
        QTest.keyClick(window.canvas, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    edited = _live(window, 2)[0]
    assert edited.provenance.source == HUMAN and edited.geometry == Box(50, 50, 70, 70)
    QTest.keyClick(window, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier)
    _idle(qtbot, window)
    assert _live(window, 1)[0].geometry == Box(30, 30, 50, 50)
    assert _live(window, 3)[0].geometry == Box(70, 50, 90, 70)
    qtbot.waitUntil(lambda: tracks.tracks_dock.table.item(0, 3).text() == "0, 2, 4", timeout=5000)
    window.undo()
    assert _live(window, 1)[0].geometry == Box(30, 20, 50, 40)
    window.undo()
    assert _live(window, 2)[0].geometry == Box(50, 30, 70, 50)
    window.redo()
    window.redo()
    assert _live(window, 3)[0].geometry == Box(70, 50, 90, 70)

    # Split at frame 2 from the dock, then delete the second part.
    window.select_row(2)
    tracks.tracks_dock.select_track(1)
    tracks.tracks_dock.buttons["split"].click()
    _idle(qtbot, window)
    assert [o.track_id for o in _live(window, 3)] == [2]
    assert _live(window, 1) == []  # frame 1 lost its second keyframe
    tracks.delete_tracks([2])
    _idle(qtbot, window)
    assert _live(window, 4) == [] and len(_live(window, 0)) == 1
    window.undo()
    assert len(_live(window, 4)) == 1
    window.close()


def test_grabcut_tool_on_the_canvas(qtbot, tmp_path: Path):
    image = np.full((120, 200, 3), (90, 120, 90), np.uint8)
    cv2.ellipse(image, (100, 60), (40, 25), 0, 0, 360, (200, 40, 40), -1)
    write_image(tmp_path / "f.png", image)
    path = tmp_path / "p.roadmark"
    with Project.create(path) as project:
        project.add_frames(scan([tmp_path / "f.png"]))
    window = _open(qtbot, path)
    QTest.keyClick(window, Qt.Key.Key_C)
    assert window.editor.tool.name == "grabcut"
    assert window.actions["tool.grabcut"].isChecked()
    QTest.keyClick(window, Qt.Key.Key_6)  # car
    drag(window.canvas, [(52, 28), (100, 60), (148, 92)])
    _idle(qtbot, window)
    assert window.sequence_tools.grabcut.result is not None
    QTest.keyClick(window.canvas, Qt.Key.Key_Return)
    (obj,) = _live(window, 0)
    ellipse = shapely.affinity.scale(shapely.Point(100, 60).buffer(1, 64), 40, 25)
    assert obj.label_id == CAR
    assert obj.region.intersection(ellipse).area / obj.region.union(ellipse).area > 0.93
    window.editor.set_tool("select")
    window.editor.document.select([obj.uid])
    window.sequence_tools.simplify_selection(2.0)
    assert window.session.history.undo_text == "Simplify 1 region"
    window.undo()
    window.undo()
    assert _live(window, 0) == []
    window.close()


def test_add_video_with_extraction_and_a_bad_range(qtbot, tmp_path: Path, small_project: Path):
    video = _write_video(tmp_path / "clip.avi")
    window = _open(qtbot, small_project)
    before = window.frames.rowCount()
    window.sequence_tools.add_video(video, every=4, extract=True)
    _idle(qtbot, window)
    assert window.frames.rowCount() == before + 3
    added = [f for f in window.frames.frames() if f.sequence == "clip"]
    assert [f.sequence_index for f in added] == [0, 4, 8]
    assert all(f.path.startswith("p-frames/") for f in added)
    window.sequence_tools.add_video(video, start=20)
    _idle(qtbot, window)
    assert "outside the video" in (window.last_error or "")
    assert window.frames.rowCount() == before + 3
    window.close()


def test_review_queue_of_propagated_objects(qtbot, five_frames: Path):
    with Project.open(five_frames) as project:
        frames = project.frames()
        shaky = AnnotationObject(
            CAR,
            Box(40, 40, 60, 60),
            replace(Provenance.new(PROPAGATED, "tester"), confidence=0.5),
            track_id=4,
        )
        trusted = replace(shaky, provenance=replace(shaky.provenance, confidence=0.97))
        project.add_objects(frames[3].id, [shaky])
        project.add_objects(frames[1].id, [trusted])
    window = _open(qtbot, five_frames)
    window.actions["sequence.next_check"].trigger()
    assert window.current_row == 3
    document = window.editor.document
    assert document is not None and len(document.selection) == 1
    assert "1 propagated objects to check on 1 frames" in window.statusBar().currentMessage()
    window.actions["sequence.confirm"].trigger()
    assert [o.provenance.source for o in _live(window, 3)] == [HUMAN]
    assert window.session.history.undo_text == "Confirm 1 object"
    window.select_row(0)
    window.actions["sequence.next_check"].trigger()
    assert window.current_row == 0
    assert window.statusBar().currentMessage() == "No propagated object needs checking."
    window.undo()  # shows frame 3 again and puts the object back on the queue
    assert window.current_row == 3
    assert [o.provenance.source for o in _live(window, 3)] == [PROPAGATED]
    window.select_row(0)
    window.actions["sequence.next_check"].trigger()
    assert window.current_row == 3
    window.close()


@pytest.fixture(scope="module")
def video_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.models.test_sam_video import make_video_model

    return make_video_model(tmp_path_factory.mktemp("video") / "video.roadmodel")


def test_propagate_tracks_with_a_video_model_chosen_for_the_smart_tool(
    qtbot, moving_project: Path, video_model: Path
):
    from roadmark.annotators.changes import tracked_source
    from roadmark.annotators.sequence.ops import ModelPropagationPlan, needs_check

    window = _open(qtbot, moving_project)
    window.smart.set_model(video_model)
    document = window.editor.document
    assert document is not None
    car = next(o for o in document.live() if o.label_id == CAR)
    document.select([car.uid])  # only the selected object is tracked
    window.actions["sequence.propagate"].trigger()
    _idle(qtbot, window)
    assert isinstance(window.sequence_tools.last_plan, ModelPropagationPlan)
    assert window.current_row == 1
    (moved,) = _live(window, 1)
    assert moved.provenance.source == tracked_source("tiny-video")
    assert moved.track_id == 1 and moved.instance_id == 1 and isinstance(moved.geometry, Box)
    message = window.statusBar().currentMessage()
    assert "with the video model tiny-video" in message and "flow" not in message
    # random weights predict a low quality: the object is weak, selected and queued
    assert needs_check(moved) and window.editor.document.selection == (moved.uid,)
    assert "1 objects selected for review" in message
    window.undo()
    assert _live(window, 1) == []
    # the loaded tracker is kept for the next propagation with the same model
    loaded = window.sequence_tools.tracking.tracker(video_model)
    assert window.sequence_tools.tracking.tracker(video_model) is loaded
    window.close()


def test_propagate_through_the_next_frames_asks_how_many_and_undoes_in_one_step(
    qtbot, moving_project: Path, video_model: Path, monkeypatch
):
    from roadmark.annotators.changes import tracked_source
    from roadmark.app.features import sequence_dialogs

    asked: list[int] = []

    def answer(parent, title, label, value, low, high):
        asked.append(value)
        return 5, True  # more than the sequence has: it stops at its last frame

    monkeypatch.setattr(sequence_dialogs.QInputDialog, "getInt", answer)
    window = _open(qtbot, moving_project)
    window.smart.set_model(video_model)
    window.actions["sequence.propagate_many"].trigger()
    _idle(qtbot, window)
    assert asked == [sequence_dialogs.DEFAULT_FRAMES]
    plan = window.sequence_tools.last_plan
    assert [t.name for t in plan.targets] == ["f1.png", "f2.png"]
    assert window.current_row == 2
    for row in (1, 2):
        sources = {o.provenance.source for o in _live(window, row)}
        assert sources == {tracked_source("tiny-video")}
        assert len(_live(window, row)) == 2
    window.undo()  # one step takes back every frame
    assert _live(window, 1) == [] and _live(window, 2) == []
    # Cancelled: nothing runs.
    monkeypatch.setattr(sequence_dialogs.QInputDialog, "getInt", lambda *a: (3, False))
    assert window.sequence_tools.propagate_through() is False
    window.close()


def test_propagating_several_frames_along_the_flow_says_it_did_one(
    qtbot, moving_project: Path, monkeypatch
):
    from roadmark.app.features import sequence_dialogs

    monkeypatch.setattr(sequence_dialogs.QInputDialog, "getInt", lambda *a: (4, True))
    window = _open(qtbot, moving_project)
    window.actions["sequence.propagate_many"].trigger()
    _idle(qtbot, window)
    assert [o.provenance.source for o in _live(window, 1)] == [PROPAGATED, PROPAGATED]
    assert _live(window, 2) == []
    message = window.statusBar().currentMessage()
    assert "along the optical flow" in message and "One frame of the 4 asked for" in message
    window.close()


def test_propagate_falls_back_to_the_flow_without_a_video_model(
    qtbot, moving_project: Path, tmp_path: Path
):
    import torch
    import transformers

    from roadmark.models.sam import wrap_transformers
    from tests.models.test_sam_adapter import tiny_sam2_config

    source = tmp_path / "hf"
    torch.manual_seed(0)
    transformers.Sam2Model(tiny_sam2_config()).save_pretrained(str(source))
    image_model = tmp_path / "image.roadmodel"
    wrap_transformers(image_model, source)
    window = _open(qtbot, moving_project)
    window.smart.set_model(image_model)  # a SAM 2 image checkpoint: no video memory
    window.actions["sequence.propagate"].trigger()
    _idle(qtbot, window)
    assert [o.provenance.source for o in _live(window, 1)] == [PROPAGATED, PROPAGATED]
    assert "along the optical flow" in window.statusBar().currentMessage()
    window.close()
