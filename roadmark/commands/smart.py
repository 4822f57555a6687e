"""``roadmark embed`` and ``roadmark segment``: promptable models from the command line.

``embed`` computes the image embeddings of a project's frames ahead of time (in batches,
float16 on a GPU) into ``NAME.roadmark-cache/``; ``segment`` turns clicks and a box on one
frame into a mask: a new region of a label (one audited action) or a 0/255 PNG.
MODEL is a promptable model (``click`` or no ``--model``: the bundled click model).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from roadmark.core.errors import RoadmarkError

BUNDLED = "click"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    embed = subparsers.add_parser(
        "embed",
        help="compute the image embeddings of a promptable model ahead of time",
        description="Encode every frame (or --frames) with MODEL's image encoder into the "
        "cache beside the project (NAME.roadmark-cache/, keyed by frame content and model "
        "digest; safe to delete), so that clicks in the editor answer at once. Frames "
        "already in the cache are skipped.",
    )
    embed.add_argument("project", help="the .roadmark file")
    embed.add_argument("--model", default=BUNDLED, metavar="MODEL",
                       help="promptable model (default: the bundled click model)")
    embed.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    embed.add_argument("--frames", metavar="SPEC", help="frame positions, like 0-9,15 (all)")
    embed.add_argument("--batch", type=int, default=4, metavar="N", help="frames per batch (4)")
    embed.add_argument("--json", action="store_true", help="print the figures as JSON")
    embed.set_defaults(handler=cmd_embed)

    seg = subparsers.add_parser(
        "segment",
        help="turn clicks and a box on a frame into a mask (a region, or a PNG)",
        description="Run a promptable model on one frame. With --label the best mask "
        "becomes a region of that label (one audited action, source model:NAME); with "
        "--mask-out it is written as a 0/255 PNG of the frame's size and nothing changes.",
    )
    seg.add_argument("project", help="the .roadmark file")
    seg.add_argument("--frame", type=int, required=True, metavar="N", help="frame position")
    seg.add_argument("--model", default=BUNDLED, metavar="MODEL",
                     help="promptable model (default: the bundled click model)")
    seg.add_argument("--point", action="append", default=[], metavar="X,Y[:neg]",
                     help="a click in image pixels; ':neg' marks background (repeatable)")
    seg.add_argument("--box", metavar="X0,Y0,X1,Y1", help="a box around the object")
    out = seg.add_mutually_exclusive_group(required=True)
    out.add_argument("--label", metavar="NAME", help="add the mask as a region of this label")
    out.add_argument("--mask-out", type=Path, metavar="PNG", help="write the mask to this PNG")
    seg.add_argument("--candidate", type=int, default=0, metavar="K",
                     help="which candidate mask, best first (0)")
    seg.add_argument("--behind", action="store_true",
                     help="put the region under the frame's other objects (paint behind)")
    seg.set_defaults(handler=cmd_segment)


def open_model(spec: str, device: str = "cpu") -> Any:
    """The promptable model ``spec`` names (``click``: the bundled one) on ``device``."""
    from roadmark.models.promptable import bundled_click_model, load_promptable

    path = bundled_click_model() if spec == BUNDLED and not Path(spec).exists() else Path(spec)
    return load_promptable(path).to(device)


def parse_point(text: str, index: int) -> tuple[float, float, bool]:
    """``X,Y`` or ``X,Y:neg`` (``:pos`` allowed) as ``(x, y, positive)``.

    Raises:
        RoadmarkError: Malformed text.
    """
    coords, _, sign = text.partition(":")
    parts = coords.split(",")
    where = f"--point[{index}]"
    if len(parts) != 2 or sign.strip().lower() not in ("", "neg", "pos"):
        raise RoadmarkError(f"expected X,Y or X,Y:neg, got {text!r}", field=where)
    try:
        x, y = float(parts[0]), float(parts[1])
    except ValueError:
        raise RoadmarkError(f"expected numbers in {text!r}", field=where) from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise RoadmarkError(f"coordinates must be finite, got {text!r}", field=where)
    return x, y, sign.strip().lower() != "neg"


def parse_box(text: str) -> tuple[float, float, float, float]:
    parts = text.split(",")
    try:
        values = tuple(float(v) for v in parts)
    except ValueError:
        raise RoadmarkError(f"expected X0,Y0,X1,Y1, got {text!r}", field="--box") from None
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise RoadmarkError(f"expected four numbers X0,Y0,X1,Y1, got {text!r}", field="--box")
    return values


def cmd_embed(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from roadmark.core.frame_spec import parse_frame_spec
    from roadmark.io.store import Project
    from roadmark.models.embedding import embed_frames
    from roadmark.models.runner import resolve_device

    if args.batch < 1:
        raise RoadmarkError("must be >= 1", field="--batch")
    device = str(resolve_device(args.device))
    model = open_model(args.model, device)
    with Project.open(args.project, read_only=True) as project:
        frames = project.frames()
        if args.frames is not None:
            frames = [frames[i] for i in parse_frame_spec(args.frames, len(frames))]
        with tqdm(total=len(frames), unit="frame", desc=model.name, file=sys.stderr,
                  mininterval=0.5, disable=args.json) as bar:

            def progress(done: int, total: int, message: str = "") -> None:
                bar.update(done - bar.n)

            report = embed_frames(project, model, frames, batch_size=args.batch,
                                  progress=progress)
    figures = {
        "model": model.name,
        "device": device,
        "frames": len(frames),
        "computed": report.computed,
        "reused": report.reused,
        "seconds": round(report.seconds, 2),
        "seconds_per_frame": round(report.seconds_per_frame, 3)
        if report.seconds_per_frame is not None else None,
        "cache_bytes": report.cache_bytes,
    }
    if args.json:
        print(json.dumps(figures))
    else:
        per = (f" ({report.seconds_per_frame:.2f} s/frame)"
               if report.seconds_per_frame is not None else "")
        print(
            f"embedded {report.computed} frames with {model.name} on {device} in "
            f"{report.seconds:.1f} s{per}; {report.reused} were cached already; this model's "
            f"cache holds {report.cache_bytes / 1e6:.1f} MB"
        )
    return 0


def cmd_segment(args: argparse.Namespace) -> int:
    import cv2
    import numpy as np

    from roadmark.annotators.tools.smart import mask_region
    from roadmark.core.annotation import AnnotationObject, Provenance
    from roadmark.io.store import Project
    from roadmark.io.workflow import select_frames
    from roadmark.models.embedding import Embedder, frame_pixels, project_cache
    from roadmark.models.promptable import Prompts

    points = tuple(parse_point(text, i) for i, text in enumerate(args.point))
    box = parse_box(args.box) if args.box else None
    if not points and box is None:
        raise RoadmarkError("give at least one --point or a --box", field="--point")
    if args.mask_out is not None and not args.mask_out.parent.is_dir():
        raise RoadmarkError("the folder does not exist", path=str(args.mask_out))
    model = open_model(args.model)
    with Project.open(args.project, read_only=args.label is None) as project:
        if args.frame < 0:
            raise RoadmarkError("must be >= 0", field="--frame")
        frame = select_frames(project.frames(), str(args.frame))[0]
        label = None
        if args.label is not None:
            label = project.schema.by_name.get(args.label)
            if label is None or not label.drawable:
                raise RoadmarkError(
                    f"no drawable label {args.label!r} in the project's schema", field="--label"
                )
        image = frame_pixels(project, frame)
        embedder = Embedder(model, project_cache(project, model))
        candidates = model.decode(embedder.get(image), Prompts(points=points, box=box))
        if not 0 <= args.candidate < len(candidates):
            raise RoadmarkError(
                f"the model gave {len(candidates)} candidate(s) (0..{len(candidates) - 1})",
                field="--candidate",
            )
        mask = candidates.masks[args.candidate]
        score = float(candidates.scores[args.candidate])
        pixels = int(mask.sum())
        if args.mask_out is not None:
            if not cv2.imwrite(str(args.mask_out), mask.astype(np.uint8) * 255):
                raise RoadmarkError("cannot write the PNG", path=str(args.mask_out))
            print(f"wrote {args.mask_out}: {frame.width}x{frame.height}, {pixels} mask pixels, "
                  f"quality {score:.3f} ({model.name})")
            return 0
        assert label is not None
        region = mask_region(mask)
        if region is None:
            raise RoadmarkError("the mask is empty; click inside the object", field="--point")
        annotations = project.objects(frame.id)
        obj = AnnotationObject(
            label_id=label.id,
            geometry=region,
            provenance=Provenance.new(f"model:{model.name}", project.user,
                                      confidence=round(score, 4)),
            instance_id=max(
                (o.instance_id for o in annotations if o.instance_id is not None), default=0
            ) + 1 if label.has_instances else None,
            attributes=project.schema.attribute_defaults(label.id),
        )
        stored = project.add_objects(frame.id, [obj], at_bottom=args.behind)[0]
    print(f"added region {stored.uid} ({label.name}, {pixels} mask pixels, quality {score:.3f}, "
          f"model:{model.name}) to frame {args.frame} ({frame.name})")
    return 0


def refine(args: argparse.Namespace, *, detector: str | None) -> int:
    """``prelabel --refine``: the boxes of the selected frames become mask predictions."""
    from tqdm import tqdm

    from roadmark.annotators.tools.smart import mask_region
    from roadmark.core.frame_spec import parse_frame_spec
    from roadmark.io.store import Project
    from roadmark.models.refine import refine_boxes
    from roadmark.models.runner import resolve_device

    model = open_model(args.refine, str(resolve_device(args.device)))
    with Project.open(args.project) as project:
        frames = project.frames()
        if args.frames is not None:
            frames = [frames[i] for i in parse_frame_spec(args.frames, len(frames))]
        with tqdm(total=len(frames), unit="frame", desc=f"refine {model.name}", file=sys.stderr,
                  mininterval=0.5) as bar:

            def progress(done: int, total: int, message: str = "") -> None:
                bar.update(done - bar.n)

            result = refine_boxes(project, model, frames, vectorize=mask_region,
                                  detector=detector, progress=progress)
    source = f"{detector}'s boxes" if detector else "human boxes"
    print(
        f"refined {result.masks} of {result.boxes} {source} on {result.frames} frames into "
        f"masks with {result.model} in {result.seconds:.1f} s ({result.weak} below quality "
        "0.8 are queued for review); accept them in the guided review"
    )
    return 0
