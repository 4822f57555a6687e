"""The one way the GUI runs a long job: off the GUI thread, on its own ``Project``, with a
progress dialog whose Cancel button stops it.

A job is a plain function ``work(job) -> result`` run in a background thread. ``job`` is a
:class:`JobContext`: :attr:`~JobContext.project` is a :class:`~roadmark.io.store.Project`
that the worker opens on the window's project (same file or team URL, same user, image
root and read-only flag; opened on first use, closed when the job ends), never the GUI
thread's object; :meth:`~JobContext.report` is the job's
:class:`~roadmark.core.jobs.ProgressReporter`; :attr:`~JobContext.cancel` is its
:class:`~roadmark.core.jobs.CancelToken`, which the dialog's Cancel button and
:meth:`JobRunner.cancel` cancel. The job's result (or the error it raised) comes back on
the GUI thread through a queued signal, where the caller applies it (usually as one
undoable command). Jobs that finish quickly never show the dialog (it appears after
:data:`SHOW_AFTER_MS`).

A cancelled job that raised :class:`~roadmark.core.jobs.JobCancelled` (or returned after
the token was cancelled) calls neither ``on_done`` nor ``on_error``; jobs whose partial
result matters (training keeps its best epoch) pass ``on_cancelled``.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QProgressDialog, QWidget

from roadmark.app.signals import emit
from roadmark.core.jobs import CancelToken, JobCancelled

if TYPE_CHECKING:
    from roadmark.io.store import Project

SHOW_AFTER_MS = 400


class NoProjectError(RuntimeError):
    """A job asked for :attr:`JobContext.project` from a runner that has no project."""


def open_like(project: Project) -> Project:
    """A new :class:`Project` on the same database as ``project``: the same file or team
    URL (with the password it was opened with), user, image root and read-only flag.

    Call it from the thread that will use the result; ``project`` is only read.
    """
    from roadmark.io.locations import is_url
    from roadmark.io.store import Project

    location = project.location
    if is_url(location):  # the shown location has no password; the engine's URL has it
        location = project.engine.url.render_as_string(hide_password=False)
    return Project.open(location, user=project.user, read_only=project.read_only, root=project.root)


class JobContext:
    """What a running job sees: its own project, progress reporting and the cancel token.

    Args:
        runner: The runner whose dialog shows the progress.
        serial: The job's number in that runner.
        source: The window's project, whose database :attr:`project` opens again.
    """

    def __init__(self, runner: JobRunner, serial: int, source: Project | None) -> None:
        self._runner = runner
        self._serial = serial
        self._source = source
        self._project: Project | None = None
        self.cancel = CancelToken()

    @property
    def project(self) -> Project:
        """This job's own project, opened (in the job's thread) on first use.

        Raises:
            NoProjectError: The runner was made without a project.
        """
        if self._project is None:
            if self._source is None:
                raise NoProjectError("this job runner has no project to open")
            self._project = open_like(self._source)
        return self._project

    def close(self) -> None:
        """Close :attr:`project` if the job opened it (the runner does this at the end)."""
        if self._project is not None:
            self._project.close()
            self._project = None

    @property
    def cancelled(self) -> bool:
        """Whether the user cancelled the job."""
        return self.cancel.cancelled

    def check(self) -> None:
        """Raise :class:`~roadmark.core.jobs.JobCancelled` if the user cancelled."""
        self.cancel.raise_if_cancelled()

    def report(self, done: int, total: int, message: str = "", /) -> None:
        """Report ``done`` of ``total`` steps, with an optional line of text (safe from any
        thread): a :class:`~roadmark.core.jobs.ProgressReporter`."""
        emit(self._runner.progressed, self._serial, int(done), int(total), message)

    def notify(self, value: object) -> None:
        """Hand ``value`` to the job's ``on_update`` on the GUI thread (training curves)."""
        emit(self._runner.updated, self._serial, value)


@dataclass
class _Job:
    serial: int
    title: str
    on_done: Callable[[Any], None]
    on_error: Callable[[BaseException], None]
    on_update: Callable[[Any], None] | None
    on_cancelled: Callable[[Any], None] | None
    context: JobContext
    dialog: QProgressDialog | None


