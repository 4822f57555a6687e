"""Frames opened progressively: the image at once, the regions when read in the background,
and the same picture at the end as a synchronous open."""

from __future__ import annotations

from concurrent.futures import wait
from pathlib import Path

from PySide6.QtGui import QImage

from roadmark.app.main_window import MainWindow
from tests.app.conftest import drag, show

SYNCHRONOUS = 10**9  # no frame has that many objects: every open waits for the regions


def open_window(qtbot, path: Path, progressive_from: int, *, prefetch: bool = False) -> MainWindow:
    window = MainWindow.open_project(str(path), frame=1, prefetch=prefetch)
    qtbot.addWidget(window)
    window.opener.progressive_from = progressive_from
    window.resize(1000, 700)
    show(qtbot, window)
    return window


def picture(window: MainWindow) -> QImage:
    window.canvas.viewport().repaint()
    return window.canvas.viewport().grab().toImage()


def test_the_overlay_arrives_after_the_image_and_matches_a_synchronous_open(
    qtbot, small_project: Path
):
    progressive = open_window(qtbot, small_project, 1)
    synchronous = open_window(qtbot, small_project, SYNCHRONOUS)
    progressive.editor.set_tool("box")
    drag(progressive.canvas, [(10, 10), (30, 20), (50, 40)])  # a box on the frame left
    left = progressive.editor.document
    assert left is not None and left.frame.id == progressive.frames.frame(1).id
    (drawn,) = left.live()
    left.select([drawn.uid])
    last_edit = progressive.session.history.undo_text

    progressive.select_row(0)
    synchronous.select_row(0)
    assert synchronous.opener.pending is None  # shown with its regions before returning
    first = progressive.frames.frame(0)
    assert progressive.opener.pending == first and progressive.opener.pending_row == 0
    canvas = progressive.canvas
    # The image is there at once; no overlay, no document on the canvas yet.
    assert canvas.image_layer.buffer.shape[:2] == (first.height, first.width)
    assert canvas.document is None and canvas.overlay.document is None
    assert not canvas.edit_layer.shown
    assert progressive.status.hint_label.text() == "Reading this frame's regions…"
    reading = progressive.opener.reading
    assert reading is not None and not reading.running()  # starts once the loop runs again
    image_only = picture(progressive)
    # The editor holds no frame meanwhile: the pointer, select all and delete change
    # nothing (not the frame left, which is out of sight), and the objects list is empty.
    assert progressive.editor.document is None
    assert progressive.objects_dock.model.rowCount() == 0
    progressive.editor.set_tool("brush")
    drag(canvas, [(20, 20), (60, 40)])
    progressive.actions["edit.select_all"].trigger()
    progressive.actions["edit.delete"].trigger()
    assert progressive.session.history.undo_text == last_edit and left.live() == [drawn]
    assert left.selection == (drawn.uid,)  # kept for coming back

    qtbot.waitUntil(lambda: progressive.opener.pending is None, timeout=10000)
    document = progressive.editor.document
    assert document is not None and document.frame.id == first.id
    assert canvas.document is document and canvas.edit_layer.shown
    assert progressive.status.hint_label.text() == ""
    progressive.editor.set_tool(synchronous.editor.tool.name)
    final = picture(progressive)
    assert final != image_only  # the regions arrived after the image
    assert final == picture(synchronous)  # and look as a synchronous open draws them
    assert progressive.status.frame_label.text() == synchronous.status.frame_label.text()
    for window in (progressive, synchronous):
        window.close()


def test_going_back_before_the_regions_arrive_drops_the_late_read(qtbot, small_project: Path):
    window = open_window(qtbot, small_project, 1)
    left = window.editor.document
    window.select_row(0)
    reading = window.opener.reading
    assert window.opener.pending is not None and reading is not None
    window.select_row(1)  # back to the open frame: shown again at once
    assert window.opener.pending is None
    assert window.canvas.document is left and window.editor.document is left
    wait([reading], timeout=10)  # cancelled if it had not started yet
    qtbot.wait(100)  # the late read's arrival is processed, and dropped
    assert window.editor.document is left and window.canvas.document is left
    assert window.current_row == 1
    window.close()


def test_stepping_while_a_frame_is_read_counts_from_the_frame_asked_for(qtbot, small_project: Path):
    window = open_window(qtbot, small_project, 1)
    window.select_row(0)
    window.step(1)  # from row 0, the frame asked for, not row 1 still in the editor
    assert window.opener.pending is None  # row 1 is the open frame: shown at once
    assert window.current_row == 1
    window.close()


