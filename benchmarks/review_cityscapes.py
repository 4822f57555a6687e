"""The guided review loop on a Cityscapes-layout folder (``benchmarks/review.py
--cityscapes DIR``).

``DIR`` holds ``gtFine/<split>/<city>/*_gtFine_polygons.json`` and the matching
``leftImg8bit/<split>/<city>/*_leftImg8bit.png`` (real Cityscapes, or any export in that
layout). The run, all through roadmark's own code:

1. **import** the folder into a new project (:func:`roadmark.io.formats.jobs.import_dataset`);
   the frames are taken in the project's sequence order;
2. **train** an LRASPP-MobileNetV3 (:func:`roadmark.models.training.train`, as
   ``roadmark train`` does) on the first ``--cs-train`` frames, the last fifth of them held
   out for validation and for fitting the temperature (calibration); optionally from a
   local ImageNet backbone (``--backbone-weights``);
3. **pre-label** the next ``--cs-eval`` frames (:func:`roadmark.models.runner.prelabel`,
   with the engine's default region parameters, ``--tta flip`` if asked), which stores the
   maps and the review queue;
4. per evaluation frame, against its real labels (rasterized polygons; pixels of
   ``ignoreInEval`` labels left out):

   * pixel accuracy of the model, the **error AUROC** of the stored uncertainty (how well
     ``1 - margin`` separates wrong from right pixels), the share of the wrong pixels in
     the 10 % most uncertain area **relative to a perfect ranking** (which would put
     ``min(1, 10 % of the pixels / wrong pixels)`` there), and the **expected calibration
     error** of the stored confidence (15 bins);
   * the queue: regions, the largest region side against the documented cap, the share
     of the expected wrong pixels it holds;
   * the simulated review of ``review.py`` (queue, random tile order, from scratch;
     minutes to 99 % pixel accuracy, same cost model);

5. **audit**: into each evaluation frame's real labels, two errors are planted: the
   largest car (by visible pixels) relabeled as building (even frames) or vegetation
   (odd frames), and the largest other car or person deleted (each must change at least
   ``--cs-min-changed`` pixels of the label map). The audit
   (:func:`roadmark.analysis.label_audit.compare_frame`) compares the planted labels with the
   stored prediction; the top 20 likely label errors are scored for precision and
   recall (a finding hits a planted error when it overlaps the error's changed pixels'
   box by a third of the smaller box).

The targets it reports against: error AUROC >= 0.85, top-10 % share >= 75 % of perfect,
ECE <= 0.05, no region larger than the cap, audit recall >= 0.8 in the top 20.
"""

from __future__ import annotations

import math
import random
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from roadmark.analysis.label_audit import LABEL_ERRORS, compare_frame
from roadmark.analysis.uncertainty import RegionParams, queue_coverage, top_area_error_capture
from roadmark.core.annotation import Box
from roadmark.core.effort import DEFAULT_COST_MODEL
from roadmark.core.raster import label_id_map
from roadmark.io.formats.jobs import import_dataset
from roadmark.io.predictions import read_prediction
from roadmark.io.store import Project

TOP = 20
ECE_BINS = 15
CAR, PERSON, BUILDING, VEGETATION = "car", "person", "building", "vegetation"


def full_res(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """A map-resolution array repeated up to the frame size."""
    sy, sx = math.ceil(height / array.shape[0]), math.ceil(width / array.shape[1])
    return np.repeat(np.repeat(array, sy, 0), sx, 1)[:height, :width]


def error_auroc(uncertainty: np.ndarray, wrong: np.ndarray) -> float | None:
    """Area under the ROC curve of ``uncertainty`` (uint8 levels) telling wrong pixels
    from right ones (ties count half); ``None`` when either class is empty."""
    levels = uncertainty.astype(np.int64).ravel()
    w = wrong.ravel()
    positives = np.bincount(levels[w], minlength=256).astype(np.float64)
    negatives = np.bincount(levels[~w], minlength=256).astype(np.float64)
    p, n = positives.sum(), negatives.sum()
    if p == 0 or n == 0:
        return None
    below = np.cumsum(negatives) - negatives  # negatives strictly less uncertain
    return float((positives * (below + 0.5 * negatives)).sum() / (p * n))


def calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS):
    """Expected calibration error of uint8 confidences against correctness."""
    c = confidence.ravel().astype(np.float64) / 255.0
    right = correct.ravel().astype(np.float64)
    if c.size == 0:
        return None
    index = np.minimum((c * bins).astype(np.int64), bins - 1)
    count = np.bincount(index, minlength=bins)
    gap = np.bincount(index, weights=c, minlength=bins) - np.bincount(
        index, weights=right, minlength=bins
    )
    return float(np.abs(gap).sum() / count.sum())


