"""Long operations off the GUI thread, with a progress dialog that can cancel them.

A job is a plain function ``work(progress) -> result`` run in a background thread; it
reports with ``progress.update(done, total, text)`` and checks ``progress.cancelled``
between steps. Its result (or the error it raised) comes back on the GUI thread through a
queued signal, where the caller applies it (usually as one undoable command). Jobs that
finish quickly never show the dialog (it appears after :data:`SHOW_AFTER_MS`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QProgressDialog, QWidget

from roadmark.app.signals import emit

SHOW_AFTER_MS = 400


class JobCancelled(Exception):
    """Raised by a job that noticed :attr:`Progress.cancelled`."""


class Progress:
    """What a running job sees: report progress, learn that the user cancelled."""

    def __init__(self, runner: JobRunner, serial: int) -> None:
        self._runner = runner
        self._serial = serial
        self._cancel = threading.Event()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        self._cancel.set()

    def check(self) -> None:
        """Raise :class:`JobCancelled` if the user cancelled."""
        if self._cancel.is_set():
            raise JobCancelled

    def update(self, done: int, total: int, text: str = "") -> None:
        """Report ``done`` of ``total`` steps (safe from any thread)."""
        emit(self._runner._progressed, self._serial, int(done), int(total), text)


@dataclass
class _Job:
    serial: int
    title: str
    on_done: Callable[[Any], None]
    on_error: Callable[[BaseException], None]
    progress: Progress
    dialog: QProgressDialog | None


class JobRunner(QObject):
    """Runs one job at a time in a background thread.

    Args:
        parent: The window the progress dialog belongs to.
        dialogs: Show a progress dialog for jobs that take a while (off in some tests).
    """

    _finished = Signal(int, object, object)
    _progressed = Signal(int, int, int, str)

    def __init__(self, parent: QWidget, *, dialogs: bool = True) -> None:
        super().__init__(parent)
        self._parent = parent
        self.dialogs = dialogs
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="roadmark-job")
        self._job: _Job | None = None
        self._serial = 0
        self._finished.connect(self._on_finished, Qt.ConnectionType.QueuedConnection)
        self._progressed.connect(self._on_progress, Qt.ConnectionType.QueuedConnection)

    @property
    def busy(self) -> bool:
        return self._job is not None

    def start(
        self,
        title: str,
        work: Callable[[Progress], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None],
        *,
        dialog: bool = True,
    ) -> bool:
        """Run ``work`` in the background; ``on_done(result)`` or ``on_error(error)`` follow
        on the GUI thread (a cancelled job calls neither).

        Returns:
            ``False`` when another job is still running (nothing is started).
        """
        if self._job is not None:
            return False
        self._serial += 1
        progress = Progress(self, self._serial)
        box = None
        if dialog and self.dialogs:
            box = QProgressDialog(title, "Cancel", 0, 0, self._parent)
            box.setWindowTitle("roadmark")
            box.setWindowModality(Qt.WindowModality.WindowModal)
            # At its minimum value the dialog times SHOW_AFTER_MS from now; otherwise Qt's
            # own 4 s default applies until the first progress report.
            box.setValue(0)
            box.setMinimumDuration(SHOW_AFTER_MS)
            box.canceled.connect(progress.cancel)
        self._job = _Job(self._serial, title, on_done, on_error, progress, box)
        serial = self._serial

        def run() -> None:
            try:
                result: object = work(progress)
                error: BaseException | None = None
            except BaseException as caught:  # handed to the GUI thread, never lost
                result, error = None, caught
            emit(self._finished, serial, result, error)

        self._executor.submit(run)
        return True

    def cancel(self) -> None:
        """Ask the running job to stop."""
        if self._job is not None:
            self._job.progress.cancel()

    @Slot(int, int, int, str)
    def _on_progress(self, serial: int, done: int, total: int, text: str) -> None:
        job = self._job
        if job is None or job.serial != serial or job.dialog is None:
            return
        job.dialog.setMaximum(max(total, 1))
        job.dialog.setValue(min(done, max(total, 1)))
        if text:
            job.dialog.setLabelText(f"{job.title}\n{text}")

    @Slot(int, object, object)
    def _on_finished(self, serial: int, result: object, error: object) -> None:
        job = self._job
        if job is None or job.serial != serial:
            return
        self._job = None
        if job.dialog is not None:
            job.dialog.reset()
            job.dialog.deleteLater()
        if isinstance(error, JobCancelled) or job.progress.cancelled:
            return
        if isinstance(error, BaseException):
            job.on_error(error)
        else:
            job.on_done(result)

    def close(self, *, wait: bool = True) -> None:
        """Cancel the running job and stop the thread."""
        self.cancel()
        self._executor.shutdown(wait=wait)
