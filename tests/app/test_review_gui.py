"""Review in the window: a frame goes from annotation through rejection with a comment, a
fix and acceptance, driven through the real widgets; filters, stats and time tracking."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from roadmark.app.main_window import MainWindow
from roadmark.core.annotation import FrameStatus
from roadmark.core.workflow import Action, CommentCategory
from roadmark.io import workflow as wf
from roadmark.io.changelog import frame_history
from roadmark.io.store import Project
from tests.app.conftest import click, drag, show

S = FrameStatus


@pytest.fixture
def assigned(small_project: Path) -> Path:
    """Frame 1 of the small project assigned to ann, to be reviewed by rev."""
    with Project.open(small_project, user="boss") as project:
        wf.assign(project, [project.frames()[1].id], annotator="ann", reviewer="rev")
    return small_project


def open_as(qtbot, monkeypatch, path: Path, user: str) -> MainWindow:
    monkeypatch.setenv("ROADMARK_USER", user)
    window = MainWindow.open_project(str(path), frame=1, prefetch=False)
    qtbot.addWidget(window)
    window.resize(1200, 800)
    show(qtbot, window)
    window.canvas.fit()
    assert window.project.user == user
    return window


def status(window: MainWindow) -> FrameStatus:
    return window.project.frame(window.quality.frame_id).status


def draw_car(window: MainWindow, points: list[tuple[float, float]]) -> None:
    QTest.keyClick(window, Qt.Key.Key_R)  # box tool
    QTest.keyClick(window, Qt.Key.Key_6)  # car
    drag(window.canvas, points)


def test_frame_from_annotation_through_rejection_fix_and_acceptance(
    qtbot, monkeypatch, assigned: Path
):
    # -- ann annotates and finishes ----------------------------------------------------
    window = open_as(qtbot, monkeypatch, assigned, "ann")
    frame_id = window.quality.frame_id
    draw_car(window, [(10, 10), (30, 30), (40, 40)])
    assert status(window) is S.IN_PROGRESS
    # her own work cannot be reviewed by her: review mode leaves it alone and says why
    QTest.keyClick(window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert window.project.frame(frame_id).status is S.DONE
    window.select_row(1)
    window.actions["review.mode"].setChecked(True)
    assert status(window) is S.DONE
    assert "cannot review their own work" in window.statusBar().currentMessage()
    window.actions["review.mode"].setChecked(False)
    window.close()

    # -- rev reviews: pins a comment, rejects with a reason ----------------------------
    window = open_as(qtbot, monkeypatch, assigned, "rev")
    quality = window.quality
    window.actions["review.mode"].setChecked(True)
    assert status(window) is S.IN_REVIEW and window.editor.tool.name == "comment"
    assert window.actions["review.accept"].isEnabled()
    quality.ask_comment = lambda anchor: (CommentCategory.MISSING_OBJECT, "car on the right")
    click(window.canvas, 120, 40)
    (comment,) = wf.comments(window.project, frame_id)
    assert comment.anchor.x0 == pytest.approx(120, abs=1) and comment.is_point
    assert [c.id for _, c in quality.layer.visible()] == [comment.id]
    assert quality.dock.comments.count() == 1
    assert "car on the right" in quality.dock.comments.item(0).text()
    # accepting with an open comment is refused with the reason
    window.actions["review.accept"].trigger()
    assert status(window) is S.IN_REVIEW
    assert "1 review comment is still open" in window.last_error
    quality.ask_reason = lambda default: default  # the prefilled reason: the comments
    window.actions["review.reject"].trigger()
    assert status(window) is S.REJECTED
    assert window.frames.frame(1).status is S.REJECTED
    window.close()

    # -- ann sees why, fixes it, resolves the comment, finishes again ------------------
    window = open_as(qtbot, monkeypatch, assigned, "ann")
    quality = window.quality
    assert quality.dock.reason_label.isVisible()
    assert quality.dock.reason_label.text() == "Sent back: missing object: car on the right"
    assert "open" in quality.dock.comments.item(0).text()
    assert len(quality.layer.visible()) == 1
    draw_car(window, [(110, 30), (125, 45), (130, 50)])
    assert status(window) is S.IN_PROGRESS
    quality.dock.comments.setCurrentRow(0)
    window.actions["review.resolve"].trigger()
    assert wf.comments(window.project, frame_id, open_only=True) == []
    assert quality.layer.visible() != []  # still shown while selected, in grey
    assert "resolved by ann" in quality.dock.comments.item(0).text()
    QTest.keyClick(window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert window.project.frame(frame_id).status is S.DONE
    window.close()

    # -- rev accepts -------------------------------------------------------------------
    window = open_as(qtbot, monkeypatch, assigned, "rev")
    window.actions["review.mode"].setChecked(True)
    assert status(window) is S.IN_REVIEW
    window.actions["review.accept"].trigger()
    project = window.project
    assert project.frame(frame_id).status is S.ACCEPTED
    moves = [(e.user, e.action) for e in wf.events(project, frame_id)]
    assert moves == [
        ("ann", Action.START),
        ("ann", Action.FINISH),
        ("rev", Action.START_REVIEW),
        ("rev", Action.REJECT),
        ("ann", Action.START),
        ("ann", Action.FINISH),
        ("rev", Action.START_REVIEW),
        ("rev", Action.ACCEPT),
    ]
    assert [(c.user, c.action) for c in frame_history(project, frame_id)] == [
        ("ann", "add"),
        ("ann", "add"),
    ]
    window.close()

    # -- time was tracked by tool, for both ----------------------------------------------
    with Project.open(assigned, read_only=True) as project:
        spent = {(e.user, e.tool) for e in wf.time_spent(project, frame_id=frame_id)}
    assert ("ann", "box") in spent and ("rev", "review") in spent


def test_filters_next_for_me_and_stats_window(qtbot, monkeypatch, assigned: Path, tmp_path: Path):
    window = open_as(qtbot, monkeypatch, assigned, "ann")
    bar = window.quality.filter
    bar.set_filter(None, "ann")
    assert bar.shown_rows() == [1]
    bar.set_filter(S.NEW)
    assert bar.shown_rows() == [0, 1, 2]
    bar.set_filter(None, "unassigned")
    assert bar.shown_rows() == [0, 2]
    bar.set_filter(None)
    window.select_row(2)
    window.actions["frame.next_for_me"].trigger()
    assert window.current_row == 1  # her assigned frame
    window.actions["view.stats"].trigger()
    stats = window.quality.stats_window
    assert stats is not None and stats.isVisible()
    assert stats.stats["frames"]["total"] == 3
    out = stats.save_report(tmp_path / "report.html")
    assert "<svg" in out.read_text(encoding="utf-8")
    stats.close()
    window.close()


def test_gold_frame_is_labeled_blind_and_scored_in_review(qtbot, monkeypatch, small_project: Path):
    from roadmark.io import gold

    with Project.open(small_project, user="boss") as project:
        first = project.frames()[0].id
        gold.mark_gold(project, [first])  # its road, car and box become the hidden reference
        wf.assign(project, [first], annotator="ann", reviewer="rev")
    monkeypatch.setenv("ROADMARK_USER", "ann")
    window = MainWindow.open_project(str(small_project), frame=0, prefetch=False)
    qtbot.addWidget(window)
    show(qtbot, window)
    window.canvas.fit()
    assert window.editor.document is not None and window.editor.document.live() == []
    assert not window.quality.dock.score_label.isVisible()
    draw_car(window, [(40, 30), (60, 45), (80, 60)])  # a box where the car region is
    QTest.keyClick(window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    window.close()

    window = open_as(qtbot, monkeypatch, small_project, "rev")
    window.select_row(0)
    window.actions["review.mode"].setChecked(True)
    assert status(window) is S.IN_REVIEW
    text = window.quality.dock.score_label.text()
    assert window.quality.dock.score_label.isVisible()
    # Boxes are matched with the reference's boxes and instance regions: the drawn box
    # finds the car region (IoU 1), the person box is missed; no region was drawn.
    (score,) = gold.gold_scores(window.project, first)
    assert score.user == "ann" and score.agreement.box_f1 == pytest.approx(2 / 3)
    assert score.agreement.pixel_accuracy == 0.0
    assert text == "Gold score of ann: pixel accuracy 0.0%, mIoU 0.0%, box F1 66.7%"
    window.close()


def test_change_history_of_the_selection_and_of_the_frame(qtbot, monkeypatch, small_project):
    window = open_as(qtbot, monkeypatch, small_project, "ann")
    window.select_row(0)
    document = window.editor.document
    assert document is not None
    car = next(o for o in document.live() if o.label_id == 26)
    document.select([car.uid])
    window.editor.relabel_selection(27)  # truck
    window.editor.nudge(3, 0)
    window.actions["object.history"].trigger()
    dialog = window.quality.history_dialog
    assert dialog is not None and dialog.isVisible()
    rows = dialog.rows()
    assert [(r[1], r[2]) for r in rows] == [
        ("ann", str(car.uid)),
        ("ann", str(car.uid)),
        ("tester", str(car.uid)),  # made when the test project was built
    ]
    assert rows[0][3] == "geometry changed"  # newest first
    assert rows[1][3].startswith("label car -> truck")
    assert rows[2][3] == "add car region"
    dialog.close()
    document.clear_selection()
    window.actions["object.history"].trigger()
    whole = window.quality.history_dialog.rows()  # type: ignore[union-attr]
    assert len(whole) == 5  # three objects added, then the two edits
    assert {r[3] for r in whole[2:]} == {"add road region", "add car region", "add person box"}
    window.close()


def test_a_comment_pinned_on_an_object_is_about_it(qtbot, monkeypatch, small_project: Path):
    window = open_as(qtbot, monkeypatch, small_project, "rev")
    window.select_row(0)
    document = window.editor.document
    assert document is not None
    car = next(o for o in document.live() if o.label_id == 26)
    quality = window.quality
    window.actions["tool.comment"].trigger()
    quality.ask_comment = lambda anchor: (CommentCategory.LOOSE_BOUNDARY, "tighter")
    click(window.canvas, 60, 45)
    quality.ask_comment = lambda anchor: (CommentCategory.MISSING_OBJECT, "second car")
    click(window.canvas, 62, 47)
    loose, missing = wf.comments(window.project, quality.frame_id)
    assert loose.object_uid == car.uid
    assert missing.object_uid is None  # not about the car that happens to be there
    document.clear_selection()
    quality.choose_comment(loose.id)
    assert document.selection == (car.uid,)
    window.close()


def test_review_shows_the_agreement_of_annotators_who_finished_the_frame(
    qtbot, monkeypatch, project_path: Path
):
    from tests.io.test_stats import build_two_annotators

    build_two_annotators(project_path)  # alice, then bob with the car 2 px wider
    window = open_as(qtbot, monkeypatch, project_path, "rev")
    window.select_row(0)
    label = window.quality.dock.score_label
    assert label.isVisible()
    assert label.text() == (
        "Agreement alice / bob: pixel accuracy 96.8%, mIoU 91.7%, box F1 100.0%"
    )
    window.close()


def test_assign_frames_from_the_window(qtbot, monkeypatch, small_project: Path):
    window = open_as(qtbot, monkeypatch, small_project, "boss")
    quality = window.quality
    dialog = quality.make_assign_dialog()
    qtbot.addWidget(dialog)
    assert dialog.spec.text() == "2"  # the open frame, numbered as in the filmstrip
    dialog.spec.setText("1-2")
    dialog.annotator.setCurrentText("ann")
    dialog.reviewer.setCurrentText("ann")
    assert not dialog.apply()  # one person cannot annotate and review a frame
    assert "ann annotates this frame and cannot also review it" in dialog.message.text()
    assert all(s.assignee is None for s in wf.frame_states(window.project))
    dialog.spec.setText("4")
    dialog.reviewer.setCurrentText("rev")
    assert not dialog.apply()
    assert "there is no frame 4: frames are numbered 1 to 3" in dialog.message.text()
    dialog.spec.setText("1,x")
    assert not dialog.apply() and "'x' is not a frame number" in dialog.message.text()
    dialog.spec.setText("1-2")
    assert dialog.apply()
    quality.reload_frames()
    states = wf.frame_states(window.project)
    assert [(s.assignee, s.reviewer) for s in states] == [
        ("ann", "rev"),
        ("ann", "rev"),
        (None, None),
    ]
    assert window.frames.frame(0).assignee == "ann"
    window.quality.filter.set_filter(None, "ann")
    assert window.quality.filter.shown_rows() == [0, 1]
    again = quality.make_assign_dialog()
    qtbot.addWidget(again)
    again.spec.setText("2")
    again.annotator.setCurrentText("(nobody)")  # the reviewer is kept
    assert again.apply()
    state = wf.frame_state(window.project, window.frames.frame(1).id)
    assert (state.assignee, state.reviewer) == (None, "rev")
    window.close()
