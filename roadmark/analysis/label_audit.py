"""Auditing labels against a model's predictions: the comparison (numpy and OpenCV only).

For each labeled frame with a stored segmentation prediction, the human labels are
rasterized and sampled at the prediction maps' pixel centers, then compared pixel by
pixel with the model's winning label and its confidence:

- **likely label errors**: pixels where the model is confident (top-1 probability at
  least ``confident``) and says another label than the one drawn, cleaned with a 3x3
  opening (the model is allowed to be a pixel off along every boundary). They are ranked
  per labeled object (*wrong label*: most of an object's visible area goes to another
  class) and per predicted object (*missing object*: the model sees a car or a person
  where the labels have none; other *disagreement* patches), each scored by its
  confidence-weighted share squared times its area; see :mod:`roadmark.analysis.object_audit`.
- **hard case**: a labeled area where the model's confidence stays below ``unsure``;
  scored by the sum of ``1 - confidence``, and listed after every disagreement.

Each finding names the frame, its box, the labeled and predicted classes (most pixels
first), the model's mean confidence there, the disagreeing area in frame pixels and the
human objects involved. Reading the labels and predictions from a project, and keeping
what the engineer decided, is :mod:`roadmark.io.label_audit`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import shapely
from numpy.typing import NDArray

from roadmark.analysis.object_audit import (
    MISSING_OBJECT,
    WRONG_LABEL,
    grouped_disagreements,
    owner_map,
    wrong_labels,
)
from roadmark.core.annotation import AnnotationObject, Box, ObjectKind
from roadmark.core.errors import RoadmarkError
from roadmark.core.prediction import NO_LABEL, SegmentationMaps
from roadmark.core.raster import label_id_map
from roadmark.core.schema import LabelSchema

DISAGREEMENT = "disagreement"
HARD_CASE = "hard_case"
LABEL_ERRORS = (WRONG_LABEL, MISSING_OBJECT, DISAGREEMENT)  # likely errors, before hard cases
_SPAN = 1 << 16


@dataclass(frozen=True)
class AuditParams:
    """Thresholds of the audit.

    Attributes:
        confident: Model confidence (top-1 probability) from which a different label counts
            as a likely label error.
        unsure: Model confidence below which a labeled area is a hard case.
        min_area: Smallest finding, in map pixels.
        max_per_frame: Most findings of each kind kept per frame.
        object_share: Confidence-weighted share of a labeled object the model must give
            to other classes for the object to be a wrong-label finding.
    """

    confident: float = 0.7
    unsure: float = 0.4
    min_area: int = 12
    max_per_frame: int = 50
    object_share: float = 0.3

    def __post_init__(self) -> None:
        if not 0.0 <= self.unsure <= self.confident <= 1.0:
            raise RoadmarkError(
                "audit thresholds must satisfy 0 <= unsure <= confident <= 1",
                field="audit parameters",
            )
        if not 0.0 < self.object_share <= 1.0:
            raise RoadmarkError("object_share must be in (0, 1]", field="audit parameters")
        if self.min_area < 1 or self.max_per_frame < 1:
            raise RoadmarkError("min_area and max_per_frame must be >= 1", field="audit parameters")


@dataclass(frozen=True)
class AuditFinding:
    """A place where a model and the labels disagree, or the model is unsure of a label.

    Attributes:
        frame_id: The frame.
        kind: :data:`DISAGREEMENT` (likely label error) or :data:`HARD_CASE`.
        box: Bounding box in frame pixels.
        labeled: Label id drawn there (most pixels), ``None`` where nothing is drawn.
        predicted: Label id the model predicts there (most pixels).
        confidence: The model's mean top-1 probability over the area.
        area: Area in frame pixels.
        score: Expected wrongly labeled pixels (disagreement) or expected wrong model
            pixels (hard case); the ranking key within a kind.
        uids: Live objects with the labeled class that overlap the box.
    """

    frame_id: int
    kind: str
    box: Box
    labeled: int | None
    predicted: int
    confidence: float
    area: float
    score: float
    uids: tuple[int, ...] = ()

    @property
    def key(self) -> str:
        """A stable name for the finding (frame, kind, rounded box)."""
        b = self.box
        return f"{self.frame_id}:{self.kind}:{b.x0:.0f},{b.y0:.0f},{b.x1:.0f},{b.y1:.0f}"

    def to_json(self, schema: LabelSchema | None = None) -> dict[str, object]:
        def name(label_id: int | None) -> str | None:
            if label_id is None:
                return None
            if schema is not None and label_id in schema.by_id:
                return schema.by_id[label_id].name
            return str(label_id)

        b = self.box
        return {
            "frame_id": self.frame_id,
            "kind": self.kind,
            "bbox": [round(v, 1) for v in (b.x0, b.y0, b.x1, b.y1)],
            "labeled_class": name(self.labeled),
            "predicted_class": name(self.predicted),
            "model_confidence": round(self.confidence, 4),
            "disagreeing_area": round(self.area, 1),
            "score": round(self.score, 1),
            "objects": list(self.uids),
        }


def sampled_labels(
    objects: Sequence[AnnotationObject], schema: LabelSchema, maps: SegmentationMaps
) -> NDArray[np.int64]:
    """The human label id at each map pixel's center (0 where nothing is drawn)."""
    full = label_id_map(objects, schema, maps.frame_height, maps.frame_width)
    height, width = maps.shape
    sx, sy = maps.scale
    rows = np.minimum(((np.arange(height) + 0.5) * sy).astype(np.int64), maps.frame_height - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * sx).astype(np.int64), maps.frame_width - 1)
    sampled: NDArray[np.int64] = full[np.ix_(rows, cols)].astype(np.int64)
    return sampled


