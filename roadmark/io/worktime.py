"""Active time written to the project: an :class:`ActiveTimer` that flushes into the time log.

The editor calls :meth:`TimeRecorder.touch` on each interaction (pointer press, drag step,
key, wheel, an edit) with the open frame and the tool in use; spans go to the project's
``time_log`` every ``flush_every`` seconds of the clock, when the user stops (frame
closed, window hidden) and when the recorder is closed. The idle cutoff is a project
setting (``idle_after_s`` in the project's meta table, 60 s by default) so that everyone
on a team project is timed by the same rule.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from roadmark.core.annotation import utc_now
from roadmark.core.errors import RoadmarkError
from roadmark.core.timetracking import DEFAULT_IDLE_AFTER_S, ActiveTimer
from roadmark.io.store import Project
from roadmark.io.workflow import log_time

IDLE_META_KEY = "idle_after_s"
DEFAULT_FLUSH_EVERY_S = 30.0


def idle_after(project: Project) -> float:
    """The project's idle cutoff in seconds.

    Raises:
        RoadmarkError: The stored value is not a positive number.
    """
    text = project.get_meta(IDLE_META_KEY)
    if text is None:
        return DEFAULT_IDLE_AFTER_S
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise RoadmarkError(
            f"must be a positive number of seconds, got '{text}'",
            path=project.location,
            field=IDLE_META_KEY,
        )
    return value


def set_idle_after(project: Project, seconds: float) -> None:
    """Set the project's idle cutoff.

    Raises:
        RoadmarkError: ``seconds`` is not positive.
    """
    if not seconds > 0:
        raise RoadmarkError(
            f"must be a positive number of seconds, got {seconds}",
            path=project.location,
            field=IDLE_META_KEY,
        )
    project.set_meta(IDLE_META_KEY, repr(float(seconds)))


class TimeRecorder:
    """Times one user's interaction with a project and stores it.

    Args:
        project: The open project; its user is the one timed. Nothing is written when it
            is open read-only.
        flush_every: Seconds of the clock between writes to the store.
        clock: Monotonic seconds (tests pass a simulated clock).
        wall: The current wall time.
    """

    def __init__(
        self,
        project: Project,
        *,
        flush_every: float = DEFAULT_FLUSH_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = utc_now,
    ) -> None:
        self.project = project
        self.flush_every = flush_every
        self._clock = clock
        self.timer = ActiveTimer(idle_after=idle_after(project), clock=clock, wall=wall)
        self._flushed_at = clock()

    def touch(self, frame_id: int, tool: str) -> None:
        """The user did something on ``frame_id`` with ``tool`` now."""
        self.timer.touch(frame_id, tool)
        if self._clock() - self._flushed_at >= self.flush_every:
            self.flush()

    def stop(self) -> None:
        """The user left the frame or the window: close the span and store it."""
        self.timer.stop()
        self.flush()

    def flush(self) -> int:
        """Store the spans credited so far; returns how many were written."""
        self._flushed_at = self._clock()
        spans = self.timer.flush()
        if not spans or self.project.read_only:
            return 0
        log_time(self.project, spans)
        return len(spans)

    def close(self) -> None:
        """Stop and store everything (call before closing the project)."""
        self.stop()
