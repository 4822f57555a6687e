"""GUI test helpers: a small project and clicks in image coordinates."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from roadmark.app.canvas.view import FrameCanvas
from roadmark.io.frames import scan
from roadmark.io.store import Project
from tests.helpers import box, make_image, region

NO_MODIFIER = Qt.KeyboardModifier.NoModifier


@pytest.fixture
def small_project(tmp_path: Path) -> Path:
    """Three 160 x 90 frames; the first has a road, a car region and a box."""
    path = tmp_path / "p.roadmark"
    images = [make_image(tmp_path / f"f{i}.png", 160, 90, seed=i) for i in range(3)]
    with Project.create(path) as project:
        ids, _ = project.add_frames(scan(images))
        project.add_objects(
            ids[0],
            [region(7, 0, 45, 160, 90), region(26, 40, 30, 80, 60), box(24, 100, 10, 120, 50)],
        )
    return path


def show(qtbot, window) -> None:
    """Show a window and make it the active one (window shortcuts need that)."""
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)


def at(canvas: FrameCanvas, x: float, y: float) -> QPoint:
    """The viewport pixel showing image point ``(x, y)``."""
    return canvas.view_point(x, y).toPoint()


def click(canvas: FrameCanvas, x: float, y: float, modifiers=NO_MODIFIER) -> None:
    QTest.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, modifiers, at(canvas, x, y))


def drag(canvas: FrameCanvas, points: list[tuple[float, float]], modifiers=NO_MODIFIER) -> None:
    viewport = canvas.viewport()
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, modifiers, at(canvas, *points[0]))
    for point in points[1:]:
        QTest.mouseMove(viewport, at(canvas, *point))
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, modifiers, at(canvas, *points[-1]))
