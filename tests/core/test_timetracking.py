"""Active-time clock driven by a simulated clock: idle cutoff, per-tool spans, flushing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from roadmark.core.errors import RoadmarkError
from roadmark.core.timetracking import ActiveSpan, ActiveTimer

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


class FakeClock:
    """Monotonic seconds and the matching wall time, advanced by the test."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def wall(self) -> datetime:
        return T0 + timedelta(seconds=self.now)


def timer(idle_after: float = 60.0) -> tuple[ActiveTimer, FakeClock]:
    clock = FakeClock()
    return ActiveTimer(idle_after=idle_after, clock=clock, wall=clock.wall), clock


def touch_at(t: ActiveTimer, clock: FakeClock, when: float, frame: int, tool: str) -> None:
    clock.now = when
    t.touch(frame, tool)


def test_gaps_up_to_the_cutoff_count_and_longer_gaps_do_not():
    t, clock = timer(idle_after=60)
    for when in (0, 10, 70):  # gaps 10 and 60: both count
        touch_at(t, clock, when, 1, "brush")
    touch_at(t, clock, 131, 1, "brush")  # gap 61: idle, nothing credited
    touch_at(t, clock, 141, 1, "brush")  # gap 10 counts again
    assert t.totals() == {(1, "brush"): 80.0}
    spans = t.flush()
    assert spans == [
        ActiveSpan(1, "brush", T0, 70.0),
        ActiveSpan(1, "brush", T0 + timedelta(seconds=131), 10.0),
    ]
    assert spans[0].ended_at == T0 + timedelta(seconds=70)


def test_configurable_idle_cutoff():
    t, clock = timer(idle_after=5)
    touch_at(t, clock, 0, 1, "box")
    touch_at(t, clock, 4, 1, "box")
    touch_at(t, clock, 10, 1, "box")  # gap 6 > 5
    assert t.totals() == {(1, "box"): 4.0}
    with pytest.raises(RoadmarkError, match="positive"):
        ActiveTimer(idle_after=0)


def test_time_goes_to_the_tool_and_frame_in_use_before_each_event():
    t, clock = timer()
    touch_at(t, clock, 0, 1, "box")
    touch_at(t, clock, 20, 1, "polygon")  # the 20 s before belong to box
    touch_at(t, clock, 50, 2, "polygon")  # 30 s of polygon on frame 1, then frame 2
    touch_at(t, clock, 55, 2, "polygon")
    assert t.totals() == {(1, "box"): 20.0, (1, "polygon"): 30.0, (2, "polygon"): 5.0}
    assert [(s.frame_id, s.tool, s.seconds) for s in t.flush()] == [
        (1, "box", 20.0),
        (1, "polygon", 30.0),
        (2, "polygon", 5.0),
    ]


def test_idle_state_and_stop():
    t, clock = timer(idle_after=60)
    assert t.idle and t.current is None
    touch_at(t, clock, 0, 3, "review")
    clock.now = 59
    assert not t.idle and t.current == (3, "review")
    clock.now = 61
    assert t.idle
    touch_at(t, clock, 62, 3, "review")
    clock.now = 70
    t.stop()  # the 8 s since the last touch are not credited: stop means "left"
    assert t.current is None
    touch_at(t, clock, 75, 3, "review")  # starts afresh: the 5 s gap is not credited
    touch_at(t, clock, 78, 3, "review")
    assert t.totals() == {(3, "review"): 3.0}


def test_flush_splits_the_open_span_and_hands_each_second_over_once():
    t, clock = timer()
    touch_at(t, clock, 0, 1, "brush")
    touch_at(t, clock, 30, 1, "brush")
    assert t.flush() == [ActiveSpan(1, "brush", T0, 30.0)]
    assert t.flush() == []
    touch_at(t, clock, 45, 1, "brush")
    assert t.flush() == [ActiveSpan(1, "brush", T0 + timedelta(seconds=30), 15.0)]
    assert t.totals() == {(1, "brush"): 45.0}


def test_a_single_touch_credits_nothing():
    t, clock = timer()
    touch_at(t, clock, 0, 1, "box")
    touch_at(t, clock, 500, 2, "box")
    assert t.flush() == [] and t.totals() == {}
