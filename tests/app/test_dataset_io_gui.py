"""File > Import dataset and File > Export dataset: dialogs, progress, cancel, errors."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from pycocotools.coco import COCO
from PySide6.QtWidgets import QDialogButtonBox, QProgressDialog, QPushButton

from roadmark.app.features import dataset_io
from roadmark.app.features.dataset_io import (
    ExportDialog,
    ExportOptions,
    ImportDialog,
    ImportOptions,
)
from roadmark.app.main_window import MainWindow
from roadmark.io.formats import Capability, DatasetFormat, register_format, unregister_format
from roadmark.io.store import Project
from tests.app.conftest import show


def _open(qtbot, path: Path, *, dialogs: bool = False) -> MainWindow:
    window = MainWindow.open_project(str(path), frame=0, prefetch=False)
    qtbot.addWidget(window)
    window.resize(1100, 700)
    show(qtbot, window)
    window.dataset_io.jobs.dialogs = dialogs
    return window


def _idle(qtbot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: not window.dataset_io.jobs.busy, timeout=30000)


def _file_menu(window: MainWindow) -> list[str]:
    return [a.text() for a in window.actions.menu("File").actions()]


def test_export_then_import_through_the_file_menu(qtbot, small_project: Path, tmp_path: Path):
    window = _open(qtbot, small_project)
    assert {"&Import dataset…", "&Export dataset…"} <= set(_file_menu(window))
    target = tmp_path / "out.json"
    assert window.dataset_io.start_export(ExportOptions("coco", target))
    _idle(qtbot, window)
    report = window.dataset_io.last_export
    assert report is not None and report.frames == 3 and report.objects == 3
    coco = COCO(str(target))
    assert len(coco.imgs) == 3 and len(coco.anns) == 3
    assert "Exported 3 objects" in window.statusBar().currentMessage()
    window.close()

    empty = tmp_path / "empty.roadmark"
    Project.create(empty).close()
    window = _open(qtbot, empty)
    assert window.frames.rowCount() == 0
    window.session.history.clear()
    assert window.dataset_io.start_import(ImportOptions("coco", target))
    _idle(qtbot, window)
    assert window.last_error is None
    assert window.frames.rowCount() == 3
    assert window.current_row == 0
    document = window.editor.document
    assert document is not None and len(document.live()) == 3  # the open frame shows them
    assert not window.session.history.can_undo
    assert window.dataset_io.last_import is not None
    assert window.dataset_io.last_import.objects == 3
    assert "Imported 3 objects on 3 frames (3 new)" in window.statusBar().currentMessage()
    window.close()


def test_import_into_the_open_frame_reads_it_again(qtbot, small_project: Path, tmp_path: Path):
    with Project.open(small_project) as project:
        from roadmark.io.formats.jobs import export_dataset

        export_dataset(project, "coco", tmp_path / "out.json")
    window = _open(qtbot, small_project)
    assert window.editor.document is not None and len(window.editor.document.live()) == 3
    assert window.dataset_io.start_import(ImportOptions("coco", tmp_path / "out.json"))
    _idle(qtbot, window)
    assert "imported ones are on top of them" in (window.last_error or "")
    assert window.frames.rowCount() == 3 and window.current_row == 0
    assert len(window.editor.document.live()) == 6  # imported on top of the three there
    options = ImportOptions("coco", tmp_path / "out.json", replace=True)
    assert window.dataset_io.start_import(options)
    _idle(qtbot, window)
    assert len(window.editor.document.live()) == 3
    window.close()


def _gate(monkeypatch, name: str) -> threading.Event:
    """Hold the job named ``name`` at its start until the returned event is set."""
    gate = threading.Event()
    real = getattr(dataset_io, name)

    def held(*args, **kwargs):
        assert gate.wait(20)
        return real(*args, **kwargs)

    monkeypatch.setattr(dataset_io, name, held)
    return gate


def _cancel_with_the_dialog(qtbot, window: MainWindow, gate: threading.Event) -> None:
    dialog = window.dataset_io.jobs.dialog
    assert isinstance(dialog, QProgressDialog)
    qtbot.waitUntil(dialog.isVisible, timeout=5000)  # shown once the job takes a while
    (button,) = dialog.findChildren(QPushButton)
    assert button.text() == "Cancel"
    button.click()
    gate.set()
    _idle(qtbot, window)


def test_cancelling_an_import_writes_nothing(
    qtbot, monkeypatch, small_project: Path, tmp_path: Path
):
    with Project.open(small_project) as project:
        from roadmark.io.formats.jobs import export_dataset

        export_dataset(project, "coco", tmp_path / "out.json")
    empty = tmp_path / "empty.roadmark"
    Project.create(empty).close()
    window = _open(qtbot, empty, dialogs=True)
    gate = _gate(monkeypatch, "import_dataset")
    assert window.dataset_io.start_import(ImportOptions("coco", tmp_path / "out.json"))
    assert not window.dataset_io.start_export(ExportOptions("coco", tmp_path / "x.json"))
    _cancel_with_the_dialog(qtbot, window, gate)
    assert window.last_error is None and window.dataset_io.last_import is None
    assert window.frames.rowCount() == 0
    assert window.project.frames() == []
    window.close()


def test_cancelling_an_export_leaves_nothing(
    qtbot, monkeypatch, small_project: Path, tmp_path: Path
):
    window = _open(qtbot, small_project, dialogs=True)
    gate = _gate(monkeypatch, "export_dataset")
    assert window.dataset_io.start_export(ExportOptions("cityscapes", tmp_path / "cs"))
    _cancel_with_the_dialog(qtbot, window, gate)
    assert window.dataset_io.last_export is None and window.last_error is None
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".cs")) == []
    assert not (tmp_path / "cs").exists()
    window.close()


def test_bad_dataset_shows_the_file_and_field_and_keeps_the_project(
    qtbot, small_project: Path, tmp_path: Path
):
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [{"id": 1, "file_name": "../../x.png", "width": 4, "height": 4}]')
    window = _open(qtbot, small_project)
    before = [len(window.project.objects(f.id)) for f in window.project.frames()]
    window.dataset_io.start_import(ImportOptions("coco", bad))
    _idle(qtbot, window)
    assert window.last_error is not None and "bad.json" in window.last_error
    assert [len(window.project.objects(f.id)) for f in window.project.frames()] == before
    window.close()


def test_dialogs_check_their_options(qtbot, tmp_path: Path):
    @register_format
    class ScoresOnly(DatasetFormat):
        id = "test-scores-gui"
        version = "0.1"
        title = "scores only"
        capabilities = frozenset({Capability.EXPORT, Capability.SCORES})
        output = "file"
        suffix = ".json"

    try:
        importer = ImportDialog()
        exporter = ExportDialog(3)
    finally:
        unregister_format("test-scores-gui")
    qtbot.addWidget(importer)
    qtbot.addWidget(exporter)
    # export-only formats are offered for export, not for import
    assert importer.format.findData("test-scores-gui") < 0
    assert exporter.format.findData("test-scores-gui") >= 0
    assert importer.format.findData("coco") >= 0 and importer.format.findData("cityscapes") >= 0

    ok = importer.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert not ok.isEnabled() and "Choose the dataset" in importer.message.text()
    importer.source.setText(str(tmp_path / "missing.json"))
    assert "does not exist" in importer.message.text()
    source = tmp_path / "in.json"
    source.write_text("{}")
    importer.source.setText(str(source))
    importer.mapping.setText("cargroup")
    assert "FROM=TO" in importer.message.text() and not ok.isEnabled()
    importer.mapping.setText("cargroup=car, lorry=truck")
    importer.set_format("coco")
    importer.add_labels.setChecked(True)
    assert ok.isEnabled() and importer.message.text() == ""
    options = importer.options()
    assert options == ImportOptions(
        "coco", source, None, True, {"cargroup": "car", "lorry": "truck"}, False
    )

    ok = exporter.buttons.button(QDialogButtonBox.StandardButton.Ok)
    exporter.set_format("cityscapes")
    assert exporter.target.placeholderText() == "a new folder"
    exporter.target.setText(str(tmp_path / "nowhere" / "cs"))
    assert "does not exist" in exporter.message.text() and not ok.isEnabled()
    exporter.target.setText(str(source))
    assert "exists already" in exporter.message.text()
    exporter.overwrite.setChecked(True)
    assert ok.isEnabled()
    exporter.frames.setText("0-1")
    assert exporter.options() == ExportOptions("cityscapes", source, "0-1", True)
    with pytest.raises(ValueError, match="no format"):
        exporter.set_format("labelme")


def test_import_that_adds_labels_reopens_the_window_with_them(
    qtbot, small_project: Path, tmp_path: Path
):
    with Project.open(small_project) as project:
        from roadmark.io.formats.jobs import export_dataset

        export_dataset(project, "coco", tmp_path / "out.json")
    data = json.loads((tmp_path / "out.json").read_text())
    data["categories"].append({"id": 900, "name": "wheelbarrow", "supercategory": "vehicle"})
    data["annotations"][0]["category_id"] = 900
    (tmp_path / "new.json").write_text(json.dumps(data))
    window = _open(qtbot, small_project)
    window.select_row(1)
    window.resize(1000, 640)
    plain = ImportOptions("coco", tmp_path / "new.json")
    assert window.dataset_io.start_import(plain)
    _idle(qtbot, window)
    assert "wheelbarrow" in (window.last_error or "")  # unknown labels are listed
    assert window.dataset_io.reopened is None
    window.last_error = None
    adding = ImportOptions("coco", tmp_path / "new.json", add_labels=True, replace=True)
    assert window.dataset_io.start_import(adding)
    _idle(qtbot, window)
    new = window.dataset_io.reopened
    assert new is not None
    qtbot.addWidget(new)
    assert not window.isVisible() and new.isVisible()
    assert new.current_row == 1 and new.size() == window.size()
    label = new.project.schema.label("wheelbarrow")
    assert label.id not in {lab.id for lab in window.editor.schema.labels}
    assert label.id in {lab.id for lab in new.editor.schema.labels}
    assert "The window was reopened with the new labels" in (new.last_error or "")
    first = new.project.objects(new.frames.frame(0).id).live()
    assert [o.label_id for o in first].count(label.id) == 1
    new.select_row(0)
    assert label.id in {o.label_id for o in new.editor.document.live()}
    new.close()


def test_closing_the_window_cancels_a_running_export(
    qtbot, monkeypatch, small_project: Path, tmp_path: Path
):
    window = _open(qtbot, small_project)
    gate = _gate(monkeypatch, "export_dataset")
    assert window.dataset_io.start_export(ExportOptions("cityscapes", tmp_path / "cs"))
    threading.Timer(0.3, gate.set).start()  # the job gets going while the window closes
    window.close()  # waits for the job, which stops at its first check
    gate.set()
    time.sleep(1.0)  # had it not been cancelled, the export would finish by now
    assert not (tmp_path / "cs").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".cs")] == []


def test_the_progress_dialog_shows_after_show_after_ms(qtbot, small_project: Path):
    """A job that takes a while shows its dialog after SHOW_AFTER_MS, not Qt's 4 s default."""
    import time

    from roadmark.app.jobs import SHOW_AFTER_MS

    window = _open(qtbot, small_project, dialogs=True)
    gate = threading.Event()
    assert window.dataset_io.jobs.start("Waiting", lambda progress: gate.wait(20), print, print)
    dialog = window.dataset_io.jobs.dialog
    assert dialog is not None
    start = time.perf_counter()
    qtbot.waitUntil(dialog.isVisible, timeout=3000)
    assert time.perf_counter() - start < 3.0 and SHOW_AFTER_MS < 3000
    gate.set()
    _idle(qtbot, window)
    window.close()
