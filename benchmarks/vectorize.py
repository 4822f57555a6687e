"""Masks made regions: the union of pixel runs against the traced outline; prints JSON.

    python benchmarks/vectorize.py [--frames 4] [--repeats 5]

The masks that the editing tools make regions along pixel edges (a brush stroke, a
click-to-mask or GrabCut result, a propagated object, a model's label map being accepted)
went through :func:`roadmark.core.raster.mask_to_region` (GEOS's union of the pixel runs);
now through :func:`roadmark.analysis.pixel_outline.traced_region` (the importers keep the
union: their masks are mostly a few pixels, and tracing would load scipy's graph code in
every import worker). Both run here side by side, in turn, on the same masks, best of
``--repeats``:

- ``masks``: discs (radius 20, 100, 300), a disc with a hole, a fragmented mask (smoothed
  noise, 400 x 400), four scattered pixels, a large triangle;
- ``label_maps``: the per-label masks of the bundled demo model's label maps on
  ``--frames`` frames of the demo drive (1024 x 512 maps), each label's mask whole;
- ``proposals_ms_per_frame``: what accepting those predictions takes to build its
  proposals (:func:`roadmark.annotators.review.prelabels.proposals`), with either.

Each figure comes with ``same_regions``: the two regions are the same point set (shapely's
normalized forms equal) for every mask.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import shapely
import torch

from roadmark.analysis.pixel_outline import traced_region
from roadmark.annotators.review import prelabels
from roadmark.core.raster import mask_to_region
from roadmark.core.schema import cityscapes_schema
from roadmark.demo.drive import render_frame
from roadmark.models.demo_model import demo_model_path
from roadmark.models.files import load_model
from roadmark.models.predictor import Predictor


def best_ms(action: Callable[[], Any], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return bool(shapely.normalize(a).equals_exact(shapely.normalize(b), 0))


def shapes() -> dict[str, np.ndarray]:
    out = {}
    for radius in (20, 100, 300):
        disc = np.zeros((2 * radius + 20, 2 * radius + 20), np.uint8)
        cv2.circle(disc, (radius + 10, radius + 10), radius, 1, -1)
        out[f"disc_r{radius}"] = disc
    ring = out["disc_r300"].copy()
    cv2.circle(ring, (310, 310), 100, 0, -1)
    out["disc_with_hole"] = ring
    noise = np.random.default_rng(0).random((400, 400))
    out["fragmented_400"] = (cv2.GaussianBlur(noise, (0, 0), 6) > 0.5).astype(np.uint8)
    scattered = np.zeros((300, 300), np.uint8)  # a few pixels: still the union (quicker)
    scattered[[5, 80, 150, 290], [7, 200, 30, 299]] = 1
    out["four_pixels"] = scattered
    triangle = np.zeros((300, 800), np.uint8)
    cv2.fillPoly(triangle, [np.array([[10, 290], [400, 10], [790, 290]])], 1)
    out["triangle"] = triangle
    return out


def predictions(frames: int) -> list[Any]:
    """The demo model's predictions on frames of the demo drive (2048 x 1024 frames,
    512 x 256 input, 1024 x 512 maps, as the demo project pre-labels them)."""
    schema = cityscapes_schema()
    predictor = Predictor(load_model(demo_model_path()), schema, device=torch.device("cpu"))
    out = []
    for index in range(frames):
        image = render_frame(index * 7, width=512, height=256).image
        batch = torch.from_numpy(np.ascontiguousarray(image))[None]
        host = predictor.to_host(predictor.infer(batch, frame_size=(1024, 2048)))
        host.wait()
        out += predictor.unpack(host, [index + 1])
    return out


def compare(masks: dict[str, np.ndarray], repeats: int) -> dict[str, Any]:
    rows = {}
    for name, mask in masks.items():
        inside = mask.astype(bool)
        union = best_ms(lambda m=inside: mask_to_region(m), repeats)
        traced = best_ms(lambda m=inside: traced_region(m), repeats)
        rows[name] = {
            "union_ms": round(union, 2),
            "traced_ms": round(traced, 2),
            "speedup": round(union / traced, 1),
            "same_regions": same(mask_to_region(inside), traced_region(inside)),
        }
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    result: dict[str, Any] = {"masks": compare(shapes(), args.repeats)}
    predicted = predictions(args.frames)
    label_masks = {}
    for prediction in predicted:
        labels = prediction.maps.label_ids
        for label_id in np.unique(labels).tolist():
            label_masks[f"frame{prediction.frame_id}_label{label_id}"] = labels == label_id
    rows = compare(label_masks, max(1, args.repeats // 2))
    union = sum(row["union_ms"] for row in rows.values())
    traced = sum(row["traced_ms"] for row in rows.values())
    result["label_maps"] = {
        "masks": len(rows),
        "union_ms_per_frame": round(union / len(predicted), 1),
        "traced_ms_per_frame": round(traced / len(predicted), 1),
        "speedup": round(union / traced, 1),
        "same_regions": all(row["same_regions"] for row in rows.values()),
    }
    schema = cityscapes_schema()

    def build() -> None:
        for prediction in predicted:
            prelabels.proposals(prediction, schema, user="bench")

    timings = {}
    for name, vectorize in (("union", mask_to_region), ("traced", traced_region)):
        prelabels.traced_region = vectorize  # type: ignore[attr-defined]  # in turn
        timings[name] = best_ms(build, max(1, args.repeats // 2)) / len(predicted)
    prelabels.traced_region = traced_region  # type: ignore[attr-defined]
    result["proposals_ms_per_frame"] = {k: round(v, 1) for k, v in timings.items()}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
