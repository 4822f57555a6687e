"""Writing predictions while a model runs, so the model never waits on the database.

:class:`PredictionWriter` takes finished frame predictions, finds their uncertain regions
and encodes their maps in a small thread pool (OpenCV releases the GIL), and stores them
from one writer thread, many frames per transaction. The producer only blocks when more
than ``max_pending`` frames are waiting (back-pressure instead of unbounded memory).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace

from roadmark.analysis.uncertainty import RegionParams, frame_regions
from roadmark.core.prediction import FramePrediction
from roadmark.io.predictions import PackedPrediction, pack, write_packed
from roadmark.io.store import Project

_STOP = object()


def prepare(prediction: FramePrediction, params: RegionParams) -> PackedPrediction:
    """Find a prediction's uncertain regions and encode it as rows (CPU work)."""
    regions = frame_regions(prediction.maps, prediction.boxes, params)
    return pack(replace(prediction, regions=tuple(regions)))


class PredictionWriter:
    """Prepares predictions in a thread pool and stores them from one thread, in batches.

    Use as a context manager, or call :meth:`close`. Errors from the worker threads (a
    locked project, a full disk) are raised by the next :meth:`submit` or by :meth:`close`.

    Args:
        project: Where to store.
        params: How uncertain regions are found.
        workers: Threads preparing predictions.
        commit_every: Most frames per transaction.
        max_pending: Frames submitted but not stored before :meth:`submit` blocks.
        gather_seconds: How long the writer thread waits for more frames after the first
            of a transaction (up to ``commit_every``): frames that arrive one at a time
            share a commit instead of paying one each (about 2 ms on SQLite).
        on_stored: Called from the writer thread with the number of frames just stored.
    """

    def __init__(
        self,
        project: Project,
        *,
        params: RegionParams | None = None,
        workers: int = 2,
        commit_every: int = 32,
        max_pending: int = 128,
        gather_seconds: float = 0.5,
        on_stored: Callable[[int], None] | None = None,
    ) -> None:
        self._project = project
        self._params = params or RegionParams()
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="pack")
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, max_pending))
        self._commit_every = max(1, commit_every)
        self._gather_seconds = max(0.0, gather_seconds)
        self._on_stored = on_stored
        self._error: BaseException | None = None
        self._stored = 0
        self._closed = False
        self._cpu = {"prepare": 0.0, "store": 0.0}  # CPU seconds of the writer's threads
        self._cpu_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="prediction-writer", daemon=True)
        self._thread.start()

    @property
    def stored(self) -> int:
        """Frames stored so far."""
        return self._stored

    @property
    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds the writer's threads spent so far: ``prepare`` (regions and maps
        encoded) and ``store`` (written to the project)."""
        with self._cpu_lock:
            return dict(self._cpu)

    def _count(self, key: str, since: float) -> None:
        with self._cpu_lock:
            self._cpu[key] += time.thread_time() - since

    def _prepare(self, prediction: FramePrediction) -> PackedPrediction:
        started = time.thread_time()
        try:
            return prepare(prediction, self._params)
        finally:
            self._count("prepare", started)

    def submit(self, prediction: FramePrediction) -> None:
        """Queue one frame's prediction (blocks while ``max_pending`` are waiting).

        Raises:
            RuntimeError: The writer was closed.
            Exception: The first error a worker thread met.
        """
        if self._closed:
            raise RuntimeError("the prediction writer is closed")
        self._raise_error()
        future = self._pool.submit(self._prepare, prediction)
        while True:
            try:
                self._queue.put(future, timeout=0.1)
                return
            except queue.Full:
                self._raise_error()

    def close(self) -> int:
        """Store everything submitted, stop the threads; returns the frames stored.

        Raises:
            Exception: The first error a worker thread met.
        """
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
            self._thread.join()
            self._pool.shutdown(wait=True)
        self._raise_error()
        return self._stored

    def __enter__(self) -> PredictionWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()
        else:  # already failing: store what was done, keep the original error
            try:
                self.close()
            except Exception:
                pass

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        stop = False
        while not stop:
            item = self._queue.get()
            if item is _STOP:
                break
            batch: list[Future[PackedPrediction]] = [item]  # type: ignore[list-item]
            until = time.monotonic() + self._gather_seconds
            while len(batch) < self._commit_every:
                try:
                    more = self._queue.get(timeout=max(0.0, until - time.monotonic()))
                except queue.Empty:
                    break
                if more is _STOP:
                    stop = True
                    break
                batch.append(more)  # type: ignore[arg-type]
            if self._error is not None:
                continue  # drain without writing after a failure
            try:
                packed = [future.result() for future in batch]
                started = time.thread_time()
                write_packed(self._project, packed)
                self._count("store", started)
            except BaseException as error:
                self._error = error
                continue
            self._stored += len(batch)
            if self._on_stored is not None:
                self._on_stored(len(batch))
