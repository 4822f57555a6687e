"""Model > Pre-label frames…: run a model over the project in a worker thread.

The dialog picks a model file, the device, the batch size and which frames; the run
(:func:`roadmark.models.runner.prelabel`) happens in a :class:`~roadmark.app.jobs.JobRunner`
thread with its own connection to the project, behind a progress dialog that shows frames
per second and can cancel (frames stored before the cancel are kept). torch is imported
only inside that thread, so the window opens without it. Predictions stay apart from the
labels; the guided review (Review menu) offers them for acceptance.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from roadmark.app.dialog_buttons import ok_cancel
from roadmark.app.jobs import JobContext, JobRunner
from roadmark.app.shortcuts import ActionSpec, register

if TYPE_CHECKING:
    from roadmark.app.window_api import ProjectWindow

register([ActionSpec("model.prelabel", "&Pre-label frames…", "Model")])

DEVICES = ("auto", "cpu", "cuda")
FRAMES_ALL, FRAMES_CURRENT = "all frames", "the current frame"


@dataclass(frozen=True)
class PrelabelRequest:
    """What to run: the model file, the device and batch, the frames (``None``: all)."""

    model: Path
    device: str = "auto"
    batch: int = 4
    frame_ids: tuple[int, ...] | None = None
    force: bool = False
    workers: int | None = None


class PrelabelDialog(QDialog):
    """Model file, device, batch size, frames and "predict again" for a pre-labeling run."""

    def __init__(self, parent: QWidget | None = None, *, model: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Pre-label frames")
        self.model = QLineEdit(model)
        self.model.setPlaceholderText("a .roadmodel file or model folder")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.model, 1)
        row.addWidget(browse)
        self.device = QComboBox()
        self.device.addItems(DEVICES)
        self.batch = QSpinBox(minimum=1, maximum=256, value=4)
        self.frames = QComboBox()
        self.frames.addItems([FRAMES_ALL, FRAMES_CURRENT])
        self.force = QCheckBox("Predict frames this model has predicted already")
        form = QFormLayout(self)
        form.addRow("Model", row)
        form.addRow("Device", self.device)
        form.addRow("Frames per batch", self.batch)
        form.addRow("Frames", self.frames)
        form.addRow(self.force)
        form.addRow(ok_cancel(self))

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Model file", self.model.text(), "roadmark models (*.roadmodel);;All (*)"
        )
        if path:
            self.model.setText(path)


class Prelabeler(QObject):
    """Runs pre-labeling jobs for a project window.

    Args:
        window: The project window.
        dialogs: Show the progress dialog (tests switch it off).
    """

    def __init__(self, window: ProjectWindow, *, dialogs: bool = True) -> None:
        super().__init__(window)
        self.window = window
        self.jobs = JobRunner(window, window.project, dialogs=dialogs)
        window.on_close(self.jobs.close)  # a running pre-labeling stops after its batch
        self.last_model = ""
        self.last_result: Any = None
        window.actions.bind("model.prelabel", self.ask)

    def ask(self) -> None:
        """Show the dialog and start the run it describes."""
        if self.jobs.busy:
            self.window.show_error("A pre-labeling run is in progress already")
            return
        dialog = PrelabelDialog(self.window, model=self.last_model)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        document = self.window.editor.document
        frame_ids = None
        if dialog.frames.currentText() == FRAMES_CURRENT and document is not None:
            frame_ids = (document.frame.id,)
        self.start(
            PrelabelRequest(
                Path(dialog.model.text().strip()),
                device=dialog.device.currentText(),
                batch=dialog.batch.value(),
                frame_ids=frame_ids,
                force=dialog.force.isChecked(),
            )
        )

    def start(self, request: PrelabelRequest) -> bool:
        """Run ``request`` in the background; ``False`` if a run is going on already."""
        self.last_model = str(request.model)

        def work(job: JobContext) -> Any:
            from roadmark.models.files import load_model
            from roadmark.models.runner import PrelabelOptions, prelabel

            job.report(0, 0, f"Loading {request.model.name}…")
            model = load_model(request.model)
            options = PrelabelOptions(
                device=request.device,
                batch_size=request.batch,
                workers=request.workers,
                force=request.force,
                frame_ids=request.frame_ids,
            )
            start = time.perf_counter()

            def report(done: int, total: int, message: str = "") -> None:
                rate = done / max(time.perf_counter() - start, 1e-6)
                job.report(done, total, f"{done} of {total} frames, {rate:.2f} frames/s")

            return prelabel(job.project, model, options, progress=report, cancel=job.cancel)

        return self.jobs.start(
            f"Pre-labeling with {request.model.name}", work, self._done, self._failed
        )

    def _done(self, result: Any) -> None:
        self.last_result = result
        skipped = f", {result.skipped} skipped (predicted already)" if result.skipped else ""
        self.window.statusBar().showMessage(
            f"Pre-labeled {result.predicted} frames with {result.model} on {result.device} "
            f"({result.frames_per_second:.2f} frames/s){skipped}",
            10000,
        )
        self.window.state.predictions_stored()

    def _failed(self, error: BaseException) -> None:
        self.window.show_error(f"Pre-labeling failed: {error}")


def install(window: ProjectWindow, *, dialogs: bool = True) -> Prelabeler:
    """Add Model > Pre-label frames… to ``window``."""
    return Prelabeler(window, dialogs=dialogs)
