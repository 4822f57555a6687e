"""The editor driven through real widgets: clicks in image coordinates, keys, menus."""

from __future__ import annotations

from pathlib import Path

import pytest
import shapely
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from roadmark.app.main_window import MainWindow
from roadmark.core.annotation import Box, FrameStatus
from roadmark.io.store import Project
from tests.app.conftest import click, drag, show


@pytest.fixture
def window(qtbot, small_project: Path):
    window = MainWindow.open_project(str(small_project), frame=1, prefetch=False)
    qtbot.addWidget(window)
    window.resize(1200, 800)
    show(qtbot, window)
    window.canvas.fit()
    yield window
    window.close()


def live(window: MainWindow, row: int | None = None):
    frame = window.frames.frame(window.current_row if row is None else row)
    return window.project.objects(frame.id).live()


def trigger(window: MainWindow, action_id: str) -> None:
    window.actions[action_id].trigger()


def test_draw_box_polygon_and_brush_then_undo_redo(window: MainWindow):
    canvas = window.canvas
    QTest.keyClick(window, Qt.Key.Key_R)  # box tool
    assert window.editor.tool.name == "box"
    QTest.keyClick(window, Qt.Key.Key_6)  # car
    drag(canvas, [(10, 10), (30, 20), (50, 40)])
    (car,) = live(window)
    assert car.label_id == 26 and isinstance(car.geometry, Box)
    assert car.geometry.x0 == pytest.approx(10, abs=1) and car.geometry.y1 == pytest.approx(
        40, abs=1
    )

    trigger(window, "tool.polygon")
    QTest.keyClick(window, Qt.Key.Key_2)  # sidewalk
    for x, y in [(60, 60), (120, 60), (120, 85)]:
        click(canvas, x, y)
    QTest.keyClick(canvas, Qt.Key.Key_Return)
    polygon = live(window)[-1]
    assert polygon.label_id == 8
    assert polygon.region.area == pytest.approx(60 * 25 / 2, rel=0.1)

    trigger(window, "tool.brush")
    QTest.keyClick(window, Qt.Key.Key_4)  # vegetation
    window.editor.clear_selection()
    window.editor.set_brush_radius(4)
    drag(canvas, [(130, 10), (140, 12), (150, 14)])
    stroke = live(window)[-1]
    assert stroke.label_id == 21 and stroke.region.covers(shapely.Point(140, 12))
    assert window.canvas.label_at(140.5, 12.5) == 21
    assert window.actions["edit.undo"].text() == "&Undo Brush stroke"

    trigger(window, "edit.undo")
    assert len(live(window)) == 2 and window.canvas.label_at(140.5, 12.5) is None
    trigger(window, "edit.undo")
    assert len(live(window)) == 1
    assert window.actions["edit.redo"].text() == "&Redo Draw polygon"
    QTest.keyClick(
        window,
        Qt.Key.Key_Z,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    trigger(window, "edit.redo")
    assert len(live(window)) == 3
    assert window.frames.frame(window.current_row).status is FrameStatus.IN_PROGRESS


def test_select_move_reorder_delete_from_the_docks(window: MainWindow):
    window.select_row(0)
    canvas, editor = window.canvas, window.editor
    document = editor.document
    assert document is not None
    trigger(window, "tool.select")
    click(canvas, 60, 45)  # the car region
    (car_uid,) = document.selection
    assert document.get(car_uid).label_id == 26  # type: ignore[union-attr]
    rows = window.objects_dock.view.selectionModel().selectedRows()
    assert [window.objects_dock.model.rows[r.row()].uid for r in rows] == [car_uid]
    drag(canvas, [(60, 45), (70, 45), (80, 45)])
    moved = next(o for o in live(window) if o.uid == car_uid)
    assert moved.region.bounds[0] == pytest.approx(60, abs=1.5)

    QTest.keyClick(
        window,
        Qt.Key.Key_BracketLeft,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert live(window)[0].uid == car_uid  # sent to the bottom: the road covers it
    assert canvas.label_at(70, 50) == 7
    assert window.objects_dock.model.rows[-1].uid == car_uid  # the list shows the top first
    trigger(window, "object.top")
    assert live(window)[-1].uid == car_uid and canvas.label_at(70, 50) == 26

    # Drag-and-drop in the objects list: put the car under the road again.
    model = window.objects_dock.model
    road_row = next(i for i, obj in enumerate(model.rows) if obj.label_id == 7)
    data = model.mimeData([model.index(model.row_of(car_uid), 1)])
    model.dropMimeData(data, Qt.DropAction.MoveAction, road_row + 1, 0, model.index(-1, -1))
    order = [o.label_id for o in live(window)]
    assert order.index(26) < order.index(7)

    QTest.keyClick(window, Qt.Key.Key_Delete)
    assert car_uid not in [o.uid for o in live(window)]
    trigger(window, "edit.undo")
    assert car_uid in [o.uid for o in live(window)]


def test_frame_switch_keys_undo_across_frames_and_reopen(
    window: MainWindow, small_project: Path, qtbot
):
    canvas = window.canvas
    trigger(window, "tool.box")
    drag(canvas, [(5, 5), (40, 30)])
    first_frame = window.frames.frame(window.current_row).id
    QTest.keyClick(window, Qt.Key.Key_D)
    assert window.current_row == 2
    QTest.keyClick(window, Qt.Key.Key_A)
    QTest.keyClick(window, Qt.Key.Key_A)
    assert window.current_row == 0
    trigger(window, "edit.undo")  # shows frame 1 again, where the box was drawn
    assert window.frames.frame(window.current_row).id == first_frame
    assert live(window) == []
    trigger(window, "edit.redo")
    assert len(live(window)) == 1
    trigger(window, "frame.done")
    assert window.project.frame(first_frame).status is FrameStatus.DONE
    assert window.current_row == 2  # the next unfinished frame
    window.close()

    again = MainWindow.open_project(str(small_project), prefetch=False)
    qtbot.addWidget(again)
    assert again.current_row == 2
    with Project.open(small_project) as project:
        (saved,) = project.objects(first_frame).live()
    assert isinstance(saved.geometry, Box) and saved.geometry.width == pytest.approx(35, abs=1)
    again.close()


def test_label_shortcuts_overlay_toggles_and_status(window: MainWindow):
    window.select_row(0)
    canvas = window.canvas
    QTest.keyClick(window, Qt.Key.Key_3)
    assert window.editor.context.label_id == 11
    trigger(window, "view.overlay")
    assert not canvas.overlay.isVisible()
    trigger(window, "view.overlay")
    trigger(window, "view.outline")
    assert canvas.overlay.outline
    buffer = canvas.overlay.buffer
    assert buffer[45, 60, 3] == 0 and buffer[30, 60, 3] == 255  # inside the car vs its top edge
    trigger(window, "view.outline")
    assert buffer[45, 60, 3] == 255
    window.labels_dock.model.setData(
        window.labels_dock.model.index(7, 0),
        Qt.CheckState.Unchecked.value,
        Qt.ItemDataRole.CheckStateRole,
    )
    assert canvas.label_at(10, 80) is None  # road hidden
    assert window.frames.rowCount() == 3
    canvas.cursor_moved.emit(60.0, 45.0)
    assert window.status.under_label.text() == "car"
    before = canvas.zoom
    trigger(window, "view.zoom_in")
    assert canvas.zoom == pytest.approx(before * 1.25)
    trigger(window, "view.actual")
    assert canvas.zoom == 1.0


def test_prefetch_prepares_neighbors_and_keeps_the_frame_left(qtbot, small_project: Path):
    window = MainWindow.open_project(str(small_project), frame=0)
    qtbot.addWidget(window)
    window._prefetch_neighbors()
    window.preparer.wait()
    second = window.frames.frame(1).id
    assert second in window.preparer.prepared_ids()
    window.select_row(1)
    assert window.frames.frame(0).id in window.preparer.prepared_ids()
    window.select_row(0)
    assert window.editor.document is not None and len(window.editor.document.live()) == 3
    window.close()


def test_arrow_keys_nudge_only_from_the_canvas(window: MainWindow):
    window.select_row(0)
    document = window.editor.document
    assert document is not None
    (box_obj,) = document.visible_boxes()
    document.select([box_obj.uid])
    window.canvas.setFocus()
    QTest.keyClick(window.canvas, Qt.Key.Key_Right)
    QTest.keyClick(window.canvas, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    moved = document.get(box_obj.uid)
    assert moved is not None and isinstance(moved.geometry, Box)
    assert (moved.geometry.x0, moved.geometry.y0) == (101, 20)
    assert window.session.history.undo_text == "Move 1 object"
    window.objects_dock.view.setFocus()
    QTest.keyClick(window.objects_dock.view, Qt.Key.Key_Right)
    assert document.get(box_obj.uid).geometry == moved.geometry  # type: ignore[union-attr]


def test_a_frame_assigned_to_someone_else_cannot_be_edited(window: MainWindow):
    from roadmark.io import workflow

    frame_id = window.frames.frame(window.current_row).id
    workflow.assign(window.project, [frame_id], annotator="someone else")
    trigger(window, "tool.box")
    drag(window.canvas, [(5, 5), (40, 30)])
    assert live(window) == []
    assert window.last_error is not None and "assigned to someone else" in window.last_error
    assert not window.session.history.can_undo
    trigger(window, "frame.done")
    assert window.project.frame(frame_id).status is FrameStatus.NEW


def test_attributes_and_labels_docks_edit_the_selection(window: MainWindow, qtbot):
    from PySide6.QtWidgets import QCheckBox, QComboBox, QSpinBox

    window.select_row(0)
    document = window.editor.document
    assert document is not None
    person = next(o for o in document.live() if o.label_id == 24)
    document.select([person.uid])
    qtbot.waitUntil(lambda: window.attributes_dock.findChildren(QComboBox) != [])
    dock = window.attributes_dock
    occluded = next(b for b in dock.findChildren(QCheckBox) if b.toolTip().startswith("partly"))
    occluded.setChecked(True)
    assert document.get(person.uid).attributes["occluded"] is True  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: dock._shown_object is document.get(person.uid))
    track = dock.findChildren(QSpinBox)[1]
    track.setValue(42)
    assert document.get(person.uid).track_id == 42  # type: ignore[union-attr]

    labels = window.labels_dock
    row = next(i for i, label in enumerate(labels.model.labels) if label.name == "rider")
    labels.view.clicked.emit(labels.proxy.mapFromSource(labels.model.index(row, 0)))
    assert window.editor.context.label_id == 25
    labels.apply_button.click()
    relabeled = document.get(person.uid)
    assert relabeled is not None and relabeled.label_id == 25
    assert relabeled.attributes["occluded"] is True and relabeled.instance_id is not None
    labels.search.setText("bic")
    assert labels.proxy.rowCount() == 1
    QTest.keyClick(labels.search, Qt.Key.Key_Return)
    assert window.editor.context.label_id == 33


def test_thumbnails_load_in_the_background(window: MainWindow, qtbot):
    model = window.frames
    index = model.index(2)
    model.data(index, Qt.ItemDataRole.DecorationRole)
    qtbot.waitUntil(lambda: model.data(index, Qt.ItemDataRole.DecorationRole) is not None)
    thumb = model.data(index, Qt.ItemDataRole.DecorationRole)
    assert thumb.width() == 112 and thumb.height() == 63


def test_copy_paste_across_frames_with_keys_is_one_undo_step(window: MainWindow):
    from roadmark.io import workflow

    window.select_row(0)
    canvas = window.canvas
    trigger(window, "tool.select")
    click(canvas, 60, 45)  # the car region
    QTest.mouseClick(
        canvas.viewport(),
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.ShiftModifier,
        canvas.view_point(110, 30).toPoint(),  # and the box
    )
    assert len(window.editor.document.selection) == 2  # type: ignore[union-attr]
    QTest.keyClick(window, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert "Copied 2 object(s)" in window.statusBar().currentMessage()
    QTest.keyClick(window, Qt.Key.Key_D)  # next frame: empty and new
    assert window.current_row == 1 and live(window) == []
    QTest.keyClick(window, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    pasted = live(window)
    assert sorted(o.label_id for o in pasted) == [24, 26]
    assert set(window.editor.document.selection) == {o.uid for o in pasted}  # type: ignore[union-attr]
    assert window.actions["edit.undo"].text() == "&Undo Paste 2 objects"
    assert window.frames.frame(1).status is FrameStatus.IN_PROGRESS
    assert canvas.label_at(60, 45) == 26  # drawn at the same place
    trigger(window, "edit.undo")  # one step takes both away, and the frame is new again
    assert live(window) == []
    assert window.frames.frame(1).status is FrameStatus.NEW
    frame_id = window.frames.frame(1).id
    assert [e.action.value for e in workflow.events(window.project, frame_id)] == [
        "start",
        "unstart",
    ]
    trigger(window, "edit.redo")
    assert len(live(window)) == 2 and window.frames.frame(1).status is FrameStatus.IN_PROGRESS


def test_attributes_dock_shows_and_edits_several_objects(window: MainWindow, qtbot):
    from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QSpinBox

    window.select_row(0)
    editor = window.editor
    document = editor.document
    assert document is not None
    car = next(o for o in document.live() if o.label_id == 26)
    person = next(o for o in document.live() if o.label_id == 24)
    editor.set_attribute("occluded", True, uids=[person.uid])
    document.select([car.uid, person.uid])
    dock = window.attributes_dock
    qtbot.waitUntil(lambda: len(dock._shown_objects) == 2)
    texts = [label.text() for label in dock.findChildren(QLabel)]
    assert any("2 objects selected" in t for t in texts)
    assert any(t in ("person, car", "car, person") for t in texts)  # the labels, counted
    label_combo = dock.findChildren(QComboBox)[0]
    assert label_combo.currentIndex() == -1  # two labels: none shown as the common one
    instance = dock.findChildren(QSpinBox)[0]
    assert not instance.isEnabled()  # one instance id cannot be given to two objects
    occluded = next(b for b in dock.findChildren(QCheckBox) if b.toolTip().startswith("partly"))
    assert occluded.checkState() == Qt.CheckState.PartiallyChecked
    occluded.setCheckState(Qt.CheckState.Checked)
    assert all(document.get(uid).attributes["occluded"] for uid in (car.uid, person.uid))  # type: ignore[union-attr]
    assert window.session.history.undo_text == "Set occluded of 1 object"  # only the car changed
    qtbot.waitUntil(lambda: dock._shown_object is document.get(car.uid))
    verified = next(b for b in dock.findChildren(QCheckBox) if b.text() == "checked by a person")
    verified.setChecked(True)
    assert all(document.get(u).provenance.verified for u in (car.uid, person.uid))  # type: ignore[union-attr]
    assert window.session.history.undo_text == "Set verified"
    trigger(window, "edit.undo")
    assert not any(document.get(u).provenance.verified for u in (car.uid, person.uid))  # type: ignore[union-attr]


def test_outlines_are_vectors_when_zoomed_in_and_hide_covered_edges(window: MainWindow):
    window.select_row(0)
    canvas = window.canvas
    trigger(window, "view.boxes")  # boxes off: only the overlay's outlines are drawn
    trigger(window, "view.outline")
    canvas.zoom_to(0, 20, 100, 70)
    assert canvas.zoom >= 4

    def grab():
        image = canvas.viewport().grab().toImage()
        return lambda x, y: image.pixelColor(canvas.view_point(x, y).toPoint()).rgb()

    with_outlines = grab()
    trigger(window, "view.overlay")
    plain = grab()
    trigger(window, "view.overlay")
    # the road's top edge (y = 45) outside the car, and the car's left edge, are drawn ...
    assert with_outlines(20, 45) != plain(20, 45)
    assert with_outlines(40, 50) != plain(40, 50)
    # ... the road's edge under the car is not, nor anything inside the regions
    assert with_outlines(60, 45) == plain(60, 45)
    assert with_outlines(20, 70) == plain(20, 70)
    # an edit redraws the outlines where it happened (the drawn outlines are cached)
    document = window.editor.document
    assert document is not None
    car = next(o for o in document.live() if o.label_id == 26)
    document.select([car.uid])
    window.editor.nudge(10, 0)
    document.clear_selection()
    moved = grab()
    assert moved(40, 50) == plain(40, 50) and moved(50, 50) != plain(50, 50)
    # zoomed out, the overlay draws the outlines from the label map (pixels)
    canvas.actual_size()
    assert canvas.overlay.outline and canvas.zoom < 1.5


def test_objects_list_inserts_and_removes_rows_without_a_reset(window: MainWindow):
    window.select_row(0)
    model = window.objects_dock.model
    document = window.editor.document
    assert document is not None
    events: list[str] = []
    model.modelReset.connect(lambda: events.append("reset"))
    model.rowsInserted.connect(lambda _p, first, last: events.append(f"insert {first}-{last}"))
    model.rowsRemoved.connect(lambda _p, first, last: events.append(f"remove {first}-{last}"))

    def listed() -> list[int | None]:
        return [o.uid for o in model.rows]

    def stacked() -> list[int | None]:
        return [o.uid for o in reversed(document.live())]  # topmost first

    trigger(window, "tool.box")
    drag(window.canvas, [(5, 5), (20, 20)])
    assert events == ["insert 0-0"] and listed() == stacked()
    trigger(window, "tool.paint_behind")
    trigger(window, "tool.brush")
    window.editor.clear_selection()
    drag(window.canvas, [(140, 10), (150, 12)])  # painted behind: a new bottom row
    assert events[-1] == "insert 4-4" and listed() == stacked()
    uids = [o.uid for o in document.live()][:2]
    document.select(uids)
    trigger(window, "edit.delete")
    assert events[-2:] == ["remove 4-4", "remove 3-3"] and listed() == stacked()
    trigger(window, "object.top")  # nothing selected: no change
    document.select([listed()[-1]])
    trigger(window, "object.top")  # a reorder is still a reset
    assert events[-1] == "reset" and listed() == stacked()
