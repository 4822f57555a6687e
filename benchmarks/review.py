"""Guided review benchmark: following the uncertainty queue versus random order versus
labeling from scratch, and the audit's precision and recall on planted label errors.

Setup (CPU friendly; defaults run in a few minutes on two cores):

- frames of the synthetic demo drive (:func:`roadmark.demo.drive.render_frame`) with their
  exact ground truth, at a small resolution (``--width`` x ``--height``, 256 x 128 by
  default: the scene is the same as in the demo, only smaller);
- a small fully convolutional segmenter (a few tens of thousands of weights) trained
  briefly (``--steps`` Adam steps) on ``--train`` of the frames; a different set of
  ``--eval`` frames (every other frame of another part of the drive) is pre-labeled with
  it. Its probabilities become the stored prediction summary (label, confidence, margin,
  entropy at map stride 2) and the engine's own region finder
  (:func:`roadmark.analysis.uncertainty.frame_regions`) makes the review queue;
- a simulated annotator fixes what it visits to the exact ground truth (the pixels of the
  visited region's outline, or of a tile), paying the documented cost model
  (:mod:`roadmark.core.effort`, default numbers: 20 s per frame, 8 s to judge a place
  plus 2 s per outline vertex weighted by the model's uncertainty there):

  * ``queue``: accepts the model's labels, visits the uncertain regions by score, then
    goes on along the heat map: the rest of the frame tile by tile, most expected wrong
    pixels first (what the queue and the heat map show);
  * ``random``: accepts the model's labels, then checks the frame tile by tile in random
    order (no guidance: what checking a pre-labeled frame means without the tool);
  * ``shuffled_queue``: the queue's regions, then the tiles, in random order (what the
    ranking alone is worth);
  * ``scratch``: no model: draws every ground-truth object, vertex by vertex, bottom
    first.

  Tiles are ``--tile`` pixels square; checking one costs what a region of that size and
  the model's mean uncertainty there costs. Regions are found by the engine's own code
  (:func:`roadmark.analysis.uncertainty.frame_regions`) at its default threshold and smoothing
  unless ``--threshold`` / ``--sigma`` say otherwise, with the size cap scaled to the
  resolution (``--max-extent``); a visit fixes the pixels inside the region's outline
  (what accepting it takes), a tile its box; ``--sweep`` reports, for a grid of
  both, the share of the expected wrong pixels the queue holds and of the real wrong
  pixels inside the region outlines (how the defaults were chosen).

Printed JSON: per strategy, the mean pixel accuracy (pixels with a non-ignored ground
truth label) after each simulated minute, the mean minutes to reach 99 % (per frame,
then averaged), and the ratios the issue asks for; for the audit, relabeled and deleted
ground-truth objects planted on the evaluation frames, and the precision and recall of
the 20 top-ranked disagreement findings (a finding hits a planted error when it
overlaps the error's box by at least a third of the smaller box).

Run: ``.venv/bin/python benchmarks/review.py`` (``--help`` for the options). With
``--cityscapes DIR`` it runs the whole loop on real frames instead (import, train,
pre-label, review, audit with planted errors): see ``benchmarks/review_cityscapes.py``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from roadmark.analysis.label_audit import LABEL_ERRORS, AuditParams, compare_frame
from roadmark.analysis.uncertainty import (
    MAX_EXTENT,
    MIN_EXTENT,
    RegionParams,
    frame_regions,
    queue_coverage,
)
from roadmark.core.annotation import Box
from roadmark.core.effort import DEFAULT_COST_MODEL, CostModel
from roadmark.core.prediction import RegionKind, SegmentationMaps, UncertainRegion
from roadmark.core.raster import label_id_map, region_mask
from roadmark.core.schema import cityscapes_schema
from roadmark.demo.drive import render_frame

TARGET = 0.99
DEMO_WIDTH = 1024  # the demo drive's frame width, which the region size cap is made for
TOP = 20


# -- data and model ------------------------------------------------------------------------


def make_frames(indices, args):
    schema = cityscapes_schema()
    out = []
    for index in indices:
        frame = render_frame(
            index, frames=args.drive, width=args.width, height=args.height, seed=args.seed
        )
        truth = label_id_map(frame.objects, schema, args.height, args.width).astype(np.int64)
        out.append((frame, truth))
    return out


class TinySegmenter(nn.Module):
    """A small conv net: stride-2 stem, a dilated context path at 1/4 and 1/8 of the
    input, logits at 1/2 upsampled to the input size."""

    def __init__(self, classes: int, width: int = 16) -> None:
        super().__init__()

        def block(cin, cout, dilation=1, stride=1):
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
            )

        self.stem = nn.Sequential(block(5, width, stride=2), block(width, width))
        self.down = nn.Sequential(block(width, 2 * width, stride=2), block(2 * width, 2 * width, 2))
        self.context = nn.Sequential(
            block(2 * width, 2 * width, stride=2),
            block(2 * width, 2 * width, 2),
            block(2 * width, 2 * width, 4),
        )
        self.head = nn.Sequential(block(5 * width, width), nn.Conv2d(width, classes, 1))

    def forward(self, x):
        n, _, h, w = x.shape
        rows = torch.linspace(-1, 1, h).view(1, 1, h, 1).expand(n, 1, h, w)
        cols = torch.linspace(-1, 1, w).view(1, 1, 1, w).expand(n, 1, h, w)
        x = torch.cat([x, rows, cols], 1)  # position helps: sky on top, road below
        a = self.stem(x)
        b = self.down(a)
        c = self.context(b)
        size = a.shape[-2:]
        up_b = F.interpolate(b, size=size, mode="bilinear", align_corners=False)
        up_c = F.interpolate(c, size=size, mode="bilinear", align_corners=False)
        logits = self.head(torch.cat([a, up_b, up_c], 1))
        return F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)


def to_tensor(image):
    return torch.from_numpy(image).permute(2, 0, 1).float().div(255.0).sub(0.45).div(0.25)


def train(model, frames, class_of, steps, seed):
    torch.manual_seed(seed)
    images = torch.stack([to_tensor(f.image) for f, _ in frames])
    targets = torch.stack([torch.from_numpy(class_of[t]) for _, t in frames]).long()
    optimizer = torch.optim.AdamW(model.parameters(), lr=4e-3, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=4e-3, total_steps=steps)
    model.train()
    losses = []
    for _step in range(steps):
        pick = torch.randint(0, len(frames), (min(2, len(frames)),))
        x, y = images[pick], targets[pick]
        width = x.shape[-1]
        crop = min(width, x.shape[-2] * 1)  # square crops of the frame's height
        left = int(torch.randint(0, width - crop + 1, ()))
        x, y = x[..., left : left + crop], y[..., left : left + crop]
        if random.random() < 0.5:
            x, y = x.flip(-1), y.flip(-1)
        x = x * (0.8 + 0.4 * torch.rand(x.shape[0], 1, 1, 1)) + 0.2 * torch.randn(
            x.shape[0], 3, 1, 1
        )
        loss = F.cross_entropy(model(x), y, ignore_index=255)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(float(loss.detach()))
    model.eval()
    return losses


def predict_maps(model, image, schema_ids, stride=2) -> SegmentationMaps:
    """The stored prediction summary (as the engine keeps it) from the model's softmax."""
    with torch.inference_mode():
        probs = model(to_tensor(image)[None]).softmax(1)
        probs = F.avg_pool2d(probs, stride, ceil_mode=True)[0]
    top2 = probs.topk(2, dim=0)
    label = schema_ids[top2.indices[0].numpy()]
    confidence = top2.values[0].numpy()
    margin = (top2.values[0] - top2.values[1]).numpy()
    entropy = -(probs * probs.clamp_min(1e-8).log()).sum(0).numpy() / math.log(probs.shape[0])
    height, width = image.shape[:2]

    def q(a):
        return np.clip(np.rint(a * 255), 0, 255).astype(np.uint8)

    return SegmentationMaps(
        label.astype(np.uint8), q(confidence), q(margin), q(entropy), width, height
    )


