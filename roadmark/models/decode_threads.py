"""Decoding frames in threads of this process, a few batches ahead of the model.

On a CPU the model and the decoding share the same few cores, and decoding a frame at
the model's input size (JPEG's reduced decoding, an area resize) is a small share of the
work. Threads start at once and hand over arrays without copying them between processes;
worker processes would each import torch first (seconds at the start of every run) and
send every batch through shared memory. OpenCV releases the GIL while it decodes and
resizes, so a decoding thread does not hold up the threads that run the model.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol


class Items(Protocol):
    def __getitem__(self, index: int) -> Any: ...


def threaded_batches(
    dataset: Items,
    batches: Sequence[Sequence[int]],
    collate: Callable[[list[Any]], dict[str, Any]],
    *,
    threads: int,
    ahead: int,
    on_cpu: Callable[[float], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """The collated batches, in order, each decoded by one of ``threads`` threads while at
    most ``ahead`` batches wait (memory stays bounded however long the run); ``on_cpu``,
    called from the decoding thread, gets each batch's CPU seconds.

    Closing the iterator (or leaving the loop) cancels the batches not started and waits
    for the ones being decoded.
    """
    pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix="decode")
    pending: deque[Future[dict[str, Any]]] = deque()
    upcoming = iter(batches)

    def load(batch: Sequence[int]) -> dict[str, Any]:
        started = time.thread_time()
        try:
            return collate([dataset[index] for index in batch])
        finally:
            if on_cpu is not None:
                on_cpu(time.thread_time() - started)

    def refill() -> None:
        while len(pending) < max(1, ahead):
            batch = next(upcoming, None)
            if batch is None:
                return
            pending.append(pool.submit(load, batch))

    try:
        refill()
        while pending:
            done = pending.popleft().result()
            refill()
            yield done
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)
