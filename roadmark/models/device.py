"""Device placement that is right on any GPU, not only on ``cuda:0`` of a modern card.

The helpers here are the one place that decides:

- which device context a job runs in (:func:`on_device`: kernels, streams, events and
  pinned-memory threads all follow the *current* CUDA device, which is ``cuda:0`` unless
  set, so a job on ``cuda:1`` must run inside its device's context);
- where a copy-done event is recorded (:func:`record_event`: on the given device's
  current stream);
- the mixed-precision dtype (:func:`amp_dtype`: bf16 only from compute capability 8.0 on;
  T4 and V100 emulate it slowly, they get fp16 with gradient scaling);
- how a shared model is placed on a device without changing the caller's copy
  (:func:`placed_module`; on a CPU its batch norms folded into its convolutions),
  including ``torch.export`` programs, whose lifted constants and factory ops must be
  moved by torch's device pass, and TorchScript programs, whose baked-in devices are
  refused with a clear error;
- how many decoding processes and how much prefetch the shared memory allows
  (:func:`loader_plan`), and that each worker limits its own threads
  (:func:`limit_worker_threads`).
"""

from __future__ import annotations

import copy
import math
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch.nn.utils.fusion import fuse_conv_bn_eval

from roadmark.models.errors import ModelError

SHM_PATH = "/dev/shm"
SHM_SHARE = 0.25  # at most this share of the free shared memory is held by prefetched batches
BF16_CAPABILITY = (8, 0)  # Ampere and later compute bf16 natively


def on_device(device: torch.device) -> Any:
    """A context that makes ``device`` the current CUDA device (no-op elsewhere)."""
    if device.type == "cuda":
        return torch.cuda.device(device)
    return nullcontext()


def record_event(device: torch.device) -> Any:
    """A CUDA event recorded on ``device``'s current stream (``None`` off CUDA).

    An event recorded on another device's stream would be complete at once, and a
    caller waiting on it would read pinned buffers still being written.
    """
    if device.type != "cuda":
        return None
    event = torch.cuda.Event()
    event.record(torch.cuda.current_stream(device))
    return event