def upsample(maps: SegmentationMaps) -> np.ndarray:
    sx, sy = maps.scale
    full = np.repeat(np.repeat(maps.label_ids, round(sy), 0), round(sx), 1)
    return full[: maps.frame_height, : maps.frame_width].astype(np.int64)


# -- simulated annotators ------------------------------------------------------------------


def accuracy(current, truth, valid):
    return float((current[valid] == truth[valid]).mean())


def tiles(width, height, size, maps):
    """The frame cut into square tiles, each scored like a region: its mean uncertainty and
    its expected number of wrong pixels (the sum of ``1 - confidence``, the heat map)."""
    uncertainty = maps.uncertainty()
    wrong = maps.wrong_probability()
    sx, sy = maps.scale
    out = []
    for y0 in range(0, height, size):
        for x0 in range(0, width, size):
            box = Box(x0, y0, min(x0 + size, width), min(y0 + size, height))
            rows = slice(int(box.y0 / sy), math.ceil(box.y1 / sy))
            cols = slice(int(box.x0 / sx), math.ceil(box.x1 / sx))
            out.append(
                UncertainRegion(
                    RegionKind.PIXELS,
                    box,
                    box.area,
                    float(uncertainty[rows, cols].mean()),
                    (),
                    float(wrong[rows, cols].sum() * sx * sy),
                )
            )
    return out


