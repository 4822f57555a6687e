"""``roadmark train``: learn a model from the project's own labels."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from roadmark.core.errors import RoadmarkError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a model on the project's labeled frames",
        description="Train (or fine-tune with --init) a segmentation or detection model on "
        "the frames people labeled: finished frames, and untouched frames holding an "
        "imported dataset's labels. The last frames are held out for validation (mIoU per "
        "class, box mAP), written into the model's manifest. MODEL always holds the best "
        "checkpoint so far; Ctrl+C stops and keeps it.",
    )
    parser.add_argument("project", help="the .roadmark file")
    parser.add_argument("--out", required=True, type=Path, metavar="MODEL", help="model to write")
    parser.add_argument("--epochs", type=int, default=20, metavar="N", help="epochs (default 20)")
    parser.add_argument("--init", type=Path, metavar="MODEL", help="start from this model")
    parser.add_argument(
        "--backbone-weights",
        type=Path,
        metavar="FILE",
        help="start a new model's backbone from this local ImageNet state dict (torchvision's "
        "own mobilenet_v3_large / resnet .pth files work; nothing is downloaded)",
    )
    parser.add_argument(
        "--task",
        choices=("segmentation", "detection", "promptable"),
        help="what a new model learns (default segmentation; with --init: that model's task); "
        "promptable fine-tunes the click model (--init, default the bundled one) on the "
        "project's labeled objects, scored as NoC on held-out frames",
    )
    parser.add_argument("--arch", metavar="NAME", help="architecture of a new model")
    parser.add_argument(
        "--device", default="auto", metavar="DEV", help="auto (default), cpu, cuda or cuda:N"
    )
    parser.add_argument("--batch", type=int, default=4, metavar="N", help="samples per step")
    parser.add_argument("--lr", type=float, metavar="X", help="learning rate")
    parser.add_argument(
        "--input-size",
        metavar="HxW",
        help="resize frames to this size for the model (default: frame size, or --init's)",
    )
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        metavar="F",
        help="share of labeled frames held out for validation (default 0.2)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--overwrite", action="store_true", help="replace MODEL if it exists")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(handler=cmd_train)


def parse_size(text: str | None) -> tuple[int, int] | None:
    """``HxW`` -> ``(height, width)``.

    Raises:
        RoadmarkError: Not two integers of at least 8.
    """
    if text is None:
        return None
    height, sep, width = text.lower().partition("x")
    if not sep or not height.strip().isdigit() or not width.strip().isdigit():
        raise RoadmarkError(
            f"must be HEIGHTxWIDTH, like 512x1024, got {text!r}", field="--input-size"
        )
    size = (int(height), int(width))
    if min(size) < 8:
        raise RoadmarkError("height and width must be at least 8", field="--input-size")
    return size


def cmd_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from roadmark.io.store import Project
    from roadmark.models.training import TrainOptions, TrainUpdate, train

    if args.epochs < 1 or args.batch < 1:
        raise RoadmarkError(
            "must be at least 1", field="--epochs" if args.epochs < 1 else "--batch"
        )
    if args.init is not None and args.arch is not None:
        raise RoadmarkError("give --init or --arch, not both", field="--arch")
    if args.task == "promptable":
        return train_click(args)
    options = TrainOptions(
        task=args.task or "segmentation",
        arch=args.arch,
        init=args.init,
        backbone_weights=args.backbone_weights,
        input_size=parse_size(args.input_size),
        epochs=args.epochs,
        batch_size=args.batch,
        lr=args.lr,
        device=args.device,
        val_fraction=args.val_fraction,
        seed=args.seed,
        overwrite=args.overwrite,
    )
    if args.init is not None and args.task is not None:
        from roadmark.models.files import read_manifest

        found = read_manifest(args.init).task
        if found != args.task:
            raise RoadmarkError(
                f"is a {found} model but --task {args.task} was given", path=str(args.init)
            )
    bar: Any = None

    def progress(update: TrainUpdate) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(
                total=update.epochs * update.steps, unit="step", file=sys.stderr, disable=None
            )
        if update.kind == "step":
            bar.update(1)
            bar.set_postfix(epoch=f"{update.epoch}/{update.epochs}", loss=f"{update.loss:.3f}")
            return
        figures = f"loss {update.loss:.4f}"
        if update.val_loss is not None:
            figures += f", val loss {update.val_loss:.4f}"
        if update.score is not None:
            name = "mIoU" if "miou" in (update.metrics or {}) else "box mAP"
            figures += f", val {name} {update.score:.4f}"
        bar.write(
            f"epoch {update.epoch}/{update.epochs}: {figures}"
            + (" (best so far, saved)" if update.saved else ""),
            file=sys.stderr,
        )

    with Project.open(args.project) as project:
        try:
            result = train(project, args.out, options, progress=progress)
        except KeyboardInterrupt:
            print("roadmark: interrupted; the model file keeps the best epoch", file=sys.stderr)
            return 130
        finally:
            if bar is not None:
                bar.close()
    summary = {
        "model": str(result.out) if result.out else None,
        "task": result.task,
        "device": result.device,
        "train_frames": result.train_frames,
        "val_frames": result.val_frames,
        "epochs": result.epochs,
        "best_epoch": result.best_epoch,
        "seconds_per_epoch": result.seconds_per_epoch,
        "validation": dict(result.metrics),
        "calibration": result.calibration,
    }
    if args.json:
        print(json.dumps(summary, indent=1))
        return 0
    print(f"wrote {result.out} (epoch {result.best_epoch} of {result.epochs}, {result.device})")
    print(f"trained on {result.train_frames} frame(s), validated on {result.val_frames}")
    if result.calibration:
        c = result.calibration
        print(
            f"calibrated on the held-out frames: temperature {c['temperature']:.3f}, "
            f"ECE {c['ece_before']:.4f} -> {c['ece_after']:.4f}"
        )
    metrics = result.metrics
    if "miou" in metrics:
        print(f"val mIoU {metrics['miou']}, pixel accuracy {metrics['pixel_accuracy']}")
        for name, iou in metrics["iou"].items():
            if iou is not None:
                print(f"  {name:<16} IoU {iou:.4f}")
    elif "map" in metrics:
        print(f"val box mAP {metrics['map']} (AP50 {metrics['map50']})")
        for name, ap in metrics["ap"].items():
            if ap is not None:
                print(f"  {name:<16} AP {ap:.4f}")
    else:
        print("no held-out frames: the model kept is the one with the lowest training loss")
    return 0


def train_click(args: argparse.Namespace) -> int:
    """``train --task promptable``: fine-tune the click model on the labeled objects."""
    from tqdm import tqdm

    from roadmark.io.store import Project
    from roadmark.models.click_training import fine_tune
    from roadmark.models.promptable import bundled_click_model

    with Project.open(args.project, read_only=True) as project, tqdm(
        unit="step", file=sys.stderr, disable=None
    ) as bar:
        result = fine_tune(
            project, args.out, init=args.init or bundled_click_model(), epochs=args.epochs,
            val_fraction=args.val_fraction, seed=args.seed, overwrite=args.overwrite,
            progress=lambda step, loss: bar.update(1),
        )
    scored = result.objects > 0
    figures = {"out": str(args.out), "steps": result.steps,
               "noc85": round(result.noc85, 3) if scored else None,
               "noc90": round(result.noc90, 3) if scored else None,
               "val_objects": result.objects, "seconds": round(result.seconds, 1)}
    if args.json:
        print(json.dumps(figures))
    else:
        scores = (f"held-out NoC@85 {result.noc85:.2f}, NoC@90 {result.noc90:.2f} over "
                  f"{result.objects} objects" if scored else "no held-out objects to score")
        print(f"wrote {args.out}: {result.steps} steps in {result.seconds:.0f} s; {scores}")
    return 0
