"""How well two versions of a frame's labels agree: pixel accuracy, mIoU, box F1.

Used to score an annotator's frame against a gold frame's reference labels, and two
annotators' versions of the same frame against each other. Both versions are rasterized
into label-id maps with :func:`roadmark.core.raster.label_id_map` (regions in z-order).

Which pixels count: a label counts when it is drawable and not ``ignoreInEval`` (in
Cityscapes: not ``unlabeled``, ``ego vehicle``, ``static``, ...). A pixel is evaluated when
either version gives it a counted label, so a missed object and an invented one both cost
accuracy, and swapping the two versions gives the same scores.

- **pixel accuracy**: evaluated pixels with the same label id in both versions, divided by
  the evaluated pixels;
- **mIoU**: the mean over counted labels present in either version of
  ``|A and B| / |A or B|`` of that label's pixels;
- **box F1 at IoU 0.5**: detection objects are the box objects plus the bounding boxes of
  non-crowd regions of ``hasInstances`` labels (counted labels only). Within each label,
  pairs are matched greedily by IoU, highest first, when their IoU is at least the
  threshold; ``F1 = 2 TP / (2 TP + FP + FN)``.

A score is ``None`` when there is nothing to compare (no evaluated pixels, no boxes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from roadmark.core.annotation import AnnotationObject, Box, ObjectKind
from roadmark.core.raster import label_id_map
from roadmark.core.schema import LabelSchema

BOX_IOU_THRESHOLD = 0.5


@dataclass(frozen=True)
class BoxMatch:
    """Counts of a box matching.

    Attributes:
        true_positives: Pairs matched at the IoU threshold with the same label.
        false_positives: Candidate boxes left unmatched.
        false_negatives: Reference boxes left unmatched.
    """

    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def f1(self) -> float | None:
        denominator = 2 * self.true_positives + self.false_positives + self.false_negatives
        return 2 * self.true_positives / denominator if denominator else None

    @property
    def precision(self) -> float | None:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else None

    @property
    def recall(self) -> float | None:
        present = self.true_positives + self.false_negatives
        return self.true_positives / present if present else None


@dataclass(frozen=True)
class Agreement:
    """The scores of one comparison.

    Attributes:
        pixel_accuracy: Fraction of evaluated pixels labeled alike.
        mean_iou: Mean IoU over the counted labels present.
        label_iou: IoU per label id.
        evaluated_pixels: How many pixels were evaluated.
        boxes: The box matching counts.
    """

    pixel_accuracy: float | None
    mean_iou: float | None
    label_iou: dict[int, float] = field(default_factory=dict)
    evaluated_pixels: int = 0
    boxes: BoxMatch = BoxMatch(0, 0, 0)

    @property
    def box_f1(self) -> float | None:
        return self.boxes.f1

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON output."""
        return {
            "pixel_accuracy": self.pixel_accuracy,
            "mean_iou": self.mean_iou,
            "box_f1": self.box_f1,
            "box_precision": self.boxes.precision,
            "box_recall": self.boxes.recall,
            "evaluated_pixels": self.evaluated_pixels,
            "label_iou": {str(k): v for k, v in sorted(self.label_iou.items())},
            "boxes": {
                "true_positives": self.boxes.true_positives,
                "false_positives": self.boxes.false_positives,
                "false_negatives": self.boxes.false_negatives,
            },
        }


def counted_labels(schema: LabelSchema) -> frozenset[int]:
    """Ids of the labels that count in scores (drawable, not ``ignoreInEval``)."""
    return frozenset(
        label.id for label in schema.labels if label.drawable and not label.ignore_in_eval
    )


def compare(
    reference: Sequence[AnnotationObject],
    candidate: Sequence[AnnotationObject],
    schema: LabelSchema,
    height: int,
    width: int,
    *,
    iou_threshold: float = BOX_IOU_THRESHOLD,
) -> Agreement:
    """Score ``candidate`` against ``reference`` (symmetric except for FP/FN naming).

    Args:
        reference: The reference objects (gold), in z-order; deleted ones are ignored.
        candidate: The objects to score, in z-order.
        schema: The label schema both use.
        height: Frame height in pixels.
        width: Frame width in pixels.
        iou_threshold: Minimum box IoU for a match.
    """
    counted = counted_labels(schema)
    ref_map = label_id_map(reference, schema, height, width)
    cand_map = label_id_map(candidate, schema, height, width)
    accuracy, label_iou, evaluated = _pixel_scores(ref_map, cand_map, counted)
    boxes = match_boxes(
        detection_boxes(reference, schema, counted),
        detection_boxes(candidate, schema, counted),
        iou_threshold=iou_threshold,
    )
    mean_iou = float(np.mean(list(label_iou.values()))) if label_iou else None
    return Agreement(
        pixel_accuracy=accuracy,
        mean_iou=mean_iou,
        label_iou=label_iou,
        evaluated_pixels=evaluated,
        boxes=boxes,
    )


