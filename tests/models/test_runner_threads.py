"""Pre-labeling on a CPU runs batches in lanes (threads) and splits the cores between decoders,
torch and writers."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from roadmark.demo.drive import write_drive
from roadmark.io.frames import scan
from roadmark.io.predictions import read_prediction
from roadmark.io.schema_files import load_schema
from roadmark.io.store import Project
from roadmark.models import runner
from roadmark.models.batch_plan import lane_units
from roadmark.models.create import new_torchvision_model
from roadmark.models.decode_threads import threaded_batches
from roadmark.models.demo_model import demo_model_path
from roadmark.models.device import LoaderPlan, cpu_model_plan, opencv_threads, torch_threads
from roadmark.models.files import LoadedModel, load_model
from roadmark.models.runner import (
    FrameDataset,
    FrameSource,
    PrelabelOptions,
    collate_frames,
    prelabel,
)
from tests.helpers import make_image
from tests.io.test_frames import _write_video


@pytest.mark.parametrize(
    ("cpus", "decoders", "writers", "expected"),
    [
        (2, 1, 1, (2, 1)),
        (2, 0, 1, (2, 1)),
        (4, 2, 1, (4, 1)),
        (8, 4, 1, (4, 1)),
        (16, 4, 1, (4, 2)),
        (32, 4, 4, (4, 6)),
        (1, 1, 1, (1, 1)),
    ],
)
def test_a_lane_per_core_and_the_cores_left_shared_by_the_lanes(
    cpus: int, decoders: int, writers: int, expected: tuple[int, int]
):
    assert cpu_model_plan(cpus, decoders, writers) == expected


def test_the_thread_count_is_restored_after_the_block():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), torch_threads(before + 1):
        assert torch.get_num_threads() == before + 1
        raise RuntimeError("a failed run")
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before


def test_opencv_runs_one_thread_in_the_block_and_its_count_is_restored():
    import cv2

    before = cv2.getNumThreads()
    with pytest.raises(RuntimeError), opencv_threads(1):
        assert cv2.getNumThreads() == 1
        raise RuntimeError("a failed run")
    assert cv2.getNumThreads() == before


def test_overlapping_runs_restore_opencv_when_the_last_ends():
    import cv2

    before = cv2.getNumThreads()
    cv2.setNumThreads(2)
    try:
        first, second = opencv_threads(1), opencv_threads(1)
        first.__enter__()
        second.__enter__()
        first.__exit__(None, None, None)  # the first run ends while the second goes on
        assert cv2.getNumThreads() == 1
        second.__exit__(None, None, None)
        assert cv2.getNumThreads() == 2
    finally:
        cv2.setNumThreads(before)


def test_the_writer_runs_opencv_on_one_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import cv2

    from roadmark.io import prediction_writer

    project, model = _small_run(tmp_path, 3, ".png")
    seen: list[int] = []
    real_prepare = prediction_writer.prepare

    def prepare(*args, **kwargs):
        seen.append(cv2.getNumThreads())  # in a writer thread, while the model runs
        return real_prepare(*args, **kwargs)

    monkeypatch.setattr(prediction_writer, "prepare", prepare)
    before = cv2.getNumThreads()
    cv2.setNumThreads(2)  # OpenCV's own pool, as on any machine of two cores or more
    try:
        options = PrelabelOptions(device="cpu", batch_size=2, workers=0, writer_threads=1)
        assert prelabel(project, model, options).predicted == 3
        assert seen == [1, 1, 1] and cv2.getNumThreads() == 2
    finally:
        cv2.setNumThreads(before)
    project.close()


def test_a_run_says_where_its_cpu_went(tmp_path: Path):
    project, model = _small_run(tmp_path, 3, ".png")
    options = PrelabelOptions(device="cpu", batch_size=2, workers=0, writer_threads=1)
    result = prelabel(project, model, options)
    assert result.predicted == 3
    assert result.writer_cpu_seconds > 0 and result.store_cpu_seconds > 0
    assert result.writer_cpu_seconds + result.store_cpu_seconds <= result.cpu_seconds
    project.close()


def _small_run(tmp_path: Path, count: int, suffix: str) -> tuple[Project, LoadedModel]:
    """A project of ``count`` random frames and a small LRASPP with random weights."""
    images = [make_image(tmp_path / f"a{i}{suffix}", 64, 48, seed=i) for i in range(count)]
    project = Project.create(tmp_path / "p.roadmark")
    project.add_frames(scan(images))
    model = new_torchvision_model(
        tmp_path / "m.roadmodel",
        "lraspp_mobilenet_v3_large",
        schema=project.schema,
        input_size=(32, 32),
        seed=0,
    )
    return project, model


def test_prelabel_runs_torch_on_the_cores_left(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    project, model = _small_run(tmp_path, 4, ".png")
    monkeypatch.setattr(runner, "cpu_budget", lambda: 5)
    before = torch.get_num_threads()
    seen: list[int] = []
    real_infer = runner.Predictor.infer

    def infer(self, *args, **kwargs):
        seen.append(torch.get_num_threads())  # in the thread that runs the model
        return real_infer(self, *args, **kwargs)

    monkeypatch.setattr(runner.Predictor, "infer", infer)
    options = PrelabelOptions(device="cpu", batch_size=2, workers=0, writer_threads=1)
    result = prelabel(project, model, options)  # 5 cores: 4 lanes of one thread
    assert result.predicted == 4 and result.threads == (0, 1, 1) and result.lanes == 4
    assert seen == [1] * 4 and torch.get_num_threads() == before  # (lanes take single frames)
    chosen = prelabel(project, model, replace(options, force=True, torch_threads=2, lanes=2))
    assert chosen.threads == (0, 2, 1) and chosen.lanes == 2 and seen[-4:] == [2] * 4
    own = prelabel(project, model, replace(options, force=True, torch_threads=0))
    assert own.threads == (0, before, 1) and own.lanes == 1 and seen[-1] == before
    assert torch.get_num_threads() == before
    project.close()


def test_lanes_store_what_one_lane_stores(tmp_path: Path):
    """Batches run at once in several lane threads give every frame its own prediction
    (the trained demo model on demo frames: its maps differ from frame to frame)."""
    written = write_drive(tmp_path / "drive", frames=7, width=128, height=64, seed=3)
    project = Project.create(tmp_path / "p.roadmark", schema=load_schema("cityscapes"))
    project.add_frames(scan([path for path, _ in written]))
    model = load_model(demo_model_path())
    options = PrelabelOptions(device="cpu", batch_size=2, workers=0, force=True)
    stored = {}
    for lanes in (1, 3):
        result = prelabel(project, model, replace(options, lanes=lanes))
        assert result.predicted == 7 and result.lanes == lanes
        stored[lanes] = {
            frame.id: read_prediction(project, frame.id, model.name) for frame in project.frames()
        }
    for frame_id, one in stored[1].items():
        several = stored[3][frame_id]
        assert one is not None and several is not None and one.maps is not None
        assert several.maps is not None
        assert np.array_equal(one.maps.label_ids, several.maps.label_ids)
        for name in ("confidence", "margin", "entropy"):
            assert np.array_equal(getattr(one.maps, name), getattr(several.maps, name))
        assert [r.box for r in one.regions] == [r.box for r in several.regions]
    assert len({p.maps.confidence.tobytes() for p in stored[3].values()}) == 7  # type: ignore[union-attr]
    project.close()


def _ones(first: int, end: int) -> list[list[int]]:
    return [[position] for position in range(first, end)]


@pytest.mark.parametrize(
    ("sizes", "lanes", "expected"),
    [
        ([4, 4, 4, 4, 2], 2, [[0], [1], [2, 3], [4, 5, 6, 7], [8, 9, 10, 11], *_ones(12, 18)]),
        ([4, 4, 4], 1, [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]),
        ([3], 2, _ones(0, 3)),
        ([2, 2], 2, _ones(0, 4)),
        ([2, 4, 4, 4], 3, _ones(0, 14)),
        ([4, 4, 4, 4], 2, [[0], [1], [2, 3], [4, 5, 6, 7], *_ones(8, 16)]),
        ([], 2, []),
    ],
)
def test_lanes_take_single_frames_at_the_start_and_the_end(sizes, lanes, expected):
    """The lanes start after one frame's decoding each and finish within a frame of each
    other; between, the batches stay as they were, every frame once and in order."""
    batches, next_position = [], 0
    for size in sizes:
        batches.append(list(range(next_position, next_position + size)))
        next_position += size
    units = lane_units(batches, lanes)
    assert units == expected
    assert [p for unit in units for p in unit] == list(range(next_position))


def test_lanes_never_wait_for_a_slower_lane(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Batches are stored as they finish, not in order: while one lane is held up, the
    other takes the batches queued behind it."""
    written = write_drive(tmp_path / "drive", frames=10, width=64, height=32, seed=5)
    project = Project.create(tmp_path / "p.roadmark", schema=load_schema("cityscapes"))
    project.add_frames(scan([path for path, _ in written]))
    model = load_model(demo_model_path())
    real = runner._run_batch
    lanes_of: dict[int, str] = {}

    def slow_first(predictor, images, frame_size, ids):  # type: ignore[no-untyped-def]
        if ids[0] == project.frames()[0].id:
            time.sleep(2.0)
        for frame_id in ids:
            lanes_of[frame_id] = threading.current_thread().name
        return real(predictor, images, frame_size, ids)

    monkeypatch.setattr(runner, "_run_batch", slow_first)
    options = PrelabelOptions(device="cpu", batch_size=2, workers=0, lanes=2, force=True)
    result = prelabel(project, model, options)
    assert result.predicted == 10
    held = lanes_of[project.frames()[0].id]
    assert sum(name != held for name in lanes_of.values()) >= 8  # the other lane ran on
    project.close()


