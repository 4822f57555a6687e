"""Pre-labeling speed and uncertainty-ranking quality; prints one JSON object.

Speed, per architecture (``lraspp_mobilenet_v3_large`` and
``fasterrcnn_mobilenet_v3_large_fpn`` by default) and per frame file type (``--image-formats
png,jpg``: the same generated frames as PNG and as JPEG): the full pipeline of ``roadmark
prelabel`` (decode in worker processes at the model's input size, model, uncertainty maps,
regions, store) on ``--frames`` generated frames of ``--size`` (demo drive generator),
timed from the first batch to the last frame stored (starting the decoding processes is
reported apart): ``end_to_end_fps``. Then, in the same run, the same predictor on the same
frames decoded beforehand into host memory exactly as the pipeline hands them to the model,
same batches, the host-to-device copy included: ``forward_only_fps`` (normalize, model,
on-device summary, copy to the host), measured before and after the pipeline run and
averaged. On a CPU forward only runs two ways, one batch at a time on all of torch's
threads (two in flight) and in the pipeline's lanes (threads each running whole batches,
``--lanes``); both are listed (``forward_only_schemes``) and the faster is
``forward_only_fps``. ``ratio`` = end to end / forward only (1.0: the pipeline never
starves the model). ``cpu_ms_per_frame`` says where the end-to-end run's CPU went: the
whole process (decoding processes not included) and, of it, the writer's work on the
predictions (uncertain regions, encoded maps) and storing them. The first batch is
timed apart (``first_batch_seconds``); ``--repeat-end-to-end N`` runs the pipeline N times
(each on the project without predictions) and lists every run's frames a second and, on
a CPU, the core-seconds it left idle (``end_to_end_runs``); precision, channels-last and,
on a GPU, TF32 and peak GPU memory are reported; the device is synchronized around every
timing.

``--archs demo-lraspp`` times LRASPP with the bundled demo model's trained weights at the
same input size: a trained model's predictions (large confident areas, thin uncertain
bands between them) give the writer more regions to outline than random weights do.

The model runs at ``--input-size`` (default: the frame size on a GPU, 512x256 (WxH) on a
CPU, where a 2048x1024 forward pass of LRASPP takes seconds); Faster R-CNN gets
``min_size``/``max_size`` from it too (its own transform would otherwise scale every frame
to 800 pixels high). The batch is 8 on a GPU, 4 on a CPU (``--batch``). The JSON says what
ran.

Quality: LRASPP trained briefly (``--train-steps``) from random weights on generated
frames with exact ground truth, then evaluated on other generated frames: the share of
its wrong pixels that fall inside the 10 % of the area it is most uncertain about
(``top_area_error_capture``; a random ordering gives 0.10), for uncertainty = 1 - margin
and for the normalized entropy. The same figures for the bundled demo model
(``roadmark/assets/models``: the same architecture trained for 10 epochs on 48 frames of
other generated drives by scripts/make_demo_model.py), run through the engine's predictor
on ``--demo-size`` frames.

    .venv/bin/python benchmarks/prelabel.py                 # defaults (about 8 min, 2 CPUs)
    .venv/bin/python benchmarks/gpu_check.py     # on a GPU first: correctness
    .venv/bin/python benchmarks/prelabel.py --device cuda --skip-quality
    .venv/bin/python benchmarks/prelabel.py --frames 8 --size 512x256 --train-steps 20  # quick
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import torch
import torch.nn.functional as F

from roadmark.analysis.uncertainty import top_area_error_capture
from roadmark.core.raster import train_id_map
from roadmark.core.schema import LabelSchema
from roadmark.demo.drive import generate_drive, write_drive
from roadmark.io.frames import read_image, write_image
from roadmark.io.predictions import delete_predictions
from roadmark.io.schema_files import load_schema
from roadmark.io.store import FrameSpec, Project
from roadmark.models.architectures import architectures
from roadmark.models.batch_plan import lane_units
from roadmark.models.create import new_torchvision_model
from roadmark.models.demo_model import demo_model_path
from roadmark.models.device import cpu_budget, cpu_model_plan, free_shared_memory, torch_threads
from roadmark.models.files import LoadedModel, load_model
from roadmark.models.predictor import Predictor
from roadmark.models.runner import (
    FrameDataset,
    FrameSource,
    PrelabelOptions,
    prelabel,
    resolve_device,
)

ARCHS = ("lraspp_mobilenet_v3_large", "fasterrcnn_mobilenet_v3_large_fpn")
TRAINED = "demo-lraspp"  # --archs name of LRASPP with the demo model's trained weights


def parse_size(text: str) -> tuple[int, int]:
    """``WxH`` -> (width, height)."""
    width, _, height = text.lower().partition("x")
    return int(width), int(height)


def bench_model(
    path: Path, arch: str, schema: LabelSchema, input_hw: tuple[int, int]
) -> LoadedModel:
    """A model of ``arch`` at ``input_hw`` with seeded random weights (Faster R-CNN given
    its sizes from it: its own transform would scale every frame to 800 pixels high), or,
    for :data:`TRAINED`, LRASPP with the bundled demo model's trained weights (LRASPP is
    fully convolutional): predictions with a trained model's structure, large confident
    areas and thin uncertain bands, whose regions cost the writer more than the
    near-uniform output of random weights."""
    options = {}
    if arch.startswith("fasterrcnn"):
        options = {"min_size": min(input_hw), "max_size": max(input_hw)}
    weights, classes, arch_name = None, None, arch
    if arch == TRAINED:
        demo = load_model(demo_model_path())
        weights = path.with_suffix(".demo-weights.pt")
        torch.save(demo.module.state_dict(), weights)
        classes, arch_name = demo.manifest.classes, "lraspp_mobilenet_v3_large"
    return new_torchvision_model(
        path,
        arch_name,
        schema=schema,
        classes=classes,
        weights=weights,
        input_size=input_hw,
        options=options,
        seed=0,
    )


def speed(
    root: Path,
    arch: str,
    project: Project,
    args: argparse.Namespace,
    input_hw: tuple[int, int],
    image_format: str,
) -> dict[str, object]:
    model = bench_model(
        root / f"{arch}-{image_format}.roadmodel", arch, project.schema, input_hw
    )
    device = resolve_device(args.device)
    batch_size = args.batch or (8 if device.type == "cuda" else 4)
    run_options = PrelabelOptions(
        device=args.device,
        batch_size=batch_size,
        workers=args.workers,
        torch_threads=args.torch_threads,
        force=True,
    )
    predictor = Predictor(model, project.schema, device=device)
    frames = project.frames()
    frame_hw = (frames[0].height, frames[0].width)
    # The frames as the pipeline hands them to the model (decoded at the model's input
    # size), held in host memory: forward-only does the same device work on the same
    # input, so the ratio shows only what decoding and storing cost the model.
    dataset = FrameDataset(
        [FrameSource(str(project.frame_file(f)), f.video_frame, frame_hw) for f in frames],
        input_hw,
    )
    images = [torch.from_numpy(dataset[i][1]) for i in range(len(dataset))]
    pin = device.type == "cuda"
    positions = [list(range(i, min(i + batch_size, len(images))))
                 for i in range(0, len(images), batch_size)]
    batches = [torch.stack([images[p] for p in batch]) for batch in positions]
    if pin:
        batches = [batch.pin_memory() for batch in batches]

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def run_batch(batch: torch.Tensor):
        on_device = batch.to(device, non_blocking=pin)  # the copy is part of the work
        return predictor.to_host(predictor.infer(on_device, frame_size=frame_hw))

    sync()
    start = time.perf_counter()
    run_batch(batches[0]).wait()  # first batch: kernel selection, allocations
    first_batch = time.perf_counter() - start

    def forward_only(lanes: int, threads: int | None) -> float:
        """Seconds for the same predictor on the frames decoded beforehand, same batches:
        one lane (two batches in flight, torch's own threads), or ``lanes`` threads that
        each run whole batches with ``threads`` torch threads, as the pipeline does (its
        first and last frames one at a time, :func:`lane_units`)."""
        sync()
        units = batches if lanes == 1 else [
            torch.stack([images[p] for p in unit]) for unit in lane_units(positions, lanes)
        ]
        with torch_threads(threads), ThreadPoolExecutor(lanes) as pool:
            start = time.perf_counter()
            if lanes == 1:
                in_flight = []
                for batch in batches:
                    in_flight.append(run_batch(batch))
                    if len(in_flight) >= 2:
                        in_flight.pop(0).wait()
                for done in in_flight:
                    done.wait()
            else:
                list(pool.map(lambda unit: run_batch(unit).wait(), units))
            sync()
            return time.perf_counter() - start

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    lanes, threads = 1, None
    if device.type == "cpu" and args.torch_threads != 0:
        lanes, threads = cpu_model_plan(cpu_budget(), 0, 0)
        lanes, threads = args.lanes or lanes, args.torch_threads or threads
    schemes = [(1, None)] + ([(lanes, threads)] if lanes > 1 else [])
    # Forward only before and after the pipeline run, averaged: on a shared machine the
    # load drifts during a run, and this keeps the ratio from taking the drift for cost.
    # On a CPU it runs both ways (one batch at a time on all of torch's threads, and in
    # lanes as the pipeline does); the faster is the model's forward-only speed.
    before = [forward_only(*scheme) for scheme in schemes]
    result = prelabel(project, model, replace(run_options, lanes=args.lanes))
    cores = cpu_budget() if device.type == "cpu" else None
    runs = [result]
    for _ in range(args.repeat_end_to_end - 1):  # on a fresh project again: no replacing
        delete_predictions(project, model.name)
        runs.append(prelabel(project, model, replace(run_options, lanes=args.lanes)))
    after = [forward_only(*scheme) for scheme in schemes]
    forward_seconds = [(b + a) / 2 for b, a in zip(before, after, strict=True)]
    forward_fps = len(images) / min(forward_seconds)
    end_to_end = result.frames_per_second
    figures: dict[str, object] = {
        "arch": arch,
        "image_format": image_format,
        "frames": result.predicted,
        "batch": batch_size,
        "precision": str(predictor.autocast_dtype or torch.float32).replace("torch.", ""),
        "channels_last": predictor.channels_last,
        "end_to_end_fps": round(end_to_end, 3),
        "forward_only_fps": round(forward_fps, 3),
        "ratio": round(end_to_end / forward_fps, 3),
        "first_batch_seconds": round(first_batch, 3),
        "end_to_end_seconds": round(result.seconds, 2),
        "worker_startup_seconds": round(result.startup_seconds, 2),
        # where the end-to-end run's CPU went, per frame: this process (decoding processes
        # not included), and of it the writer's work on the predictions, the storing and
        # the decoding threads' work (0 where processes or the calling thread decode)
        "cpu_ms_per_frame": {
            key: round(1000 * value / max(result.predicted, 1), 1)
            for key, value in (
                ("process", result.cpu_seconds),
                ("writer", result.writer_cpu_seconds),
                ("store", result.store_cpu_seconds),
                ("decode", result.decode_cpu_seconds),
            )
        },
        # on a CPU: the ratio the run would reach if the writer, the storing and the main
        # loop cost nothing (the model's CPU a frame, cores / forward-only frames a second,
        # against that plus the decoding threads' CPU a frame)
        **({} if cores is None or not result.decode_cpu_seconds else {
            "ratio_if_only_decoding_added": round(
                (cores / forward_fps) / (cores / forward_fps
                                         + result.decode_cpu_seconds / result.predicted), 3),
        }),
        # per scheme of forward only: one lane with torch's own threads, then (on a CPU)
        # the pipeline's lanes; seconds before and after the pipeline run
        "forward_only_schemes": [
            {
                "lanes": n,
                "torch_threads": t or torch.get_num_threads(),
                "fps": round(len(images) / seconds, 3),
                "seconds": [round(b, 2), round(a, 2)],
            }
            for (n, t), seconds, b, a in zip(schemes, forward_seconds, before, after, strict=True)
        ],
        # each end-to-end run (--repeat-end-to-end; the first is the one above): frames a
        # second and, on a CPU, the core-seconds its process left idle (cores x wall time
        # - its CPU time: a lane waiting for its batch, for another lane, for the GIL)
        "end_to_end_runs": [
            {
                "fps": round(run.frames_per_second, 3),
                **({} if cores is None else
                   {"idle_core_seconds": round(cores * run.seconds - run.cpu_seconds, 3)}),
            }
            for run in runs
        ],
        # the pipeline's (decoding processes, torch threads per lane, writer threads)
        "pipeline_threads": list(result.threads),
        "pipeline_lanes": result.lanes,
        # decoding processes hand batches through shared memory: where it is small (a
        # container's 64 MB), the runner decodes in fewer processes or none
        "shared_memory_free_mb": None if (free := free_shared_memory()) is None
        else round(free / 2**20),
    }
    if device.type == "cuda":
        figures["tf32"] = {
            "matmul": torch.backends.cuda.matmul.allow_tf32,
            "cudnn": torch.backends.cudnn.allow_tf32,
        }
        figures["peak_gpu_memory_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20)
    return figures


def quality(root: Path, args: argparse.Namespace) -> dict[str, object]:
    """Train LRASPP briefly on generated frames, measure how its uncertainty finds errors."""
    schema = load_schema("cityscapes")
    width, height = parse_size(args.train_size)
    torch.manual_seed(0)
    model = new_torchvision_model(
        root / "quality.roadmodel", "lraspp_mobilenet_v3_large", schema=schema, seed=0
    )
    module = model.module
    assert isinstance(module, torch.nn.Module)
    spec = model.manifest.input
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(spec.std).view(1, 3, 1, 1)

    train_frames, train_y = _drive(schema, 1, args.train_frames, width, height)
    train_x = (train_frames.permute(0, 3, 1, 2).float() / 255.0 - mean) / std
    test_frames, test_y = _drive(schema, 2, args.test_frames, width, height)
    module.train()
    optimizer = torch.optim.AdamW(module.parameters(), lr=3e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=3e-3, total_steps=max(args.train_steps, 1), pct_start=0.2
    )
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(args.train_steps):
        pick = torch.from_numpy(rng.choice(len(train_x), size=4, replace=False))
        x, y = train_x[pick], train_y[pick]
        if rng.random() < 0.5:
            x, y = x.flip(-1), y.flip(-1)
        loss = F.cross_entropy(module(x)["out"], y, ignore_index=255)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    train_seconds = time.perf_counter() - start
    module.eval()
    brief = {
        "model": "lraspp_mobilenet_v3_large, random init",
        "train_frames": args.train_frames,
        "train_steps": args.train_steps,
        "train_seconds": round(train_seconds, 1),
        "size": args.train_size,
        **_ranking(model, schema, test_frames, test_y),
    }
    # The bundled demo model: the same architecture trained for 10 epochs on 48 frames of
    # other generated drives (scripts/make_demo_model.py, input 256x128), run as the engine
    # runs it on frames of the demo drive's size (--demo-size), from the same drive seed.
    demo = load_model(demo_model_path())
    assert isinstance(demo.module, torch.nn.Module)
    demo.module.float()
    demo_w, demo_h = parse_size(args.demo_size)
    demo_frames, demo_y = _drive(schema, 2, args.test_frames, demo_w, demo_h)
    return {
        "test_frames": args.test_frames,
        "random_baseline": 0.1,
        "brief_training": brief,
        "demo_model": {
            "model": demo.name,
            "size": args.demo_size,
            **_ranking(demo, schema, demo_frames, demo_y),
        },
    }


def _drive(
    schema: LabelSchema, seed: int, count: int, width: int, height: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``uint8 (N, H, W, 3)`` generated frames and their train-id maps."""
    images, targets = [], []
    for frame in generate_drive(frames=count, width=width, height=height, seed=seed):
        images.append(torch.from_numpy(frame.image))
        targets.append(torch.from_numpy(train_id_map(frame.objects, schema, height, width)))
    return torch.stack(images), torch.stack(targets).long()


def _ranking(
    model: LoadedModel, schema: LabelSchema, frames: torch.Tensor, targets: torch.Tensor
) -> dict[str, float]:
    """Error rate of ``model`` on ``frames`` and how its uncertainty ranks the errors."""
    module = model.module
    height, width = frames.shape[1:3]
    predictor = Predictor(model, schema, device="cpu", map_stride=1)
    lut = np.zeros(256, dtype=np.int64)
    for train_id, label in schema.by_train_id.items():
        lut[train_id] = label.id
    captures: dict[str, list[float]] = {"margin": [], "entropy": []}
    wrong_total = valid_total = 0
    with torch.inference_mode():
        for index in range(len(frames)):
            logits = module(predictor.prepare(frames[index : index + 1]))["out"]
            maps = predictor.summarize(logits, (height, width))
            predicted = maps["label_ids"][0].numpy().astype(np.int64)
            target = targets[index].numpy()
            valid = target != 255
            truth = lut[np.where(valid, target, 0)]
            wrong = (predicted != truth)[valid]
            wrong_total += int(wrong.sum())
            valid_total += int(valid.sum())
            margin = 1.0 - maps["margin"][0].numpy() / 255.0
            entropy = maps["entropy"][0].numpy() / 255.0
            captures["margin"].append(top_area_error_capture(margin[valid], wrong, 0.1))
            captures["entropy"].append(top_area_error_capture(entropy[valid], wrong, 0.1))
    error_rate = wrong_total / max(valid_total, 1)
    return {
        "pixel_error_rate": round(error_rate, 4),
        # the most any ranking can capture: the top 10 % holds at most 0.1 / error rate
        "best_possible_capture": round(min(1.0, 0.1 / max(error_rate, 1e-9)), 4),
        "top10_area_error_capture_margin": round(float(np.mean(captures["margin"])), 4),
        "top10_area_error_capture_entropy": round(float(np.mean(captures["entropy"])), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=64, help="generated frames (64)")
    parser.add_argument("--size", default="2048x1024", help="frame size WxH (2048x1024)")
    parser.add_argument(
        "--distinct",
        type=int,
        default=16,
        help="frames rendered; the rest repeat them (rendering is slow); 0 = all distinct",
    )
    parser.add_argument(
        "--input-size", help="model input WxH (default: frame size on a GPU, 512x256 on a CPU)"
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--batch", type=int, default=None, help="frames per batch (default: 8 on a GPU, 4)"
    )
    parser.add_argument(
        "--image-formats", default="png,jpg", help="frame files to time, separately (png,jpg)"
    )
    parser.add_argument("--workers", type=int, default=None, help="decoding processes")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="torch threads of the pipeline on a CPU (default: chosen; 0: torch's own)",
    )
    parser.add_argument(
        "--lanes", type=int, default=None, help="batches at once on a CPU (default: chosen)"
    )
    parser.add_argument(
        "--archs",
        default=",".join(ARCHS),
        help=f"architectures with random weights, and {TRAINED} (the demo model's weights)",
    )
    parser.add_argument(
        "--repeat-end-to-end",
        type=int,
        default=1,
        metavar="N",
        help="end-to-end runs, each on the project without predictions (1; all are listed)",
    )
    parser.add_argument("--train-steps", type=int, default=100)
    parser.add_argument("--train-frames", type=int, default=24)
    parser.add_argument("--test-frames", type=int, default=8)
    parser.add_argument("--train-size", default="256x128", help="training frame size WxH")
    parser.add_argument(
        "--demo-size", default="1024x512", help="frame size WxH for the demo model (1024x512)"
    )
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--keep", type=Path, help="keep the generated project in this folder")
    args = parser.parse_args()
    known = [*architectures(), TRAINED]
    unknown = [arch for arch in args.archs.split(",") if arch not in known]
    if unknown:  # before minutes of frames are drawn
        parser.error(f"--archs: unknown {', '.join(unknown)}; known: {', '.join(known)}")
    if args.repeat_end_to_end < 1:
        parser.error("--repeat-end-to-end: must be at least 1")
    device = resolve_device(args.device)
    width, height = parse_size(args.size)
    if args.input_size:
        in_w, in_h = parse_size(args.input_size)
    elif device.type == "cuda":
        in_w, in_h = width, height
    else:
        in_w, in_h = 512, 256
    root = Path(tempfile.mkdtemp(prefix="prelabel-bench-"))
    out: dict[str, object] = {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "cpu_threads": torch.get_num_threads(),
        "frames": args.frames,
        "frame_size": f"{width}x{height}",
        "input_size": f"{in_w}x{in_h}",
    }
    try:
        start = time.perf_counter()
        distinct = min(args.distinct or args.frames, args.frames)
        written = write_drive(root / "images", frames=distinct, width=width, height=height)
        paths = [path for path, _ in written]
        for i in range(distinct, args.frames):  # repeats: the same bytes to decode and run
            paths.append(root / "images" / f"repeat_{i:06d}.png")
            shutil.copyfile(paths[i % distinct], paths[-1])
        out["distinct_frames"] = distinct
        out["generate_seconds"] = round(time.perf_counter() - start, 1)
        out["speed"] = []
        for image_format in args.image_formats.split(","):
            files = paths
            if image_format != "png":  # the same frames as JPEG (quality 95)
                files = []
                for path in paths:
                    files.append(path.with_suffix(f".{image_format}"))
                    write_image(files[-1], read_image(path))
            project = Project.create(root / f"bench-{image_format}.roadmark")
            project.add_frames(
                FrameSpec(path, None, width, height, "drive", i) for i, path in enumerate(files)
            )
            for arch in args.archs.split(","):
                out["speed"].append(speed(root, arch, project, args, (in_h, in_w), image_format))
                print(json.dumps(out["speed"][-1]), file=sys.stderr, flush=True)
            project.close()
        out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        if not args.skip_quality:
            out["uncertainty_ranking"] = quality(root, args)
    finally:
        if args.keep:
            shutil.copytree(root, args.keep, dirs_exist_ok=True)
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
