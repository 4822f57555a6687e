"""The Smart tool in the window: key, background embeddings, click, Tab, Return, undo."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from roadmark.app.main_window import MainWindow
from roadmark.io.embedding_cache import cache_folder
from roadmark.models.click_net import ClickNet
from roadmark.models.click_training import save_click_model
from tests.app.conftest import click, show

CAR = 26


@pytest.fixture(scope="module")
def click_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(1)
    net = ClickNet()
    # a decoder that answers "everything in the crop" makes the test independent of training
    torch.nn.init.zeros_(net.decoder.head.weight)
    torch.nn.init.constant_(net.decoder.head.bias, 5.0)
    path = tmp_path_factory.mktemp("smart") / "always.roadmodel"
    save_click_model(net, path, name="always")
    return path


def _open(qtbot, path: Path, model: Path) -> MainWindow:
    window = MainWindow.open_project(str(path), prefetch=False)
    qtbot.addWidget(window)
    window.resize(1200, 800)
    show(qtbot, window)
    window.canvas.fit()
    window.smart.set_model(model)
    return window


def test_smart_tool_click_return_undo_and_embeddings_ahead(
    qtbot, small_project: Path, click_model: Path
):
    window = _open(qtbot, small_project, click_model)
    smart = window.smart
    QTest.keyClick(window, Qt.Key.Key_S)
    assert window.editor.tool.name == "smart" and window.actions["tool.smart"].isChecked()
    # the open frame and the next ones are encoded in the background, into the cache
    ids = {window.frames.frame(r).id for r in range(3)}
    qtbot.waitUntil(lambda: smart.embedded_frames == ids, timeout=60000)
    assert any((cache_folder(small_project) / "embeddings").rglob("*.npz"))
    window.editor.set_label(CAR)
    before = len(window.project.objects(window.frames.frame(0).id).live())
    click(window.canvas, 60, 40)
    qtbot.waitUntil(lambda: smart.tool.current_region() is not None, timeout=20000)
    assert smart.model_name == "always"
    assert smart.tool.points == ((pytest.approx(60, abs=1), pytest.approx(40, abs=1), True),)
    QTest.keyClick(window.canvas, Qt.Key.Key_Tab)  # the whole-frame candidate
    assert smart.tool.candidate == 1
    QTest.keyClick(window.canvas, Qt.Key.Key_Return)
    live = window.project.objects(window.frames.frame(0).id).live()
    assert len(live) == before + 1
    added = live[-1]
    assert added.label_id == CAR and added.provenance.source == "model:always"
    assert window.session.history.undo_text == "Smart region"
    window.undo()
    assert len(window.project.objects(window.frames.frame(0).id).live()) == before
    window.close()
