"""Exports written from worker processes: the same bytes as from threads, errors intact."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from roadmark.io.demo_project import build_demo_project
from roadmark.io.formats import parallel
from roadmark.io.formats.errors import FormatError
from roadmark.io.formats.jobs import export_dataset
from roadmark.io.formats.parallel import PROCESS_MIN_FRAMES, map_frames
from roadmark.io.store import Project


def _digests(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def square_or_fail(value: int) -> int:
    """Module level, so that spawned workers can import it."""
    if value == 13:
        raise FormatError("thirteen is refused", path=f"frame_{value}.json", field="objects[2]")
    return value * value


def test_processes_write_the_same_files_as_threads(tmp_path: Path, monkeypatch):
    frames = PROCESS_MIN_FRAMES + 2
    path = tmp_path / "drive.roadmark"
    build_demo_project(path, frames=frames, labeled=frames, width=256, height=128).close()
    with Project.open(path, read_only=True) as project:
        in_processes = export_dataset(project, "cityscapes", tmp_path / "processes")
        monkeypatch.setattr(parallel, "PROCESS_MIN_FRAMES", 10**9)
        in_threads = export_dataset(project, "cityscapes", tmp_path / "threads")
    assert in_processes.stats == in_threads.stats and in_processes.stats["polygons"] > 0
    processes, threads = _digests(tmp_path / "processes"), _digests(tmp_path / "threads")
    assert len(processes) >= 5 * frames
    assert processes == threads


@pytest.mark.parametrize("workers", [2, 1])
def test_results_come_in_order_and_errors_keep_file_and_field(workers: int):
    calls = [(value,) for value in range(PROCESS_MIN_FRAMES)]
    results = list(map_frames(square_or_fail, calls[:13], frames=len(calls), workers=workers))
    assert results == [value * value for value in range(13)]
    with pytest.raises(FormatError) as caught:
        list(map_frames(square_or_fail, calls, frames=len(calls), workers=workers))
    assert str(caught.value) == "frame_13.json: objects[2]: thirteen is refused"


@pytest.mark.parametrize("ahead", [2, 4])
def test_at_most_ahead_calls_per_worker_are_in_flight(ahead: int):
    consumed = []

    def calls():
        for value in range(12):
            consumed.append(value)
            yield (value,)

    results = map_frames(square_or_fail, calls(), frames=12, threads=2, ahead=ahead)
    assert next(results) == 0
    assert len(consumed) == ahead * 2 + 1  # the first result is taken when one more is queued
    assert list(results) == [value * value for value in range(1, 12)]


def worker_settings(_: int) -> tuple[int, int]:
    """Module level, so that spawned workers can import it."""
    import gc

    import cv2

    return gc.get_threshold()[0], cv2.getNumThreads()


def test_worker_processes_run_opencv_on_one_thread_and_collect_young_objects_seldom():
    calls = [(value,) for value in range(PROCESS_MIN_FRAMES)]
    seen = set(map_frames(worker_settings, calls, frames=len(calls), workers=2))
    assert seen == {(parallel.BULK_GC_THRESHOLD, 1)}
