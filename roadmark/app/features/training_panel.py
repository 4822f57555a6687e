"""The training panel: learn a model from this project's labels, watch it learn, then
pre-label the remaining frames with it.

Model > Train a model… shows a dock with the settings (task, starting model, epochs,
input size, device, output file), a Train / Cancel button pair, the loss and validation
curves as they come, and when the run is over the validation figures and "Pre-label
remaining frames with this model".

Training runs as a :class:`~roadmark.app.jobs.JobRunner` job without a dialog, on its own
``Project`` (torch is imported there, never on the GUI thread); its reports arrive through
the runner's queued signal, so the window stays responsive. Cancel stops after the current
step; the model file keeps the best epoch so far. Pre-labeling runs the pre-labeling engine
(:func:`roadmark.models.runner.prelabel`) as a job with a progress dialog.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from PySide6.QtCore import QPointF, QRectF, Qt, Slot
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from roadmark.app.jobs import JobContext, JobRunner
from roadmark.app.shortcuts import ActionSpec, register
from roadmark.core.annotation import FrameStatus
from roadmark.core.errors import RoadmarkError
from roadmark.io.training_set import labeled_frames, split_frames

if TYPE_CHECKING:
    from roadmark.app.window_api import ProjectWindow

register([ActionSpec("training.panel", "&Train a model on this project…", "Model", ())])

LOSS = QColor(90, 150, 255)
STEP_LOSS = QColor(120, 140, 170, 110)
VAL_LOSS = QColor(255, 160, 60)
SCORE = QColor(80, 200, 120)
GRID = QColor(128, 128, 128, 70)
REMAINING = (FrameStatus.NEW, FrameStatus.PRELABELED)


class CurveChart(QWidget):
    """Training loss per step and per epoch, validation loss (left axis) and validation
    score (mIoU or box mAP, right axis 0-1), against epochs; drawn with QPainter."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(320, 180)
        self.clear()

    def clear(self, epochs: int = 1) -> None:
        self.epochs = max(1, epochs)
        self.steps: list[tuple[float, float]] = []  # (x in epochs, loss)
        self.epoch_points: list[tuple[int, float, float | None, float | None]] = []
        self.score_name = "val score"
        self.update()

    def add_step(self, epoch: int, step: int, steps: int, loss: float) -> None:
        self.steps.append((epoch - 1 + step / max(steps, 1), loss))
        self.update()

    def add_epoch(
        self, epoch: int, loss: float, val_loss: float | None, score: float | None, name: str
    ) -> None:
        self.epoch_points.append((epoch, loss, val_loss, score))
        self.score_name = name
        self.update()

    def paintEvent(self, _event: Any) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        text = self.palette().color(self.foregroundRole())
        area = QRectF(self.rect()).adjusted(44, 22, -40, -26)
        painter.fillRect(self.rect(), self.palette().color(self.backgroundRole()))
        losses = [loss for _, loss in self.steps]
        losses += [v for _, a, b, _ in self.epoch_points for v in (a, b) if v is not None]
        top = max(losses) * 1.05 if losses else 1.0

        def point(x: float, y: float, scale: float) -> QPointF:
            return QPointF(
                area.left() + area.width() * x / self.epochs,
                area.bottom() - area.height() * min(max(y / scale, 0.0), 1.0),
            )

        painter.setPen(QPen(GRID, 1))
        for k in range(5):
            y = area.top() + area.height() * k / 4
            painter.drawLine(QPointF(area.left(), y), QPointF(area.right(), y))
            painter.setPen(text)
            painter.drawText(
                QRectF(0, y - 8, 40, 16), Qt.AlignmentFlag.AlignRight, f"{top * (1 - k / 4):.2f}"
            )
            painter.drawText(
                QRectF(area.right() + 4, y - 8, 36, 16),
                Qt.AlignmentFlag.AlignLeft,
                f"{1 - k / 4:.2f}",
            )
            painter.setPen(QPen(GRID, 1))
        painter.setPen(text)
        for epoch in range(0, self.epochs + 1, max(1, self.epochs // 10)):
            x = area.left() + area.width() * epoch / self.epochs
            painter.drawText(
                QRectF(x - 20, area.bottom() + 4, 40, 16), Qt.AlignmentFlag.AlignHCenter, str(epoch)
            )
        painter.drawText(
            QRectF(area.right() + 4, area.bottom() + 4, 40, 16), Qt.AlignmentFlag.AlignLeft, "epoch"
        )
        self._polyline(painter, [point(x, y, top) for x, y in self.steps], STEP_LOSS, 1)
        series = (
            ([point(e, a, top) for e, a, _, _ in self.epoch_points], LOSS, "train loss"),
            (
                [point(e, b, top) for e, _, b, _ in self.epoch_points if b is not None],
                VAL_LOSS,
                "val loss",
            ),
            (
                [point(e, s, 1.0) for e, _, _, s in self.epoch_points if s is not None],
                SCORE,
                self.score_name,
            ),
        )
        x = area.left()
        for points, color, name in series:
            self._polyline(painter, points, color, 2, dots=True)
            painter.setPen(color)
            painter.drawText(QRectF(x, 2, 120, 16), Qt.AlignmentFlag.AlignLeft, f"— {name}")
            x += 120
        painter.end()

    @staticmethod
    def _polyline(
        painter: QPainter, points: list[QPointF], color: QColor, width: int, dots: bool = False
    ) -> None:
        if not points:
            return
        painter.setPen(QPen(color, width))
        path = QPainterPath(points[0])
        for p in points[1:]:
            path.lineTo(p)
        painter.drawPath(path)
        if dots:
            painter.setBrush(color)
            for p in points:
                painter.drawEllipse(p, 2.5, 2.5)
            painter.setBrush(Qt.BrushStyle.NoBrush)


class _Settings(TypedDict):
    """What the panel passes to ``TrainOptions`` (built in the training thread, where torch
    is imported)."""

    task: str
    init: Path | None
    input_size: tuple[int, int] | None
    epochs: int
    device: str


class TrainingPanel(QWidget):
    """Settings, curves and results of a training run (see the module doc)."""

    def __init__(self, window: ProjectWindow, *, dialogs: bool = True) -> None:
        super().__init__(window)
        self.project_window = window
        self.project = window.project
        self.jobs = JobRunner(window, window.project, dialogs=dialogs)
        self.trainer = JobRunner(window, window.project, dialogs=False)
        self.result: Any = None
        self.last_prelabel: Any = None

        self.task = QComboBox()
        self.task.addItems(["segmentation", "detection"])
        self.init = QComboBox()
        self.init.addItem("random weights (from scratch)", None)
        self.init.addItem("a model file…", "choose")
        self.init.activated.connect(self._choose_init)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 1000)
        self.epochs.setValue(20)
        self.input_size = QLineEdit()
        self.input_size.setPlaceholderText("frame size, or HxW like 512x1024")
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda"])
        self.out = QLineEdit(str(self._default_out("segmentation")))
        browse = QPushButton("…")
        browse.clicked.connect(self._choose_out)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out, 1)
        out_row.addWidget(browse)
        self.task.currentTextChanged.connect(lambda t: self.out.setText(str(self._default_out(t))))
        form = QFormLayout()
        form.addRow("Task", self.task)
        form.addRow("Start from", self.init)
        form.addRow("Epochs", self.epochs)
        form.addRow("Input size", self.input_size)
        form.addRow("Device", self.device)
        form.addRow("Save as", out_row)
        self.frames_info = QLabel()
        self.frames_info.setWordWrap(True)
        self.train_button = QPushButton("Train")
        self.train_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.prelabel_button = QPushButton("Pre-label remaining frames with this model")
        self.prelabel_button.setEnabled(False)
        self.prelabel_button.clicked.connect(self.prelabel_remaining)
        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        buttons.addWidget(self.prelabel_button)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.status = QLabel("Ready.")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.chart = CurveChart()
        left = QVBoxLayout()
        left.addLayout(form)
        left.addWidget(self.frames_info)
        left.addLayout(buttons)
        left.addWidget(self.progress)
        left.addWidget(self.status, 1)
        layout = QHBoxLayout(self)
        layout.addLayout(left, 2)
        layout.addWidget(self.chart, 3)
        # The labeled frames are counted when the panel opens (Model > Train a model…):
        # counting reads every finished frame's objects, seconds on a large project, which
        # start-up must not wait for.
        self.frames_info.setText("Counting the labeled frames…")
        self.train_button.setEnabled(False)
        window.on_close(self.close_jobs)  # before the window closes the project

    # -- settings --------------------------------------------------------------------------

    def _default_out(self, task: str) -> Path:
        stem = Path(str(self.project.location)).stem or "model"
        folder = self.project.root
        path = folder / f"{stem}-{task}.roadmodel"
        count = 2
        while path.exists():
            path = folder / f"{stem}-{task}-{count}.roadmodel"
            count += 1
        return path

    def _choose_init(self, index: int) -> None:
        if self.init.itemData(index) != "choose":
            return
        path, _ = QFileDialog.getOpenFileName(
            self, "Start from model", str(self.project.root), "roadmark models (*.roadmodel)"
        )
        if path:
            self.set_init(Path(path))
        else:
            self.init.setCurrentIndex(0)

    def set_init(self, path: Path | None) -> None:
        """Start from ``path`` (``None``: random weights)."""
        if path is None:
            self.init.setCurrentIndex(0)
            return
        self.init.insertItem(1, path.name, str(path))
        self.init.setCurrentIndex(1)

    def _choose_out(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save model as", self.out.text(), "roadmark models (*.roadmodel)"
        )
        if path:
            self.out.setText(path)

    def refresh_counts(self) -> int:
        """Show (and return) how many labeled frames there are to learn from."""
        frames = labeled_frames(self.project)
        train, val = split_frames(frames)
        if not frames:
            self.frames_info.setText(
                "No labeled frames yet: finish some frames (Ctrl+Return) or import a labeled "
                "dataset, then train."
            )
        else:
            self.frames_info.setText(
                f"{len(frames)} labeled frame(s): {len(train)} to train on, {len(val)} held "
                "out for validation."
            )
        self.train_button.setEnabled(bool(frames) and not self.trainer.busy)
        return len(frames)

    # -- running ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.trainer.busy

    def start(self) -> bool:
        """Start training in the background; ``False`` when it cannot start."""
        if self.trainer.busy:
            return False
        out = Path(self.out.text().strip())
        try:
            size_text = self.input_size.text().strip()
            size = _parse_size(size_text) if size_text else None
        except RoadmarkError as error:
            self.project_window.show_error(str(error))
            return False
        init = self.init.currentData()
        settings: _Settings = {
            "task": self.task.currentText(),
            "init": Path(init) if init not in (None, "choose") else None,
            "input_size": size,
            "epochs": self.epochs.value(),
            "device": self.device.currentText(),
        }
        self.result = None
        self.chart.clear(settings["epochs"])
        self.progress.setRange(0, 0)
        self.status.setText("Starting…")
        self.prelabel_button.setEnabled(False)
        self.train_button.setEnabled(False)
        self.cancel_button.setEnabled(True)

        def work(job: JobContext) -> Any:
            from roadmark.models.training import TrainOptions, train

            return train(
                job.project, out, TrainOptions(**settings), progress=job.notify, cancel=job.cancel
            )

        return self.trainer.start(
            "Training",
            work,
            self._on_trained,
            self._on_failed,
            dialog=False,
            on_update=self._on_update,
            on_cancelled=self._on_trained,
        )

    def cancel(self) -> None:
        """Stop after the current step; the model file keeps the best epoch."""
        if self.trainer.busy:
            self.trainer.cancel()
            self.status.setText("Cancelling after this step…")
            self.cancel_button.setEnabled(False)

    @Slot(object)
    def _on_update(self, update: Any) -> None:
        total = update.epochs * update.steps
        if self.progress.maximum() != total:
            self.progress.setRange(0, total)
        self.progress.setValue((update.epoch - 1) * update.steps + update.step)
        if update.kind == "step":
            self.chart.add_step(update.epoch, update.step, update.steps, update.loss)
            self.status.setText(
                f"Epoch {update.epoch}/{update.epochs}, step {update.step}/{update.steps}: "
                f"loss {update.loss:.3f}"
            )
            return
        name = "val mIoU" if "miou" in (update.metrics or {}) else "val box mAP"
        self.chart.add_epoch(update.epoch, update.loss, update.val_loss, update.score, name)
        score = "" if update.score is None else f", {name} {update.score:.3f}"
        saved = " — best so far, saved" if update.saved else ""
        self.status.setText(f"Epoch {update.epoch}: loss {update.loss:.3f}{score}{saved}")

    def _finished(self) -> None:
        self.cancel_button.setEnabled(False)
        self.progress.setRange(0, max(1, self.progress.maximum()))
        self.refresh_counts()

    def _on_failed(self, error: BaseException) -> None:
        self._finished()
        message = str(error) if isinstance(error, RoadmarkError) else repr(error)
        self.status.setText(f"Training failed: {message}")
        self.project_window.show_error(f"Training failed: {message}")

    def _on_trained(self, result: Any) -> None:
        self._finished()
        self.result = result
        self.prelabel_button.setEnabled(result.out is not None)
        self.status.setText(summary(result))
        if result.out is not None:
            self.out.setText(str(self._default_out(result.task)))

    # -- pre-labeling ----------------------------------------------------------------------

    def prelabel_remaining(self) -> bool:
        """Pre-label the frames nobody has labeled (new or pre-labeled) with the model just
        trained, as a job with a progress dialog; ``False`` when it cannot start."""
        if self.result is None or self.result.out is None:
            return False
        model_path = Path(self.result.out)
        device = self.device.currentText()
        todo = [f.id for f in self.project.frames() if f.status in REMAINING]

        def work(job: JobContext) -> Any:
            from roadmark.models.files import load_model
            from roadmark.models.runner import PrelabelOptions, prelabel

            def report(done: int, total: int, message: str = "") -> None:
                job.report(done, total, f"{done} of {total} frames")

            options = PrelabelOptions(device=device, workers=0, frame_ids=todo, force=True)
            model = load_model(model_path)
            return prelabel(job.project, model, options, progress=report, cancel=job.cancel)

        return self.jobs.start(
            f"Pre-labeling {len(todo)} frames with {model_path.name}",
            work,
            self._prelabeled,
            lambda error: self.project_window.show_error(f"Pre-labeling failed: {error}"),
        )

    def _prelabeled(self, result: Any) -> None:
        self.last_prelabel = result
        self.project_window.state.reload()  # the statuses of the pre-labeled frames
        self.project_window.state.predictions_stored()
        message = f"Pre-labeled {result.predicted} frames with {result.model} ({result.device})."
        self.status.setText(message)
        self.project_window.statusBar().showMessage(message, 8000)

    def close_jobs(self) -> None:
        """Cancel what runs (the window is closing)."""
        self.cancel()
        self.trainer.close(wait=True)
        self.jobs.close(wait=True)