def compare_frame(
    frame_id: int,
    objects: Sequence[AnnotationObject],
    maps: SegmentationMaps,
    schema: LabelSchema,
    params: AuditParams | None = None,
) -> list[AuditFinding]:
    """Findings of one frame: likely label errors first (wrong labels, missing objects,
    other disagreements, see :mod:`roadmark.analysis.object_audit`), then hard cases, each by
    descending score."""
    params = params or AuditParams()
    live = [obj for obj in objects if not obj.deleted]
    labels = sampled_labels(live, schema, maps)
    predicted = maps.label_ids.astype(np.int64)
    confidence = maps.confidence.astype(np.float32) / 255.0
    ignored_ids = {
        label.id for label in schema.labels if label.ignore_in_eval or not label.drawable
    }
    ignored = np.array(sorted(ignored_ids), dtype=np.int64)
    counted = (predicted != NO_LABEL) & ~np.isin(predicted, ignored)
    disagree = counted & (predicted != labels) & (confidence >= params.confident)
    kernel = np.ones((3, 3), np.uint8)
    disagree = cv2.morphologyEx(disagree.astype(np.uint8), cv2.MORPH_OPEN, kernel) > 0
    labeled = (labels != 0) & ~np.isin(labels, ignored)
    hard = labeled & ~disagree & (confidence < params.unsure)
    hard = cv2.morphologyEx(hard.astype(np.uint8), cv2.MORPH_OPEN, kernel) > 0

    regions = [
        obj
        for obj in live
        if obj.kind is ObjectKind.REGION
        and obj.label_id in schema.by_id
        and obj.label_id not in ignored_ids
    ]
    owners = owner_map(regions, maps)
    found = wrong_labels(
        regions,
        owners,
        predicted,
        confidence,
        counted,
        maps,
        min_area=params.min_area,
        object_share=params.object_share,
    )
    claimed_ids = [f.owner for f in found]
    claimed = np.isin(owners, claimed_ids) if claimed_ids else np.zeros_like(disagree)
    found += grouped_disagreements(
        disagree & ~claimed,
        labels,
        predicted,
        confidence,
        schema,
        maps,
        min_area=params.min_area,
    )
    found.sort(key=lambda f: -f.score)
    findings = [
        AuditFinding(
            frame_id=frame_id,
            kind=f.kind,
            box=f.box,
            labeled=f.labeled,
            predicted=f.predicted,
            confidence=f.confidence,
            area=f.area,
            score=f.score,
            uids=f.uids,
        )
        for f in found[: params.max_per_frame]
    ]
    findings += _components(
        frame_id, hard, labels, predicted, confidence, 1.0 - confidence, maps, params, HARD_CASE
    )
    return [f if f.uids else _with_objects(f, live) for f in findings]


