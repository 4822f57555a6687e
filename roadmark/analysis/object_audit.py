"""Label errors per object, and per predicted object (numpy and OpenCV, no torch).

Pixel blobs where the model disagrees with the labels mix two very different things: a
whole object with the wrong label (a car drawn as building) and the thin rims along every
boundary where a small model is a few pixels off. Summing confidence over blobs ranks big
rims of big regions first. The audit therefore also looks per object:

- **wrong label** (:data:`WRONG_LABEL`): for each labeled object, its *visible* pixels
  (what is on top in z-order, sampled at the prediction maps' pixel centers), and the
  share of them the model gives to another class, each pixel weighted by the model's
  (calibrated) confidence: ``share = sum(confidence where predicted != label) / visible``.
  An object with ``share >= object_share`` is a finding scored ``share x share x area``:
  the expected wrongly labeled area, weighted once more by how much of the object the
  model claims, so an object the model calls something else almost entirely ranks far
  above a large region with a disagreeing rim.
- **missing object** (:data:`MISSING_OBJECT`): disagreeing pixels the model gives to a
  class with instances (car, person, ...) where the labels have another class. They are
  grouped by the *predicted* object they belong to (a connected patch of that predicted
  class), so one deleted car is one finding however the disagreement breaks up, scored
  the same way with ``share`` = its disagreeing part of that predicted patch.
- the remaining disagreeing blobs (:data:`~roadmark.analysis.label_audit.DISAGREEMENT`) are
  grouped and scored the same way; findings about the same object are merged (the
  blobs inside an object with a wrong-label finding are part of that finding).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import shapely.affinity
from numpy.typing import NDArray

from roadmark.core.annotation import AnnotationObject, Box
from roadmark.core.prediction import SegmentationMaps
from roadmark.core.raster import region_mask_in_box
from roadmark.core.schema import LabelSchema

WRONG_LABEL = "wrong_label"
MISSING_OBJECT = "missing_object"


@dataclass(frozen=True)
class ObjectFinding:
    """One object-level finding before it becomes an audit finding (map pixels).

    Attributes:
        kind: :data:`WRONG_LABEL`, :data:`MISSING_OBJECT` or ``disagreement``.
        box: Bounding box in frame pixels.
        labeled: Label drawn there (most pixels), ``None`` for nothing.
        predicted: Label the model predicts there (most pixels).
        confidence: The model's mean confidence over the disagreeing pixels.
        area: Disagreeing area in frame pixels.
        share: Confidence-weighted share of the object (or predicted patch) in question.
        score: ``share x share x area`` (see the module doc).
        uids: The labeled object (wrong label) or none.
        owner: The object's index + 1 in the owner map (wrong label), else 0.
    """

    kind: str
    box: Box
    labeled: int | None
    predicted: int
    confidence: float
    area: float
    share: float
    score: float
    uids: tuple[int, ...] = ()
    owner: int = 0


def owner_map(objects: list[AnnotationObject], maps: SegmentationMaps) -> NDArray[np.int32]:
    """Index + 1 of the object on top at each map pixel (0: none), in z-order."""
    height, width = maps.shape
    sx, sy = maps.scale
    owners = np.zeros((height, width), np.int32)
    for index, obj in enumerate(objects):
        shape = obj.region
        scaled = shapely.affinity.scale(shape, xfact=1 / sx, yfact=1 / sy, origin=(0.0, 0.0))
        mask, row0, col0 = region_mask_in_box(scaled, height, width)
        if mask.size:
            window = owners[row0 : row0 + mask.shape[0], col0 : col0 + mask.shape[1]]
            window[mask] = index + 1
    return owners


def wrong_labels(
    objects: list[AnnotationObject],
    owners: NDArray[np.int32],
    predicted: NDArray[np.int64],
    confidence: NDArray[np.float32],
    counted: NDArray[np.bool_],
    maps: SegmentationMaps,
    *,
    min_area: int,
    object_share: float,
) -> list[ObjectFinding]:
    """Objects most of whose visible pixels the model gives to another class."""
    sx, sy = maps.scale
    pixel_area = sx * sy
    out = []
    for index, obj in enumerate(objects):
        visible = owners == index + 1
        total = int(visible.sum())
        if total < min_area:
            continue
        other = visible & counted & (predicted != obj.label_id)
        weight = float(confidence[other].sum())
        share = weight / total
        if share < object_share:
            continue
        values, counts = np.unique(predicted[other], return_counts=True)
        bounds = obj.bounds
        out.append(
            ObjectFinding(
                kind=WRONG_LABEL,
                box=bounds.clipped(maps.frame_width, maps.frame_height),
                labeled=obj.label_id,
                predicted=int(values[np.argmax(counts)]),
                confidence=weight / max(int(other.sum()), 1),
                area=float(other.sum() * pixel_area),
                share=share,
                score=share * share * total * pixel_area,
                uids=(obj.uid,) if obj.uid is not None else (),
                owner=index + 1,
            )
        )
    return out


def predicted_patches(predicted: NDArray[np.int64]) -> NDArray[np.int32]:
    """Connected patches of one predicted class each (ids from 1)."""
    patches = np.zeros(predicted.shape, np.int32)
    offset = 0
    for label_id in np.unique(predicted).tolist():
        count, parts = cv2.connectedComponents(
            (predicted == label_id).astype(np.uint8), connectivity=8, ltype=cv2.CV_32S
        )
        inside = parts > 0
        patches[inside] = parts[inside] + offset
        offset += count - 1
    return patches


def grouped_disagreements(
    disagree: NDArray[np.bool_],
    labels: NDArray[np.int64],
    predicted: NDArray[np.int64],
    confidence: NDArray[np.float32],
    schema: LabelSchema,
    maps: SegmentationMaps,
    *,
    min_area: int,
) -> list[ObjectFinding]:
    """Disagreeing pixels grouped by the predicted patch they lie in (see the module doc)."""
    if not disagree.any():
        return []
    patches = predicted_patches(predicted)
    count = int(patches.max()) + 1
    flat = patches.ravel()
    size = np.bincount(flat, minlength=count)
    inside = np.bincount(flat, weights=disagree.ravel().astype(np.float64), minlength=count)
    weight = np.bincount(flat, weights=(confidence * disagree).ravel(), minlength=count)
    sx, sy = maps.scale
    pixel_area = sx * sy
    out = []
    for patch in np.flatnonzero(inside >= min_area).tolist():
        mask = (patches == patch) & disagree
        rows, cols = np.nonzero(mask)
        label_id = int(predicted[rows[0], cols[0]])
        values, counts = np.unique(labels[mask], return_counts=True)
        drawn = int(values[np.argmax(counts)])
        label = schema.by_id.get(label_id)
        kind = MISSING_OBJECT if label is not None and label.has_instances else "disagreement"
        share = float(weight[patch] / size[patch])
        box = Box(
            cols.min() * sx, rows.min() * sy, (cols.max() + 1) * sx, (rows.max() + 1) * sy
        ).clipped(maps.frame_width, maps.frame_height)
        out.append(
            ObjectFinding(
                kind=kind,
                box=box,
                labeled=None if drawn == 0 else drawn,
                predicted=label_id,
                confidence=float(weight[patch] / inside[patch]),
                area=float(inside[patch] * pixel_area),
                share=share,
                score=share * float(weight[patch]) * pixel_area,
            )
        )
    return out
