"""``roadmark prelabel`` and ``roadmark queue``: predict frames, rank where the model is unsure."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

DEFAULT_TOP = 20


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = subparsers.add_parser(
        "prelabel",
        help="predict boxes/segmentation for the project's frames with a model",
        description="Run MODEL on the project's frames and store its predictions apart from "
        "the labels (accept them in the editor), with the regions where it is unsure. Frames "
        "already predicted by the same model file are skipped unless --force.",
    )
    run.add_argument("project", help="the .roadmark file")
    run.add_argument("--model", metavar="MODEL", help=".roadmodel file or folder")
    run.add_argument(
        "--refine",
        metavar="PROMPTABLE",
        help="turn every box (the --model detector's, else the human boxes) into an instance "
        "mask prediction with this promptable model ('click': the bundled one)",
    )
    run.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    run.add_argument("--batch", type=int, default=4, metavar="N", help="frames per batch (4)")
    run.add_argument("--frames", metavar="SPEC", help="frame positions, like 0-9,15 (default: all)")
    run.add_argument("--force", action="store_true", help="predict already predicted frames again")
    run.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="decoding processes (default: chosen; threads on a CPU; 0: none)",
    )
    run.add_argument(
        "--precision",
        default="auto",
        choices=("auto", "fp32", "bf16", "fp16"),
        help="GPU precision (auto: bf16/fp16 autocast on a GPU)",
    )
    run.add_argument(
        "--measure",
        default="margin",
        choices=("margin", "entropy"),
        help="per-pixel uncertainty: 1 - margin (default) or normalized entropy",
    )
    run.add_argument(
        "--max-extent",
        type=float,
        default=256.0,
        metavar="PX",
        help="largest review region side in frame pixels; larger uncertain patches are cut "
        "along predicted classes, then by a grid (default 256; 0: no cap)",
    )
    run.add_argument("--no-flip", action="store_true", help="skip the mirrored detection pass")
    run.add_argument(
        "--tta",
        choices=("none", "flip"),
        default="none",
        help="segmentation: 'flip' averages each frame's class probabilities with its mirror "
        "image's, and the uncertainty comes from the average (twice the work)",
    )
    run.add_argument(
        "--worker",
        action="store_true",
        help="claim batches of unpredicted frames from the database until none are left, "
        "sharing the project with any number of other workers (team projects)",
    )
    run.add_argument(
        "--claim", type=int, metavar="N", help="with --worker: frames per claim (4 x --batch)"
    )
    run.add_argument(
        "--claim-seconds",
        type=float,
        default=600.0,
        metavar="S",
        help="with --worker: a claim lapses after S seconds (600), so frames of a worker "
        "that died are taken over",
    )
    run.add_argument(
        "--decode",
        choices=("auto", "workers", "device"),
        default="auto",
        help="where frames are decoded (auto: on a GPU for JPEG files, else worker processes)",
    )
    run.set_defaults(handler=cmd_prelabel)

    queue = subparsers.add_parser(
        "queue",
        help="the project's uncertain regions, highest expected number of wrong pixels first",
    )
    queue.add_argument("project", help="the .roadmark file")
    queue.add_argument("--top", type=int, default=DEFAULT_TOP, metavar="N", help="how many (20)")
    queue.add_argument("--model", metavar="NAME", help="only this model's regions")
    queue.add_argument("--all", action="store_true", help="include resolved regions")
    queue.add_argument("--json", action="store_true", help="print JSON")
    queue.add_argument(
        "--effort",
        action="store_true",
        help="print the estimated human minutes left per frame and for the project instead "
        "(cost model in roadmark.core.effort, fitted to the project's recorded time once "
        "enough frames have some; the JSON says which parameters are fitted)",
    )
    queue.set_defaults(handler=cmd_queue)


def cmd_prelabel(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from roadmark.analysis.uncertainty import RegionParams
    from roadmark.core.errors import RoadmarkError
    from roadmark.core.frame_spec import parse_frame_spec
    from roadmark.io.store import Project
    from roadmark.models.files import load_model
    from roadmark.models.runner import PrelabelOptions, prelabel, resolve_device

    if args.batch < 1:
        raise RoadmarkError("must be >= 1", field="--batch")
    params = RegionParams(measure=args.measure, max_extent=args.max_extent or None)
    if args.model is None and args.refine is None:
        raise RoadmarkError("give --model, --refine or both", field="--model")
    resolve_device(args.device)  # a missing GPU is reported before anything is loaded
    if args.model is None:
        from roadmark.commands.smart import refine

        return refine(args, detector=None)
    model = load_model(args.model)
    with Project.open(args.project) as project:
        model.manifest.label_ids(project.schema, source=str(model.path))  # before the bar
        frame_ids = None
        if args.frames is not None:
            frames = project.frames()
            frame_ids = [frames[i].id for i in parse_frame_spec(args.frames, len(frames))]
        options = PrelabelOptions(
            device=args.device,
            batch_size=args.batch,
            workers=args.workers,
            precision=args.precision,
            flip=not args.no_flip,
            tta_flip=args.tta == "flip",
            decode=args.decode,
            force=args.force,
            frame_ids=frame_ids,
            params=params,
        )
        if args.worker:
            return _run_worker(args, project, model, options)
        with tqdm(unit="frame", desc=model.name, file=sys.stderr, mininterval=0.5) as bar:

            def progress(done: int, total: int, message: str = "") -> None:
                if bar.total != total:
                    bar.reset(total=total)
                bar.update(done - bar.n)

            result = prelabel(project, model, options, progress=progress)
    skipped = f", {result.skipped} skipped (already predicted; --force to redo)"
    print(
        f"prelabeled {result.predicted} of {result.selected} frames with {result.model} on "
        f"{result.device} in {result.seconds:.1f} s ({result.frames_per_second:.2f} frames/s)"
        + (skipped if result.skipped else "")
    )
    if args.refine is not None:
        from roadmark.commands.smart import refine

        return refine(args, detector=result.model)
    return 0


def _run_worker(args: argparse.Namespace, project: Any, model: Any, options: Any) -> int:
    from roadmark.core.errors import RoadmarkError
    from roadmark.models.worker import run_worker

    if args.frames is not None or args.force:
        raise RoadmarkError("a worker takes every unpredicted frame", field="--frames/--force")
    claim = args.claim or 4 * args.batch
    if claim < 1 or args.claim_seconds <= 0:
        raise RoadmarkError("must be positive", field="--claim/--claim-seconds")

    def stored(frame_ids: list[int]) -> None:
        print(json.dumps({"stored": frame_ids}), flush=True)

    result = run_worker(
        project, model, options, claim=claim, claim_seconds=args.claim_seconds, on_batch=stored
    )
    print(
        f"worker {result.worker} predicted {len(result.frame_ids)} frames in "
        f"{result.batches} claims in {result.seconds:.1f} s; nothing is left to claim"
    )
    return 0


def _region_json(region: Any, names: dict[int, str], labels: dict[int, str]) -> dict[str, Any]:
    box = region.box
    return {
        "frame": names.get(region.frame_id, str(region.frame_id)),
        "frame_id": region.frame_id,
        "model": region.model,
        "kind": region.kind,
        "score": round(region.score, 2),
        "box": [round(v, 1) for v in (box.x0, box.y0, box.x1, box.y1)],
        "area": round(region.area, 1),
        "mean_uncertainty": round(region.mean_uncertainty, 4),
        "classes": [labels.get(c, str(c)) for c in region.classes],
        "id": region.uid,
    }


def _overall_coverage(coverage: dict[Any, float]) -> float | None:
    """Mean of the per-frame queue coverage (``None`` when no frame has one)."""
    if not coverage:
        return None
    return round(sum(coverage.values()) / len(coverage), 3)


def cmd_queue(args: argparse.Namespace) -> int:
    from roadmark.core.errors import RoadmarkError
    from roadmark.io.predictions import queue_coverage_by_frame, ranked_regions
    from roadmark.io.store import Project

    if args.top < 1:
        raise RoadmarkError("must be >= 1", field="--top")
    from roadmark.core.effort import estimate
    from roadmark.io.effort_samples import fitted_cost_model

    with Project.open(args.project, read_only=True) as project:
        regions = ranked_regions(project, top=args.top, model=args.model, include_resolved=args.all)
        names = {frame.id: frame.name for frame in project.frames()}
        labels = {label.id: label.name for label in project.schema}
        fit = fitted_cost_model(project, model=args.model)
        cost = fit.model
        effort = estimate(ranked_regions(project, model=args.model), model=cost)
        coverage = queue_coverage_by_frame(project, args.model)
    overall = _overall_coverage(coverage)
    if args.effort:
        data = effort.to_json()
        data["queue_coverage"] = overall
        data["cost_model"] = fit.to_json()
        for frame in data["frames"]:
            frame["frame"] = names.get(frame["frame_id"], str(frame["frame_id"]))
        if args.json:
            print(json.dumps(data, indent=1))
        else:
            print(f"{effort.regions_left} regions left, about {effort.minutes:.1f} minutes")
            fitted = ", ".join(f"{k} {v:.2f}" for k, (v, _) in fit.fitted.items())
            print(
                f"cost model: fitted to {fit.samples} frames ({fitted}; error "
                f"{fit.rmse_s:.1f} s a frame)"
                if fit.fitted
                else f"cost model: the defaults ({fit.reason})"
            )
            for frame in data["frames"]:
                print(f"{frame['minutes']:>8.1f} min  {frame['frame']}")
        return 0
    rows = [_region_json(region, names, labels) for region in regions]
    for row, region in zip(rows, regions, strict=True):
        assert region.frame_id is not None  # ranked regions are stored ones
        row["minutes"] = round(cost.region_seconds(region) / 60.0, 2)
        row["frame_minutes_left"] = round(effort.frame_minutes(region.frame_id), 2)
        share = None if region.model is None else coverage.get((region.frame_id, region.model))
        row["frame_coverage"] = None if share is None else round(share, 3)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    if not rows:
        print("no uncertain regions (run `roadmark prelabel` first)")
        return 0
    if overall is not None:
        print(
            f"the queue holds about {100 * overall:.0f}% of the errors the model expects "
            f"(mean over {len(coverage)} predicted frames)"
        )
    print(f"{'rank':>4}  {'score':>9}  {'kind':<9}  {'frame':<32}  box / classes")
    for rank, row in enumerate(rows, start=1):
        x0, y0, x1, y1 = row["box"]
        print(
            f"{rank:>4}  {row['score']:>9.1f}  {row['kind']:<9}  {row['frame'][:32]:<32}  "
            f"{x0:.0f},{y0:.0f}-{x1:.0f},{y1:.0f}  {', '.join(row['classes'])}"
        )
    return 0
