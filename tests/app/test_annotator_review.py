"""Issue 19, review side: comments are saved through the real dialog, errors reach the
person, the review layers can be peeked through and dimmed by keys, the region zoom is
capped, and accepting a region says what it accepted and stays there."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from roadmark.app.main_window import MainWindow
from roadmark.app.review_dock import CommentDialog
from roadmark.core.annotation import FrameStatus
from roadmark.core.workflow import CommentCategory
from roadmark.io import workflow as wf
from roadmark.io.store import Project
from tests.app.conftest import click, show


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
        seen.append(dialog.windowTitle())
        dialog.category.setCurrentIndex(dialog.category.findText(category.text))
        QTest.keyClicks(dialog.text, text)
        box = dialog.findChild(QDialogButtonBox)
        QTest.mouseClick(box.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)

    QTimer.singleShot(0, fill)
    return seen


def test_a_review_comment_from_the_dialog_is_saved_and_pinned(qtbot, monkeypatch, reviewable):
    window = open_as(qtbot, monkeypatch, reviewable, "rev")
    QTest.keyClick(window, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier
                   | Qt.KeyboardModifier.ShiftModifier)  # review mode
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

    def broken():
        raise KeyError("oops")

    monkeypatch.setattr(window.editor, "select_all", broken)
    window.actions.bind("edit.select_all", window.guard(window.editor.select_all))
    QTest.keyClick(window, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    assert window.last_error is not None and "KeyError" in window.last_error
    window.close()
