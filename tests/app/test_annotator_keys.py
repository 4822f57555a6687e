"""Issue 19, keys: every label and every yes/no attribute has an action that can get a key
in the cheat sheet (F1); attributes switch from the keyboard and show in the objects list
and on the canvas tag, which sits inside its region."""

from __future__ import annotations

from pathlib import Path

import shapely
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from roadmark.app.main_window import MainWindow
from roadmark.app.shortcuts import ShortcutsDialog
from tests.app.conftest import click, show

CAR, RIDER, TRUCK = 26, 25, 27
CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier


def open_window(qtbot, path: Path) -> MainWindow:
    window = MainWindow.open_project(str(path), frame=0, prefetch=False)
    qtbot.addWidget(window)
    window.resize(1200, 800)
    show(qtbot, window)
    window.canvas.fit()
    return window


def stored(window: MainWindow, uid: int):
    """The object as saved in the project."""
    objects = window.project.objects(window.editor.document.frame.id).live()
    return next(o for o in objects if o.uid == uid)


def test_every_label_can_get_a_key_in_the_cheat_sheet(qtbot, small_project: Path):
    window = open_window(qtbot, small_project)
    found: dict[str, list[str]] = {}

    def bind_rider() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, ShortcutsDialog):
            QTimer.singleShot(20, bind_rider)
            return
        try:
            for word in ("rider", "truck", "bus", "bicycle", "motorcycle", "traffic light"):
                dialog.search.setText(word)
                found[word] = [
                    dialog.table.item(row, 0).text()
                    for row in range(dialog.table.rowCount())
                    if not dialog.table.isRowHidden(row)
                ]
            dialog.editors[f"label.{RIDER}"][0].setKeySequence(QKeySequence("K"))
            box = dialog.findChild(QDialogButtonBox)
            QTest.mouseClick(
                box.button(QDialogButtonBox.StandardButton.Save), Qt.MouseButton.LeftButton
            )
        finally:
            dialog.close()  # never left open, whatever failed

    QTimer.singleShot(0, bind_rider)
    QTest.keyClick(window, Qt.Key.Key_F1)
    assert "Label: rider" in found["rider"] and "Label: truck" in found["truck"]
    assert "Label: bus" in found["bus"] and "Label: bicycle" in found["bicycle"]
    assert "Label: motorcycle" in found["motorcycle"]
    assert "Label: traffic light" in found["traffic light"]
    assert window.actions[f"label.{RIDER}"].shortcuts() == [QKeySequence("K")]
    show(qtbot, window)  # active again after the dialog
    QTest.keyClick(window, Qt.Key.Key_K)
    assert window.editor.context.label_id == RIDER
    window.actions[f"label.{TRUCK}"].trigger()  # from the Labels menu, no key needed
    assert window.editor.context.label_id == TRUCK
    window.close()


def test_attributes_switch_by_key_and_show_in_the_list_and_the_tag(qtbot, small_project: Path):
    window = open_window(qtbot, small_project)
    editor, dock = window.editor, window.objects_dock
    QTest.keyClick(window, Qt.Key.Key_V)  # select tool
    click(window.canvas, 60, 45)  # the car region
    (uid,) = editor.document.selection
    assert editor.document.get(uid).label_id == CAR

    QTest.keyClick(window, Qt.Key.Key_O, CTRL_SHIFT)  # occluded
    QTest.keyClick(window, Qt.Key.Key_T, CTRL_SHIFT)  # truncated
    car = stored(window, uid)
    assert car.attributes == {"occluded": True, "truncated": True}
    row = next(r for r, o in enumerate(dock.model.rows) if o.uid == uid)
    column = dock.model.columnCount() - 1
    assert dock.model.headerData(column, Qt.Orientation.Horizontal) == "Attributes"
    assert dock.model.data(dock.model.index(row, column)) == "occluded, truncated"
    assert window.canvas.edit_layer.tag_text(editor.document.get(uid)).endswith(
        "· occluded, truncated"
    )
    QTest.keyClick(window, Qt.Key.Key_O, CTRL_SHIFT)  # and off again
    assert stored(window, uid).attributes["occluded"] is False
    assert dock.model.data(dock.model.index(row, column)) == "truncated"

    click(window.canvas, 60, 80)  # the road has no such attribute: says so
    QTest.keyClick(window, Qt.Key.Key_O, CTRL_SHIFT)
    assert "no selected object's label has the attribute 'occluded'" in window.last_error
    window.close()


def test_the_label_tag_sits_inside_its_region(qtbot, small_project: Path):
    window = open_window(qtbot, small_project)
    QTest.keyClick(window, Qt.Key.Key_P)  # polygon
    QTest.keyClick(window, Qt.Key.Key_3)  # building
    corners = [(100, 5), (150, 80), (50, 80)]  # its box's top-left corner is outside it
    for x, y in corners:
        click(window.canvas, x, y)
    QTest.keyClick(window.canvas, Qt.Key.Key_Return)
    building = window.editor.document.live()[-1]
    window.editor.document.select([building.uid])
    x, y = window.canvas.edit_layer.tag_anchor(building)
    triangle = shapely.Polygon(corners)
    assert triangle.contains(shapely.Point(x, y))
    assert triangle.exterior.distance(shapely.Point(x, y)) > 10  # well inside, not on an edge
    window.close()
