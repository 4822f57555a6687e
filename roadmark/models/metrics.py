"""Validation figures: segmentation IoU per class and box mAP (pycocotools).

IoU follows cityscapesScripts: per class, over all validation pixels together,
``TP / (TP + FP + FN)``, with ignored pixels (255) left out; a class that is neither in the
ground truth nor predicted has no IoU (``None``) and does not count in the mean. Box mAP is
COCO's: average precision over IoU 0.50:0.95 (and at 0.50), all areas, up to 100 boxes.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

IGNORE = 255


def confusion(prediction: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``(C, C)`` counts of (target class, predicted class), ignored pixels left out."""
    cells = num_classes * num_classes
    # Ignored pixels go to one extra cell that is dropped: no boolean mask, so no wait for
    # the device to learn how many pixels are kept.
    index = torch.where(
        target != IGNORE, target.long() * num_classes + prediction.long(), cells
    ).reshape(-1)
    counts = torch.zeros(cells + 1, dtype=torch.int64, device=index.device)
    counts.scatter_add_(0, index, torch.ones_like(index))
    return counts[:cells].view(num_classes, num_classes)


def segmentation_metrics(matrix: NDArray[np.int64], names: Sequence[str]) -> dict[str, Any]:
    """mIoU, IoU per class and pixel accuracy from a confusion matrix."""
    matrix = np.asarray(matrix, dtype=np.int64)
    tp = np.diag(matrix).astype(np.float64)
    denominator = matrix.sum(0) + matrix.sum(1) - np.diag(matrix)
    per_class: dict[str, float | None] = {}
    values = []
    for index, name in enumerate(names):
        if denominator[index] == 0:
            per_class[name] = None
            continue
        iou = float(tp[index] / denominator[index])
        per_class[name] = round(iou, 4)
        values.append(iou)
    total = matrix.sum()
    return {
        "miou": round(float(np.mean(values)), 4) if values else None,
        "pixel_accuracy": round(float(tp.sum() / total), 4) if total else None,
        "iou": per_class,
        "pixels": int(total),
    }


def box_metrics(
    truths: Sequence[tuple[NDArray[np.float32], NDArray[np.int64]]],
    found: Sequence[tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.int64]]],
    names: Sequence[str],
    sizes: Sequence[tuple[int, int]],
) -> dict[str, Any]:
    """COCO box mAP of detections against ground truth, per frame.

    Args:
        truths: Per frame, ground-truth boxes ``(N, 4)`` (``x0, y0, x1, y1``) and classes.
        found: Per frame, detected boxes, scores and classes.
        names: Class names (index 0 is the background and is not scored).
        sizes: Per frame ``(height, width)``.

    Returns:
        ``map`` (0.50:0.95), ``map50``, ``ap`` per class (``None`` for classes with no
        ground truth) and the box counts; ``map`` is ``None`` without ground-truth boxes.
    """
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for frame, ((boxes, labels), (d_boxes, d_scores, d_labels), (h, w)) in enumerate(
        zip(truths, found, sizes, strict=True)
    ):
        images.append({"id": frame, "width": int(w), "height": int(h)})
        for box, label in zip(boxes.tolist(), labels.tolist(), strict=True):
            bw, bh = box[2] - box[0], box[3] - box[1]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": frame,
                    "category_id": int(label),
                    "bbox": [box[0], box[1], bw, bh],
                    "area": bw * bh,
                    "iscrowd": 0,
                }
            )
        for box, score, label in zip(
            d_boxes.tolist(), d_scores.tolist(), d_labels.tolist(), strict=True
        ):
            results.append(
                {
                    "image_id": frame,
                    "category_id": int(label),
                    "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]],
                    "score": float(score),
                }
            )
    out: dict[str, Any] = {
        "map": None,
        "map50": None,
        "ap": {name: None for name in names[1:]},
        "boxes": len(annotations),
        "detections": len(results),
    }
    if not annotations:
        return out
    categories = [{"id": index, "name": name} for index, name in enumerate(names) if index]
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = {"images": images, "annotations": annotations, "categories": categories}
        truth.createIndex()
        if not results:
            out["map"] = out["map50"] = 0.0
            present = {a["category_id"] for a in annotations}
            out["ap"] = {n: (0.0 if i in present else None) for i, n in enumerate(names) if i}
            return out
        detections = truth.loadRes(results)
        evaluation = COCOeval(truth, detections, "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    out["map"] = round(max(0.0, float(evaluation.stats[0])), 4)
    out["map50"] = round(max(0.0, float(evaluation.stats[1])), 4)
    precision = evaluation.eval["precision"]  # (T, R, K, A, M)
    for k, category in enumerate(evaluation.params.catIds):
        values = precision[:, :, k, 0, -1]
        values = values[values > -1]
        ap = float(values.mean()) if values.size else math.nan
        out["ap"][names[category]] = None if math.isnan(ap) else round(ap, 4)
    return out