class _CountingItems:
    """Items that record when they are decoded and how many wait at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.decoded: list[int] = []

    def __getitem__(self, index: int) -> tuple[int, int]:
        with self.lock:
            self.decoded.append(index)
        return index, index * 10


def _collate(items: list[tuple[int, int]]) -> dict[str, list[int]]:
    return {"index": [i for i, _ in items], "values": [v for _, v in items]}


def test_threaded_batches_come_in_order_and_stay_a_few_ahead():
    items = _CountingItems()
    batches = [[i, i + 1] for i in range(0, 40, 2)]
    stream = threaded_batches(items, batches, _collate, threads=3, ahead=2)
    first = next(stream)
    assert first == {"index": [0, 1], "values": [0, 10]}
    time.sleep(0.05)
    assert len(items.decoded) <= 2 * 3  # the batch handed out, two ahead (bounded)
    rest = list(stream)
    assert [b["index"] for b in [first, *rest]] == batches
    assert sorted(items.decoded) == list(range(40))


def test_threaded_batches_report_each_batchs_cpu_time():
    spent: list[float] = []

    class Busy(_CountingItems):
        def __getitem__(self, index: int) -> tuple[int, int]:
            end = time.thread_time() + 0.005
            while time.thread_time() < end:
                pass
            return super().__getitem__(index)

    batches = [[i, i + 1] for i in range(0, 8, 2)]
    list(threaded_batches(Busy(), batches, _collate, threads=2, ahead=2, on_cpu=spent.append))
    assert len(spent) == 4 and all(0.009 <= s < 0.5 for s in spent)


def test_leaving_threaded_batches_early_stops_decoding():
    items = _CountingItems()
    stream = threaded_batches(items, [[i] for i in range(100)], _collate, threads=2, ahead=3)
    next(stream)
    stream.close()
    decoded = len(items.decoded)
    time.sleep(0.05)
    assert decoded == len(items.decoded) <= 5


def test_a_cpu_run_decodes_in_threads_unless_processes_are_asked_for(tmp_path: Path):
    project, model = _small_run(tmp_path, 10, ".jpg")
    threaded = prelabel(project, model, PrelabelOptions(device="cpu", batch_size=2))
    assert threaded.predicted == 10 and threaded.decode_threads >= 1
    assert threaded.threads[0] == 0  # no decoding process
    assert 0 < threaded.decode_cpu_seconds < threaded.cpu_seconds  # counted, part of the run
    inline = prelabel(project, model, PrelabelOptions(device="cpu", workers=0, force=True))
    assert inline.predicted == 10 and inline.decode_threads == 0
    assert inline.decode_cpu_seconds == 0.0  # decoded by the loader, not counted apart
    project.close()


def test_decoding_threads_each_read_a_video_with_their_own_reader(tmp_path: Path):
    """Frames of one video decoded by several threads at once come out as those frames (the
    threads share the video's reader, which reads under its lock)."""
    video = _write_video(tmp_path / "drive.avi", frames=12)
    sources = [FrameSource(str(video), k, (48, 64)) for k in range(12)]
    dataset = FrameDataset(sources)
    batches = [[k] for k in range(12)]
    seen = {}
    for batch in threaded_batches(dataset, batches, collate_frames, threads=4, ahead=6):
        assert not batch["errors"]
        for index, image in zip(batch["index"], batch["images"].numpy(), strict=True):
            seen[index] = int(image[..., 0].mean())  # red (RGB) rises frame by frame
    expected = {k: int(dataset[k][1][..., 0].mean()) for k in range(12)}
    assert seen == expected
    assert len(set(expected.values())) == 12  # the frames differ


@pytest.mark.parametrize(
    ("device", "asked", "default", "busy", "planned", "on_device", "split"),
    [
        # a GPU: processes, as many as the shared memory holds, unless it holds fewer than
        # the run keeps busy (a container's 64 MB /dev/shm): then threads, which need none
        ("cuda", None, 7, 7, 7, False, (7, 0)),
        ("cuda", None, 7, 7, 0, False, (0, 7)),
        ("cuda", None, 7, 7, 3, False, (0, 7)),
        ("cuda", None, 7, 0, 0, False, (0, 0)),  # a small run: the calling thread
        # decoding on the device: two readers are plenty, threads where memory is short
        ("cuda", None, 2, 5, 5, True, (2, 0)),
        ("cuda", None, 2, 5, 1, True, (0, 2)),
        # a CPU: threads of this process, however small the run
        ("cpu", None, 1, 0, 0, False, (0, 1)),
        # what was asked for is what runs
        ("cuda", 0, 7, 7, 7, False, (0, 0)),
        ("cpu", 3, 1, 1, 1, False, (3, 0)),
        ("cuda", 5, 2, 2, 2, True, (2, 0)),
    ],
)
def test_decoding_split_uses_threads_where_shared_memory_holds_too_few_processes(
    device: str, asked: int | None, default: int, busy: int, planned: int, on_device: bool,
    split: tuple[int, int],
):
    from roadmark.models.runner import decoding_split

    assert decoding_split(torch.device(device), asked=asked, default=default, busy=busy,
                          planned=planned, on_device=on_device) == split


def test_frames_decoded_on_the_device_are_read_by_threads_where_shared_memory_is_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The JPEG bytes that the device decodes are read by threads when the shared memory
    holds no reading process: the same maps as read by processes."""
    project, model = _small_run(tmp_path, 10, ".jpg")
    options = PrelabelOptions(device="cpu", decode="device", batch_size=2)
    by_processes = prelabel(project, model, options)
    processes = by_processes.threads[0]
    assert processes >= 1 and by_processes.decode_threads == 0
    maps = {f.id: read_prediction(project, f.id).maps for f in project.frames()}
    monkeypatch.setattr(runner, "loader_plan", lambda *args, **kwargs: LoaderPlan(0, None))
    by_threads = prelabel(project, model, replace(options, force=True))
    assert by_threads.predicted == 10 and by_threads.decode_threads == processes
    assert by_threads.threads[0] == 0 and by_threads.decode_cpu_seconds > 0
    for frame in project.frames():
        again = read_prediction(project, frame.id).maps
        assert np.array_equal(again.label_ids, maps[frame.id].label_ids)
        assert np.array_equal(again.confidence, maps[frame.id].confidence)
    project.close()
