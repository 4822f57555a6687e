"""Pre-labeling a project: decode, infer, summarize and store, with the device kept busy.

The pipeline, per batch of same-sized frames:

1. DataLoader worker processes decode the frames (OpenCV, one thread each) into
   ``uint8 (B, H, W, 3)`` tensors; on a GPU they are pinned and copied without blocking;
2. the :class:`~roadmark.models.predictor.Predictor` normalizes, runs the model and
   summarizes its output on the device, then starts copying the summary to the host;
3. while the device works on the next batch, the previous one is unpacked and handed to
   a :class:`~roadmark.io.prediction_writer.PredictionWriter`, whose threads find the
   uncertain regions, encode the maps and write many frames per transaction. The device
   never waits on SQLite.

On a CPU the model runs in lanes instead (:func:`~roadmark.models.device.cpu_model_plan`):
threads that each take the next decoded batch when free and hand their frames to the
writer as they finish, in any order; the first and last frames of a run go one at a
time (:func:`~roadmark.models.batch_plan.lane_units`), so the lanes start early and finish together.

Frames that already have a prediction of the same model file (same name and digest) are
skipped unless ``force``. Progress is reported as frames stored; a cancelled ``cancel``
token stops the run after the batch in flight, keeping what was stored.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from numpy.typing import NDArray
from torch.utils.data import DataLoader, Dataset

from roadmark.analysis.uncertainty import RegionParams
from roadmark.core.errors import RoadmarkError
from roadmark.core.jobs import CancelToken, ProgressReporter
from roadmark.core.prediction import FramePrediction
from roadmark.io.errors import FrameSourceError
from roadmark.io.prediction_writer import PredictionWriter
from roadmark.io.predictions import predicted_frame_ids
from roadmark.io.store import Project
from roadmark.models.batch_plan import lane_units, size_batches
from roadmark.models.decode_threads import threaded_batches
from roadmark.models.device import (
    LoaderPlan,
    busy_workers,
    cpu_budget,
    cpu_model_plan,
    limit_worker_threads,
    loader_plan,
    on_device,
    opencv_threads,
    torch_threads,
)
from roadmark.models.device_decode import EncodedFrames, collate_encoded, decode_on_device
from roadmark.models.errors import DeviceError
from roadmark.models.files import LoadedModel
from roadmark.models.predictor import Predictor

SMALL_RUN = 8  # frames; fewer are decoded in the calling thread unless workers are asked for


def resolve_device(spec: str = "auto") -> torch.device:
    """``auto`` (the first GPU when there is one, else the CPU), ``cpu``, ``cuda`` or
    ``cuda:N``.

    Raises:
        DeviceError: Unknown spec, or CUDA asked for where there is none (or not that GPU).
    """
    spec = spec.strip().lower()
    if spec == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or spec.startswith("cuda:"):
        index_text = spec.partition(":")[2] or "0"
        if not index_text.isdigit():
            raise DeviceError(
                f"bad device {spec!r}; use auto, cpu, cuda or cuda:N", field="--device"
            )
        if not torch.cuda.is_available():
            raise DeviceError(
                f"{spec} was requested but this machine has no usable CUDA GPU (torch "
                f"{torch.__version__}, CUDA available: no); use --device cpu or auto",
                field="--device",
            )
        index = int(index_text)
        count = torch.cuda.device_count()
        if index >= count:
            raise DeviceError(
                f"{spec} was requested but this machine has {count} GPU(s)"
                f" (cuda:0..cuda:{count - 1})",
                field="--device",
            )
        return torch.device(f"cuda:{index}")
    raise DeviceError(f"bad device {spec!r}; use auto, cpu, cuda or cuda:N", field="--device")


@dataclass(frozen=True)
class PrelabelOptions:
    """How to run.

    Attributes:
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        batch_size: Frames per batch.
        workers: Decoding processes (``None``: chosen from the device and the CPU count,
            none for runs of at most ``SMALL_RUN`` frames, and on a CPU threads of this
            process instead; 0 decodes in the calling thread).
        writer_threads: Threads finding regions and encoding maps (``None``: chosen).
        torch_threads: Torch's intra-op threads of each lane during the run on a CPU
            (``None``: chosen, see :func:`~roadmark.models.device.cpu_model_plan`; 0:
            torch's own setting, one lane). Restored afterwards.
        lanes: Batches the model runs at once on a CPU, each in its own thread
            (``None``: chosen, one per core up to four; a GPU runs one).
        precision: ``auto``, ``fp32``, ``bf16`` or ``fp16`` (see the predictor).
        map_stride: Segmentation maps are stored at frame size / this.
        flip: Also run detectors on mirrored frames to find disagreeing boxes.
        tta_flip: Segmentation: average each frame's probabilities with its mirror
            image's (``--tta flip``); the uncertainty comes from the average.
        force: Predict frames again that have this model's prediction already.
        frame_ids: Only these frames (all by default).
        params: How uncertain regions are found.
        decode: ``auto`` (on the device when it is a GPU and every frame is a JPEG file,
            else in decoding processes), ``workers`` or ``device`` (torchvision's
            ``decode_jpeg`` where the model runs; JPEG files only).
    """

    device: str = "auto"
    batch_size: int = 4
    workers: int | None = None
    writer_threads: int | None = None
    torch_threads: int | None = None
    lanes: int | None = None
    precision: str = "auto"
    map_stride: int = 2
    flip: bool = True
    tta_flip: bool = False
    force: bool = False
    frame_ids: Sequence[int] | None = None
    params: RegionParams = field(default_factory=RegionParams)
    decode: str = "auto"


@dataclass(frozen=True)
class PrelabelResult:
    """What a run did.

    Attributes:
        model: Model name.
        device: Where it ran (``cpu``, ``cuda:0``).
        selected: Frames asked for.
        predicted: Frames predicted and stored in this run.
        skipped: Frames skipped because they had this model's prediction already.
        cancelled: Stopped by the cancel token before the end.
        seconds: Wall time from the first batch requested to the last frame stored.
        startup_seconds: Starting the decoding processes, before ``seconds``.
        threads: ``(decoding processes, torch threads, writer threads)`` of the run
            (torch threads of each lane).
        lanes: Batches the model ran at once (threads, each with its own batch).
        decode_threads: Threads of this process that decoded the frames (a CPU run
            without decoding processes asked for), instead of processes.
        cpu_seconds: CPU time of this process during ``seconds`` (all its threads;
            decoding processes not included).
        writer_cpu_seconds: Of it, the writer threads' work on the predictions (uncertain
            regions, encoded maps).
        store_cpu_seconds: Of it, storing them in the project.
        decode_cpu_seconds: Of it, the decoding threads' work (0 where decoding processes
            or the calling thread decode).
    """

    model: str
    device: str
    selected: int
    predicted: int
    skipped: int
    cancelled: bool
    seconds: float
    startup_seconds: float = 0.0
    threads: tuple[int, int, int] = (0, 0, 0)
    lanes: int = 1
    decode_threads: int = 0
    cpu_seconds: float = 0.0
    writer_cpu_seconds: float = 0.0
    store_cpu_seconds: float = 0.0
    decode_cpu_seconds: float = 0.0

    @property
    def frames_per_second(self) -> float:
        return self.predicted / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class FrameSource:
    """One frame to decode: its file, video frame index and size (height, width)."""

    path: str
    video_frame: int | None
    size: tuple[int, int]


JPEG_SUFFIXES = (".jpg", ".jpeg")


def reduction(size: tuple[int, int], wanted: tuple[int, int] | None) -> int:
    """The largest JPEG reduction (1, 2, 4, 8) that still leaves ``wanted`` pixels."""
    if wanted is None:
        return 1
    for factor in (8, 4, 2):
        if all(-(-have // factor) >= want for have, want in zip(size, wanted, strict=True)):
            return factor
    return 1


class FrameDataset(Dataset[tuple[int, np.ndarray | None, str | None]]):
    """Decodes frames (images or video frames) to ``uint8 (H, W, 3)`` arrays, at the
    model's input size when it has one (JPEG decodes only the scale it needs, then the
    rest is an area resize here, in the decoding process, not on the device).

    An item is ``(index, image, error)``; a frame that fails to decode yields its error
    text instead of the image, so that the runner can raise one clear error naming the
    file.
    """

    def __init__(self, sources: Sequence[FrameSource], input_size: tuple[int, int] | None = None):
        self.sources = list(sources)
        self.input_size = input_size
        self._videos: dict[str, Any] = {}

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, index: int) -> tuple[int, np.ndarray | None, str | None]:
        import cv2

        from roadmark.io.frames import VideoReader, read_image

        source = self.sources[index]
        try:
            if source.video_frame is None:
                jpeg = source.path.lower().endswith(JPEG_SUFFIXES)
                factor = reduction(source.size, self.input_size) if jpeg else 1
                image = read_image(Path(source.path), reduce=factor)
            else:
                reader = self._videos.get(source.path)
                if reader is None:
                    reader = self._videos[source.path] = VideoReader(Path(source.path))
                image = reader.read(source.video_frame)
        except RoadmarkError as error:
            return index, None, str(error)
        if self.input_size is not None and image.shape[:2] != self.input_size:
            height, width = self.input_size
            small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
            image = cast(NDArray[np.uint8], small)
        return index, image, None


def collate_frames(items: list[tuple[int, np.ndarray | None, str | None]]) -> dict[str, Any]:
    """Stack same-sized frames into one ``uint8 (B, H, W, 3)`` tensor (errors passed on)."""
    errors = [(index, error) for index, image, error in items if error is not None]
    if errors:
        return {"index": [i for i, _, _ in items], "images": None, "errors": errors}
    images = torch.from_numpy(np.stack([image for _, image, _ in items]))  # type: ignore[misc]
    return {"index": [i for i, _, _ in items], "images": images, "errors": []}


def default_workers(device: torch.device, *, decoding_on_device: bool = False) -> tuple[int, int]:
    """``(decoding processes, writer threads)`` for this machine and device (at most:
    :func:`~roadmark.models.device.loader_plan` scales the processes to the run).

    On a GPU the CPU's work is decoding and writing, and both cost about the same a frame
    (a 2048x1024 PNG frame 15 ms to decode; its regions and maps 12-25 ms to write, from
    threads that share the GIL for about a tenth to a quarter of that time, so that a few
    of them write several times as fast as one): where the frames decode on the device the
    processes only read files and the cores left (one for this thread, one for storing) go
    to writing; otherwise decoding and writing share them evenly. A run of 300 frames a
    second needs about 4 cores writing."""
    cpus = cpu_budget()
    if device.type == "cuda":
        if decoding_on_device:
            return 2, max(2, cpus - 4)
        spare = max(4, cpus - 2)
        return spare - spare // 2, spare // 2
    return max(1, min(4, cpus // 2)), 1


def decoding_split(
    device: torch.device, *, asked: int | None, default: int, busy: int, planned: int,
    on_device: bool,
) -> tuple[int, int]:
    """``(decoding processes, decoding threads)`` of a run (both 0: the calling thread
    decodes).

    Args:
        device: Where the model runs.
        asked: Processes asked for (``None``: chosen here).
        default: Processes this machine gives decoding (:func:`default_workers`).
        busy: Of them, what the run's work keeps busy (0 for a small run).
        planned: Of those, what the shared memory holds (:func:`loader_plan`).
        on_device: The frames decode on the device (processes only read files).

    On a CPU, frames decode in threads of this process: no process to start, no copy
    between processes. Elsewhere they decode in processes, and in as many threads where
    the shared memory holds fewer processes than the run would keep busy (a container's
    64 MB ``/dev/shm``): threads need none, and decoding in the calling thread would
    leave the device waiting.
    """
    if asked is not None:
        return min(asked, 2) if on_device else asked, 0
    if on_device:  # reading files: two processes are plenty
        busy, planned = min(busy, 2), min(planned, 2)
    elif device.type == "cpu":
        return 0, max(1, default)
    if planned < busy:
        return 0, busy
    return planned, 0


def prelabel(
    project: Project,
    model: LoadedModel,
    options: PrelabelOptions | None = None,
    *,
    progress: ProgressReporter | None = None,
    cancel: CancelToken | None = None,
) -> PrelabelResult:
    """Pre-label a project's frames with ``model`` and store the predictions.

    Args:
        project: An open (writable) project.
        model: The loaded model.
        options: Device, batch size and the rest.
        progress: Called with ``(frames stored, frames to do)``, from a worker thread.
        cancel: Once cancelled, the run stops after the batch in flight (the result says
            ``cancelled``; what was stored stays).

    Raises:
        DeviceError: The device does not exist.
        ClassMappingError: The model's classes do not fit the project's schema.
        FrameSourceError: A frame does not decode (frames before it are stored).
        ModelError: The model fails or returns something its manifest does not describe.
    """
    options = options or PrelabelOptions()
    if options.batch_size < 1:
        raise RoadmarkError("batch size must be >= 1", field="--batch")
    device = resolve_device(options.device)
    # Kernels, streams, events and the pin-memory thread follow the current device.
    with on_device(device):
        return _prelabel(project, model, options, device, progress, cancel)


def _prelabel(
    project: Project,
    model: LoadedModel,
    options: PrelabelOptions,
    device: torch.device,
    progress: ProgressReporter | None,
    cancel: CancelToken | None,
) -> PrelabelResult:
    predictor = Predictor(
        model,
        project.schema,
        device=device,
        precision=options.precision,
        map_stride=options.map_stride,
        flip=options.flip,
        tta_flip=options.tta_flip,
    )
    frames = project.frames()
    if options.frame_ids is not None:
        asked = set(options.frame_ids)
        frames = [frame for frame in frames if frame.id in asked]
    selected = len(frames)
    if not options.force:
        done = predicted_frame_ids(project, model.name, model.digest)
        frames = [frame for frame in frames if frame.id not in done]
    skipped = selected - len(frames)
    total = len(frames)
    if total == 0:
        return PrelabelResult(model.name, str(device), selected, 0, skipped, False, 0.0)

    sources = [
        FrameSource(str(project.frame_file(f)), f.video_frame, (f.height, f.width)) for f in frames
    ]
    on_device_decode = _decode_on_device(options.decode, device, sources)
    decode_workers, writer_threads = default_workers(device, decoding_on_device=on_device_decode)
    batches = size_batches(frames, options.batch_size)
    largest = max(frame.height * frame.width for frame in frames)
    wanted = decode_workers if total > SMALL_RUN else 0
    plan = loader_plan(wanted, len(batches), largest * 3 * options.batch_size)
    if options.workers is not None:
        plan = LoaderPlan(options.workers, (plan.prefetch or 2) if options.workers else None)
    writer_threads = options.writer_threads or writer_threads
    input_size = model.manifest.input.size
    dataset: Dataset[Any] = FrameDataset(
        sources, None if input_size is None else (int(input_size[0]), int(input_size[1]))
    )
    if on_device_decode:  # the loader only reads the files' bytes
        dataset = EncodedFrames([source.path for source in sources])
    workers, decode_threads = decoding_split(
        device, asked=options.workers, default=decode_workers,
        busy=busy_workers(wanted, len(batches)), planned=plan.workers,
        on_device=on_device_decode,
    )  # fmt: skip
    collate = collate_encoded if on_device_decode else collate_frames
    model_threads, lanes = options.torch_threads, 1
    if device.type != "cpu" or model_threads == 0:
        model_threads = None  # torch's own setting (a GPU run barely uses it)
    else:
        lanes, chosen = cpu_model_plan(cpu_budget(), workers + decode_threads, writer_threads)
        lanes = max(1, options.lanes or lanes)
        model_threads = model_threads or chosen
    if lanes > 1:
        batches = lane_units(batches, lanes)
    loader = DataLoader(
        dataset,
        batch_sampler=batches,
        num_workers=workers,
        collate_fn=collate,
        pin_memory=device.type == "cuda" and not on_device_decode,
        worker_init_fn=limit_worker_threads if workers > 0 else None,
        prefetch_factor=plan.prefetch if workers else None,
        persistent_workers=False,
        # Forking a process whose OpenCV/OpenMP/Qt threads are running can deadlock the
        # child (seen with OpenCV's thread pool); spawned workers start clean.
        multiprocessing_context="spawn" if workers > 0 else None,
    )
    stored = 0
    lock = threading.Lock()

    def on_stored(count: int) -> None:
        nonlocal stored
        with lock:
            stored += count
            done_now = stored
        if progress is not None:
            progress(done_now, total)

    decode_cpu = 0.0

    def on_decoded(seconds: float) -> None:
        nonlocal decode_cpu
        with lock:
            decode_cpu += seconds

    cancelled = False
    launch = time.perf_counter()
    iterator: Iterator[dict[str, Any]] = (
        threaded_batches(dataset, batches, collate, threads=decode_threads, ahead=4,
                         on_cpu=on_decoded)
        if decode_threads
        else iter(loader)  # starts the decoding processes: timed apart from the run
    )
    start = time.perf_counter()
    cpu_start = time.process_time()
    in_flight: deque[Callable[[], list[FramePrediction]]] = deque()  # batches started
    running: set[Future[list[FramePrediction]]] = set()  # batches in the lanes (CPU)
    # a lane that finishes finds the next batch queued (lanes + 1 in flight), whichever
    # lane that is: the lanes never wait for each other
    depth = 2 if device.type == "cuda" else lanes + 1 if lanes > 1 else 1
    writer = PredictionWriter(
        project,
        params=options.params,
        workers=writer_threads,
        commit_every=max(16, options.batch_size * 4),
        max_pending=max(64, options.batch_size * 8),
        on_stored=on_stored,
    )
    # On a GPU the batches queue on the device and this thread only waits for the copies
    # to the host; on a CPU with several lanes each lane thread runs whole batches.
    pool = ThreadPoolExecutor(lanes, thread_name_prefix="lane") if lanes > 1 else None
    with torch_threads(model_threads), opencv_threads(1), writer, pool or nullcontext():
        used = (workers, torch.get_num_threads(), writer_threads)
        try:
            for batch in iterator:
                if cancel is not None and cancel.cancelled:
                    cancelled = True
                    break
                if batch["errors"]:
                    _, message = batch["errors"][0]
                    raise FrameSourceError(message)
                ids = [frames[p].id for p in batch["index"]]
                first = frames[batch["index"][0]]
                if on_device_decode:
                    paths = [sources[p].path for p in batch["index"]]
                    size = (first.height, first.width)
                    images = decode_on_device(batch["images"], paths, size, device)
                else:
                    images = batch["images"].to(device, non_blocking=True)
                frame_size = (first.height, first.width)
                if pool is None:
                    started = predictor.to_host(predictor.infer(images, frame_size=frame_size))
                    in_flight.append(partial(predictor.unpack, started, ids))
                    while len(in_flight) >= depth:
                        _store(writer, in_flight.popleft()())
                else:
                    running.add(pool.submit(_run_batch, predictor, images, frame_size, ids))
                    while len(running) >= depth:  # stored as they finish, in any order
                        running = _store_finished(writer, running)
            while in_flight:
                _store(writer, in_flight.popleft()())
            while running:
                running = _store_finished(writer, running)
        finally:
            if isinstance(iterator, Generator):
                iterator.close()  # stops the decoding threads
            del iterator  # stops the decoding processes
    seconds = time.perf_counter() - start
    cpu = writer.cpu_seconds
    return PrelabelResult(
        model.name,
        str(device),
        selected,
        writer.stored,
        skipped,
        cancelled,
        seconds,
        startup_seconds=start - launch,
        threads=used,
        lanes=lanes,
        decode_threads=decode_threads,
        cpu_seconds=time.process_time() - cpu_start,
        writer_cpu_seconds=cpu["prepare"],
        store_cpu_seconds=cpu["store"],
        decode_cpu_seconds=decode_cpu,
    )


def _decode_on_device(choice: str, device: torch.device, sources: Sequence[FrameSource]) -> bool:
    if choice not in ("auto", "workers", "device"):
        raise RoadmarkError("decode must be auto, workers or device", field="--decode")
    jpeg_only = all(
        s.video_frame is None and s.path.lower().endswith(JPEG_SUFFIXES) for s in sources
    )
    if choice == "device" and not jpeg_only:
        raise RoadmarkError("decoding on the device takes JPEG image files only", field="--decode")
    return choice == "device" or (choice == "auto" and device.type == "cuda" and jpeg_only)


def _run_batch(
    predictor: Predictor, images: torch.Tensor, frame_size: tuple[int, int], ids: list[int]
) -> list[FramePrediction]:
    """One batch through the model to per-frame predictions (in a lane thread)."""
    return predictor.unpack(predictor.to_host(predictor.infer(images, frame_size=frame_size)), ids)


def _store(writer: PredictionWriter, predictions: list[FramePrediction]) -> None:
    for prediction in predictions:
        writer.submit(prediction)


def _store_finished(
    writer: PredictionWriter, running: set[Future[list[FramePrediction]]]
) -> set[Future[list[FramePrediction]]]:
    """Wait for one of the lanes' batches to finish and store every finished one; the
    batches still running."""
    finished, rest = wait(running, return_when=FIRST_COMPLETED)
    for lane in finished:
        _store(writer, lane.result())
    return rest
