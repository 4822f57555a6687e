"""How fast the model learns from a project's own labels: held-out mIoU after training
from random weights on 2, 5, 10 and 20 labeled frames, with the same epoch budget.

    python benchmarks/learning.py [--counts 2,5,10,20] [--epochs 20] [--frame 256x128]
                                  [--input 192x96] [--device auto]

Frames come from the synthetic drive generator (:mod:`roadmark.demo.drive`): a pool of 20
frames spread over a 200-frame drive (seed 21) to label from, and 8 held-out frames of
another drive (seed 22) to score on, all with exact ground truth. Each count takes frames
evenly spread over the pool, trains an LRASPP-MobileNetV3 from random weights
(``roadmark.models.training.train``, as ``roadmark train`` does, 16 samples an epoch,
batch 4, so every count gets the same number of steps) and reports the held-out mIoU of
the best epoch.

On this 2-core CPU the default is a small resolution (frames rendered at 256x128, model
input 192x96, both width x height) so that the whole run stays under 10 minutes; on a GPU
run the full resolution, for example ``--frame 2048x1024 --input 1024x512 --epochs 30``.

Output: JSON with, per count, ``miou`` (held-out), ``pixel_accuracy``, ``best_epoch``,
``seconds_per_epoch`` (the training steps only; validation and saving come on top, see
``total_seconds``); plus the device and the settings.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

POOL_SEED, HELD_OUT_SEED = 21, 22
DRIVE = 200
POOL, HELD_OUT = 20, 8


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    return int(width), int(height)


def build(folder: Path, width: int, height: int) -> tuple[Path, list[int], list[int]]:
    """A project with the pool and held-out frames, all labeled (status done)."""
    from roadmark.demo.drive import write_drive
    from roadmark.io.demo_project import add_drive
    from roadmark.io.store import Project

    path = folder / "learning.roadmark"
    groups: list[list[int]] = []
    with Project.create(path, user="benchmark") as project:
        for seed, count in ((POOL_SEED, POOL), (HELD_OUT_SEED, HELD_OUT)):
            written = write_drive(
                folder,
                frames=DRIVE,
                width=width,
                height=height,
                seed=seed,
                city=f"drive{seed}",
                every=DRIVE // count,
            )
            groups.append(add_drive(project, written))
    return path, groups[0], groups[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", default="2,5,10,20")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--frame", default="256x128", help="rendered frame size WxH")
    parser.add_argument("--input", default="192x96", help="model input WxH ('none': frame)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)

    from roadmark.io.store import Project
    from roadmark.models.training import TrainOptions, train

    counts = [int(c) for c in args.counts.split(",")]
    width, height = _size(args.frame)
    input_size = None
    if args.input.lower() != "none":
        in_width, in_height = _size(args.input)
        input_size = (in_height, in_width)
    results = []
    device = None
    with tempfile.TemporaryDirectory(prefix="roadmark-learning-") as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        path, pool, held_out = build(folder, width, height)
        build_seconds = time.perf_counter() - start
        for count in counts:
            if count > len(pool):
                raise SystemExit(f"--counts: at most {len(pool)} frames")
            chosen = [pool[round(i * (len(pool) - 1) / max(count - 1, 1))] for i in range(count)]
            options = TrainOptions(
                input_size=input_size,
                epochs=args.epochs,
                batch_size=4,
                device=args.device,
                min_epoch_samples=16,
                train_frame_ids=sorted(set(chosen)),
                val_frame_ids=held_out,
                seed=0,
            )
            with Project.open(path) as project:
                result = train(project, folder / f"model-{count}.roadmodel", options)
            device = result.device
            entry = {
                "labeled_frames": count,
                "miou": result.metrics.get("miou"),
                "pixel_accuracy": result.metrics.get("pixel_accuracy"),
                "best_epoch": result.best_epoch,
                "seconds_per_epoch": round(result.seconds_per_epoch or 0.0, 2),
                "steps": len(result.losses),
            }
            results.append(entry)
            print(json.dumps(entry), file=sys.stderr)
    print(
        json.dumps(
            {
                "benchmark": "learning",
                "device": device,
                "frame_size": [width, height],
                "input_size": [input_size[1], input_size[0]] if input_size else None,
                "epochs": args.epochs,
                "samples_per_epoch": 16,
                "held_out_frames": HELD_OUT,
                "build_seconds": round(build_seconds, 1),
                "total_seconds": round(time.perf_counter() - start, 1),
                "results": results,
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
