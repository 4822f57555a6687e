"""Model > Pre-label frames…: a worker-thread run with progress, cancel and errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialog

from roadmark.app.features.prelabel_action import FRAMES_CURRENT, PrelabelDialog, PrelabelRequest
from roadmark.app.main_window import MainWindow
from roadmark.io.predictions import predicted_frame_ids
from roadmark.io.stats import project_info
from roadmark.io.store import Project
from tests.app.conftest import show


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from roadmark.io.schema_files import load_schema
    from roadmark.models.create import new_torchvision_model

    out = tmp_path_factory.mktemp("model") / "tiny.roadmodel"
    new_torchvision_model(
        out, "lraspp_mobilenet_v3_large", schema=load_schema("cityscapes"), input_size=(64, 64)
    )
    return out


def _open(qtbot, path: Path) -> MainWindow:
    window = MainWindow.open_project(str(path), frame=0, prefetch=False)
    qtbot.addWidget(window)
    show(qtbot, window)
    return window


def _predicted(path: Path) -> set[int]:
    with Project.open(path, read_only=True) as project:
        return predicted_frame_ids(project, "tiny")


def test_prelabel_from_the_menu_runs_in_the_background(
    qtbot, small_project: Path, tiny_model: Path, monkeypatch
):
    window = _open(qtbot, small_project)
    objects_before = project_info(window.project)["objects"]
    shown: list[PrelabelDialog] = []

    def fill(dialog: PrelabelDialog) -> QDialog.DialogCode:
        shown.append(dialog)
        dialog.model.setText(str(tiny_model))
        dialog.device.setCurrentText("cpu")
        dialog.batch.setValue(2)
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(PrelabelDialog, "exec", fill)
    action = window.actions["model.prelabel"]
    assert action.text() == "&Pre-label frames…"
    action.trigger()
    prelabeler = window.prelabeler
    assert prelabeler.jobs.busy  # the GUI thread is free while it runs
    qtbot.waitUntil(lambda: not prelabeler.jobs.busy, timeout=120_000)
    result = prelabeler.last_result
    assert result is not None and result.predicted == 3 and result.device == "cpu"
    assert "Pre-labeled 3 frames with tiny" in window.statusBar().currentMessage()
    assert len(_predicted(small_project)) == 3
    assert project_info(window.project)["objects"] == objects_before  # nothing accepted yet

    # Only the current frame, again (forced).
    def current(dialog: PrelabelDialog) -> QDialog.DialogCode:
        fill(dialog)
        dialog.frames.setCurrentText(FRAMES_CURRENT)
        dialog.force.setChecked(True)
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(PrelabelDialog, "exec", current)
    action.trigger()
    qtbot.waitUntil(lambda: not prelabeler.jobs.busy, timeout=120_000)
    assert prelabeler.last_result.predicted == 1 and prelabeler.last_result.selected == 1


def test_cancel_and_errors(qtbot, small_project: Path, tiny_model: Path, tmp_path: Path):
    window = _open(qtbot, small_project)
    prelabeler = window.prelabeler
    assert prelabeler.start(PrelabelRequest(tiny_model, device="cpu", batch=1))
    assert not prelabeler.start(PrelabelRequest(tiny_model))  # one run at a time
    prelabeler.jobs.cancel()
    qtbot.waitUntil(lambda: not prelabeler.jobs.busy, timeout=120_000)
    assert prelabeler.last_result is None  # a cancelled run reports nothing
    assert len(_predicted(small_project)) < 3

    junk = tmp_path / "junk.roadmodel"
    junk.write_bytes(b"nope")
    prelabeler.start(PrelabelRequest(junk, device="cpu"))
    qtbot.waitUntil(lambda: not prelabeler.jobs.busy, timeout=60_000)
    assert "Pre-labeling failed" in window.last_error and str(junk) in window.last_error

    prelabeler.start(PrelabelRequest(tiny_model, device="cuda:7"))
    qtbot.waitUntil(lambda: not prelabeler.jobs.busy, timeout=60_000)
    assert "cuda:7" in window.last_error
