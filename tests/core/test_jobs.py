"""The one job protocol: cancel token, cancelled error, progress reporter."""

from __future__ import annotations

import pickle
import threading

import pytest

from roadmark.core.errors import RoadmarkError
from roadmark.core.jobs import CancelToken, JobCancelled, ProgressReporter, no_progress


def test_a_new_token_is_not_cancelled_and_does_not_raise() -> None:
    token = CancelToken()
    assert not token.cancelled
    token.raise_if_cancelled()
    assert not token.wait(0)


def test_cancel_sticks_and_raises_the_one_error_with_the_message() -> None:
    token = CancelToken()
    token.cancel()
    token.cancel()
    assert token.cancelled
    assert token.wait(0)
    with pytest.raises(JobCancelled, match="nothing was written"):
        token.raise_if_cancelled("cancelled; nothing was written")


def test_the_error_is_a_roadmark_error_and_survives_a_process_boundary() -> None:
    error = JobCancelled("cancelled; nothing was imported", path="a.json")
    assert isinstance(error, RoadmarkError)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is JobCancelled
    assert str(copy) == "a.json: cancelled; nothing was imported"
    assert str(JobCancelled()) == "cancelled"


def test_a_cancel_from_another_thread_reaches_a_waiting_job() -> None:
    token = CancelToken()
    started = threading.Event()
    seen: list[bool] = []

    def job() -> None:
        started.set()
        seen.append(token.wait(20))

    worker = threading.Thread(target=job)
    worker.start()
    assert started.wait(5)
    token.cancel()
    worker.join(5)
    assert seen == [True]


def test_a_token_refuses_to_be_pickled() -> None:
    # Spawned export workers never get one; the parent checks it between frames.
    with pytest.raises(TypeError):
        pickle.dumps(CancelToken())


def test_reporters_take_an_optional_message() -> None:
    got: list[tuple[int, int, str]] = []

    def report(done: int, total: int, message: str = "") -> None:
        got.append((done, total, message))

    reporter: ProgressReporter = report
    reporter(1, 4)
    reporter(2, 4, "writing")
    quiet: ProgressReporter = no_progress
    quiet(3, 4, "ignored")
    assert got == [(1, 4, ""), (2, 4, "writing")]