def plant_real_errors(objects, truth, schema, number, min_changed):
    """The largest car relabeled (building / vegetation by frame parity) and the largest
    remaining car or person deleted; returns the planted labels and ``(kind, box)``s."""
    height, width = truth.shape
    ids = {name: schema.by_name[name].id for name in (CAR, PERSON, BUILDING, VEGETATION)}

    def visible(obj):
        others = [o for o in objects if o is not obj and not o.deleted]
        return int((label_id_map(others, schema, height, width) != truth).sum())

    cars = sorted((o for o in objects if o.label_id == ids[CAR]), key=visible, reverse=True)
    people = [o for o in objects if o.label_id in (ids[CAR], ids[PERSON])]
    out = list(objects)
    planted = []

    def attempt(obj, changed_obj, kind):
        index = out.index(obj)
        trial = [*out[:index], changed_obj, *out[index + 1 :]]
        live = [o for o in trial if not o.deleted]
        changed = label_id_map(live, schema, height, width).astype(np.int64) != truth
        if changed.sum() < min_changed:
            return False
        rows, cols = np.nonzero(changed)
        box = Box(
            float(cols.min()), float(rows.min()), float(cols.max() + 1), float(rows.max() + 1)
        )
        out[index] = changed_obj
        planted.append((kind, box))
        return True

    target = ids[BUILDING] if number % 2 == 0 else ids[VEGETATION]
    relabeled = None
    for car in cars:
        if attempt(car, replace(car, label_id=target), "relabel"):
            relabeled = car
            break
    rest = sorted((o for o in people if o is not relabeled), key=visible, reverse=True)
    for obj in rest:
        if attempt(obj, replace(obj, deleted=True), "delete"):
            break
    return [o for o in out if not o.deleted], planted


def overlap(a: Box, b: Box) -> float:
    ix = max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0))
    iy = max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))
    smaller = min(a.area, b.area)
    return ix * iy / smaller if smaller > 0 else 0.0


