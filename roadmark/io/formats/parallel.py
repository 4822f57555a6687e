"""Per-frame work of an export or import in parallel, in order, with a bounded number in
flight.

A writer that turns each frame into files (rasterize, trace, encode PNGs), or a reader
that works out each file's regions ahead, hands the work to :func:`map_frames`: many
frames go to spawned worker processes (the GIL does not hold them back, and a fork after
OpenCV's or Qt's threads started could deadlock the child), few frames to threads of this
process (starting processes would cost more than it saves). At most ``ahead * workers``
frames are in flight (two per worker by default), so memory stays flat however many
frames there are. Results come back in submission order.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from roadmark.io.formats.errors import FormatError

PROCESS_MIN_FRAMES = 32  # fewer frames are written from threads of this process
BULK_GC_THRESHOLD = 100_000  # allocations between young collections in bulk reading/writing
Result = TypeVar("Result")


def worker_count() -> int:
    """Processes for this machine: the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def _start_worker() -> None:
    """A worker process: OpenCV on one thread (one core per process; N processes use N
    cores), and young-generation collections every :data:`BULK_GC_THRESHOLD` allocations
    (parsing a file makes thousands of lists that live until its result is sent; the
    default threshold collected them some 8 times a file, 4 % of an import worker's time;
    reference counting frees them anyway). The process ends with the job."""
    import cv2

    cv2.setNumThreads(1)
    raise_collection_threshold()


def raise_collection_threshold() -> tuple[int, int, int]:
    """Young-generation collections every :data:`BULK_GC_THRESHOLD` allocations at most
    (a threshold already higher is kept); returns the thresholds before, to restore."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], BULK_GC_THRESHOLD), *before[1:])
    return before


def uses_processes(frames: int, workers: int | None = None) -> bool:
    """Whether :func:`map_frames` runs ``frames`` calls in worker processes (``workers``:
    as passed to it) rather than in threads of this process."""
    processes = workers if workers is not None else worker_count()
    return frames >= PROCESS_MIN_FRAMES and processes > 1


def map_frames(
    function: Callable[..., Result],
    calls: Iterable[tuple[Any, ...]],
    *,
    frames: int,
    workers: int | None = None,
    threads: int = 2,
    ahead: int = 2,
) -> Generator[Result, None, None]:
    """``function(*args)`` for each ``args`` of ``calls``, results in order.

    Args:
        function: A module-level function (it is pickled by name for processes); its
            arguments and result must pickle.
        calls: Argument tuples, consumed lazily (at most ``ahead * workers`` ahead).
        frames: How many calls there will be (decides processes or threads).
        workers: Processes (``None``: one per usable core).
        threads: Threads when the run is too small for processes.
        ahead: Calls in flight per worker: enough to keep the workers busy while the
            caller spends a while on other things (storing what it got, for a reader).

    Raises:
        FormatError: A worker process died (killed for memory, for example).
        Whatever ``function`` raises, for the first call that fails; the calls not yet
        started are dropped.
    """
    processes = workers if workers is not None else worker_count()
    executor: Executor
    if uses_processes(frames, processes):
        size = processes
        executor = ProcessPoolExecutor(
            max_workers=processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
        )
    else:
        size = threads
        executor = ThreadPoolExecutor(max_workers=threads)
    pending: deque[Future[Result]] = deque()
    try:
        for args in calls:
            pending.append(executor.submit(function, *args))
            while len(pending) > ahead * size:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    except BrokenProcessPool as error:
        raise FormatError(
            f"a worker process stopped unexpectedly ({error}); nothing was written"
        ) from error
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
