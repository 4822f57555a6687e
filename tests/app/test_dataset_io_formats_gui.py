"""The formats added to the registry (COCO panoptic, YOLO) in File > Import/Export dataset:
listed, exported and imported through the window with progress, cancellable."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialogButtonBox

from roadmark.app.features import dataset_io
from roadmark.app.features.dataset_io import (
    ExportDialog,
    ExportOptions,
    ImportDialog,
    ImportOptions,
)
from roadmark.io.store import Project
from tests.app.test_dataset_io_gui import _cancel_with_the_dialog, _gate, _idle, _open

FORMATS = [("coco-panoptic", "out.json", ["out", "out.json"]), ("yolo", "y", ["y"])]


def test_the_dialogs_list_the_new_formats(qtbot, tmp_path: Path):
    for dialog in (ImportDialog(), ExportDialog(3)):
        qtbot.addWidget(dialog)
        ids = [dialog.format.itemData(i) for i in range(dialog.format.count())]
        assert {"coco-panoptic", "yolo", "coco", "cityscapes"} <= set(ids)
    dialog = ExportDialog(3)
    qtbot.addWidget(dialog)
    dialog.set_format("coco-panoptic")
    (tmp_path / "pan").mkdir()
    dialog.target.setText(str(tmp_path / "pan.json"))
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert "pan exists already" in dialog.message.text() and not ok.isEnabled()
    dialog.overwrite.setChecked(True)
    assert ok.isEnabled()


def _record_progress(monkeypatch, name: str) -> list[tuple[str, int, int]]:
    """What the window's job named ``name`` reports as progress: (stage, done, total)."""
    seen: list[tuple[str, int, int]] = []
    real = getattr(dataset_io, name)

    def recording(*args, job, **kwargs):
        progress = job.progress
        assert progress is not None

        def on_progress(done: int, total: int, stage: str = "") -> None:
            seen.append((stage, done, total))
            progress(done, total, stage)

        job.progress = on_progress
        return real(*args, job=job, **kwargs)

    monkeypatch.setattr(dataset_io, name, recording)
    return seen


@pytest.mark.parametrize(("format_id", "name", "made"), FORMATS)
def test_export_then_import_through_the_window(
    qtbot,
    monkeypatch,
    small_project: Path,
    tmp_path: Path,
    format_id: str,
    name: str,
    made: list[str],
):
    out = tmp_path / "exports"
    out.mkdir()
    window = _open(qtbot, small_project, dialogs=True)
    progress = _record_progress(monkeypatch, "export_dataset")
    assert window.dataset_io.start_export(ExportOptions(format_id, out / name))
    _idle(qtbot, window)
    assert window.last_error is None, window.last_error
    assert window.dataset_io.last_export.frames == 3
    assert sorted(p.name for p in out.iterdir()) == made
    assert ("writing", 3, 3) in progress
    window.close()

    empty = tmp_path / "empty.roadmark"
    Project.create(empty).close()
    window = _open(qtbot, empty, dialogs=True)
    assert window.dataset_io.start_import(ImportOptions(format_id, out / name))
    _idle(qtbot, window)
    assert window.last_error is None, window.last_error
    assert window.frames.rowCount() == 3
    assert window.dataset_io.last_import.objects == 3
    assert window.editor.document is not None and len(window.editor.document.live()) == 3
    window.close()


@pytest.mark.parametrize(("format_id", "name", "made"), FORMATS)
def test_cancelling_an_export_leaves_nothing(
    qtbot, monkeypatch, small_project: Path, tmp_path: Path, format_id: str, name: str, made
):
    out = tmp_path / "exports"
    out.mkdir()
    window = _open(qtbot, small_project, dialogs=True)
    gate = _gate(monkeypatch, "export_dataset")
    assert window.dataset_io.start_export(ExportOptions(format_id, out / name))
    _cancel_with_the_dialog(qtbot, window, gate)
    assert window.dataset_io.last_export is None and window.last_error is None
    assert list(out.iterdir()) == []
    window.close()
