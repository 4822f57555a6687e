"""The one job protocol: how a long operation reports progress and learns it should stop.

Every long job (import, export, pre-labeling, training, audit, video extraction,
embedding) takes the same two things:

- a :class:`ProgressReporter`, called as ``progress(done, total)`` or
  ``progress(done, total, message)`` from whatever thread the job runs on;
- a :class:`CancelToken`, which anyone (the GUI thread, a Ctrl+C handler) may
  :meth:`~CancelToken.cancel`; the job looks at :attr:`~CancelToken.cancelled` or calls
  :meth:`~CancelToken.raise_if_cancelled` between steps.

A job that stops because it was cancelled, without a result worth returning, raises
:class:`JobCancelled`, the only cancellation error. Jobs that return what they finished
(pre-labeling, training) report ``cancelled=True`` in their result instead.

Export workers in spawned processes never see the token: the parent process checks it
between frames and drops the frames not yet started. :class:`JobCancelled` pickles (it
is a :class:`~roadmark.core.errors.RoadmarkError`), so it may cross a process boundary.
"""

from __future__ import annotations

import threading
from typing import Protocol

from roadmark.core.errors import RoadmarkError

__all__ = ["CancelToken", "JobCancelled", "ProgressReporter", "no_progress"]


class JobCancelled(RoadmarkError):
    """A job stopped because it was cancelled; what it was writing was rolled back or
    removed (the message says what is left)."""

    def __init__(
        self, message: str = "cancelled", *, path: str | None = None, field: str | None = None
    ) -> None:
        super().__init__(message, path=path, field=field)


class ProgressReporter(Protocol):
    """What a job reports: ``done`` of ``total`` steps (``total`` 0: not known yet), with an
    optional short ``message`` (a stage name, a rate). Called from the job's thread."""

    def __call__(self, done: int, total: int, message: str = "", /) -> None: ...


def no_progress(done: int, total: int, message: str = "", /) -> None:
    """A :class:`ProgressReporter` that reports nowhere."""


class CancelToken:
    """A thread-safe request to stop, set once and never cleared.

    Example:
        >>> token = CancelToken()
        >>> token.cancelled
        False
        >>> token.cancel()
        >>> token.raise_if_cancelled()
        Traceback (most recent call last):
        ...
        roadmark.core.jobs.JobCancelled: cancelled
    """

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the job to stop (safe from any thread, any number of times)."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._event.is_set()

    def raise_if_cancelled(self, message: str = "cancelled") -> None:
        """Raise :class:`JobCancelled` with ``message`` when :meth:`cancel` was called.

        Raises:
            JobCancelled: The token was cancelled.
        """
        if self._event.is_set():
            raise JobCancelled(message)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until cancelled or ``timeout`` seconds passed; whether it was cancelled."""
        return self._event.wait(timeout)

    def __repr__(self) -> str:
        return f"CancelToken(cancelled={self.cancelled})"
