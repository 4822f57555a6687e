"""Issue 19, GrabCut from a selected box: the box's object keeps its instance and track,
the outline is simplified, the scribbles stay drawn, and the window shows it is busy."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from roadmark.annotators.simplify import vertex_count
from roadmark.annotators.tools.grabcut import grabcut
from roadmark.app.main_window import MainWindow
from roadmark.core.annotation import Box, ObjectKind
from roadmark.io.frames import scan, write_image
from roadmark.io.store import Project
from tests.app.conftest import click, drag, show
from tests.helpers import box

CAR = 26


def car_image(path: Path) -> np.ndarray:
    """A tilted red ellipse (the car) on grey noise, 320 x 180."""
    rng = np.random.default_rng(0)
    image = rng.integers(60, 90, (180, 320, 3)).astype(np.uint8)
    cv2.ellipse(image, (160, 95), (70, 32), 12, 0, 360, (200, 40, 40), -1)
    write_image(path, image)
    return image


@pytest.fixture
def boxed_car(tmp_path: Path) -> Path:
    path = tmp_path / "car.roadmark"
    car_image(tmp_path / "car.png")
    with Project.create(path) as project:
        (frame_id,), _ = project.add_frames(scan([tmp_path / "car.png"]))
        project.add_objects(frame_id, [box(CAR, 80, 55, 240, 135, instance_id=4, track_id=9)])
    return path


def test_grabcut_from_a_selected_box_outlines_that_object(qtbot, boxed_car: Path, tmp_path):
    window = MainWindow.open_project(str(boxed_car), frame=0, prefetch=False)
    qtbot.addWidget(window)
    window.resize(1200, 800)
    show(qtbot, window)
    window.canvas.fit()
    canvas, tools = window.canvas, window.sequence_tools
    QTest.keyClick(window, Qt.Key.Key_V)
    click(canvas, 82, 95)  # on the box's left edge: selects it
    (source,) = window.editor.document.selected()
    assert source.kind is ObjectKind.BOX

    QTest.keyClick(window, Qt.Key.Key_C)  # GrabCut, straight away inside the box
    tool = tools.grabcut
    assert tool.pending is not None and tool.source.uid == source.uid
    assert canvas.viewport().cursor().shape() == Qt.CursorShape.BusyCursor  # busy cues
    assert tools.grabcut_busy.isVisible()
    assert "segmenting" in window.status.hint_label.text()
    qtbot.waitUntil(lambda: tool.pending is None and tool.result is not None, timeout=10000)
    assert canvas.viewport().cursor().shape() == Qt.CursorShape.CrossCursor
    assert not tools.grabcut_busy.isVisible()

    # a scribble on the object stays drawn (green) after the button is let go
    drag(canvas, [(150, 95), (160, 96), (170, 97)], Qt.KeyboardModifier.ShiftModifier)
    preview = window.editor.preview()
    assert len(preview.scribbles) == 1 and preview.scribbles[0][2] is False
    qtbot.waitUntil(lambda: tool.pending is None and tool.result is not None, timeout=10000)
    image = canvas.viewport().grab().toImage()
    seen = image.pixelColor(canvas.view_point(160, 96).toPoint())
    assert seen.green() > 150 and seen.red() < 120  # the scribble, drawn over the car

    QTest.keyClick(canvas, Qt.Key.Key_Return)
    region = window.editor.document.live()[-1]
    assert region.kind is ObjectKind.REGION and region.uid != source.uid
    assert (region.label_id, region.instance_id, region.track_id) == (CAR, 4, 9)
    raw = grabcut(car_image(tmp_path / "again.png"), Box(80, 55, 240, 135), simplify_tolerance=0)
    assert vertex_count(region.region) < vertex_count(raw.region) / 4  # no staircase
    assert vertex_count(region.region) <= 40
    assert region.region.symmetric_difference(raw.region).area < 0.05 * raw.region.area
    window.close()
