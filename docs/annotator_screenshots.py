"""Render the annotator screenshots of the README from a copy of the demo project.

    QT_QPA_PLATFORM=offscreen python docs/annotator_screenshots.py [OUT_DIR]

Writes to ``docs/`` (or OUT_DIR):

- ``review_peek.png``: a pre-labeled frame with the hatched model labels and the heat map
  on (left), and the same view while ``W`` is held (right: the raw frame);
- ``paint_behind.png``: the window with paint behind on (orange border, cursor mark and
  status-bar badge) and the brush;
- ``outlines.png``: outline mode (Shift+O) at the fit zoom: label colors over a halo;
- ``grabcut.png``: GrabCut started from a selected car box, with an object scribble
  (green) and a background scribble (red), before Return.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter
from PySide6.QtTest import QTest

from roadmark.annotators.tools.base import Pointer
from roadmark.app.main_window import MainWindow
from roadmark.app.run import application, save_screenshot
from roadmark.io.demo_project import demo_folder, ensure_demo_project
from roadmark.models.demo_model import prelabel_demo

FRAME = 6


def settle(rounds: int = 8) -> None:
    app = application()
    for _ in range(rounds):
        app.processEvents()


def open_copy(folder: Path, frame: int, size: tuple[int, int] = (1500, 900)) -> MainWindow:
    window = MainWindow.open_project(str(folder / "demo.roadmark"), frame=frame, prefetch=False)
    window.resize(*size)
    window.show()
    settle()
    return window


def frame_view(window: MainWindow) -> QImage:
    """The canvas's pixels, cropped to the frame."""
    canvas = window.canvas
    shown = canvas.mapFromScene(canvas.sceneRect()).boundingRect()
    return canvas.viewport().grab(shown.intersected(canvas.viewport().rect())).toImage()


def side_by_side(left: QImage, right: QImage, captions: tuple[str, str], out: Path) -> None:
    left, right = (
        picture.scaledToWidth(640, Qt.TransformationMode.SmoothTransformation)
        for picture in (left, right)
    )
    gap, band = 12, 34
    image = QImage(
        left.width() + gap + right.width(),
        max(left.height(), right.height()) + band,
        QImage.Format.Format_RGB32,
    )
    image.fill(QColor(30, 32, 36))
    painter = QPainter(image)
    font = QFont(painter.font())
    font.setPixelSize(17)
    painter.setFont(font)
    painter.setPen(QColor(230, 230, 230))
    for x, picture, caption in ((0, left, captions[0]), (left.width() + gap, right, captions[1])):
        painter.drawText(x + 8, 24, caption)
        painter.drawImage(QPoint(x, band), picture)
    painter.end()
    image.save(str(out))


def review_peek(folder: Path, out: Path) -> None:
    window = open_copy(folder, FRAME)
    guided, canvas = window.guided_review, window.canvas
    guided.dock.show_labels.setChecked(True)
    guided.dock.raise_()
    QTest.keyClick(window, Qt.Key.Key_U)  # the first uncertain region, at 250 % at most
    settle()
    layers = frame_view(window)
    canvas.setFocus()
    QTest.keyPress(canvas, Qt.Key.Key_W)
    settle()
    peek = frame_view(window)
    QTest.keyRelease(canvas, Qt.Key.Key_W)
    side_by_side(
        layers,
        peek,
        ("model labels (hatched) + uncertainty heat map", "W held: the raw frame"),
        out,
    )
    window.close()


def paint_behind(folder: Path, out: Path) -> None:
    window = open_copy(folder, FRAME)
    canvas = window.canvas
    QTest.keyClick(window, Qt.Key.Key_B)  # brush
    QTest.keyClick(window, Qt.Key.Key_4)  # vegetation
    canvas.setFocus()
    QTest.keyClick(canvas, Qt.Key.Key_Q)  # paint behind on
    document = window.editor.document
    QTest.mouseMove(
        canvas.viewport(), canvas.view_point(document.width * 0.3, document.height * 0.45).toPoint()
    )
    settle()
    save_screenshot(window, out)
    window.close()


def outlines(folder: Path, out: Path) -> None:
    window = open_copy(folder, FRAME)
    QTest.keyClick(window, Qt.Key.Key_O, Qt.KeyboardModifier.ShiftModifier)
    QTest.keyClick(window, Qt.Key.Key_B, Qt.KeyboardModifier.ShiftModifier)  # boxes off
    settle()
    frame_view(window).save(str(out))
    window.close()


def grabcut(folder: Path, out: Path) -> None:
    window = open_copy(folder, FRAME)
    editor, canvas = window.editor, window.canvas
    document = editor.document
    car = editor.schema.label("car").id
    target = max(
        (o for o in document.visible_regions() if o.label_id == car), key=lambda o: o.region.area
    )
    b = target.bounds
    editor.set_label(car)
    editor.set_tool("box")  # a car box, as the box tool draws it
    editor.press(Pointer(b.x0 - 4, b.y0 - 4))
    editor.move(Pointer(b.x1 + 4, b.y1 + 4))
    editor.release(Pointer(b.x1 + 4, b.y1 + 4))
    for uid in [o.uid for o in document.visible_regions() if o.label_id == car]:
        document.set_hidden([uid], True)  # the human car outline hidden: GrabCut's shows
    editor.set_tool("select")
    document.select([document.live()[-1].uid])
    pad = max(b.width, b.height) * 0.35
    canvas.zoom_to(b.x0 - pad, b.y0 - pad, b.x1 + pad, b.y1 + pad)
    settle()
    QTest.keyClick(window, Qt.Key.Key_O)  # the overlay off: GrabCut's region on the photo
    QTest.keyClick(window, Qt.Key.Key_C)  # GrabCut inside the selected box
    tool = window.sequence_tools.grabcut
    app = application()
    while tool.pending is not None:
        app.processEvents()
    cx, cy = (b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2

    def scribble(points, modifier):
        viewport = canvas.viewport()
        start = canvas.view_point(*points[0]).toPoint()
        QTest.mousePress(viewport, Qt.MouseButton.LeftButton, modifier, start)
        for point in points[1:]:
            QTest.mouseMove(viewport, canvas.view_point(*point).toPoint())
        QTest.mouseRelease(
            viewport, Qt.MouseButton.LeftButton, modifier, canvas.view_point(*points[-1]).toPoint()
        )
        while tool.pending is not None:
            app.processEvents()

    scribble(
        [(cx - b.width * 0.25, cy), (cx, cy + 2), (cx + b.width * 0.25, cy)],
        Qt.KeyboardModifier.ShiftModifier,
    )
    scribble(
        [(b.x0 - 2, b.y1 + 1), (b.x0 + b.width * 0.3, b.y1 + 1)], Qt.KeyboardModifier.AltModifier
    )
    QTest.mouseMove(canvas.viewport(), canvas.view_point(b.x1 + pad * 0.6, b.y0).toPoint())
    settle()
    canvas.viewport().grab().toImage().save(str(out))
    window.close()


def main(folder: Path) -> None:
    ensure_demo_project(prelabel=prelabel_demo)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ROADMARK_CONFIG_DIR"] = str(Path(tmp) / "config")
        copy = Path(tmp) / "demo"
        shutil.copytree(demo_folder(), copy)
        application()
        review_peek(copy, folder / "review_peek.png")
        paint_behind(copy, folder / "paint_behind.png")
        outlines(copy, folder / "outlines.png")
        grabcut(copy, folder / "grabcut.png")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent)
