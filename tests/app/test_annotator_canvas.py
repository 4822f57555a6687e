"""Issue 19, canvas side: zoom keeps the point under the pointer, paint behind cannot be
missed, outlines are high-contrast, the tag sits inside its region, no stale brush arc."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from roadmark.app.canvas.view import FrameCanvas
from roadmark.app.main_window import MainWindow
from roadmark.io.frames import scan, write_image
from roadmark.io.store import Project
from tests.app.conftest import at, click, show
from tests.helpers import region


def open_window(qtbot, path: Path, frame: int = 0) -> MainWindow:
    window = MainWindow.open_project(str(path), frame=frame, prefetch=False)
    qtbot.addWidget(window)
    window.resize(1200, 800)
    show(qtbot, window)
    window.canvas.fit()
    return window


def hover(canvas: FrameCanvas, x: float, y: float) -> QPoint:
    point = at(canvas, x, y)
    QTest.mouseMove(canvas.viewport(), point)
    return point


def wheel(canvas: FrameCanvas, point: QPoint, steps: int, modifiers=Qt.KeyboardModifier.NoModifier):
    viewport = canvas.viewport()
    event = QWheelEvent(
        QPointF(point),
        QPointF(viewport.mapToGlobal(point)),
        QPoint(0, 0),
        QPoint(0, 120 * steps),
        Qt.MouseButton.NoButton,
        modifiers,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(viewport, event)


def under(canvas: FrameCanvas, point: QPoint) -> tuple[float, float]:
    image = canvas.to_image(QPointF(point))
    return image.x(), image.y()


def still_under(canvas: FrameCanvas, point: QPoint, expected: tuple[float, float]) -> None:
    """The image point under viewport pixel ``point`` is ``expected``, to two screen pixels
    (scroll bars move in whole pixels)."""
    assert under(canvas, point) == pytest.approx(expected, abs=2 / canvas.zoom)


def test_wheel_zoom_keeps_the_point_under_the_pointer(qtbot, small_project: Path):
    window = open_window(qtbot, small_project)
    canvas = window.canvas
    fit = canvas.zoom
    middle = hover(canvas, 80, 45)
    target = under(canvas, middle)
    wheel(canvas, middle, 6)  # the frame is larger than the (tall) view both ways now
    still_under(canvas, middle, target)
    point = hover(canvas, 115, 52)  # a car right of the middle
    target = under(canvas, point)
    for _ in range(4):
        wheel(canvas, point, 1)
        still_under(canvas, point, target)
    assert canvas.zoom == pytest.approx(fit * 1.25**10)
    wheel(canvas, point, -2)  # and back out
    still_under(canvas, point, target)
    window.close()


def test_zoom_keys_keep_the_point_under_the_pointer(qtbot, small_project: Path):
    window = open_window(qtbot, small_project)
    canvas = window.canvas
    point = hover(canvas, 20, 15)
    wheel(canvas, point, 7)
    point = hover(canvas, 23, 17)
    target = under(canvas, point)
    zoom = canvas.zoom
    QTest.keyClick(window, Qt.Key.Key_Plus)
    assert canvas.zoom == pytest.approx(zoom * 1.25)
    still_under(canvas, point, target)
    QTest.keyClick(window, Qt.Key.Key_Minus)
    still_under(canvas, point, target)
    window.close()


def test_ctrl_wheel_sizes_the_brush_and_zooms_with_other_tools(qtbot, small_project: Path):
    window = open_window(qtbot, small_project)
    canvas = window.canvas
    QTest.keyClick(window, Qt.Key.Key_B)  # brush
    radius, zoom = window.editor.context.brush_radius, canvas.zoom
    point = hover(canvas, 140, 70)
    target = under(canvas, point)
    wheel(canvas, point, 1, Qt.KeyboardModifier.ControlModifier)
    assert window.editor.context.brush_radius == pytest.approx(radius * 1.25)
    assert canvas.zoom == zoom
    QTest.keyClick(window, Qt.Key.Key_V)  # select: Ctrl+wheel zooms as in every editor
    wheel(canvas, point, 6)
    target = under(canvas, point)
    for _ in range(2):
        wheel(canvas, point, 1, Qt.KeyboardModifier.ControlModifier)
    assert canvas.zoom == pytest.approx(zoom * 1.25**8)
    still_under(canvas, point, target)
    window.close()


# -- paint behind ---------------------------------------------------------------------------


def z_labels(window: MainWindow) -> list[int]:
    """Label ids of the open frame's live objects, bottom first."""
    return [o.label_id for o in window.editor.document.live()]


def draw_triangle(window: MainWindow, points) -> None:
    for x, y in points:
        click(window.canvas, x, y)
    QTest.keyClick(window.canvas, Qt.Key.Key_Return)


