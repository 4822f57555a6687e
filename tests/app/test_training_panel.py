"""Model > Train a model…: a tiny run in the background, curves, cancel, pre-label."""

from __future__ import annotations

from pathlib import Path

import pytest

from roadmark.app.main_window import MainWindow
from roadmark.core.annotation import FrameStatus
from roadmark.io.demo_project import build_demo_project
from roadmark.io.predictions import prediction_models
from tests.app.conftest import show


@pytest.fixture
def tiny_demo(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.roadmark"
    build_demo_project(path, frames=5, labeled=4, width=128, height=64).close()
    return path


def _open(qtbot, path: Path) -> MainWindow:
    window = MainWindow.open_project(str(path), frame=0, prefetch=False)
    qtbot.addWidget(window)
    window.resize(1200, 800)
    show(qtbot, window)
    window.training.jobs.dialogs = False
    return window


def _tiny(panel, epochs: int) -> None:
    panel.epochs.setValue(epochs)
    panel.input_size.setText("32x64")
    panel.device.setCurrentText("cpu")


def test_tiny_run_shows_curves_then_prelabels_the_rest(qtbot, tiny_demo: Path):
    window = _open(qtbot, tiny_demo)
    panel = window.training
    window.actions["training.panel"].trigger()
    dock = panel.parentWidget()
    assert dock.isVisible()
    assert "4 labeled frame(s): 3 to train on, 1 held out" in panel.frames_info.text()
    _tiny(panel, 2)
    assert panel.start()
    assert not panel.train_button.isEnabled() and panel.cancel_button.isEnabled()
    # the GUI thread keeps running while training: reports arrive through the event loop
    qtbot.waitUntil(lambda: len(panel.chart.steps) > 0, timeout=120_000)
    assert panel.running
    qtbot.waitUntil(lambda: not panel.running, timeout=300_000)
    result = panel.result
    assert result is not None and not result.cancelled, panel.status.text()
    assert Path(result.out).is_file() and result.epochs == 2
    assert len(panel.chart.steps) == len(result.losses)
    assert [e for e, *_ in panel.chart.epoch_points] == [1, 2]
    assert all(score is not None for *_, score in panel.chart.epoch_points)
    assert "Validation mIoU" in panel.status.text()
    assert panel.prelabel_button.isEnabled()
    assert panel.out.text() != str(result.out)  # the next run will not overwrite it
    qtbot.wait(50)  # paint the chart with data (it must not raise)
    panel.chart.grab()

    assert panel.prelabel_remaining()
    qtbot.waitUntil(lambda: panel.last_prelabel is not None, timeout=120_000)
    assert panel.last_prelabel.predicted == 1
    assert prediction_models(window.project) == {result.name: 1}
    assert window.frames.frame(4).status is FrameStatus.PRELABELED
    window.close()


def test_cancel_keeps_the_best_checkpoint(qtbot, tiny_demo: Path):
    window = _open(qtbot, tiny_demo)
    panel = window.training
    _tiny(panel, 50)
    assert panel.start()
    qtbot.waitUntil(lambda: len(panel.chart.epoch_points) >= 1, timeout=300_000)
    panel.cancel()
    qtbot.waitUntil(lambda: not panel.running, timeout=120_000)
    result = panel.result
    assert result.cancelled and result.epochs < 50
    assert Path(result.out).is_file()
    assert panel.status.text().startswith("Cancelled; kept")
    assert panel.prelabel_button.isEnabled() and panel.train_button.isEnabled()
    window.close()


def test_a_project_without_labels_cannot_train(qtbot, tmp_path: Path):
    path = tmp_path / "new.roadmark"
    build_demo_project(path, frames=2, labeled=0, width=64, height=32).close()
    window = _open(qtbot, path)
    window.actions["training.panel"].trigger()  # the frames are counted when it opens
    assert "No labeled frames yet" in window.training.frames_info.text()
    assert not window.training.train_button.isEnabled()
    window.close()
