"""Honest time tracking: active time per frame and tool, counted only while people work.

The clock runs on interaction events only (a press, a drag step, a key, a scroll, an
edit), never on screenshots or keystroke contents: :meth:`ActiveTimer.touch` says "the
user did something on this frame with this tool now". The time between two touches is
credited to the frame and tool of the first one when the gap is at most ``idle_after``
seconds (60 by default). A longer gap counts as idle and is not credited at all, not even
the first ``idle_after`` seconds of it: someone who looks at a frame for two minutes
without touching anything is not counted as working, which errs on the side of the
annotator being paid for less, never for time the tool cannot vouch for.

Consecutive credited time on the same frame and tool forms one :class:`ActiveSpan`;
:meth:`ActiveTimer.flush` hands over the spans so far for storing. Both the clock and the
wall time are injectable, so tests drive the timer with a simulated clock.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from roadmark.core.annotation import utc_now
from roadmark.core.errors import RoadmarkError

DEFAULT_IDLE_AFTER_S = 60.0


@dataclass(frozen=True)
class ActiveSpan:
    """Continuous active time on one frame with one tool.

    Attributes:
        frame_id: The frame worked on.
        tool: The tool in use (``select``, ``box``, ``brush``, ``review``, ...).
        started_at: Wall time of the span's first interaction.
        seconds: Active seconds credited.
    """

    frame_id: int
    tool: str
    started_at: datetime
    seconds: float

    @property
    def ended_at(self) -> datetime:
        return self.started_at + timedelta(seconds=self.seconds)


class ActiveTimer:
    """Turns interaction events into active time per frame and tool.

    Args:
        idle_after: Seconds without interaction after which the clock stops.
        clock: Monotonic seconds (``time.monotonic`` by default; tests pass their own).
        wall: The current wall time, for the spans' start times.

    Raises:
        RoadmarkError: ``idle_after`` is not positive.
    """

    def __init__(
        self,
        *,
        idle_after: float = DEFAULT_IDLE_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = utc_now,
    ) -> None:
        if not idle_after > 0:
            raise RoadmarkError(
                f"must be a positive number of seconds, got {idle_after}", field="idle_after"
            )
        self.idle_after = float(idle_after)
        self._clock = clock
        self._wall = wall
        self._last: float | None = None  # clock time of the last touch
        self._key: tuple[int, str] | None = None  # (frame, tool) of the open span
        self._span_start_wall: datetime | None = None
        self._span_seconds = 0.0
        self._closed: list[ActiveSpan] = []
        self._totals: dict[tuple[int, str], float] = defaultdict(float)

    # -- events ----------------------------------------------------------------------------

    def touch(self, frame_id: int, tool: str) -> None:
        """The user interacted with ``frame_id`` using ``tool`` just now."""
        now = self._clock()
        key = (frame_id, tool)
        if self._last is None or self._key is None:
            self._open(key)
        else:
            gap = max(0.0, now - self._last)
            if gap > self.idle_after:
                self._close()
                self._open(key)
            else:
                self._credit(gap)
                if key != self._key:
                    self._close()
                    self._open(key)
        self._last = now

    def stop(self) -> None:
        """The user left (frame closed, window hidden): close the open span now."""
        self._close()
        self._last = None

    # -- reading ---------------------------------------------------------------------------

    @property
    def idle(self) -> bool:
        """No interaction for more than ``idle_after`` seconds (or none yet)."""
        return self._last is None or self._clock() - self._last > self.idle_after

    @property
    def current(self) -> tuple[int, str] | None:
        """The (frame, tool) being timed, ``None`` when stopped."""
        return None if self._last is None else self._key

    def totals(self) -> dict[tuple[int, str], float]:
        """Credited seconds per (frame, tool) since the timer was made."""
        return dict(self._totals)

    def flush(self) -> list[ActiveSpan]:
        """The spans credited since the last flush, to be stored; they are handed over once.

        An open span is split at its last interaction: the part so far is returned and the
        rest continues as a new span.
        """
        if self._key is not None and self._span_seconds > 0:
            self._closed.append(self._span())
            assert self._span_start_wall is not None
            self._span_start_wall = self._span_start_wall + timedelta(seconds=self._span_seconds)
            self._span_seconds = 0.0
        spans, self._closed = self._closed, []
        return spans

    # -- internals -------------------------------------------------------------------------

    def _open(self, key: tuple[int, str]) -> None:
        self._key = key
        self._span_start_wall = self._wall()
        self._span_seconds = 0.0

    def _credit(self, seconds: float) -> None:
        assert self._key is not None
        self._span_seconds += seconds
        self._totals[self._key] += seconds

    def _close(self) -> None:
        if self._key is not None and self._span_seconds > 0:
            self._closed.append(self._span())
        self._key = None
        self._span_start_wall = None
        self._span_seconds = 0.0

    def _span(self) -> ActiveSpan:
        assert self._key is not None and self._span_start_wall is not None
        return ActiveSpan(
            frame_id=self._key[0],
            tool=self._key[1],
            started_at=self._span_start_wall,
            seconds=self._span_seconds,
        )
