"""KITTI and BDD100K in File > Import dataset / Export dataset: listed in the dialogs, run
with progress, cancelled from the progress dialog."""

from __future__ import annotations

from pathlib import Path

import pytest

from roadmark.app.features import dataset_io
from roadmark.app.features.dataset_io import (
    ExportDialog,
    ExportOptions,
    ImportDialog,
    ImportOptions,
)
from roadmark.io.formats.common import Job
from roadmark.io.store import Project
from tests.app.test_dataset_io_gui import _cancel_with_the_dialog, _gate, _idle, _open

TARGETS = {"kitti": "kitti", "bdd100k": "labels.json"}


def test_the_dialogs_offer_both_formats(qtbot):
    importer, exporter = ImportDialog(), ExportDialog(3)
    qtbot.addWidget(importer)
    qtbot.addWidget(exporter)
    for dialog in (importer, exporter):
        texts = [dialog.format.itemText(i) for i in range(dialog.format.count())]
        assert "KITTI (label_2 boxes, semantic/instance maps) (kitti)" in texts
        assert "BDD100K (Scalabel JSON) (bdd100k)" in texts
    exporter.set_format("kitti")
    assert exporter.target.placeholderText() == "a new folder" and not exporter.is_file_format()
    exporter.set_format("bdd100k")
    assert exporter.target.placeholderText() == "a new .json file" and exporter.is_file_format()


def _recording(monkeypatch) -> list[tuple[str, int, int]]:
    """Record the stages and progress the window's format jobs report."""
    seen: list[tuple[str, int, int]] = []
    real = dataset_io.format_job

    def spy(context) -> Job:
        job = real(context)
        report = job.progress
        assert report is not None

        def on_report(done: int, total: int, stage: str = "") -> None:
            seen.append((stage, done, total))
            report(done, total, stage)

        return Job(progress=on_report, cancel=job.cancel)

    monkeypatch.setattr(dataset_io, "format_job", spy)
    return seen


@pytest.mark.parametrize("format_id", ["kitti", "bdd100k"])
def test_export_and_import_through_the_window_with_progress(
    qtbot, monkeypatch, small_project: Path, tmp_path: Path, format_id: str
):
    seen = _recording(monkeypatch)
    window = _open(qtbot, small_project)
    target = tmp_path / TARGETS[format_id]
    assert window.dataset_io.start_export(ExportOptions(format_id, target))
    _idle(qtbot, window)
    assert window.last_error is None, window.last_error
    report = window.dataset_io.last_export
    assert report is not None and report.frames == 3 and report.objects == 3
    assert ("writing", 3, 3) in seen
    window.close()

    seen.clear()
    empty = tmp_path / "empty.roadmark"
    Project.create(empty).close()
    window = _open(qtbot, empty)
    assert window.dataset_io.start_import(ImportOptions(format_id, target))
    _idle(qtbot, window)
    assert window.last_error is None, window.last_error
    assert window.frames.rowCount() == 3
    assert window.editor.document is not None and len(window.editor.document.live()) == 3
    assert [entry for entry in seen if entry[1] == entry[2] == 3] == [
        ("reading", 3, 3),
        ("checking images", 3, 3),
        ("writing", 3, 3),
    ]
    assert "Imported 3 objects on 3 frames (3 new)" in window.statusBar().currentMessage()
    window.close()


@pytest.mark.parametrize("format_id", ["kitti", "bdd100k"])
def test_cancelling_from_the_progress_dialog(
    qtbot, monkeypatch, small_project: Path, tmp_path: Path, format_id: str
):
    window = _open(qtbot, small_project, dialogs=True)
    gate = _gate(monkeypatch, "export_dataset")
    target = tmp_path / TARGETS[format_id]
    assert window.dataset_io.start_export(ExportOptions(format_id, target))
    _cancel_with_the_dialog(qtbot, window, gate)
    assert window.dataset_io.last_export is None and window.last_error is None
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(f".{target.name}")] == []
    assert not target.exists()
    monkeypatch.undo()
    assert window.dataset_io.start_export(ExportOptions(format_id, target))
    _idle(qtbot, window)
    window.close()

    empty = tmp_path / "empty.roadmark"
    Project.create(empty).close()
    window = _open(qtbot, empty, dialogs=True)
    gate = _gate(monkeypatch, "import_dataset")
    assert window.dataset_io.start_import(ImportOptions(format_id, target))
    _cancel_with_the_dialog(qtbot, window, gate)
    assert window.dataset_io.last_import is None and window.last_error is None
    assert window.frames.rowCount() == 0 and window.project.frames() == []
    window.close()
