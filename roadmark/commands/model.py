"""``roadmark model new`` and ``roadmark model info``: make and inspect model files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from roadmark.core.errors import RoadmarkError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    model = subparsers.add_parser("model", help="make and inspect roadmark model files")
    commands = model.add_subparsers(dest="model_command", metavar="SUBCOMMAND", required=True)

    new = commands.add_parser(
        "new",
        help="wrap a torchvision architecture, a TorchScript file or a torch.export program",
        description="Write a roadmark model (manifest + weights). With --arch, a torchvision "
        "architecture with random weights (the starting point for training) or the weights "
        "of a local state-dict file; with --torchscript or --exported, a program whose "
        "output format is found by a trial run. Nothing is downloaded, and weights load with "
        "weights_only=True.",
    )
    new.add_argument("out", type=Path, metavar="OUT", help="the .roadmodel file (or folder)")
    source = new.add_mutually_exclusive_group(required=True)
    source.add_argument("--arch", metavar="NAME", help="torchvision architecture")
    source.add_argument("--torchscript", type=Path, metavar="FILE", help="TorchScript file")
    source.add_argument("--exported", type=Path, metavar="FILE", help="torch.export .pt2 file")
    source.add_argument(
        "--transformers",
        type=Path,
        metavar="DIR",
        help="a local Hugging Face SAM-family folder (config.json + model.safetensors); "
        "OUT becomes a promptable model folder (needs pip install -e '.[sam]')",
    )
    new.add_argument("--weights", type=Path, metavar="FILE", help="state dict (with --arch)")
    new.add_argument(
        "--task", choices=("segmentation", "detection"), help="what a program predicts"
    )
    new.add_argument(
        "--schema",
        default="cityscapes",
        help="label schema the classes map onto: 'cityscapes', a schema file or a project",
    )
    new.add_argument(
        "--classes",
        metavar="LIST",
        help="output classes in order, NAME or NAME=LABEL (NAME= for no label), "
        "comma-separated; default: from the weights or the schema",
    )
    new.add_argument("--name", help="model name (default: from OUT)")
    new.add_argument(
        "--input-size", metavar="HxW", help="resize frames to this size (default: frame size)"
    )
    new.add_argument("--batch-size", type=int, metavar="N", help="a program's fixed batch size")
    new.add_argument("--output", help="how to read a program's result (found by a trial run)")
    new.add_argument("--folder", action="store_true", help="write a folder, not one file")
    new.add_argument("--seed", type=int, help="seed of the random initialization")
    new.set_defaults(handler=cmd_new)

    info = commands.add_parser("info", help="show a model's manifest")
    info.add_argument("model", type=Path, metavar="MODEL", help="a .roadmodel file or folder")
    info.add_argument("--json", action="store_true", help="print the manifest as JSON")
    info.set_defaults(handler=cmd_info)

    calibrate = commands.add_parser(
        "calibrate",
        help="fit a segmentation model's temperature on a project's labeled frames",
        description="Run MODEL on PROJECT's labeled frames (finished by a person or imported "
        "ground truth), fit the temperature that makes its confidence match how often it "
        "is right (temperature scaling), and store it in the model's manifest with the "
        "expected calibration error before and after; predictions use it from then on.",
    )
    calibrate.add_argument("model", type=Path, metavar="MODEL", help="a .roadmodel file or folder")
    calibrate.add_argument("project", help="the .roadmark file")
    calibrate.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    calibrate.add_argument(
        "--frames", type=int, metavar="N", help="use at most the first N labeled frames"
    )
    calibrate.add_argument("--json", action="store_true", help="print the result as JSON")
    calibrate.set_defaults(handler=cmd_calibrate)


def _size(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    height, sep, width = text.lower().partition("x")
    if not sep or not height.strip().isdigit() or not width.strip().isdigit():
        raise RoadmarkError(f"expected HxW like 512x1024, got {text!r}", field="--input-size")
    return int(height), int(width)


def _schema(source: str) -> Any:
    from roadmark.io.schema_files import load_schema

    path = Path(source)
    if (path.suffix == ".roadmark" and path.is_file()) or "://" in source:
        from roadmark.io.store import Project

        with Project.open(source, read_only=True) as project:
            return project.schema
    return load_schema(source)


def cmd_new(args: argparse.Namespace) -> int:
    from roadmark.models.create import new_torchvision_model, wrap_program
    from roadmark.models.manifest import parse_class_list

    if args.transformers is not None:
        from roadmark.models.sam import wrap_transformers

        manifest = wrap_transformers(args.out, args.transformers, name=args.name)
        print(f"wrote {args.out}: {manifest.name} (promptable, {manifest.description})")
        return 0
    schema = _schema(args.schema)
    classes = parse_class_list(args.classes) if args.classes else None
    size = _size(args.input_size)
    if args.arch:
        for flag, value in (("--task", args.task), ("--output", args.output)):
            if value is not None:
                raise RoadmarkError(f"{flag} is for programs, not --arch", field=flag)
        loaded = new_torchvision_model(
            args.out,
            args.arch,
            schema=schema,
            classes=classes,
            weights=args.weights,
            name=args.name,
            input_size=size,
            folder=args.folder,
            seed=args.seed,
        )
    else:
        if args.weights is not None:
            raise RoadmarkError(
                "--weights is for --arch; a program holds its weights", field="--weights"
            )
        if args.task is None:
            raise RoadmarkError("a program needs --task segmentation|detection", field="--task")
        if classes is None:
            raise RoadmarkError(
                "a program needs --classes (its outputs in order)", field="--classes"
            )
        kind = "torchscript" if args.torchscript else "export"
        loaded = wrap_program(
            args.out,
            args.torchscript or args.exported,
            kind=kind,
            task=args.task,
            classes=classes,
            schema=schema,
            output=args.output,
            input_size=size,
            batch=args.batch_size,
            name=args.name,
            folder=args.folder,
        )
    manifest = loaded.manifest
    print(
        f"wrote {args.out}: {manifest.name} ({manifest.kind}"
        f"{' ' + manifest.arch if manifest.arch else ''}, {manifest.task}, "
        f"{len(manifest.classes)} classes)"
    )
    if manifest.program_sha256:
        print(_PROGRAM_NOTE.format(digest=manifest.program_sha256))
    return 0


_PROGRAM_NOTE = (
    "note: a TorchScript/torch.export program is code that roadmark runs; wrapping it is "
    "trusting it. Its SHA-256 {digest} is recorded; roadmark refuses to run it once it changes."
)


def cmd_info(args: argparse.Namespace) -> int:
    from roadmark.models.files import read_manifest

    manifest = read_manifest(args.model)
    if args.json:
        print(json.dumps(manifest.to_dict(), indent=1))
        return 0
    spec = manifest.input
    lines = [
        f"model    {manifest.name}",
        f"kind     {manifest.kind}" + (f" ({manifest.arch})" if manifest.arch else ""),
        f"task     {manifest.task}",
        f"schema   {manifest.schema or '-'}",
        f"input    size {'x'.join(map(str, spec.size)) if spec.size else 'frame size'}, "
        f"mean {list(spec.mean)}, std {list(spec.std)}"
        + (f", batch {spec.batch}" if spec.batch else ""),
        f"output   {manifest.output}",
        f"classes  {len(manifest.classes)}",
    ]
    if manifest.kind != "torchvision":
        lines.insert(
            2,
            "program  code that roadmark runs; SHA-256 "
            + (manifest.program_sha256 or "not recorded (refused: wrap it again)"),
        )
    lines.append(_calibration_line(manifest.calibration))
    for index, model_class in enumerate(manifest.classes):
        lines.append(f"  {index:3d} {model_class.name} -> {model_class.label or '(no label)'}")
    print("\n".join(lines))
    return 0


def _calibration_line(calibration: Any) -> str:
    if not calibration:
        return "calibration  none (temperature 1; `roadmark model calibrate MODEL PROJECT`)"
    return (
        f"calibration  temperature {calibration.get('temperature', 1.0):.3f}, "
        f"ECE {calibration.get('ece_before', float('nan')):.4f} before -> "
        f"{calibration.get('ece_after', float('nan')):.4f} after "
        f"({calibration.get('pixels', 0)} pixels of {calibration.get('frames', 0)} frames, "
        f"{calibration.get('fitted_on', '?')})"
    )


def cmd_calibrate(args: argparse.Namespace) -> int:
    from roadmark.io.store import Project
    from roadmark.models.calibration import calibrate_model

    if args.frames is not None and args.frames < 1:
        raise RoadmarkError("must be >= 1", field="--frames")
    with Project.open(args.project, read_only=True) as project:
        result = calibrate_model(args.model, project, device=args.device, max_frames=args.frames)
    data = result.to_dict()
    if args.json:
        print(json.dumps(data, indent=1))
    else:
        print(f"{args.model}: " + _calibration_line(data).removeprefix("calibration  "))
    return 0