def summary(result: Any) -> str:
    """What a finished run did, in a few lines."""
    if result.out is None:
        return "Cancelled before the first epoch ended; nothing was saved."
    head = "Cancelled; kept" if result.cancelled else "Done; saved"
    lines = [f"{head} {Path(result.out).name} (epoch {result.best_epoch} of {result.epochs})."]
    metrics = result.metrics
    if metrics.get("miou") is not None:
        per_class = sorted(
            ((v, k) for k, v in metrics["iou"].items() if v is not None), reverse=True
        )
        lines.append(f"Validation mIoU {metrics['miou']:.3f} on {result.val_frames} frame(s).")
        lines.append(", ".join(f"{name} {value:.2f}" for value, name in per_class))
    elif metrics.get("map") is not None:
        lines.append(f"Validation box mAP {metrics['map']:.3f} (AP50 {metrics['map50']:.3f}).")
    elif not result.val_frames:
        lines.append("No held-out frames: kept the epoch with the lowest training loss.")
    return "\n".join(lines)


def _parse_size(text: str) -> tuple[int, int]:
    height, sep, width = text.lower().partition("x")
    if not sep or not height.strip().isdigit() or not width.strip().isdigit():
        raise RoadmarkError(f"input size must be HEIGHTxWIDTH, like 512x1024, got {text!r}")
    size = (int(height), int(width))
    if min(size) < 8:
        raise RoadmarkError("input height and width must be at least 8")
    return size


class TrainingDock(QDockWidget):
    """The dock holding the panel (hidden until Model > Train a model…)."""

    def __init__(self, window: ProjectWindow) -> None:
        super().__init__("Training", window)
        self.setObjectName("dock.training")
        self.panel = TrainingPanel(window)
        self.setWidget(self.panel)


def install(window: ProjectWindow) -> TrainingPanel:
    """Add Model > Train a model… and the Training dock (hidden) to ``window``."""
    dock = TrainingDock(window)
    window.add_dock(dock, Qt.DockWidgetArea.BottomDockWidgetArea)
    dock.hide()

    def show_panel() -> None:
        dock.show()
        dock.raise_()
        dock.panel.refresh_counts()

    window.actions.bind("training.panel", show_panel)
    return dock.panel