def captured(wrong, regions, *, outline=False):
    """Share of the model's wrong pixels inside the regions' boxes (or outlines)."""
    inside = np.zeros_like(wrong)
    height, width = wrong.shape
    for region in regions:
        if outline and region.outline is not None:
            inside |= region_mask(region.outline, height, width)
            continue
        b = region.box
        inside[math.floor(b.y0) : math.ceil(b.y1), math.floor(b.x0) : math.ceil(b.x1)] = True
    total = int(wrong.sum())
    return float((wrong & inside).sum() / total) if total else 1.0


def fix(current, truth, region: UncertainRegion):
    """Fix what a visit shows: the region's outline (what accept takes), a tile's box."""
    if region.outline is not None:
        mask = region_mask(region.outline, *truth.shape)
        current[mask] = truth[mask]
        return
    box = region.box
    y0, y1 = math.floor(box.y0), math.ceil(box.y1)
    x0, x1 = math.floor(box.x0), math.ceil(box.x1)
    current[y0:y1, x0:x1] = truth[y0:y1, x0:x1]


def walk(start, truth, valid, visits, cost: CostModel):
    """``[(seconds, accuracy), ...]`` after accepting, then after each visit."""
    current = start.copy()
    t = cost.frame_overhead_s
    events = [(t, accuracy(current, truth, valid))]
    for region in visits:
        t += cost.region_seconds(region)
        fix(current, truth, region)
        events.append((t, accuracy(current, truth, valid)))
    return events


def from_scratch(objects, truth, valid, schema, cost: CostModel):
    height, width = truth.shape
    current = np.zeros_like(truth)
    t = cost.frame_overhead_s
    events = [(0.0, accuracy(current, truth, valid))]
    for obj in objects:
        label = schema.by_id.get(obj.label_id)
        if label is None or not label.drawable:
            continue
        t += cost.object_seconds(obj)
        current[region_mask(obj.region, height, width)] = obj.label_id
        events.append((t, accuracy(current, truth, valid)))
    return events


def at_minutes(events, minutes):
    out = []
    for minute in range(minutes + 1):
        seconds = 60.0 * minute
        reached = [acc for t, acc in events if t <= seconds]
        out.append(reached[-1] if reached else 0.0)
    return out


def minutes_to(events, target=TARGET):
    for t, acc in events:
        if acc >= target:
            return t / 60.0
    return None


# -- audit ---------------------------------------------------------------------------------