def test_stepping_on_before_the_regions_arrive_ends_on_the_last_frame_asked_for(
    qtbot, small_project: Path
):
    window = open_window(qtbot, small_project, 0)  # every frame opens progressively
    window.select_row(0)
    first = window.opener.reading
    window.select_row(2)
    last = window.opener.reading
    assert first is not None and last is not None and first is not last
    assert window.opener.pending == window.frames.frame(2)
    qtbot.waitUntil(lambda: window.opener.pending is None, timeout=10000)
    assert first.done()  # cancelled when still queued, or read and dropped
    document = window.editor.document
    assert document is not None and document.frame.id == window.frames.frame(2).id
    assert window.canvas.document is document and window.current_row == 2
    window.close()


def test_a_prepared_frame_opens_at_once_whatever_its_size(qtbot, small_project: Path):
    window = open_window(qtbot, small_project, 1, prefetch=True)
    window._prefetch_neighbors()
    window.preparer.wait()
    window.select_row(0)
    assert window.opener.pending is None
    document = window.editor.document
    assert document is not None and len(document.live()) == 3
    assert window.canvas.document is document
    window.close()


def test_preparer_reads_a_frame_in_the_background_or_hands_over_the_one_held(
    small_project: Path,
):
    from roadmark.app.canvas.prefetch import FramePreparer
    from roadmark.io.frames import FrameLoader
    from roadmark.io.store import Project

    with Project.open(small_project) as project:
        first, second, _ = (frame.id for frame in project.frames())
        assert project.stored_object_count(first) == 3
        assert project.stored_object_count(second) == 0
        loader = FrameLoader(lambda path: project.root / path)
        rendered: list[int] = []
        preparer = FramePreparer(
            project,
            loader,
            enabled=False,
            render=lambda prepared: rendered.append(prepared.frame.id),
        )
        prepared = preparer.take_later(first).result(timeout=10)
        assert len(prepared.document.live()) == 3 and prepared.image.shape == (90, 160, 3)
        assert rendered == [first]  # rendered ahead too, with preparation ahead off
        preparer.close()

        preparer = FramePreparer(project, loader)
        preparer.request([second])
        preparer.wait()
        assert preparer.is_ready(second) and not preparer.is_ready(first)
        held = preparer.prepared_ids()
        assert preparer.take_later(second).result(timeout=10).frame.id == second
        assert held == [second] and preparer.prepared_ids() == []  # it left the cache
        preparer.close()
        loader.close()


def test_show_frame_waits_for_the_regions_features_act_on_next(qtbot, small_project: Path):
    window = open_window(qtbot, small_project, 1)
    first = window.frames.frame(0)
    assert window.show_frame(first.id)
    assert window.opener.pending is None and not window.wait_for_regions
    document = window.editor.document
    assert document is not None and document.frame.id == first.id
    assert window.canvas.document is document
    window.select_row(2)
    window.select_row(0)  # from the filmstrip or the keys: the image first again
    assert window.opener.pending == first
    qtbot.waitUntil(lambda: window.opener.pending is None, timeout=10000)
    window.close()


def test_frames_held_ahead_stay_within_the_memory_budget(small_project: Path, monkeypatch):
    from roadmark.app.canvas.prefetch import FramePreparer, default_budget
    from roadmark.io.frames import FrameLoader
    from roadmark.io.store import Project

    monkeypatch.setenv("ROADMARK_PREFETCH_MB", "3.5")
    assert default_budget() == int(3.5 * 2**20)
    monkeypatch.setenv("ROADMARK_PREFETCH_MB", "lots")
    assert default_budget() == 1024 * 2**20  # a wrong value falls back to the default
    with Project.open(small_project) as project:
        ids = [frame.id for frame in project.frames()]
        loader = FrameLoader(lambda path: project.root / path)
        one = FramePreparer(project, loader).take(ids[0]).footprint()
        assert one >= 90 * 160 * 3  # the pixels at least
        # Room for two frames of that size: requesting all three keeps the two newest.
        preparer = FramePreparer(project, loader, budget=2 * one + one // 2)
        preparer.request(ids)
        preparer.wait()
        assert preparer.prepared_ids() == ids[1:]
        assert preparer.held_bytes() <= preparer.budget
        preparer.close()
        # No room at all: nothing is held, frames are still read when asked for.
        preparer = FramePreparer(project, loader, budget=0)
        preparer.request(ids)
        preparer.wait()
        assert preparer.prepared_ids() == []
        assert preparer.take(ids[0]).frame.id == ids[0]
        preparer.close()
        loader.close()