def amp_dtype(device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``device``: bf16 where the GPU computes it natively (compute
    capability >= 8.0), fp16 below (with gradient scaling when training), None off CUDA."""
    if device.type != "cuda":
        return None
    if tuple(torch.cuda.get_device_capability(device)) >= BF16_CAPABILITY:
        return torch.bfloat16
    return torch.float16


@contextmanager
def cudnn_autotune(device: torch.device) -> Iterator[None]:
    """Let cuDNN pick the fastest kernels inside this block only (restored after)."""
    if device.type != "cuda":
        yield
        return
    with torch.backends.cudnn.flags(
        enabled=torch.backends.cudnn.enabled,
        benchmark=True,
        deterministic=torch.backends.cudnn.deterministic,
        allow_tf32=torch.backends.cudnn.allow_tf32,
    ):
        yield


def baked_devices(module: Any) -> set[str]:
    """Device constants written into a TorchScript program's code (e.g. ``cuda:0`` from
    ``torch.arange(n, device=...)`` at scripting time); empty for other modules."""
    graph = getattr(module, "inlined_graph", None)
    if graph is None:
        graph = getattr(module, "graph", None)
    if graph is None or not isinstance(module, torch.jit.ScriptModule | torch.jit.ScriptFunction):
        return set()
    found = set()
    for node in graph.nodes():
        if node.kind() != "prim::Constant":
            continue
        output = node.output()
        if isinstance(output.type(), torch._C.DeviceObjType):
            found.add(str(output.toIValue()))
    return found


def placed_module(
    model: Any, device: torch.device, *, channels_last: bool = False, fold: bool = False
) -> Any:
    """The model's module ready to run on ``device``, never changing ``model.module``.

    Args:
        model: A :class:`~roadmark.models.files.LoadedModel` (its ``manifest.kind``,
            ``module``, ``path`` and, for ``export``, ``program`` are used).
        device: Where it runs.
        channels_last: Also convert a torchvision model's weights to channels-last.
        fold: Run a torchvision model in eval mode with its batch norms folded into the
            convolutions before them (:func:`fold_batch_norms`).

    Raises:
        ModelError: A TorchScript program has another device baked into its code.
    """
    kind = model.manifest.kind
    module = model.module
    if kind == "export":
        program = getattr(model, "program", None)
        if device.type == "cpu" or program is None:
            return module
        from torch.export.passes import move_to_device_pass

        # the pass rewrites the program it is given: move a copy (never the caller's)
        return move_to_device_pass(copy.deepcopy(program), device).module()
    if kind == "torchscript":
        stray = {d for d in baked_devices(module) if torch.device(d).type != device.type}
        if stray:
            raise ModelError(
                f"the TorchScript program has device {sorted(stray)} written into its code "
                f"and cannot run on {device}; script it without fixed devices or export it "
                "with torch.export",
                path=str(model.path),
                field="device",
            )
    fold = fold and kind == "torchvision"
    if device.type == "cpu" and not channels_last and not fold:
        return module
    module = copy.deepcopy(module).to(device)
    if fold:
        fold_batch_norms(module.eval())
    if channels_last and kind == "torchvision":
        module = module.to(memory_format=torch.channels_last)
    return module


def fold_batch_norms(module: torch.nn.Module) -> int:
    """Fold every batch norm that follows a convolution in a ``Sequential`` (torchvision's
    conv-norm-activation blocks) into that convolution, in place; returns how many.

    In eval mode a batch norm is a per-channel scale and shift, which the convolution's
    weights and bias can apply themselves: one pass over the activations less per block
    (with channels-last, LRASPP's forward on a CPU thread 62-74 -> 43-48 ms a frame at
    512x256). The outputs differ from the unfolded ones by float rounding only.
    """
    folded = 0
    for parent in list(module.modules()):
        if not isinstance(parent, torch.nn.Sequential) or (
            type(parent).forward is not torch.nn.Sequential.forward
        ):  # a subclass with its own forward may use the convolution's output elsewhere
            continue
        for at in range(len(parent) - 1):  # a Sequential's own indexing, slot by slot
            conv, norm = parent[at], parent[at + 1]
            if (
                type(conv) is torch.nn.Conv2d
                and type(norm) is torch.nn.BatchNorm2d
                and not conv.training
                and not norm.training
                and norm.track_running_stats
            ):  # (the fused convolution is a copy: a convolution used elsewhere stays)
                parent[at] = fuse_conv_bn_eval(conv, norm)
                parent[at + 1] = torch.nn.Identity()
                folded += 1
    return folded


def all_finite(values: torch.Tensor) -> torch.Tensor:
    """Whether every value is finite, as a 0-d bool tensor on the values' device.

    On a CPU from the sum first: a NaN or an infinity anywhere makes the sum NaN or
    infinite, so a finite sum proves them all finite in one pass (``isfinite().all()``
    makes four: 70 ms against 2 for a batch of four 19-class 512x256 logit maps); only a
    sum that overflows is checked value by value. On a GPU value by value (no host sync).
    """
    if values.device.type == "cpu":
        total = torch.isfinite(values.sum())
        return total if bool(total) else torch.isfinite(values).all()
    return torch.isfinite(values).all()


MAX_LANES = 4


def cpu_model_plan(cpus: int, decode_workers: int, writer_threads: int) -> tuple[int, int]:
    """``(lanes, torch threads per lane)`` for a pre-labeling run on the CPU.

    A lane is a thread that runs whole batches through the model, independently of the
    others. Torch's OpenMP threads wait for each other at the end of every operation: one
    of them that loses its core to a decoding process stalls all the others, so one batch
    spread over every core runs slower as soon as decoding and writing share the cores
    (and scales less than linearly even alone). Lanes do not wait for each other: a lane
    that loses its core for a moment delays only its own batch. So there are as many
    lanes as cores (at most :data:`MAX_LANES`), each with one torch thread, or more
    threads when the cores that the decoding processes and writer threads leave allow.
    """
    lanes = max(1, min(cpus, MAX_LANES))
    free = cpus - decode_workers - writer_threads
    return lanes, max(1, free // lanes)


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Torch's intra-op thread count set to ``count`` for the block (``None``: unchanged),
    restored after it (the setting is process-wide: the GUI runs other jobs too)."""
    before = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(max(1, count))
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def opencv_threads(count: int) -> Iterator[None]:
    """OpenCV's thread count set to ``count`` for the block, restored when the last such
    block of the process ends (the setting is process-wide: two runs at once, the first
    to end would otherwise restore it under the other, or leave the second's value).

    A pre-labeling run gets its parallelism from its own threads (lanes, decoders,
    writers), each a whole task; OpenCV's pool under them only adds work that waits for
    itself: the writer's regions and outlines of a trained model's maps took 42-44 CPU ms
    a frame with OpenCV's two threads on this project's 2-core machine and 32 with one, in
    the same wall time, and on a busy machine that CPU is the model's.
    """
    import cv2

    global _opencv_before
    with _OPENCV_LOCK:
        if not _opencv_open:
            _opencv_before = cv2.getNumThreads()
        _opencv_open.append(max(1, count))
        cv2.setNumThreads(_opencv_open[-1])
    try:
        yield
    finally:
        with _OPENCV_LOCK:
            _opencv_open.remove(max(1, count))
            cv2.setNumThreads(_opencv_open[-1] if _opencv_open else _opencv_before)