def plant_errors(objects, truth, rng, schema, relabel_to, per_frame=2, min_changed=100):
    """Relabel or delete objects (alternately) until ``per_frame`` errors are planted that
    change at least ``min_changed`` pixels of the label map (deleting an object in front of
    one with the same label changes nothing and is no error). Returns the new objects and
    the planted errors as ``(kind, box of the changed pixels)``."""
    height, width = truth.shape
    candidates = [i for i, obj in enumerate(objects) if obj.label_id in relabel_to]
    rng.shuffle(candidates)
    out = list(objects)
    planted = []
    for i in candidates:
        if len(planted) == per_frame:
            break
        kind = "relabel" if len(planted) % 2 == 0 else "delete"
        obj = out[i]
        if kind == "relabel":
            changed_obj = replace(obj, label_id=relabel_to[obj.label_id])
        else:
            changed_obj = replace(obj, deleted=True)
        trial = [*out[:i], changed_obj, *out[i + 1 :]]
        live = [o for o in trial if not o.deleted]
        changed = label_id_map(live, schema, height, width).astype(np.int64) != truth
        if changed.sum() < min_changed:
            continue
        rows, cols = np.nonzero(changed)
        box = Box(
            float(cols.min()), float(rows.min()), float(cols.max() + 1), float(rows.max() + 1)
        )
        out = trial
        planted.append((kind, box))
    return [o for o in out if not o.deleted], planted


def overlap(a: Box, b: Box) -> float:
    ix = max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0))
    iy = max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))
    smaller = min(a.area, b.area)
    return ix * iy / smaller if smaller > 0 else 0.0


