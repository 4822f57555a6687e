"""How fast pre-labeling's writer prepares frames, alone and from several threads; one JSON object.

    python benchmarks/writer.py [--frames 8] [--size 2048x1024] [--input-size 512x256]
                                [--threads 1,2,4] [--repeats 3]

Pre-labeling hands each frame's predictions to ``PredictionWriter``, whose threads find the
uncertain regions and encode the maps (``prediction_writer.prepare``) while the model runs.
On a GPU the writer, not the model, can set the pace: at 300 frames a second the frames'
writing needs several cores, and its threads share Python's GIL for part of the work.
This measures that work apart from any model or database.

Frames of the synthetic drive (``--size``) go once through LRASPP at ``--input-size`` on
the CPU, with random weights and with the bundled demo model's trained weights (whose
predictions have large confident areas and thin uncertain bands, more regions to outline),
their maps at the pre-labeling default (half the frame size). Then, per model, the
predictions are prepared over and over from 1, 2, ... threads (``--threads``; each count's
best of ``--repeats``), and the JSON gives ``ms_per_frame`` (one thread) and, per thread
count, ``frames_per_second`` and ``speedup`` over one thread. ``serial_share`` is the
share of one thread's time that did not run in parallel at the largest count (Amdahl's
law, solved from its speedup: 0 = perfectly parallel); with it, ``frames_per_second_at``
estimates the writing speed on more cores, where only the GIL-held share limits it. The
cores of this machine cap what more threads can show (``cpu_count`` is in the JSON).

``gil_held_share`` measures that limit directly: a Python thread that only counts, alone
and then while one thread prepares frames over and over (the switch interval at 0.5 ms),
loses the share of its speed during which the preparing thread held the GIL (on a machine
with a core for each). ``gil_ms_per_frame`` is that share of a frame's time, and
``gil_bound_frames_per_second`` the most frames a second any number of threads could
prepare while one holds the GIL at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # prelabel.py beside it

import cv2
import numpy as np
import torch
from prelabel import TRAINED, bench_model, parse_size  # (benchmarks/)

from roadmark.analysis.uncertainty import RegionParams
from roadmark.core.prediction import FramePrediction
from roadmark.demo.drive import write_drive
from roadmark.io.frames import read_image
from roadmark.io.prediction_writer import prepare
from roadmark.io.schema_files import load_schema
from roadmark.models.files import LoadedModel
from roadmark.models.predictor import Predictor

ARCH = "lraspp_mobilenet_v3_large"


def _models(root: Path, input_hw: tuple[int, int]) -> dict[str, LoadedModel]:
    """LRASPP with random weights and with the demo model's trained weights."""
    schema = load_schema("cityscapes")
    return {name: bench_model(root / f"{name}.roadmodel", arch, schema, input_hw)
            for name, arch in (("random_weights", ARCH), ("trained_weights", TRAINED))}


def _predictions(model: LoadedModel, images: list[np.ndarray],
                 frame_hw: tuple[int, int]) -> list[FramePrediction]:
    predictor = Predictor(model, load_schema("cityscapes"), device=torch.device("cpu"))
    out: list[FramePrediction] = []
    for index, image in enumerate(images):
        batch = torch.from_numpy(np.ascontiguousarray(image))[None]
        started = predictor.to_host(predictor.infer(batch, frame_size=frame_hw))
        out += predictor.unpack(started, [index + 1])
    return out


def _rate(predictions: list[FramePrediction], threads: int, repeats: int) -> float:
    """Frames a second that ``threads`` threads prepare (best of ``repeats``)."""
    work = predictions * max(2, threads)  # every thread busy for a while
    best = 0.0
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(repeats):
            start = time.perf_counter()
            list(pool.map(prepare, work, [RegionParams()] * len(work)))
            best = max(best, len(work) / (time.perf_counter() - start))
    return best


def _gil_held_share(predictions: list[FramePrediction], seconds: float = 2.0) -> float:
    """The share of its time a thread preparing ``predictions`` holds the GIL: what a
    counting thread on another core loses of its speed meanwhile."""
    def count(duration: float) -> float:
        done, end = 0, time.perf_counter() + duration
        while time.perf_counter() < end:
            done += 1
        return done / duration

    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    try:
        alone = count(seconds)
        stop = threading.Event()

        def work() -> None:
            while not stop.is_set():
                for prediction in predictions:
                    prepare(prediction, RegionParams())

        worker = threading.Thread(target=work)
        worker.start()
        try:
            time.sleep(0.2)  # under way
            shared = count(seconds)
        finally:
            stop.set()
            worker.join()
    finally:
        sys.setswitchinterval(interval)
    return min(1.0, max(0.0, 1.0 - shared / alone))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=8, help="generated frames (8)")
    parser.add_argument("--size", default="2048x1024", help="frame size WxH (2048x1024)")
    parser.add_argument("--input-size", default="512x256", help="model input WxH (512x256)")
    parser.add_argument("--threads", default=None,
                        help="thread counts, comma-separated (1, 2 and the CPU count)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cv2.setNumThreads(1)  # as in pre-labeling's writer threads
    width, height = parse_size(args.size)
    in_w, in_h = parse_size(args.input_size)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    counts = sorted({1, 2, cpus or 1} if args.threads is None else
                    {int(part) for part in args.threads.split(",")})
    out: dict[str, object] = {"frames": args.frames, "frame_size": f"{width}x{height}",
                              "input_size": f"{in_w}x{in_h}", "cpu_count": cpus}
    with tempfile.TemporaryDirectory(prefix="writer-bench-") as folder:
        root = Path(folder)
        written = write_drive(root / "images", frames=args.frames, width=width, height=height)
        images = [cv2.resize(read_image(path), (in_w, in_h), interpolation=cv2.INTER_AREA)
                  for path, _ in written]
        for name, model in _models(root, (in_h, in_w)).items():
            predictions = _predictions(model, images, (height, width))
            rates = {threads: _rate(predictions, threads, args.repeats) for threads in counts}
            one = rates[min(counts)] / min(counts) if min(counts) == 1 else None
            figures: dict[str, object] = {
                "map_size": "x".join(str(n) for n in predictions[0].maps.label_ids.shape[::-1]),
                "regions_per_frame": round(float(np.mean([
                    len(prepare(p, RegionParams()).regions) for p in predictions])), 1),
                "threads": {str(t): {"frames_per_second": round(r, 1),
                                     "speedup": round(r / one, 2) if one else None}
                            for t, r in rates.items()},
            }
            if one:
                figures["ms_per_frame"] = round(1000 / one, 2)
                if (cpus or 1) > 1:  # (on one core the counting thread only takes turns)
                    held = _gil_held_share(predictions)
                    figures["gil_held_share"] = round(held, 3)
                    figures["gil_ms_per_frame"] = round(held * 1000 / one, 2)
                    figures["gil_bound_frames_per_second"] = (
                        round(one / held, 1) if held > 0 else None)
                most = max(counts)
                if most > 1:
                    speedup = rates[most] / one
                    serial = min(1.0, max(0.0, (most / speedup - 1) / (most - 1)))
                    figures["serial_share"] = round(serial, 3)
                    figures["frames_per_second_at"] = {
                        str(n): round(one * n / (1 + serial * (n - 1)), 1) for n in (4, 8, 12)}
            out[name] = figures
            print(json.dumps({name: figures}), file=sys.stderr, flush=True)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