def _pixel_scores(
    ref: NDArray[np.uint16], cand: NDArray[np.uint16], counted: frozenset[int]
) -> tuple[float | None, dict[int, float], int]:
    top = int(max(ref.max(initial=0), cand.max(initial=0), max(counted, default=0))) + 1
    lookup = np.zeros(top, dtype=bool)
    lookup[list(counted)] = True
    evaluated = lookup[ref] | lookup[cand]
    total = int(evaluated.sum())
    if total == 0:
        return None, {}, 0
    a = ref[evaluated].astype(np.int64)
    b = cand[evaluated].astype(np.int64)
    accuracy = float(np.count_nonzero(a == b)) / total
    # Per-label pixel counts in each map and in both, from one pass of bincount each.
    in_a = np.bincount(a, minlength=top)
    in_b = np.bincount(b, minlength=top)
    in_both = np.bincount(a[a == b], minlength=top)
    label_iou: dict[int, float] = {}
    for label_id in sorted(counted):
        union = int(in_a[label_id] + in_b[label_id] - in_both[label_id])
        if union:
            label_iou[label_id] = float(in_both[label_id]) / union
    return accuracy, label_iou, total


def detection_boxes(
    objects: Sequence[AnnotationObject], schema: LabelSchema, counted: frozenset[int]
) -> list[tuple[int, Box]]:
    """The (label id, box) pairs that box F1 compares (see the module notes)."""
    out: list[tuple[int, Box]] = []
    for obj in objects:
        if obj.deleted or obj.label_id not in counted:
            continue
        if obj.kind is ObjectKind.BOX:
            out.append((obj.label_id, obj.bounds))
            continue
        label = schema.by_id[obj.label_id]
        if label.has_instances and not obj.crowd:
            out.append((obj.label_id, obj.bounds))
    return out


def match_boxes(
    reference: Sequence[tuple[int, Box]],
    candidate: Sequence[tuple[int, Box]],
    *,
    iou_threshold: float = BOX_IOU_THRESHOLD,
) -> BoxMatch:
    """Greedy one-to-one matching of same-label boxes by IoU (highest first)."""
    true_positives = 0
    for label_id in {label for label, _ in reference} | {label for label, _ in candidate}:
        ref = np.array([_xyxy(b) for label, b in reference if label == label_id]).reshape(-1, 4)
        cand = np.array([_xyxy(b) for label, b in candidate if label == label_id]).reshape(-1, 4)
        if not len(ref) or not len(cand):
            continue
        iou = box_iou_matrix(ref, cand)
        rows, cols = np.nonzero(iou >= iou_threshold)
        order = np.argsort(-iou[rows, cols], kind="stable")
        used_ref: set[int] = set()
        used_cand: set[int] = set()
        for k in order:
            r, c = int(rows[k]), int(cols[k])
            if r in used_ref or c in used_cand:
                continue
            used_ref.add(r)
            used_cand.add(c)
        true_positives += len(used_ref)
    return BoxMatch(
        true_positives=true_positives,
        false_positives=len(candidate) - true_positives,
        false_negatives=len(reference) - true_positives,
    )


def box_iou_matrix(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """IoU of every box in ``a`` (N x 4, x0 y0 x1 y1) with every box in ``b`` (M x 4)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    left = np.maximum(a[:, None, 0], b[None, :, 0])
    top = np.maximum(a[:, None, 1], b[None, :, 1])
    right = np.minimum(a[:, None, 2], b[None, :, 2])
    bottom = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    ious: NDArray[np.float64] = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return ious


def _xyxy(box: Box) -> tuple[float, float, float, float]:
    return (box.x0, box.y0, box.x1, box.y1)