# -- main ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--drive", type=int, default=60, help="frames in the synthetic drive")
    parser.add_argument("--train", type=int, default=6, help="frames the model trains on")
    parser.add_argument("--eval", type=int, default=8, help="frames pre-labeled and reviewed")
    parser.add_argument("--steps", type=int, default=300, help="training steps")
    parser.add_argument("--tile", type=int, default=32, help="tile size of a frame check")
    parser.add_argument("--repeats", type=int, default=5, help="random orders per frame")
    parser.add_argument(
        "--threshold",
        type=float,
        default=RegionParams().threshold,
        help=f"smoothed uncertainty that makes a region (the engine's default, "
        f"{RegionParams().threshold})",
    )
    parser.add_argument(
        "--sigma",
        type=float,
        default=RegionParams().sigma,
        help=f"Gaussian smoothing of the uncertainty (engine default {RegionParams().sigma})",
    )
    parser.add_argument(
        "--max-extent",
        type=float,
        help="largest region side in frame pixels (default: the engine's cap scaled from "
        "the demo's 1024-pixel width to --width, so a region covers the same share of the "
        "frame as in the demo)",
    )
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="also report, per threshold and smoothing, the share of the expected and of the "
        "real wrong pixels the queue holds (how the engine's defaults were chosen)",
    )
    parser.add_argument("--seed", type=int, default=0)
    real = parser.add_argument_group(
        "real frames",
        "with --cityscapes DIR: the whole loop on a Cityscapes-layout folder "
        "(see benchmarks/review_cityscapes.py)",
    )
    real.add_argument("--cityscapes", metavar="DIR", help="gtFine polygons + leftImg8bit folder")
    real.add_argument("--cs-train", type=int, default=7, help="frames to train on (7)")
    real.add_argument("--cs-eval", type=int, default=3, help="frames to pre-label and review (3)")
    real.add_argument("--cs-epochs", type=int, default=20, help="training epochs (20)")
    real.add_argument("--cs-samples", type=int, default=16, help="samples per epoch at least")
    real.add_argument("--cs-input", metavar="WxH", help="model input size (default: frame size)")
    real.add_argument(
        "--cs-min-changed", type=int, default=100, help="pixels a planted error changes"
    )
    real.add_argument("--backbone-weights", metavar="FILE", help="local ImageNet backbone")
    real.add_argument("--tta", choices=("none", "flip"), default="none")
    real.add_argument("--device", default="auto")
    args = parser.parse_args()
    if args.cityscapes:
        from review_cityscapes import run_cityscapes

        if args.cs_train < 2 or args.cs_eval < 1:
            parser.error("--cs-train must be >= 2 and --cs-eval >= 1")
        print(json.dumps(run_cityscapes(args, sys.modules[__name__]), indent=1))
        return
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    schema = cityscapes_schema()
    cost = DEFAULT_COST_MODEL
    started = time.perf_counter()

    train_frames = make_frames(range(0, 3 * args.train, 3), args)
    eval_frames = make_frames(
        range(3 * args.train + 1, 3 * args.train + 1 + 2 * args.eval, 2), args
    )
    present = sorted({int(v) for _, t in train_frames for v in np.unique(t)})
    valid_ids = [i for i in present if i in schema.by_id and not schema.by_id[i].ignore_in_eval]
    class_of = np.full(max(schema.by_id) + 1, 255, np.int64)
    for k, label_id in enumerate(valid_ids):
        class_of[label_id] = k
    schema_ids = np.array(valid_ids, dtype=np.int64)
    model = TinySegmenter(len(valid_ids))
    t0 = time.perf_counter()
    losses = train(model, train_frames, class_of, args.steps, args.seed)
    train_seconds = time.perf_counter() - t0

    ignored = {label.id for label in schema.labels if label.ignore_in_eval or not label.drawable}
    names = ("queue", "random", "shuffled_queue", "scratch")
    curves: dict[str, list[list[float]]] = {name: [] for name in names}
    max_extent = args.max_extent or max(MIN_EXTENT, MAX_EXTENT * args.width / DEMO_WIDTH)
    params = RegionParams(threshold=args.threshold, sigma=args.sigma, max_extent=max_extent)
    capture: dict[str, list[float]] = {"used": [], "expected_held": []}
    swept: list[tuple] = []
    reach: dict[str, list[float | None]] = {k: [] for k in curves}
    model_accuracy, queue_sizes = [], []
    largest_side = 0.0
    all_events = []
    findings, planted_all = [], []
    relabel_to = {26: 24, 24: 26, 11: 21, 21: 11, 20: 17, 17: 20, 13: 11}
    rng = random.Random(args.seed)
    plant_rng = random.Random(args.seed + 1)  # planting does not depend on the tile draws
    for number, (frame, truth) in enumerate(eval_frames):
        valid = (truth != 0) & ~np.isin(truth, sorted(ignored))
        maps = predict_maps(model, frame.image, schema_ids)
        start = upsample(maps)
        model_accuracy.append(accuracy(start, truth, valid))
        regions = frame_regions(maps, (), params)
        queue_sizes.append(len(regions))
        largest_side = max([largest_side] + [max(r.box.width, r.box.height) for r in regions])
        wrong = (start != truth) & valid
        capture["used"].append(captured(wrong, regions))
        capture["expected_held"].append(queue_coverage(regions, maps.expected_errors()))
        grid = tiles(args.width, args.height, args.tile, maps)
        by_heat = sorted(grid, key=lambda tile: -tile.score)
        if args.sweep:
            swept.append((maps, wrong, start, truth, valid, by_heat))
        per_frame: dict[str, list] = {}
        per_frame["queue"] = [walk(start, truth, valid, regions + by_heat, cost)]
        per_frame["random"] = [
            walk(start, truth, valid, rng.sample(grid, len(grid)), cost)
            for _ in range(args.repeats)
        ]
        per_frame["shuffled_queue"] = [
            walk(
                start,
                truth,
                valid,
                rng.sample(regions, len(regions)) + rng.sample(grid, len(grid)),
                cost,
            )
            for _ in range(args.repeats)
        ]
        per_frame["scratch"] = [from_scratch(frame.objects, truth, valid, schema, cost)]
        all_events.append(per_frame)
        for name, runs in per_frame.items():
            for events in runs:
                reach[name].append(minutes_to(events))

        # Audit: labels with planted errors, compared with the model's prediction.
        labels, planted = plant_errors(
            [replace(o, uid=1000 * number + i) for i, o in enumerate(frame.objects)],
            truth,
            plant_rng,
            schema,
            relabel_to,
        )
        for kind, box in planted:
            planted_all.append((number, kind, box))
        for finding in compare_frame(number, labels, maps, schema, AuditParams()):
            if finding.kind in LABEL_ERRORS:
                findings.append(finding)

    horizon = max(
        math.ceil(
            max(t for per in all_events for runs in per.values() for ev in runs for t, _ in ev) / 60
        ),
        1,
    )
    for name in curves:
        per_frame_curves = []
        for per in all_events:
            runs = [at_minutes(events, horizon) for events in per[name]]
            per_frame_curves.append(np.mean(runs, axis=0))
        curves[name] = np.mean(per_frame_curves, axis=0).round(4).tolist()

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

    def mean_reach(name):
        values = [v for v in reach[name] if v is not None]
        return round(float(np.mean(values)), 2) if values else None

    minutes = {name: mean_reach(name) for name in curves}
    result = {
        "setup": {
            "resolution": [args.width, args.height],
            "train_frames": args.train,
            "eval_frames": args.eval,
            "training_steps": args.steps,
            "training_seconds": round(train_seconds, 1),
            "final_loss": round(float(np.mean(losses[-20:])), 4),
            "model_pixel_accuracy": round(float(np.mean(model_accuracy)), 4),
            "region_threshold": args.threshold,
            "region_sigma": args.sigma,
            "region_max_extent": max_extent,
            "largest_region_side": round(largest_side, 1),
            "queue_regions_per_frame": round(float(np.mean(queue_sizes)), 1),
            "wrong_pixels_inside_regions": round(float(np.mean(capture["used"])), 3),
            "expected_wrong_pixels_held_by_queue": round(
                float(np.mean(capture["expected_held"])), 3
            ),
            "tile": args.tile,
            "cost_model": cost.__dict__,
            "device": "cpu",
        },
        "pixel_accuracy_by_minute": curves,
        "minutes_to_99": minutes,
        "frames_reaching_99": {
            name: f"{sum(v is not None for v in reach[name])}/{len(reach[name])}" for name in curves
        },
        "queue_vs_random": round(minutes["queue"] / minutes["random"], 3)
        if minutes["queue"] and minutes["random"]
        else None,
        "queue_vs_scratch": round(minutes["queue"] / minutes["scratch"], 3)
        if minutes["queue"] and minutes["scratch"]
        else None,
        "queue_vs_shuffled_queue": round(minutes["queue"] / minutes["shuffled_queue"], 3)
        if minutes["queue"] and minutes["shuffled_queue"]
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
        "seconds": round(time.perf_counter() - started, 1),
    }
    if args.sweep:
        result["sweep"] = sweep(swept, max_extent, cost)
    print(json.dumps(result, indent=1))