def run_cityscapes(args, sim) -> dict:
    """The whole loop on ``args.cityscapes`` (see the module doc); ``sim`` is the
    ``review`` benchmark module (its simulated annotators)."""
    from roadmark.models.files import load_model
    from roadmark.models.runner import PrelabelOptions, prelabel
    from roadmark.models.training import TrainOptions, train

    started = time.perf_counter()
    cost = DEFAULT_COST_MODEL
    params = RegionParams()
    with tempfile.TemporaryDirectory(prefix="roadmark-review-") as tmp:
        folder = Path(tmp)
        project = Project.create(folder / "cityscapes.roadmark", user="benchmark")
        try:
            report = import_dataset(project, "cityscapes", args.cityscapes)
            frames = project.frames()
            need = args.cs_train + args.cs_eval
            if len(frames) < need:
                raise SystemExit(
                    f"{args.cityscapes}: {len(frames)} frames, --cs-train + --cs-eval need {need}"
                )
            train_frames = frames[: args.cs_train]
            eval_frames = frames[args.cs_train : need]
            held = max(1, round(0.2 * len(train_frames)))
            model_path = folder / "model.roadmodel"
            size = None
            if args.cs_input:
                width, _, height = args.cs_input.lower().partition("x")
                size = (int(height), int(width))
            options = TrainOptions(
                epochs=args.cs_epochs,
                device=args.device,
                batch_size=2,
                input_size=size,
                train_frame_ids=[f.id for f in train_frames[:-held]],
                val_frame_ids=[f.id for f in train_frames[-held:]],
                backbone_weights=Path(args.backbone_weights) if args.backbone_weights else None,
                min_epoch_samples=args.cs_samples,
                seed=args.seed,
            )
            t0 = time.perf_counter()
            trained = train(project, model_path, options)
            train_seconds = time.perf_counter() - t0
            model = load_model(model_path)
            prelabel(
                project,
                model,
                PrelabelOptions(
                    device=args.device,
                    batch_size=2,
                    workers=0,
                    frame_ids=[f.id for f in eval_frames],
                    tta_flip=args.tta == "flip",
                    params=params,
                ),
            )
            result = _evaluate(project, eval_frames, params, cost, args, sim)
        finally:
            project.close()
    result["setup"] = {
        "source": str(args.cityscapes),
        "frames_imported": report.frames,
        "train_frames": len(train_frames) - held,
        "held_out_for_validation_and_calibration": held,
        "eval_frames": len(eval_frames),
        "frame_size": [eval_frames[0].width, eval_frames[0].height],
        "model_input": args.cs_input or "frame size",
        "epochs": args.cs_epochs,
        "backbone_weights": args.backbone_weights,
        "tta": args.tta,
        "training_seconds": round(train_seconds, 1),
        "validation": {k: trained.metrics.get(k) for k in ("miou", "pixel_accuracy")},
        "calibration": trained.calibration,
        "region_params": {
            "threshold": params.threshold,
            "sigma": params.sigma,
            "max_extent": params.max_extent,
        },
        "cost_model": cost.__dict__,
        "device": args.device,
    }
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def _evaluate(project, eval_frames, params, cost, args, sim) -> dict:
    schema = project.schema
    ignored = sorted(
        label.id for label in schema.labels if label.ignore_in_eval or not label.drawable
    )
    rng = random.Random(args.seed)
    figures: dict[str, list] = {
        k: [] for k in ("accuracy", "auroc", "top10_of_perfect", "top10", "ece", "held")
    }
    reach: dict[str, list] = {"queue": [], "random": [], "scratch": []}
    largest, regions_per_frame = 0.0, []
    findings, planted_all = [], []
    for number, frame in enumerate(eval_frames):
        objects = project.objects(frame.id).live()
        truth = label_id_map(objects, schema, frame.height, frame.width).astype(np.int64)
        valid = (truth != 0) & ~np.isin(truth, ignored)
        prediction = read_prediction(project, frame.id)
        maps = prediction.maps
        start = full_res(maps.label_ids, frame.height, frame.width).astype(np.int64)
        wrong = (start != truth) & valid
        margin = full_res(maps.margin, frame.height, frame.width)
        confidence = full_res(maps.confidence, frame.height, frame.width)
        uncertainty = 255 - margin
        figures["accuracy"].append(float((~wrong[valid]).mean()))
        figures["auroc"].append(error_auroc(uncertainty[valid], wrong[valid]))
        top = top_area_error_capture(uncertainty[valid], wrong[valid], 0.1)
        wrong_count = int(wrong[valid].sum())
        perfect = min(1.0, 0.1 * int(valid.sum()) / wrong_count) if wrong_count else 1.0
        figures["top10"].append(top)
        figures["top10_of_perfect"].append(top / perfect if wrong_count else None)
        figures["ece"].append(calibration_error(confidence[valid], ~wrong[valid]))
        regions = [r for r in prediction.regions]
        figures["held"].append(queue_coverage(regions, prediction.expected_errors))
        regions_per_frame.append(len(regions))
        largest = max([largest] + [max(r.box.width, r.box.height) for r in regions])
        tile = max(args.tile, round(frame.width / 32))
        grid = sim.tiles(frame.width, frame.height, tile, maps)
        by_heat = sorted(grid, key=lambda t: -t.score)
        reach["queue"].append(
            sim.minutes_to(sim.walk(start, truth, valid, regions + by_heat, cost))
        )
        for _ in range(args.repeats):
            order = rng.sample(grid, len(grid))
            reach["random"].append(sim.minutes_to(sim.walk(start, truth, valid, order, cost)))
        scratch = sim.from_scratch(objects, truth, valid, schema, cost)
        reach["scratch"].append(sim.minutes_to(scratch))

        labels, planted = plant_real_errors(objects, truth, schema, number, args.cs_min_changed)
        planted_all += [(frame.id, kind, box) for kind, box in planted]
        for finding in compare_frame(frame.id, labels, maps, schema):
            if finding.kind in LABEL_ERRORS:
                findings.append(finding)

    findings.sort(key=lambda f: -f.score)
    top = findings[:TOP]
    hits = [
        any(f.frame_id == n and overlap(f.box, box) >= 1 / 3 for n, _, box in planted_all)
        for f in top
    ]
    found = [
        any(f.frame_id == n and overlap(f.box, box) >= 1 / 3 for f in top)
        for n, _, box in planted_all
    ]

    def mean(values):
        values = [v for v in values if v is not None]
        return round(float(np.mean(values)), 4) if values else None

    minutes = {name: mean(values) for name, values in reach.items()}
    cap = params.max_extent
    out = {
        "model_pixel_accuracy": mean(figures["accuracy"]),
        "error_auroc": mean(figures["auroc"]),
        "top10_area_share_of_errors": mean(figures["top10"]),
        "top10_share_of_perfect": mean(figures["top10_of_perfect"]),
        "ece": mean(figures["ece"]),
        "queue": {
            "regions_per_frame": mean(regions_per_frame),
            "largest_region_side": round(largest, 1),
            "size_cap": cap,
            "expected_wrong_pixels_held": mean(figures["held"]),
        },
        "minutes_to_99": minutes,
        "frames_reaching_99": {
            name: f"{sum(v is not None for v in values)}/{len(values)}"
            for name, values in reach.items()
        },
        "queue_vs_random": round(minutes["queue"] / minutes["random"], 3)
        if minutes["queue"] and minutes["random"]
        else None,
        "audit": {
            "planted_errors": len(planted_all),
            "planted_kinds": {
                k: sum(1 for _, kind, _ in planted_all if kind == k) for k in ("relabel", "delete")
            },
            "findings": len(findings),
            "top": len(top),
            f"precision_top{TOP}": round(sum(hits) / max(len(top), 1), 3),
            f"recall_top{TOP}": round(sum(found) / max(len(planted_all), 1), 3),
        },
    }
    out["targets"] = {
        "error_auroc>=0.85": _met(out["error_auroc"], 0.85, above=True),
        "top10_share_of_perfect>=0.75": _met(out["top10_share_of_perfect"], 0.75, above=True),
        "ece<=0.05": _met(out["ece"], 0.05, above=False),
        "no_region_over_cap": cap is None or largest <= cap + 1e-6,
        "audit_recall_top20>=0.8": _met(out["audit"][f"recall_top{TOP}"], 0.8, above=True),
    }
    return out


def _met(value, bound, *, above):
    if value is None:
        return None
    return value >= bound if above else value <= bound
