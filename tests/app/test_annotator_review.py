"""Issue 19, review side: comments are saved through the real dialog, errors reach the
person, the review layers can be peeked through and dimmed by keys, the region zoom is
capped, and accepting a region says what it accepted and stays there."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QLabel

from roadmark.analysis.uncertainty import frame_regions
from roadmark.app.docks.review import CommentDialog
from roadmark.app.features.review_queue import REVIEW_MAX_ZOOM
from roadmark.app.main_window import MainWindow
from roadmark.core.annotation import FrameStatus
from roadmark.core.prediction import FramePrediction, SegmentationMaps
from roadmark.core.workflow import CommentCategory
from roadmark.io import workflow as wf
from roadmark.io.frames import scan
from roadmark.io.predictions import write_predictions
from roadmark.io.store import Project
from tests.app.conftest import at, click, show
from tests.helpers import make_image

CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier


@pytest.fixture
def reviewable(small_project: Path) -> Path:
    """Frame 1 finished by ann, to be reviewed by rev."""
    with Project.open(small_project, user="boss") as project:
        frame_id = project.frames()[1].id
        wf.assign(project, [frame_id], annotator="ann", reviewer="rev")
    with Project.open(small_project, user="ann") as project:
        wf.move(project, frame_id, wf.Action.START)
        wf.move(project, frame_id, wf.Action.FINISH)
    return small_project


def open_as(qtbot, monkeypatch, path: Path, user: str, frame: int = 1) -> MainWindow:
    monkeypatch.setenv("ROADMARK_USER", user)
    window = MainWindow.open_project(str(path), frame=frame, prefetch=False)
    qtbot.addWidget(window)
    window.resize(1200, 800)
    show(qtbot, window)
    window.canvas.fit()
    return window


def answer_comment_dialog(category: CommentCategory, text: str) -> list[str]:
    """Fill in the comment dialog as soon as it opens, and press OK (as a person does)."""
    seen: list[str] = []

    def fill() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, CommentDialog):
            QTimer.singleShot(20, fill)
            return
        try:
            seen.append(dialog.windowTitle())
            dialog.category.setCurrentIndex(dialog.category.findText(category.text))
            QTest.keyClicks(dialog.text, text)
            box = dialog.findChild(QDialogButtonBox)
            ok = box.button(QDialogButtonBox.StandardButton.Ok)
            QTest.mouseClick(ok, Qt.MouseButton.LeftButton)
        finally:
            dialog.close()  # never left open, whatever failed

    QTimer.singleShot(0, fill)
    return seen


def test_a_review_comment_from_the_dialog_is_saved_and_pinned(qtbot, monkeypatch, reviewable):
    window = open_as(qtbot, monkeypatch, reviewable, "rev")
    QTest.keyClick(
        window,
        Qt.Key.Key_R,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )  # review mode
    assert window.actions["review.mode"].isChecked()
    frame_id = window.quality.frame_id
    assert window.project.frame(frame_id).status is FrameStatus.IN_REVIEW
    seen = answer_comment_dialog(CommentCategory.WRONG_LABEL, "this is a bus")
    click(window.canvas, 50, 50)
    assert seen == ["Review comment"]
    (comment,) = wf.comments(window.project, frame_id)
    assert comment.category is CommentCategory.WRONG_LABEL
    assert comment.text == "this is a bus"
    assert [c.id for _, c in window.quality.layer.visible()] == [comment.id]
    assert window.last_error is None
    window.close()


def test_an_unexpected_error_in_a_canvas_gesture_reaches_the_person(qtbot, monkeypatch, reviewable):
    window = open_as(qtbot, monkeypatch, reviewable, "rev")
    window.actions["review.mode"].setChecked(True)

    def broken(_anchor):
        raise AttributeError("'str' object has no attribute 'value'")

    window.quality.ask_comment = broken
    click(window.canvas, 50, 50)
    assert window.last_error is not None
    assert "AttributeError" in window.last_error and "'value'" in window.last_error
    assert "AttributeError" in window.statusBar().currentMessage()
    window.close()


def test_an_unexpected_error_in_an_action_reaches_the_person(qtbot, monkeypatch, reviewable):
    window = open_as(qtbot, monkeypatch, reviewable, "rev")

    def broken(*_args):
        raise KeyError("oops")

    window.actions.bind("edit.select_all", broken)  # a feature's handler with a bug
    QTest.keyClick(window, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    assert window.last_error is not None and "KeyError" in window.last_error
    window.last_error = None
    window.actions.bind("view.boxes", broken)  # a toggle too
    QTest.keyClick(window, Qt.Key.Key_B, Qt.KeyboardModifier.ShiftModifier)
    assert window.last_error is not None and "KeyError" in window.last_error
    window.close()


# -- review layers, peek, zoom cap, accept feedback ----------------------------------------

ROAD, CAR, PERSON, SKY = 7, 26, 24, 23


@pytest.fixture
def big_predicted(tmp_path: Path) -> Path:
    """One 1280 x 720 frame predicted at stride 2: sky, road, a sure car, an unsure person
    (confidence 0.2) beside it, and one small uncertain patch over both."""
    path = tmp_path / "big.roadmark"
    image = make_image(tmp_path / "big.png", 1280, 720, seed=3)
    labels = np.full((360, 640), ROAD, np.uint8)
    labels[:120] = SKY
    labels[200:214, 400:420] = CAR
    labels[200:214, 422:428] = PERSON
    confidence = np.full(labels.shape, 240, np.uint8)
    confidence[200:214, 422:428] = 51
    margin = np.full(labels.shape, 230, np.uint8)
    margin[198:216, 398:430] = 8
    maps = SegmentationMaps(labels, confidence, margin, (255 - margin).astype(np.uint8), 1280, 720)
    with Project.create(path) as project:
        (frame_id,), _ = project.add_frames(scan([image]))
        prediction = FramePrediction(frame_id, "tiny", "d" * 64, "segmentation", maps, ())
        write_predictions(project, [replace(prediction, regions=tuple(frame_regions(maps, ())))])
    return path


def patch(window: MainWindow) -> np.ndarray:
    """The screen pixels around the uncertain patch, as RGB values."""
    image = window.canvas.viewport().grab().toImage()
    corner = at(window.canvas, 800, 400)
    return np.array(
        [
            [image.pixelColor(corner.x() + dx, corner.y() + dy).getRgb()[:3] for dx in range(20)]
            for dy in range(12)
        ],
        dtype=float,
    )


def test_hold_w_peeks_at_the_raw_frame_and_keys_change_layer_opacity(
    qtbot, monkeypatch, big_predicted
):
    window = open_as(qtbot, monkeypatch, big_predicted, "ann", frame=0)
    guided, canvas = window.guided_review, window.canvas
    QTest.mouseClick(guided.dock.show_heat, Qt.MouseButton.LeftButton)  # heat map off
    assert not guided.heat_layer.isVisible()
    raw = patch(window)  # the frame as it is, no layer over it
    for switch in (guided.dock.show_heat, guided.dock.show_labels):  # heat and hatching on
        QTest.mouseClick(switch, Qt.MouseButton.LeftButton)
    assert guided.labels_layer.isVisible() and guided.heat_layer.isVisible()
    assert np.abs(patch(window) - raw).mean() > 20  # hard to read

    canvas.setFocus()
    QTest.keyPress(canvas, Qt.Key.Key_W)
    assert canvas.peeking
    assert not guided.labels_layer.isVisible() and not guided.heat_layer.isVisible()
    assert not canvas.overlay.isVisible() and canvas.image_layer.isVisible()
    assert np.array_equal(patch(window), raw)
    QTest.keyRelease(canvas, Qt.Key.Key_W)
    assert not canvas.peeking
    assert guided.labels_layer.isVisible() and guided.heat_layer.isVisible()
    assert canvas.overlay.isVisible()

    heat, labels = guided.heat_layer.opacity(), guided.labels_layer.opacity()
    QTest.keyClick(window, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClick(window, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    assert guided.heat_layer.opacity() == pytest.approx(heat - 0.2)
    QTest.keyClick(window, Qt.Key.Key_Comma, Qt.KeyboardModifier.AltModifier)
    assert guided.labels_layer.opacity() == pytest.approx(labels - 0.1)
    QTest.keyClick(window, Qt.Key.Key_Period, Qt.KeyboardModifier.AltModifier)
    assert guided.labels_layer.opacity() == pytest.approx(labels)
    window.close()


def test_next_region_zoom_is_capped_with_context(qtbot, monkeypatch, big_predicted):
    window = open_as(qtbot, monkeypatch, big_predicted, "ann", frame=0)
    canvas = window.canvas
    QTest.keyClick(window, Qt.Key.Key_U)
    region = window.guided_review.queue.current
    assert region is not None and region.box.width < 80  # a small region
    assert canvas.zoom <= REVIEW_MAX_ZOOM + 1e-6
    visible = canvas.mapToScene(canvas.viewport().rect()).boundingRect()
    assert visible.width() >= 2 * region.box.width  # context around it
    center = visible.center()
    assert center.x() == pytest.approx((region.box.x0 + region.box.x1) / 2, abs=2)
    assert center.y() == pytest.approx((region.box.y0 + region.box.y1) / 2, abs=2)
    window.close()


def test_accepting_a_region_says_what_and_stays_and_skips_unsure_labels(
    qtbot, monkeypatch, big_predicted
):
    window = open_as(qtbot, monkeypatch, big_predicted, "ann", frame=0)
    guided, canvas = window.guided_review, window.canvas
    QTest.keyClick(window, Qt.Key.Key_U)
    region = guided.queue.current
    view = canvas.mapToScene(canvas.viewport().rect()).boundingRect()
    QTest.keyClick(window, Qt.Key.Key_Y)
    live = window.project.objects(guided.frame_id).live()
    assert live and PERSON not in {o.label_id for o in live}  # 0.2 is below the 0.50 shown
    assert all((o.provenance.confidence or 0) >= guided.dock.box_threshold for o in live)
    message = window.statusBar().currentMessage()
    assert message.startswith(f"Accepted {len(live)} label")
    assert "car" in message and "1 label below the 0.50 threshold left out" in message
    document = window.editor.document
    assert set(document.selection) == {o.uid for o in live}  # the highlight
    assert canvas.mapToScene(canvas.viewport().rect()).boundingRect() == view  # stayed
    assert guided.focus.box == region.box
    assert region.uid not in {r.uid for r in guided.queue.regions}
    QTest.keyClick(window, Qt.Key.Key_U)  # only now the view moves on
    assert guided.queue.current is None or guided.queue.current.uid != region.uid
    window.close()


# -- review actions say why; statistics --------------------------------------------------


def test_start_review_is_disabled_on_ones_own_frame_with_the_reason(qtbot, monkeypatch, reviewable):
    window = open_as(qtbot, monkeypatch, reviewable, "ann")  # ann finished frame 1
    start = window.actions["review.start"]
    assert not start.isEnabled()
    assert "ann, who cannot review their own work" in start.toolTip()
    QTest.keyClick(window, Qt.Key.Key_N, CTRL_SHIFT)  # next frame to review
    message = window.statusBar().currentMessage()
    assert message.startswith("Nothing left to review for ann: ")
    assert "1 frame waiting for review is your own work" in message
    assert "2 frames are not finished yet" in message
    window.close()
    window = open_as(qtbot, monkeypatch, reviewable, "rev")
    assert window.actions["review.start"].isEnabled()
    assert window.actions["review.start"].toolTip() == "Start reviewing this frame"
    window.close()


def test_statistics_are_dark_and_show_the_docks_time_left(qtbot, monkeypatch, big_predicted):
    window = open_as(qtbot, monkeypatch, big_predicted, "ann", frame=0)
    progress = window.guided_review.dock.progress.text()  # "N regions left · ~M min ..."
    minutes = progress.split("~")[1].split(" min")[0]
    QTest.keyClick(window, Qt.Key.Key_I, CTRL_SHIFT)  # statistics
    stats = window.quality.stats_window
    assert stats is not None and stats.isVisible()
    image = stats.grab().toImage()
    lightness = [
        image.pixelColor(x, y).lightness()
        for x in range(0, image.width(), 23)
        for y in range(0, image.height(), 23)
    ]
    assert sum(lightness) / len(lightness) < 90  # no bright white panel in the dark theme
    cards = {
        label.text() for label in stats.findChildren(QLabel) if label.objectName() == "card-value"
    }
    assert f"~{minutes} min" in cards
    texts = " ".join(label.text() for label in stats.findChildren(QLabel))
    assert f"Guided review: ~{minutes} minutes" in texts  # the section says the same
    stats.close()
    window.close()
