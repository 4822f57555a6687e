"""Sequence tools on the synthetic drive: interpolation, flow propagation, GrabCut; as JSON.

    python benchmarks/sequence.py [--frames 41] [--width 2048] [--height 1024] [--detail 1]

(a) Keyframe interpolation: for every tracked object with an instance id (cars, people,
    ...), its ground-truth box (the bounds of its region) is kept on every Kth frame of its
    life and on its last frame; the frames between are interpolated and compared with the
    ground-truth boxes (mean IoU over the interpolated frames), for K = 5, 10, 20.
(b) Flow propagation: the full ground-truth segmentation of frame t is propagated to
    t+1, then that result to t+2, ... up to t+5 (as an annotator pressing "propagate" five
    times), for several start frames. Pixel accuracy of the label-id map against the ground
    truth of each frame, next to plain copying of frame t's objects. Also the share of the
    wrongly propagated pixels of t+1 that the unreliable-flow areas cover.
(c) GrabCut from each instance's ground-truth box enlarged by 10% (width and height, about
    its center); IoU against the instance's visible ground-truth mask (its pixels not
    painted over by objects above it); also for the instances at least 80% visible (the box
    of a mostly hidden object is mostly its occluder).

Timings (seconds, median over the runs) at the requested size: flow both ways with the
consistency check, propagating one frame's objects, GrabCut per object, interpolating one
track over 40 frames, simplifying a warped region.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

from roadmark.annotators.sequence.interpolation import interpolate_track
from roadmark.annotators.sequence.propagation import estimate_flow, propagate_objects
from roadmark.annotators.simplify import simplify_region, vertex_count
from roadmark.annotators.tools.grabcut import grabcut
from roadmark.core.annotation import AnnotationObject, Box
from roadmark.core.raster import label_id_map, mask_to_region, region_mask, region_mask_in_box
from roadmark.core.schema import cityscapes_schema
from roadmark.demo.drive import SyntheticFrame, render_frame

KS = (5, 10, 20)
STEPS = 5


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def _tracked_boxes(frames: list[SyntheticFrame]) -> dict[int, dict[int, AnnotationObject]]:
    tracks: dict[int, dict[int, AnnotationObject]] = defaultdict(dict)
    for frame in frames:
        for obj in frame.objects:
            if obj.track_id is not None and obj.instance_id is not None:
                box = obj.bounds
                tracks[obj.track_id][frame.index] = AnnotationObject(
                    obj.label_id, box, obj.provenance, track_id=obj.track_id
                )
    return tracks


def bench_interpolation(frames: list[SyntheticFrame]) -> dict[str, Any]:
    tracks = _tracked_boxes(frames)
    out: dict[str, Any] = {"tracks": len(tracks)}
    per_track_s: list[float] = []
    for k in KS:
        ious: list[float] = []
        for boxes in tracks.values():
            present = sorted(boxes)
            first, last = present[0], present[-1]
            keys = {i for i in present if (i - first) % k == 0} | {last}
            keyframes = {i: boxes[i] for i in keys}
            made, seconds = _timed(
                lambda kf=keyframes, span=range(first, last + 1): interpolate_track(
                    kf, span, user="bench"
                )
            )
            per_track_s.append(seconds)
            for index, obj in made.items():
                truth = boxes.get(index)
                if truth is not None and isinstance(obj.geometry, Box):
                    assert isinstance(truth.geometry, Box)
                    ious.append(obj.geometry.iou(truth.geometry))
        out[f"K={k}"] = {
            "mean_iou": round(float(np.mean(ious)), 4) if ious else None,
            "interpolated_boxes": len(ious),
        }
    out["seconds_per_track"] = round(statistics.median(per_track_s), 6)
    return out


def _accuracy(objects: list[AnnotationObject], truth: np.ndarray, schema: Any) -> float:
    h, w = truth.shape
    return float((label_id_map(objects, schema, h, w) == truth).mean())


def bench_propagation(
    frames: list[SyntheticFrame], starts: list[int], method: str
) -> dict[str, Any]:
    schema = cityscapes_schema()
    h, w = frames[0].image.shape[:2]
    truths = {f.index: label_id_map(f.objects, schema, h, w) for f in frames}
    flow_s, propagate_s, simplify_s = [], [], []
    flow_acc: dict[int, list[float]] = defaultdict(list)
    copy_acc: dict[int, list[float]] = defaultdict(list)
    recall: list[float] = []
    unreliable_share: list[float] = []
    motions: dict[str, int] = defaultdict(int)
    for start in starts:
        current = frames[start].objects
        for step in range(1, STEPS + 1):
            a, b = frames[start + step - 1], frames[start + step]
            flow, seconds = _timed(lambda a=a, b=b: estimate_flow(a.image, b.image, method=method))
            flow_s.append(seconds)
            result, seconds = _timed(
                lambda c=current, f=flow: propagate_objects(c, f, user="bench")
            )
            propagate_s.append(seconds)
            for motion in result.motions:
                motions[motion] += 1
            current = result.objects
            truth = truths[b.index]
            predicted = label_id_map(current, schema, h, w)
            flow_acc[step].append(float((predicted == truth).mean()))
            copy_acc[step].append(_accuracy(frames[start].objects, truth, schema))
            if step == 1:
                wrong = predicted != truth
                covered = np.zeros_like(wrong)
                for area in result.unreliable:
                    covered |= region_mask(area.region, h, w)
                recall.append(float((wrong & covered).sum() / max(1, wrong.sum())))
                unreliable_share.append(float(covered.mean()))
                warped = [
                    o for o, m in zip(result.objects, result.motions, strict=True) if m == "warp"
                ]
                if warped:
                    big = max(warped, key=lambda o: o.region.area)
                    mask, row0, col0 = region_mask_in_box(big.region, h, w)
                    exact = mask_to_region(mask, offset=(col0, row0))
                    if exact is not None:
                        _, seconds = _timed(lambda r=exact: simplify_region(r, 0.5))
                        simplify_s.append(seconds)
    return {
        "method": method,
        "start_frames": starts,
        "pixel_accuracy_flow": {
            f"t+{s}": round(float(np.mean(v)), 4) for s, v in sorted(flow_acc.items())
        },
        "pixel_accuracy_copy": {
            f"t+{s}": round(float(np.mean(v)), 4) for s, v in sorted(copy_acc.items())
        },
        "t+1_errors_inside_unreliable_areas": round(float(np.mean(recall)), 4),
        "t+1_share_of_frame_marked_unreliable": round(float(np.mean(unreliable_share)), 4),
        "motions": dict(motions),
        "seconds_flow_both_ways": round(statistics.median(flow_s), 4),
        "seconds_propagate_objects": round(statistics.median(propagate_s), 4),
        "seconds_simplify_largest_warped_region": (
            round(statistics.median(simplify_s), 4) if simplify_s else None
        ),
    }


def _visible_masks(frame: SyntheticFrame, h: int, w: int) -> dict[int, np.ndarray]:
    owner = np.full((h, w), -1, dtype=np.int32)
    for k, obj in enumerate(frame.objects):
        mask, row0, col0 = region_mask_in_box(obj.region, h, w)
        owner[row0 : row0 + mask.shape[0], col0 : col0 + mask.shape[1]][mask] = k
    return {k: owner == k for k, obj in enumerate(frame.objects) if obj.instance_id is not None}


def bench_grabcut(frames: list[SyntheticFrame], min_side: float) -> dict[str, Any]:
    ious: list[float] = []
    seconds_all: list[float] = []
    simplified_vertices: list[int] = []
    by_label: dict[int, list[float]] = defaultdict(list)
    mostly_visible: list[float] = []
    for frame in frames:
        h, w = frame.image.shape[:2]
        visible = _visible_masks(frame, h, w)
        for k, truth in visible.items():
            rows, cols = np.nonzero(truth)
            if rows.size == 0:
                continue
            box = Box(cols.min(), rows.min(), cols.max() + 1.0, rows.max() + 1.0)
            if min(box.width, box.height) < min_side:
                continue
            cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
            rect = Box(
                cx - 0.55 * box.width,
                cy - 0.55 * box.height,
                cx + 0.55 * box.width,
                cy + 0.55 * box.height,
            ).clipped(w, h)
            result, seconds = _timed(lambda r=rect, f=frame: grabcut(f.image, r))
            seconds_all.append(seconds)
            mask = region_mask(result.region, h, w)
            iou = float((mask & truth).sum() / max(1, (mask | truth).sum()))
            ious.append(iou)
            by_label[frame.objects[k].label_id].append(iou)
            full = region_mask(frame.objects[k].region, h, w).sum()
            if truth.sum() >= 0.8 * full:
                mostly_visible.append(iou)
            simplified_vertices.append(vertex_count(result.region))
    schema = cityscapes_schema()
    return {
        "objects": len(ious),
        "min_box_side_px": min_side,
        "mean_iou": round(float(np.mean(ious)), 4) if ious else None,
        "median_iou": round(float(np.median(ious)), 4) if ious else None,
        "objects_at_least_80%_visible": len(mostly_visible),
        "mean_iou_at_least_80%_visible": (
            round(float(np.mean(mostly_visible)), 4) if mostly_visible else None
        ),
        "mean_iou_by_label": {
            schema.by_id[label].name: {"n": len(v), "mean_iou": round(float(np.mean(v)), 4)}
            for label, v in sorted(by_label.items())
        },
        "seconds_per_object_median": round(statistics.median(seconds_all), 4)
        if seconds_all
        else None,
        "seconds_per_object_max": round(max(seconds_all), 4) if seconds_all else None,
        "median_vertices": int(np.median(simplified_vertices)) if simplified_vertices else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=41)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--height", type=int, default=1024)
    parser.add_argument("--detail", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--flow", choices=("dis", "farneback"), default="dis")
    parser.add_argument("--grabcut-frames", type=int, nargs="*", default=[10, 30])
    parser.add_argument("--grabcut-min-side", type=float, default=16.0)
    args = parser.parse_args()
    frames, render_s = _timed(
        lambda: [
            render_frame(
                i,
                frames=args.frames,
                width=args.width,
                height=args.height,
                seed=args.seed,
                detail=args.detail,
            )
            for i in range(args.frames)
        ]
    )
    starts = list(range(0, args.frames - STEPS, max(1, (args.frames - STEPS) // 4)))[:4]
    report = {
        "size": f"{args.width}x{args.height}",
        "frames": args.frames,
        "seed": args.seed,
        "detail": args.detail,
        "objects_per_frame": round(float(np.mean([len(f.objects) for f in frames])), 1),
        "seconds_render_all_frames": round(render_s, 2),
        "interpolation": bench_interpolation(frames),
        "propagation": bench_propagation(frames, starts, args.flow),
        "grabcut": bench_grabcut(
            [frames[i] for i in args.grabcut_frames if 0 <= i < len(frames)],
            args.grabcut_min_side,
        ),
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
