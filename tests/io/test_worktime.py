"""The time recorder: simulated clock in, time log rows out; the idle cutoff setting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from roadmark.core.errors import RoadmarkError
from roadmark.io import workflow as wf
from roadmark.io.store import Project
from roadmark.io.worktime import TimeRecorder, idle_after, set_idle_after
from tests.io.test_workflow import make_project

T0 = datetime(2024, 5, 1, 9, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def wall(self) -> datetime:
        return T0 + timedelta(seconds=self.now)


def test_recorder_writes_credited_time_with_the_project_idle_cutoff(project_path: Path):
    frame, other = make_project(project_path, 2)
    with Project.open(project_path, user="ann") as project:
        assert idle_after(project) == 60.0
        set_idle_after(project, 20)
        clock = Clock()
        recorder = TimeRecorder(project, flush_every=100, clock=clock, wall=clock.wall)
        for when, frame_id, tool in [
            (0, frame, "brush"),
            (15, frame, "brush"),  # 15 s brush
            (30, frame, "box"),  # 15 s brush
            (55, frame, "box"),  # gap 25 > 20: idle, nothing
            (60, other, "box"),  # 5 s box on frame
        ]:
            clock.now = when
            recorder.touch(frame_id, tool)
        assert wf.time_spent(project) == []  # not flushed yet (every 100 s)
        clock.now = 101
        recorder.touch(other, "box")  # gap 41: idle; and 101 s since the last flush
        assert wf.time_spent(project) == [
            wf.TimeEntry("ann", frame, "box", 5.0),
            wf.TimeEntry("ann", frame, "brush", 30.0),
        ]
        clock.now = 110
        recorder.touch(other, "box")
        recorder.close()
        assert wf.TimeEntry("ann", other, "box", 9.0) in wf.time_spent(project)


def test_idle_setting_is_checked(project_path: Path):
    make_project(project_path, 1)
    with Project.open(project_path) as project:
        with pytest.raises(RoadmarkError, match="positive number"):
            set_idle_after(project, 0)
        project.set_meta("idle_after_s", "soon")
        with pytest.raises(RoadmarkError, match="idle_after_s: must be a positive number"):
            idle_after(project)


def test_read_only_projects_are_not_written(project_path: Path):
    (frame,) = make_project(project_path, 1)
    with Project.open(project_path, read_only=True) as project:
        clock = Clock()
        recorder = TimeRecorder(project, clock=clock, wall=clock.wall)
        recorder.touch(frame, "select")
        clock.now = 5
        recorder.touch(frame, "select")
        assert recorder.flush() == 0