class JobRunner(QObject):
    """Runs one job at a time in a background thread.

    Args:
        parent: The window the progress dialog belongs to.
        project: The window's project; each job's :attr:`JobContext.project` opens its
            database again. ``None`` for runners whose jobs never read the project.
        dialogs: Show a progress dialog for jobs that take a while (off in some tests).

    Attributes:
        progressed: ``(serial, done, total, message)`` from a running job.
        updated: ``(serial, value)`` from :meth:`JobContext.notify`.
        last_progress: The last ``(done, total, message)`` shown, for the status line and
            tests.
    """

    progressed = Signal(int, int, int, str)
    updated = Signal(int, object)
    _finished = Signal(int, object, object)

    def __init__(
        self, parent: QWidget, project: Project | None = None, *, dialogs: bool = True
    ) -> None:
        super().__init__(parent)
        self._parent = parent
        self.project = project
        self.dialogs = dialogs
        self.last_progress: tuple[int, int, str] | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="roadmark-job")
        self._job: _Job | None = None
        self._serial = 0
        self._finished.connect(self._on_finished, Qt.ConnectionType.QueuedConnection)
        self.progressed.connect(self._on_progress, Qt.ConnectionType.QueuedConnection)
        self.updated.connect(self._on_update, Qt.ConnectionType.QueuedConnection)

    @property
    def busy(self) -> bool:
        return self._job is not None

    @property
    def dialog(self) -> QProgressDialog | None:
        """The running job's progress dialog (``None`` when none is shown or running)."""
        return self._job.dialog if self._job is not None else None

    @property
    def running(self) -> JobContext | None:
        """The running job's context (``None`` when idle)."""
        return self._job.context if self._job is not None else None

    def start(
        self,
        title: str,
        work: Callable[[JobContext], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None],
        *,
        dialog: bool = True,
        on_update: Callable[[Any], None] | None = None,
        on_cancelled: Callable[[Any], None] | None = None,
    ) -> bool:
        """Run ``work`` in the background; ``on_done(result)`` or ``on_error(error)`` follow
        on the GUI thread.

        A cancelled job calls ``on_cancelled(result)`` when given (``result`` is ``None``
        when the job raised :class:`~roadmark.core.jobs.JobCancelled`), otherwise nothing.

        Returns:
            ``False`` when another job is still running (nothing is started).
        """
        if self._job is not None:
            return False
        self._serial += 1
        context = JobContext(self, self._serial, self.project)
        box = None
        if dialog and self.dialogs:
            box = QProgressDialog(title, "Cancel", 0, 0, self._parent)
            box.setWindowTitle("roadmark")
            box.setWindowModality(Qt.WindowModality.WindowModal)
            # At its minimum value the dialog times SHOW_AFTER_MS from now; otherwise Qt's
            # own 4 s default applies until the first progress report.
            box.setValue(0)
            box.setMinimumDuration(SHOW_AFTER_MS)
            box.canceled.connect(context.cancel.cancel)
        self._job = _Job(
            self._serial, title, on_done, on_error, on_update, on_cancelled, context, box
        )
        self.last_progress = None
        serial = self._serial

        def run() -> None:
            try:
                result: object = work(context)
                error: BaseException | None = None
            except BaseException as caught:  # handed to the GUI thread, never lost
                result, error = None, caught
            finally:
                try:
                    context.close()
                except Exception as caught:  # reported unless the job failed already
                    if error is None:
                        result, error = None, caught
            emit(self._finished, serial, result, error)

        self._executor.submit(run)
        return True

    def cancel(self) -> None:
        """Ask the running job to stop."""
        if self._job is not None:
            self._job.context.cancel.cancel()

    @Slot(int, int, int, str)
    def _on_progress(self, serial: int, done: int, total: int, text: str) -> None:
        job = self._job
        if job is None or job.serial != serial:
            return
        self.last_progress = (done, total, text)
        if job.dialog is None:
            return
        job.dialog.setMaximum(max(total, 1))
        job.dialog.setValue(min(done, max(total, 1)))
        if text:
            job.dialog.setLabelText(f"{job.title}\n{text}")

    @Slot(int, object)
    def _on_update(self, serial: int, value: object) -> None:
        job = self._job
        if job is not None and job.serial == serial and job.on_update is not None:
            job.on_update(value)

    @Slot(int, object, object)
    def _on_finished(self, serial: int, result: object, error: object) -> None:
        job = self._job
        if job is None or job.serial != serial:
            return
        self._job = None
        if job.dialog is not None:
            job.dialog.reset()
            job.dialog.deleteLater()
        cancelled = isinstance(error, JobCancelled) or job.context.cancelled
        if cancelled and job.on_cancelled is None:
            return
        if isinstance(error, JobCancelled) and job.on_cancelled is not None:
            job.on_cancelled(None)
        elif isinstance(error, BaseException):
            job.on_error(error)
        elif cancelled and job.on_cancelled is not None:
            job.on_cancelled(result)
        else:
            job.on_done(result)

    def close(self, *, wait: bool = True) -> None:
        """Cancel the running job and stop the thread."""
        self.cancel()
        self._executor.shutdown(wait=wait)
