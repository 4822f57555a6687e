"""``roadmark prelabel --worker``: claim batches of unpredicted frames until none are left.

Start as many workers as there are GPUs, on as many machines as the cluster gives (each
opens the same PostgreSQL project); they share the frames through claims in the database
(:mod:`roadmark.io.prelabel_claims`), so no coordinator is needed. A worker ends when every
frame has the model's prediction; while others still hold claims it waits, so that frames
of a worker that died are taken over once its claims expire.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from roadmark.io.prelabel_claims import CLAIM_SECONDS, claim_batch, outstanding, release
from roadmark.io.store import Project
from roadmark.io.team import machine_name
from roadmark.models.files import LoadedModel
from roadmark.models.runner import PrelabelOptions, prelabel

WAIT_SECONDS = 2.0


@dataclass
class WorkerResult:
    """What one worker did.

    Attributes:
        worker: Its name (machine:process id).
        frame_ids: Frames it predicted and stored, in claim order.
        batches: Claims it worked through.
        seconds: Wall time.
    """

    worker: str
    frame_ids: list[int] = field(default_factory=list)
    batches: int = 0
    seconds: float = 0.0


def default_worker_name() -> str:
    """``HOST:PID``, unique among workers running at the same time."""
    return f"{machine_name()}:{os.getpid()}"


def run_worker(
    project: Project,
    model: LoadedModel,
    options: PrelabelOptions,
    *,
    claim: int,
    claim_seconds: float = CLAIM_SECONDS,
    worker: str | None = None,
    wait_seconds: float = WAIT_SECONDS,
    on_batch: Callable[[list[int]], None] | None = None,
) -> WorkerResult:
    """Claim, predict, store and release batches of ``claim`` frames until none are left.

    Args:
        project: The (team) project, open for writing.
        model: The loaded model; frames with its file's prediction (digest) are done.
        options: Device, batch size and the rest (``frame_ids`` and ``force`` are ignored).
        claim: Frames per claim.
        claim_seconds: How long a claim lasts; a worker that dies loses its frames to the
            others after this long.
        worker: The name claims are made under (``HOST:PID`` by default).
        wait_seconds: How long to wait between looks while others hold every frame left.
        on_batch: Called with each batch's frame ids once they are stored.
    """
    name = worker or default_worker_name()
    result = WorkerResult(name)
    started = time.monotonic()
    while True:
        frame_ids = claim_batch(project, model.digest, name, claim, seconds=claim_seconds)
        if not frame_ids:
            if outstanding(project, model.digest).unpredicted == 0:
                break
            time.sleep(wait_seconds)  # the rest is claimed; those claims may yet expire
            continue
        try:
            done = prelabel(project, model, replace(options, frame_ids=frame_ids, force=False))
        finally:
            release(project, model.digest, name, frame_ids)
        result.batches += 1
        if done.predicted:
            result.frame_ids.extend(frame_ids)
            if on_batch is not None:
                on_batch(frame_ids)
    result.seconds = time.monotonic() - started
    return result