def _components(
    frame_id: int,
    mask: NDArray[np.bool_],
    labels: NDArray[np.int64],
    predicted: NDArray[np.int64],
    confidence: NDArray[np.float32],
    weight: NDArray[np.float32],
    maps: SegmentationMaps,
    params: AuditParams,
    kind: str,
) -> list[AuditFinding]:
    count, components, stats, _ = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=8, ltype=cv2.CV_32S
    )
    if count <= 1:
        return []
    flat = components.ravel()
    areas = stats[:, cv2.CC_STAT_AREA]
    sx, sy = maps.scale
    pixel_area = sx * sy
    scores = np.bincount(flat, weights=weight.ravel(), minlength=count) * pixel_area
    conf_sum = np.bincount(flat, weights=confidence.ravel(), minlength=count)
    keep = [k for k in range(1, count) if areas[k] >= params.min_area]
    keep.sort(key=lambda k: -scores[k])
    keep = keep[: params.max_per_frame]
    labeled_major = _majority(flat, labels.ravel(), keep)
    predicted_major = _majority(flat, predicted.ravel(), keep)
    out = []
    for k in keep:
        left, top, w, h = (int(v) for v in stats[k, :4])
        box = Box(left * sx, top * sy, (left + w) * sx, (top + h) * sy).clipped(
            maps.frame_width, maps.frame_height
        )
        labeled = labeled_major[k]
        out.append(
            AuditFinding(
                frame_id=frame_id,
                kind=kind,
                box=box,
                labeled=None if labeled == 0 else labeled,
                predicted=predicted_major[k],
                confidence=float(conf_sum[k] / areas[k]),
                area=float(areas[k] * pixel_area),
                score=float(scores[k]),
            )
        )
    return out


def _majority(
    components: NDArray[Any], values: NDArray[Any], keep: Sequence[int]
) -> dict[int, int]:
    """The most frequent value inside each kept component."""
    if not keep:
        return {}
    selected = np.zeros(int(components.max()) + 1, dtype=bool)
    selected[list(keep)] = True
    inside = selected[components]
    keys = components[inside].astype(np.int64) * _SPAN + values[inside]
    unique, counts = np.unique(keys, return_counts=True)
    best: dict[int, tuple[int, int]] = {}
    for key, n in zip(unique.tolist(), counts.tolist(), strict=True):
        owner, value = divmod(key, _SPAN)
        if owner not in best or n > best[owner][1]:
            best[owner] = (value, n)
    return {owner: value for owner, (value, _) in best.items()}


def _with_objects(finding: AuditFinding, live: Sequence[AnnotationObject]) -> AuditFinding:
    if finding.labeled is None:
        return finding
    area = finding.box.to_polygon()
    uids = tuple(
        obj.uid
        for obj in reversed(live)
        if obj.uid is not None
        and obj.label_id == finding.labeled
        and shapely.intersects(obj.region, area)
    )
    return AuditFinding(**{**finding.__dict__, "uids": uids})


@dataclass(frozen=True)
class AuditReport:
    """The audit of a project.

    Attributes:
        model: The model whose predictions were compared.
        frames: Frames compared.
        findings: Every finding: disagreements first, then hard cases, by score.
    """

    model: str
    frames: tuple[int, ...]
    findings: tuple[AuditFinding, ...] = field(default=())

    def disagreements(self) -> list[AuditFinding]:
        """The likely label errors (every kind in :data:`LABEL_ERRORS`), by score."""
        return [f for f in self.findings if f.kind in LABEL_ERRORS]

    def hard_cases(self) -> list[AuditFinding]:
        return [f for f in self.findings if f.kind == HARD_CASE]

    def frame_scores(self) -> list[tuple[int, float]]:
        """Frames by the total score of their disagreements, highest first."""
        totals: dict[int, float] = {}
        for finding in self.disagreements():
            totals[finding.frame_id] = totals.get(finding.frame_id, 0.0) + finding.score
        return sorted(totals.items(), key=lambda item: -item[1])

    def to_json(self, schema: LabelSchema | None = None) -> dict[str, object]:
        return {
            "model": self.model,
            "frames_compared": len(self.frames),
            "likely_label_errors": len(self.disagreements()),
            "hard_cases": len(self.hard_cases()),
            "frames": [
                {"frame_id": frame_id, "score": round(score, 1)}
                for frame_id, score in self.frame_scores()
            ],
            "findings": [finding.to_json(schema) for finding in self.findings],
        }