_OPENCV_LOCK = threading.Lock()
_opencv_open: list[int] = []  # the counts of the blocks open now, latest last
_opencv_before = 0  # the count before the first of them


def limit_worker_threads(_worker_id: int = 0) -> None:
    """``worker_init_fn`` for DataLoader processes: one OpenCV and one torch thread each,
    so that N workers use N cores and not N times all of them."""
    import cv2

    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def free_shared_memory(path: str = SHM_PATH) -> int | None:
    """Free bytes in the shared-memory mount DataLoader workers hand batches through."""
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


@dataclass(frozen=True)
class LoaderPlan:
    """How a DataLoader decodes: ``workers`` processes, each ``prefetch`` batches ahead."""

    workers: int
    prefetch: int | None


def busy_workers(wanted: int, batches: int) -> int:
    """Of ``wanted`` decoding processes, those a run of ``batches`` keeps busy (never more
    than half of them: each process decodes whole batches)."""
    return min(wanted, max(0, math.ceil(batches / 2)))


def loader_plan(
    wanted: int,
    batches: int,
    batch_bytes: int,
    *,
    shm_free: int | None = None,
    max_prefetch: int = 4,
) -> LoaderPlan:
    """Scale decoding processes and prefetch to the work and the shared memory.

    Args:
        wanted: Processes the device would keep busy.
        batches: Batches in the run (never more workers than half of them).
        batch_bytes: Bytes of one decoded batch.
        shm_free: Free shared memory (``None``: read from ``/dev/shm``).
        max_prefetch: Batches each worker may decode ahead.

    Returns:
        No workers (decode in the calling thread) when the work is too small or the
        shared memory too tight for even one batch in flight per worker.
    """
    workers = busy_workers(wanted, batches)
    if workers <= 0:
        return LoaderPlan(0, None)
    free = free_shared_memory() if shm_free is None else shm_free
    if free is None:
        return LoaderPlan(workers, min(2, max_prefetch))
    budget = int(free * SHM_SHARE)
    # Each worker holds `prefetch` batches, plus the one being pinned/consumed.
    per_worker = budget // max(1, batch_bytes) // workers
    while workers > 0 and per_worker < 2:
        workers -= 1
        per_worker = budget // max(1, batch_bytes) // max(1, workers)
    if workers == 0:
        return LoaderPlan(0, None)
    return LoaderPlan(workers, max(1, min(max_prefetch, per_worker - 1)))


def cpu_budget() -> int:
    """Cores this process may use (the affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1
