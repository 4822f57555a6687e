"""The one GUI job runner: its own Project per job, the progress dialog, cancel."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtWidgets import QProgressDialog, QPushButton, QWidget

from roadmark.app.jobs import JobContext, JobRunner, NoProjectError, open_like
from roadmark.core.jobs import JobCancelled
from roadmark.io.frames import scan
from roadmark.io.store import Project
from tests.helpers import make_image


class Outcome:
    """What a job delivered back on the GUI thread, and from which thread."""

    def __init__(self) -> None:
        self.done: list[object] = []
        self.errors: list[BaseException] = []
        self.cancelled: list[object] = []
        self.updates: list[object] = []
        self.threads: list[threading.Thread] = []

    def on_done(self, result: object) -> None:
        self.threads.append(threading.current_thread())
        self.done.append(result)

    def on_error(self, error: BaseException) -> None:
        self.threads.append(threading.current_thread())
        self.errors.append(error)

    def on_cancelled(self, result: object) -> None:
        self.threads.append(threading.current_thread())
        self.cancelled.append(result)

    def on_update(self, value: object) -> None:
        self.threads.append(threading.current_thread())
        self.updates.append(value)


@pytest.fixture
def parent(qtbot) -> QWidget:
    widget = QWidget()
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def _wait_idle(qtbot, runner: JobRunner) -> None:
    qtbot.waitUntil(lambda: not runner.busy, timeout=20_000)


def test_a_job_gets_its_own_project_on_the_same_file(
    qtbot, parent: QWidget, small_project: Path
) -> None:
    with Project.open(small_project) as gui_project:
        runner = JobRunner(parent, gui_project, dialogs=False)
        seen: dict[str, object] = {}

        def work(job: JobContext) -> int:
            seen["project"] = job.project
            seen["again"] = job.project  # one project per job, opened once
            seen["thread"] = threading.current_thread()
            return job.project.frame_count()

        outcome = Outcome()
        assert runner.start("Counting", work, outcome.on_done, outcome.on_error)
        _wait_idle(qtbot, runner)
        assert outcome.errors == [] and outcome.done == [3]
        theirs = seen["project"]
        assert isinstance(theirs, Project) and theirs is not gui_project
        assert seen["again"] is theirs
        assert theirs.location == gui_project.location and theirs.user == gui_project.user
        assert seen["thread"] is not threading.main_thread()
        assert outcome.threads == [threading.main_thread()]  # results come back on the GUI

        # the next job opens a fresh one: nothing is shared between jobs either
        assert runner.start("Again", lambda job: job.project, outcome.on_done, outcome.on_error)
        _wait_idle(qtbot, runner)
        assert outcome.done[-1] is not theirs and outcome.done[-1] is not gui_project
        runner.close()


def test_open_like_keeps_the_read_only_flag_user_and_root(small_project: Path, tmp_path: Path):
    with Project.open(small_project, read_only=True, user="ana", root=tmp_path) as source:
        with open_like(source) as copy:
            assert copy is not source
            assert (copy.read_only, copy.user, copy.root) == (True, "ana", tmp_path)
            assert copy.location == source.location


def test_a_runner_without_a_project_refuses_to_open_one(qtbot, parent: QWidget) -> None:
    runner = JobRunner(parent, dialogs=False)
    outcome = Outcome()
    assert runner.start("No project", lambda job: job.project, outcome.on_done, outcome.on_error)
    _wait_idle(qtbot, runner)
    assert outcome.done == [] and [type(e) for e in outcome.errors] == [NoProjectError]
    runner.close()


def test_progress_reaches_the_dialog_and_its_cancel_raises_the_one_error(
    qtbot, parent: QWidget, small_project: Path, tmp_path: Path
) -> None:
    gate = threading.Event()
    raised: list[BaseException] = []

    with Project.open(small_project) as gui_project:
        runner = JobRunner(parent, gui_project)

        def work(job: JobContext) -> None:
            project = job.project
            job.report(3, 10, "writing")
            assert gate.wait(20)
            try:
                with project.transaction():
                    project.add_frames(scan([make_image(tmp_path / "new.png")]))
                    assert project.frame_count() == 4
                    job.check()
            except BaseException as error:
                raised.append(error)
                raise

        outcome = Outcome()
        assert runner.start("Writing", work, outcome.on_done, outcome.on_error)
        dialog = runner.dialog
        assert isinstance(dialog, QProgressDialog)
        qtbot.waitUntil(lambda: dialog.value() == 3 and dialog.maximum() == 10, timeout=5000)
        assert "writing" in dialog.labelText() and dialog.labelText().startswith("Writing")
        assert runner.last_progress == (3, 10, "writing")
        qtbot.waitUntil(dialog.isVisible, timeout=5000)
        (button,) = dialog.findChildren(QPushButton)
        button.click()
        assert runner.running is not None and runner.running.cancelled
        gate.set()
        _wait_idle(qtbot, runner)
        assert [type(e) for e in raised] == [JobCancelled]
        assert (outcome.done, outcome.errors) == ([], [])  # a cancelled job delivers nothing
        assert gui_project.frame_count() == 3  # and left nothing
        runner.close()


def test_a_cancelled_job_hands_its_partial_result_to_on_cancelled(qtbot, parent: QWidget) -> None:
    runner = JobRunner(parent, dialogs=False)
    outcome = Outcome()
    started = threading.Event()

    def work(job: JobContext) -> str:
        job.notify("epoch 1")
        started.set()
        assert job.cancel.wait(20)
        return "best epoch kept"

    assert runner.start(
        "Training",
        work,
        outcome.on_done,
        outcome.on_error,
        on_update=outcome.on_update,
        on_cancelled=outcome.on_cancelled,
    )
    assert started.wait(20)
    qtbot.waitUntil(lambda: outcome.updates == ["epoch 1"], timeout=5000)
    runner.cancel()
    _wait_idle(qtbot, runner)
    assert outcome.cancelled == ["best epoch kept"] and outcome.done == []
    assert set(outcome.threads) == {threading.main_thread()}

    def gives_up(job: JobContext) -> None:
        job.cancel.cancel()
        job.check()

    assert runner.start("x", gives_up, outcome.on_done, outcome.on_error,
                        on_cancelled=outcome.on_cancelled)  # fmt: skip
    _wait_idle(qtbot, runner)
    assert outcome.cancelled == ["best epoch kept", None] and outcome.errors == []
    runner.close()


def test_errors_come_back_on_the_gui_thread_and_a_busy_runner_refuses(
    qtbot, parent: QWidget
) -> None:
    runner = JobRunner(parent, dialogs=False)
    outcome = Outcome()
    gate = threading.Event()

    def fails(job: JobContext) -> None:
        assert gate.wait(20)
        raise ValueError("broken")

    assert runner.start("Failing", fails, outcome.on_done, outcome.on_error)
    assert not runner.start("Second", lambda job: 1, outcome.on_done, outcome.on_error)
    gate.set()
    _wait_idle(qtbot, runner)
    assert [str(e) for e in outcome.errors] == ["broken"] and outcome.done == []
    assert outcome.threads == [threading.main_thread()]
    runner.close()


def test_open_like_reconnects_a_team_project_with_its_password(monkeypatch, tmp_path: Path):
    import sqlalchemy as sa

    engine = sa.create_engine("postgresql+psycopg://ana:secret@db.example.com:5433/labels")
    shown = "postgresql://ana@db.example.com:5433/labels"
    source = Project(engine, shown, tmp_path, user="ana", read_only=False)
    opened: list[tuple[str, dict[str, object]]] = []

    def fake_open(location: str, **kwargs: object) -> str:
        opened.append((location, kwargs))
        return "opened"

    monkeypatch.setattr(Project, "open", fake_open)
    assert open_like(source) == "opened"
    ((location, kwargs),) = opened
    assert sa.engine.make_url(location).password == "secret"
    assert sa.engine.make_url(location).database == "labels"
    assert kwargs == {"user": "ana", "read_only": False, "root": tmp_path}
    engine.dispose()
