"""Train the bundled demo segmentation model (the source of
``roadmark/assets/models/demo-segmentation.roadmodel``).

The model learns from synthetic drives made by :mod:`roadmark.demo.drive` with other seeds
than the demo project's drive (seed 0), so the demo frames it pre-labels are new to it.
It is an LRASPP-MobileNetV3 from random weights, run at 128x256 (the demo frames are
1024x512), stored compactly: int8 convolution weights with per-channel scales, float16
for the rest (about 3.5 MB). Re-running this script reproduces it:

    .venv/bin/python scripts/make_demo_model.py [--out FILE] [--epochs N]

It takes about 10-15 minutes on a 2-core CPU (seconds on a GPU with ``--device cuda``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

from roadmark.demo.drive import write_drive
from roadmark.io.demo_project import add_drive
from roadmark.io.store import Project
from roadmark.models.augment import Augment
from roadmark.models.training import TrainOptions, TrainUpdate, train

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "roadmark" / "assets" / "models" / "demo-segmentation.roadmodel"
TRAIN_SEEDS = (11, 12, 13)
VAL_SEED = 14
DRIVE_FRAMES = 160  # each drive is this long; every STRIDE-th frame is used
STRIDE = 10
INPUT_SIZE = (128, 256)


def make_project(folder: Path) -> tuple[Project, list[int], list[int]]:
    """A project of the generated frames, all labeled; returns the train and val ids."""
    project = Project.create(folder / "train.roadmark", user="make_demo_model")
    train_ids: list[int] = []
    val_ids: list[int] = []
    for seed in (*TRAIN_SEEDS, VAL_SEED):
        stride = STRIDE * 2 if seed == VAL_SEED else STRIDE
        written = write_drive(
            folder, frames=DRIVE_FRAMES, seed=seed, city=f"gen{seed}", every=stride
        )
        (val_ids if seed == VAL_SEED else train_ids).extend(add_drive(project, written))
    return project, train_ids, val_ids


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="roadmark-demo-model-") as tmp:
        print("rendering the training drives ...", file=sys.stderr)
        project, train_ids, val_ids = make_project(Path(tmp))
        options = TrainOptions(
            task="segmentation",
            input_size=INPUT_SIZE,
            epochs=args.epochs,
            batch_size=4,
            lr=2e-3,
            device=args.device,
            augment=Augment(scale=(0.8, 1.4)),
            train_frame_ids=train_ids,
            val_frame_ids=val_ids,
            seed=0,
            compact_weights=True,
            overwrite=True,
            description=(
                "Demo model: LRASPP-MobileNetV3 trained from random weights by "
                "scripts/make_demo_model.py on synthetic drives (seeds "
                f"{', '.join(map(str, TRAIN_SEEDS))}), not on the demo project's frames."
            ),
        )
        bar = tqdm(total=args.epochs, unit="epoch", file=sys.stderr)

        def progress(update: TrainUpdate) -> None:
            if update.kind == "step":
                bar.set_postfix(step=f"{update.step}/{update.steps}", loss=f"{update.loss:.3f}")
            else:
                bar.update(1)
                bar.write(
                    f"epoch {update.epoch}: loss {update.loss:.3f}, val mIoU {update.score}"
                    + (" (saved)" if update.saved else "")
                )

        args.out.parent.mkdir(parents=True, exist_ok=True)
        with project:
            result = train(project, args.out, options, progress=progress)
        bar.close()
    figures = {
        "out": str(args.out),
        "size_bytes": args.out.stat().st_size,
        "train_frames": result.train_frames,
        "val_frames": result.val_frames,
        "best_epoch": result.best_epoch,
        "val_miou": result.metrics.get("miou"),
        "seconds": round(time.perf_counter() - start, 1),
    }
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
