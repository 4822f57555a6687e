"""The window's observable project state: one reload, one status fan-out, predictions
announced once, and the filmstrip, status bar, review dock and guided review following."""

from __future__ import annotations

from pathlib import Path

from roadmark.app.main_window import MainWindow
from roadmark.app.state import ProjectState
from roadmark.core.annotation import FrameStatus
from roadmark.core.workflow import Action
from roadmark.io import workflow
from roadmark.io.frames import scan
from roadmark.io.predictions import ranked_regions, write_predictions
from roadmark.io.store import Project
from tests.app.conftest import show
from tests.app.test_guided_review import _prediction
from tests.helpers import make_image


class Recorder:
    """Collects every emission of a signal."""

    def __init__(self, signal) -> None:
        self.calls: list[tuple[object, ...]] = []
        signal.connect(lambda *args: self.calls.append(args))


def _window(qtbot, path: Path, frame: int = 0) -> MainWindow:
    window = MainWindow.open_project(str(path), frame=frame, prefetch=False)
    qtbot.addWidget(window)
    window.resize(1300, 850)
    show(qtbot, window)
    return window


def test_reload_reads_the_store_once_and_announces_it_once(qtbot, small_project: Path):
    project = Project.open(str(small_project))
    try:
        state = ProjectState(project)
        frames = Recorder(state.framesChanged)
        assert [f.id for f in state.frames] == [f.id for f in project.frames()]
        images = [make_image(small_project.parent / "g.png", 160, 90, seed=9)]
        (added,), _ = project.add_frames(scan(images))
        assert state.row_of(added) is None  # nothing is read until reload
        state.reload()
        assert len(frames.calls) == 1
        order = [f.id for f in project.frames()]
        assert [f.id for f in state.frames] == order and len(order) == 4
        assert state.row_of(added) == order.index(added)
        state.set_order(state.frames)  # the order shown: nothing to announce
        assert len(frames.calls) == 1
        state.set_order(list(reversed(state.frames)))
        assert len(frames.calls) == 2 and state.row_of(added) == 3 - order.index(added)
    finally:
        project.close()


def test_status_current_frame_and_predictions_signals(qtbot, small_project: Path):
    project = Project.open(str(small_project))
    try:
        state = ProjectState(project)
        statuses = Recorder(state.statusesChanged)
        current = Recorder(state.currentFrameChanged)
        predictions = Recorder(state.predictionsChanged)
        assignment = Recorder(state.assignmentChanged)
        first, second = state.frame(0).id, state.frame(1).id
        state.set_statuses({first: FrameStatus.DONE, second: state.frame(1).status})
        assert statuses.calls == [({first: FrameStatus.DONE},)]  # only what changed
        assert state.frame(0).status is FrameStatus.DONE
        state.set_status(first, FrameStatus.DONE)
        assert len(statuses.calls) == 1
        state.set_current(second)
        state.set_current(second)
        assert current.calls == [(second,)] and state.current_row == 1
        state.predictions_stored()
        state.predictions_stored()
        assert predictions.calls == [(1,), (2,)] and state.predictions_revision == 2
        # Statuses written elsewhere come back with refresh_frames, rows kept.
        project.set_frame_status(second, FrameStatus.IN_PROGRESS)
        state.refresh_frames()
        assert len(assignment.calls) == 1
        assert state.frame(1).status is FrameStatus.IN_PROGRESS  # read from the store
        assert state.frame(0).status is project.frames()[0].status
    finally:
        project.close()


def test_a_status_change_fans_out_once_to_the_filmstrip_document_and_status_bar(
    qtbot, small_project: Path
):
    window = _window(qtbot, small_project, frame=1)
    statuses = Recorder(window.state.statusesChanged)
    frame_id = window.state.frame(1).id
    window.mark_done()  # a recorded workflow move
    assert statuses.calls == [({frame_id: FrameStatus.DONE},)]
    assert window.frames.frame(1).status is FrameStatus.DONE  # the filmstrip follows
    assert window.state.frame(1).status is FrameStatus.DONE
    assert window.current_row == 2  # and the window went on to the next unfinished frame
    # A status set through the state reaches the open document and the status bar.
    open_id = window.state.frame(2).id
    window.state.set_status(open_id, FrameStatus.REJECTED)
    assert window.editor.document.frame.status is FrameStatus.REJECTED
    assert window.frames.frame(2).status is FrameStatus.REJECTED
    assert "rejected" in window.status.frame_label.text().lower()


def test_the_review_dock_follows_a_stored_status_change(qtbot, small_project: Path):
    window = _window(qtbot, small_project, frame=0)
    frame_id = window.state.frame(0).id
    assert "new" in window.quality.dock.state_label.text().lower()
    status = workflow.move(window.project, frame_id, Action.START)  # stored by someone
    window.state.set_status(frame_id, status)
    assert "in progress" in window.quality.dock.state_label.text().lower()
    assert window.frames.frame(0).status is FrameStatus.IN_PROGRESS


def test_reload_keeps_the_open_frame_selected(qtbot, small_project: Path):
    window = _window(qtbot, small_project, frame=2)
    frame_id = window.state.frame(2).id
    folder = small_project.parent / "A"  # a sequence named before the others
    folder.mkdir()
    window.project.add_frames(scan([make_image(folder / "a0.png", 160, 90, seed=7)]))
    frames = Recorder(window.state.framesChanged)
    window.state.reload()
    assert len(frames.calls) == 1
    assert window.frames.rowCount() == 4
    row = window.state.row_of(frame_id)
    assert window.current_row == row and window.frame_view.currentIndex().row() == row
    assert window.editor.document.frame.id == frame_id


def test_predictions_arriving_refresh_the_guided_review(qtbot, small_project: Path):
    window = _window(qtbot, small_project, frame=0)
    guided = window.guided_review
    assert len(guided.queue) == 0 and guided.prediction is None
    ids = [f.id for f in window.state.frames]
    write_predictions(window.project, [_prediction(i, (32, 60)) for i in ids])
    frames = Recorder(window.state.framesChanged)
    window.state.predictions_stored()
    assert frames.calls == []  # no frame list reload is needed to see predictions
    assert len(guided.queue) == len(ranked_regions(window.project)) > 0
    assert guided.prediction is not None and guided.prediction.frame_id == ids[0]
    assert f"{len(guided.queue)} regions left" in guided.dock.progress.text()
    assert guided.dock.regions.topLevelItemCount() == len(guided.queue)


def test_effort_order_is_the_states_order(qtbot, small_project: Path):
    window = _window(qtbot, small_project, frame=0)
    ids = [f.id for f in window.state.frames]
    write_predictions(window.project, [_prediction(ids[2], (5, 5))])
    window.state.predictions_stored()
    frames = Recorder(window.state.framesChanged)
    sort = window.actions["frame.sort_effort"]
    for on, order in ((True, [ids[2], ids[0], ids[1]]), (False, ids)):
        sort.trigger()
        assert sort.isChecked() is on
        assert [f.id for f in window.state.frames] == order
        assert [window.frames.frame(r).id for r in range(3)] == order  # the filmstrip follows
        assert window.state.frame(window.current_row).id == ids[0]  # the open frame stays
        assert window.frame_view.currentIndex().row() == window.current_row
    assert len(frames.calls) == 2
