"""File > Import dataset and File > Export dataset: the format registry in the window.

The dialogs only collect options; the work is :func:`roadmark.io.formats.jobs.import_dataset`
and :func:`~roadmark.io.formats.jobs.export_dataset`, the same Qt-free jobs the command
line runs, in a :class:`~roadmark.app.jobs.JobRunner` thread (on its own ``Project``) with
a progress dialog whose Cancel stops them between frames. A cancelled or failed import
writes nothing (the job is one transaction); a cancelled or failed export leaves no file or
folder behind.

An import is not an edit on the undo history (it can replace objects the history refers
to), so the history is cleared when one succeeds and the open frame is read again. When
the import added labels to the schema (``Add labels the project lacks``), a new window on
the project takes the old one's place (same frame, size and docks), since the label list,
colors and shortcuts are built from the schema when a window opens.

:func:`install` adds both actions to a project window
(:class:`~roadmark.app.window_api.ProjectWindow`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from roadmark.app.dialog_buttons import ok_cancel
from roadmark.app.jobs import JobContext, JobRunner
from roadmark.app.shortcuts import ActionSpec, register
from roadmark.core.errors import RoadmarkError
from roadmark.io.formats import Capability, registered_formats
from roadmark.io.formats.common import Job, parse_mapping
from roadmark.io.formats.jobs import ExportReport, ImportReport, export_dataset, import_dataset

if TYPE_CHECKING:
    from roadmark.app.window_api import ProjectWindow

MAX_WARNINGS_SHOWN = 8

DATASET_ACTIONS = [
    ActionSpec("file.import_dataset", "&Import dataset…", "File"),
    ActionSpec("file.export_dataset", "&Export dataset…", "File"),
]
register(DATASET_ACTIONS)


@dataclass
class ImportOptions:
    """What File > Import dataset asks for (the options of ``roadmark import``)."""

    format_id: str
    source: Path
    images: Path | None = None
    add_labels: bool = False
    mapping: dict[str, str] = field(default_factory=dict)
    replace: bool = False


@dataclass
class ExportOptions:
    """What File > Export dataset asks for (the options of ``roadmark export``)."""

    format_id: str
    target: Path
    frames: str | None = None
    overwrite: bool = False


def _titles(capability: Capability) -> dict[str, str]:
    return {format_id: cls.title for format_id, cls in registered_formats(capability).items()}


def _path_row(edit: QLineEdit, browse: Callable[[], None]) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(edit, 1)
    button = QPushButton("Browse…")
    button.clicked.connect(browse)
    layout.addWidget(button)
    return row


class _FormatDialog(QDialog):
    """A format chooser, path rows and OK/Cancel; OK only when :meth:`problem` is empty."""

    def __init__(self, title: str, capability: Capability, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setMinimumWidth(560)
        self.format = QComboBox()
        for format_id, text in _titles(capability).items():
            self.format.addItem(f"{text} ({format_id})", format_id)
        self.form = QFormLayout(self)
        self.form.addRow("Format", self.format)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.buttons = ok_cancel(self)

    def finish_layout(self) -> None:
        self.form.addRow(self.message)
        self.form.addRow(self.buttons)
        self.format.currentIndexChanged.connect(self._update)
        self._update()

    def format_id(self) -> str:
        return str(self.format.currentData())

    def set_format(self, format_id: str) -> None:
        index = self.format.findData(format_id)
        if index < 0:
            raise ValueError(f"no format {format_id!r} in this dialog")
        self.format.setCurrentIndex(index)

    def is_file_format(self) -> bool:
        cls = registered_formats().get(self.format_id())
        return cls is not None and cls.output == "file"

    def problem(self) -> str:
        return ""

    def _update(self) -> None:
        problem = self.problem()
        self.message.setText(problem)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not problem)

    def accept(self) -> None:
        if not self.problem():
            super().accept()


class ImportDialog(_FormatDialog):
    """Options of File > Import dataset."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Import dataset", Capability.IMPORT, parent)
        self.source = QLineEdit()
        self.source.setPlaceholderText("the dataset's JSON file or folder")
        self.images = QLineEdit()
        self.images.setPlaceholderText("default: next to the dataset")
        self.add_labels = QCheckBox("Add labels the project's schema lacks")
        self.mapping = QLineEdit()
        self.mapping.setPlaceholderText("FROM=TO, FROM=TO … (dataset label = schema label)")
        self.replace = QCheckBox("Replace the objects of frames that have some (default: add)")
        self.form.addRow("Dataset", _path_row(self.source, self._browse_source))
        self.form.addRow("Images", _path_row(self.images, self._browse_images))
        self.form.addRow("Map labels", self.mapping)
        self.form.addRow(self.add_labels)
        self.form.addRow(self.replace)
        for edit in (self.source, self.images, self.mapping):
            edit.textChanged.connect(self._update)
        self.finish_layout()

    def _browse_source(self) -> None:
        if self.is_file_format():
            path, _ = QFileDialog.getOpenFileName(
                self, "Dataset file", self.source.text(), "JSON (*.json);;All files (*)"
            )
        else:
            path = QFileDialog.getExistingDirectory(self, "Dataset folder", self.source.text())
        if path:
            self.source.setText(path)

    def _browse_images(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Images folder", self.images.text())
        if path:
            self.images.setText(path)

    def _mapping(self) -> dict[str, str]:
        items = [item.strip() for item in self.mapping.text().split(",") if item.strip()]
        return parse_mapping(items)

    def problem(self) -> str:
        source = self.source.text().strip()
        if not source:
            return "Choose the dataset to import."
        if not Path(source).exists():
            return f"{source} does not exist."
        images = self.images.text().strip()
        if images and not Path(images).is_dir():
            return f"{images} is not a folder."
        try:
            self._mapping()
        except RoadmarkError as error:
            return f"Map labels: {error.message}"
        return ""

    def options(self) -> ImportOptions:
        images = self.images.text().strip()
        return ImportOptions(
            format_id=self.format_id(),
            source=Path(self.source.text().strip()),
            images=Path(images) if images else None,
            add_labels=self.add_labels.isChecked(),
            mapping=self._mapping(),
            replace=self.replace.isChecked(),
        )


class ExportDialog(_FormatDialog):
    """Options of File > Export dataset."""

    def __init__(self, frame_count: int, parent: QWidget | None = None) -> None:
        super().__init__("Export dataset", Capability.EXPORT, parent)
        self.target = QLineEdit()
        self.frames = QLineEdit()
        self.frames.setPlaceholderText(f"all {frame_count} frames, or positions like 0-9,15")
        self.overwrite = QCheckBox("Replace the target if it exists (once the new one is complete)")
        self.form.addRow("Write to", _path_row(self.target, self._browse_target))
        self.form.addRow("Frames", self.frames)
        self.form.addRow(self.overwrite)
        for edit in (self.target, self.frames):
            edit.textChanged.connect(self._update)
        self.overwrite.toggled.connect(self._update)
        self.format.currentIndexChanged.connect(self._placeholder)
        self.finish_layout()
        self._placeholder()

    def _placeholder(self) -> None:
        cls = registered_formats().get(self.format_id())
        if cls is not None and cls.output == "file":
            self.target.setPlaceholderText(f"a new {cls.suffix} file".replace("  ", " "))
        else:
            self.target.setPlaceholderText("a new folder")

    def _browse_target(self) -> None:
        if self.is_file_format():
            path, _ = QFileDialog.getSaveFileName(
                self, "Export to file", self.target.text(), "JSON (*.json);;All files (*)"
            )
        else:
            path, _ = QFileDialog.getSaveFileName(
                self,
                "Export to a new folder (type its name)",
                self.target.text(),
                options=QFileDialog.Option.ShowDirsOnly,
            )
        if path:
            self.target.setText(path)

    def problem(self) -> str:
        target = self.target.text().strip()
        if not target:
            return "Choose where to write."
        path = Path(target)
        if not path.parent.is_dir():
            return f"The folder {path.parent} does not exist."
        cls = registered_formats().get(self.format_id())
        beside = cls().companions(path) if cls is not None else []  # the panoptic PNG folder
        for made in [path, *beside]:
            if made.exists() and not self.overwrite.isChecked():
                return f"{made.name} exists already: choose a new name or tick Replace."
        return ""

    def options(self) -> ExportOptions:
        frames = self.frames.text().strip()
        return ExportOptions(
            format_id=self.format_id(),
            target=Path(self.target.text().strip()),
            frames=frames or None,
            overwrite=self.overwrite.isChecked(),
        )


def format_job(job: JobContext) -> Job:
    """A formats :class:`Job` reporting to ``job`` and stopping when it is cancelled."""

    def report(done: int, total: int, stage: str = "") -> None:
        job.report(done, total, f"{stage} {done} of {total}" if total else stage)

    return Job(progress=report, cancel=job.cancel)


def _warnings_text(warnings: list[Any]) -> str:
    if not warnings:
        return ""
    lines = [str(w) for w in warnings[:MAX_WARNINGS_SHOWN]]
    if len(warnings) > MAX_WARNINGS_SHOWN:
        lines.append(f"… and {len(warnings) - MAX_WARNINGS_SHOWN} more")
    return "\n\nWarnings:\n" + "\n".join(lines)


class DatasetIO(QObject):
    """The window's import and export actions.

    Args:
        window: The project window.
        dialogs: Show progress dialogs for long jobs (tests may switch them off).
    """

    def __init__(self, window: ProjectWindow, *, dialogs: bool = True) -> None:
        super().__init__(window)
        self.window = window
        self.project = window.project
        self.jobs = JobRunner(window, window.project, dialogs=dialogs)
        self.last_import: ImportReport | None = None
        self.reopened: ProjectWindow | None = None
        self.last_export: ExportReport | None = None
        window.actions.bind("file.import_dataset", self.import_dialog)
        window.actions.bind("file.export_dataset", self.export_dialog)
        if self.project.read_only:
            window.actions["file.import_dataset"].setEnabled(False)
        # Before the window closes the project: a running import rolls back, a running
        # export removes its staging folder.
        window.on_close(self.jobs.close)

    def _say(self, message: str, ms: int = 8000) -> None:
        self.window.statusBar().showMessage(message, ms)

    def _failed(self, error: BaseException) -> None:
        if isinstance(error, RoadmarkError):
            self.window.show_error(str(error))
        else:
            self.window.show_error(f"Unexpected error: {type(error).__name__}: {error}")

    # -- import ----------------------------------------------------------------------------

    def import_dialog(self) -> None:
        dialog = ImportDialog(self.window)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.start_import(dialog.options())

    def start_import(self, options: ImportOptions) -> bool:
        """Import in the background; ``False`` when another import or export is running."""
        if self.project.read_only:
            self.window.show_error("The project is open read-only; nothing can be imported.")
            return False
        self.window.editor.tool.cancel()

        def work(job: JobContext) -> ImportReport:
            return import_dataset(
                job.project,
                options.format_id,
                options.source,
                images=options.images,
                add_labels=options.add_labels,
                mapping=options.mapping,
                replace=options.replace,
                job=format_job(job),
            )

        started = self.jobs.start(
            f"Importing {options.source.name} ({options.format_id})",
            work,
            self._imported,
            self._failed,
        )
        if not started:
            self._say("Another import or export is still running.")
        return started

    def _imported(self, report: ImportReport) -> None:
        self.last_import = report
        window = self.window
        window.session.history.clear()
        window.reread_frames()
        window.state.predictions_stored()  # replaced frames take their predictions along
        added = f"; labels added: {', '.join(report.labels_added)}" if report.labels_added else ""
        message = (
            f"Imported {report.objects} objects on {report.frames} frames "
            f"({report.frames_added} new) from {Path(report.source).name}{added}."
        )
        if report.labels_added:
            # The label list, colors and shortcuts are built from the schema when a window
            # opens, so a window on the new schema takes this one's place.
            window = self.reopened = reopen_window(window)
            message += " The window was reopened with the new labels."
        window.statusBar().showMessage(message, 8000)
        if report.warnings or report.labels_added:
            window.show_error(message + _warnings_text(report.warnings))

    # -- export ----------------------------------------------------------------------------

    def export_dialog(self) -> None:
        dialog = ExportDialog(len(self.window.state), self.window)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.start_export(dialog.options())

    def start_export(self, options: ExportOptions) -> bool:
        """Export in the background; ``False`` when another import or export is running."""

        def work(job: JobContext) -> ExportReport:
            return export_dataset(
                job.project,
                options.format_id,
                options.target,
                frames=options.frames,
                overwrite=options.overwrite,
                job=format_job(job),
            )

        started = self.jobs.start(
            f"Exporting to {options.target.name} ({options.format_id})",
            work,
            self._exported,
            self._failed,
        )
        if not started:
            self._say("Another import or export is still running.")
        return started

    def _exported(self, report: ExportReport) -> None:
        self.last_export = report
        message = f"Exported {report.objects} objects on {report.frames} frames to {report.target}."
        self._say(message)
        if report.warnings:
            self.window.show_error(message + _warnings_text(report.warnings))


_REOPENED: list[QWidget] = []  # windows opened in place of another; Qt needs an owner


def reopen_window(window: ProjectWindow) -> ProjectWindow:
    """Open the window's project again in a new window at the same frame, size and dock
    layout, then close the old one (every edit is already in the project)."""
    new = window.open_window(str(window.project.location), frame=window.state.current_row)
    new.restoreState(window.saveState())
    if window.isMaximized():
        new.showMaximized()
    else:
        new.resize(window.size())
        new.move(window.pos())
        new.show()
    _REOPENED[:] = [w for w in _REOPENED if w.isVisible()] + [new]
    window.close()
    return new


def install(window: ProjectWindow) -> DatasetIO:
    """Add File > Import dataset and File > Export dataset to ``window``."""
    return DatasetIO(window)