def sweep(
    frames,
    max_extent,
    cost,
    thresholds=(0.1, 0.2, 0.3, 0.5),
    sigmas=(1.0, 1.5),
):
    """Per (threshold, sigma, size cap or none): regions per frame, the share of the
    expected wrong pixels the queue holds, the share of the real wrong pixels inside the
    region outlines, and the queue's mean minutes to 99 % (the same walk as ``queue``)."""
    rows = []
    for extent in (max_extent, None):
        for threshold in thresholds:
            for sigma in sigmas:
                params = RegionParams(threshold=threshold, sigma=sigma, max_extent=extent)
                held, real, count, reach = [], [], [], []
                for maps, wrong, start, truth, valid, by_heat in frames:
                    regions = frame_regions(maps, (), params)
                    count.append(len(regions))
                    held.append(queue_coverage(regions, maps.expected_errors()))
                    real.append(captured(wrong, regions, outline=True))
                    reach.append(minutes_to(walk(start, truth, valid, regions + by_heat, cost)))
                reached = [r for r in reach if r is not None]
                rows.append(
                    {
                        "threshold": threshold,
                        "sigma": sigma,
                        "max_extent": extent,
                        "regions_per_frame": round(float(np.mean(count)), 1),
                        "expected_wrong_held": round(float(np.mean(held)), 3),
                        "real_wrong_inside_outlines": round(float(np.mean(real)), 3),
                        "queue_minutes_to_99": round(float(np.mean(reached)), 2)
                        if reached
                        else None,
                    }
                )
    return rows


if __name__ == "__main__":
    main()