def border_color(canvas: FrameCanvas) -> tuple[int, int, int]:
    image = canvas.grab().toImage()
    return image.pixelColor(1, image.height() // 2).getRgb()[:3]


def test_paint_behind_cannot_be_missed_and_works_as_a_tap_or_a_hold(qtbot, small_project):
    window = open_window(qtbot, small_project)
    canvas, editor = window.canvas, window.editor
    QTest.keyClick(window, Qt.Key.Key_P)  # polygon
    QTest.keyClick(window, Qt.Key.Key_2)  # sidewalk
    off_border = border_color(canvas)
    assert not window.paint_behind.label.isVisible()

    canvas.setFocus()
    QTest.keyClick(canvas, Qt.Key.Key_Q)  # a tap switches it on ...
    assert editor.context.paint_behind
    assert border_color(canvas) == (255, 140, 26) != off_border
    assert window.paint_behind.label.isVisible()
    assert "PAINT BEHIND" in window.paint_behind.label.text()
    hover(canvas, 60, 60)
    assert canvas.viewport().cursor().shape() == Qt.CursorShape.BitmapCursor  # marked cursor
    QTest.keyClick(window, Qt.Key.Key_3)  # ... and it stays on across labels
    assert editor.context.paint_behind and window.paint_behind.label.isVisible()
    QTest.keyClick(canvas, Qt.Key.Key_Q)  # another tap: off
    assert not editor.context.paint_behind
    assert border_color(canvas) == off_border
    assert canvas.viewport().cursor().shape() == Qt.CursorShape.CrossCursor

    # held through a gesture: on while held, off again when let go
    QTest.keyPress(canvas, Qt.Key.Key_Q)
    assert editor.context.paint_behind
    draw_triangle(window, [(60, 60), (120, 60), (120, 85)])
    QTest.keyRelease(canvas, Qt.Key.Key_Q)
    assert not editor.context.paint_behind
    assert z_labels(window)[0] == 11  # the building went under everything
    window.close()


def test_a_region_drawn_on_top_by_mistake_gets_the_one_key_fix(qtbot, small_project):
    window = open_window(qtbot, small_project)
    QTest.keyClick(window, Qt.Key.Key_P)  # polygon
    QTest.keyClick(window, Qt.Key.Key_2)  # sidewalk, over the road and the car
    draw_triangle(window, [(30, 50), (120, 50), (120, 85)])
    assert z_labels(window)[-1] == 8
    message = window.statusBar().currentMessage()
    assert "lies over 2 objects" in message and "J sends it to the bottom" in message
    QTest.keyClick(window.canvas, Qt.Key.Key_J)
    assert z_labels(window)[0] == 8
    window.close()


# -- outlines ------------------------------------------------------------------------------


@pytest.fixture
def grey_project(tmp_path: Path) -> Path:
    """A flat grey 1280 x 720 frame (shown at about a third of its size) with a road and,
    above it, a car whose top edge borders unlabeled pixels."""
    path = tmp_path / "grey.roadmark"
    write_image(tmp_path / "grey.png", np.full((720, 1280, 3), 128, np.uint8))
    with Project.create(path) as project:
        (frame_id,), _ = project.add_frames(scan([tmp_path / "grey.png"]))
        project.add_objects(
            frame_id, [region(7, 0, 360, 1280, 720), region(26, 320, 240, 640, 480)]
        )
    return path


def across(canvas: FrameCanvas, x: float, y: float, reach: int = 8) -> list[tuple[int, int, int]]:
    """Screen pixels on a vertical line through image point ``(x, y)``."""
    image = canvas.viewport().grab().toImage()
    center = at(canvas, x, y)
    return [
        image.pixelColor(center.x(), center.y() + dy).getRgb()[:3]
        for dy in range(-reach, reach + 1)
    ]


def test_outlines_have_a_halo_show_at_fit_zoom_on_every_edge_and_widen(qtbot, grey_project):
    window = open_window(qtbot, grey_project)
    canvas = window.canvas
    QTest.keyClick(window, Qt.Key.Key_B, Qt.KeyboardModifier.ShiftModifier)  # boxes off
    QTest.keyClick(window, Qt.Key.Key_O, Qt.KeyboardModifier.ShiftModifier)  # outlines
    assert canvas.overlay.outline and canvas.zoom < 0.5
    grey = (128, 128, 128)
    # the car's top edge, against unlabeled pixels, and its bottom edge on the road
    for y in (240, 480):
        line = across(canvas, 480, y)
        dark = [c for c in line if max(c) < 50]
        bright = [c for c in line if max(c) > 150]
        assert dark and bright, (y, line)  # halo and line: readable on any photo
    assert across(canvas, 480, 300) == [grey] * 17  # nothing inside the car
    thin = sum(c != grey for c in across(canvas, 480, 240))
    for _ in range(4):
        QTest.keyClick(
            window,
            Qt.Key.Key_Period,
            Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier,
        )
    assert canvas.outline_layer.line_px == pytest.approx(4.0)
    assert sum(c != grey for c in across(canvas, 480, 240)) >= thin + 2
    window.close()


# -- brush ring, labels dock --------------------------------------------------------------


def test_the_brush_ring_never_leaves_a_stale_arc_outside_the_image(qtbot, small_project):
    window = open_window(qtbot, small_project)
    canvas, layer = window.canvas, window.canvas.edit_layer
    QTest.keyClick(window, Qt.Key.Key_B)  # brush
    for _ in range(12):
        QTest.keyClick(window, Qt.Key.Key_BracketRight)  # a big brush
    radius = window.editor.context.brush_radius
    assert radius > 64
    hover(canvas, 158, 88)  # near the corner: most of the ring lies outside the image
    ring = layer.mapRectToScene(layer.boundingRect())
    # the layer's area holds the whole ring, so moving the pointer repaints (erases) it
    assert ring.contains(158 + radius, 88 + radius) and ring.contains(158 - radius, 88 - radius)
    window.close()


def test_the_labels_dock_shows_a_dozen_rows_and_more(qtbot, small_project):
    window = MainWindow.open_project(str(small_project), frame=0, prefetch=False)
    qtbot.addWidget(window)
    window.resize(1440, 860)  # the size the window opens at
    show(qtbot, window)
    view = window.labels_dock.view
    assert view.viewport().height() / view.sizeHintForRow(0) >= 12
    window.close()
