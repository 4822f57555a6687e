"""Predictions in the project store, the review queue, and accepting predictions as labels.

Predictions live in their own tables (``predictions``, ``uncertainty_regions``), apart
from the human labels in ``objects``. Accepting a frame's prediction turns it into objects
with source ``model:NAME`` and the model's confidence, added under the frame's existing
objects in one transaction; :func:`undo_accept` soft-deletes exactly those objects again
in one transaction, so the editor's history can offer accept as one undoable step.

Maps are stored as PNG (lossless; uint8, or uint16 label ids), boxes as JSON text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import cv2
import numpy as np
import shapely
import shapely.affinity
import sqlalchemy as sa
from numpy.typing import NDArray

from roadmark.core.annotation import (
    AnnotationObject,
    Box,
    FrameStatus,
    Provenance,
    utc_now,
)
from roadmark.core.errors import RoadmarkError
from roadmark.core.prediction import (
    NO_LABEL,
    FramePrediction,
    PredictedBox,
    SegmentationMaps,
    UncertainRegion,
)
from roadmark.core.raster import mask_to_region
from roadmark.core.schema import LabelSchema
from roadmark.io import tables as t
from roadmark.io.errors import ProjectError
from roadmark.io.store import Project

MODEL_SOURCE_PREFIX = "model:"
_PNG_PARAMS = [
    cv2.IMWRITE_PNG_COMPRESSION,
    1,
    cv2.IMWRITE_PNG_STRATEGY,
    cv2.IMWRITE_PNG_STRATEGY_RLE,
]
_MAP_COLUMNS = ("label_map", "confidence", "margin", "entropy")


class PredictionError(RoadmarkError):
    """A stored prediction cannot be read, or an accept/undo does not apply."""


# -- encoding ------------------------------------------------------------------------------


def encode_png(array: NDArray) -> bytes:
    """Lossless PNG of a 2-D ``uint8`` or ``uint16`` array (fast settings)."""
    if array.ndim != 2 or array.dtype not in (np.uint8, np.uint16):
        raise PredictionError(f"cannot store a {array.dtype} map of shape {array.shape}")
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(array), _PNG_PARAMS)
    if not ok:
        raise PredictionError("cannot encode a prediction map as PNG")
    return encoded.tobytes()


def decode_png(data: bytes, *, what: str) -> NDArray:
    """Inverse of :func:`encode_png`.

    Raises:
        PredictionError: The bytes are not a single-channel PNG.
    """
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.ndim != 2:
        raise PredictionError("stored map is not a single-channel PNG", field=what)
    return image


@dataclass(frozen=True)
class PackedPrediction:
    """A prediction turned into table rows (PNG bytes, JSON), ready to be written."""

    row: dict[str, Any]
    regions: list[dict[str, Any]]


def pack(prediction: FramePrediction) -> PackedPrediction:
    """Encode a prediction's maps, boxes and regions as rows (CPU work, no database)."""
    maps = prediction.maps
    row: dict[str, Any] = {
        "frame_id": prediction.frame_id,
        "model": prediction.model,
        "model_digest": prediction.model_digest,
        "task": prediction.task,
        "created_at": (prediction.created_at or utc_now()).isoformat(),
        "boxes": json.dumps([b.to_json() for b in prediction.boxes]),
        "accepted_at": None,
        "map_width": None,
        "map_height": None,
    }
    for column in _MAP_COLUMNS:
        row[column] = None
    if maps is not None:
        row["map_height"], row["map_width"] = maps.shape
        row["label_map"] = encode_png(maps.label_ids)
        row["confidence"] = encode_png(maps.confidence)
        row["margin"] = encode_png(maps.margin)
        row["entropy"] = encode_png(maps.entropy)
    regions = [
        {
            "frame_id": prediction.frame_id,
            "model": prediction.model,
            "kind": region.kind,
            "x0": region.box.x0,
            "y0": region.box.y0,
            "x1": region.box.x1,
            "y1": region.box.y1,
            "area": region.area,
            "mean_uncertainty": region.mean_uncertainty,
            "classes": json.dumps(list(region.classes)),
            "score": region.score,
            "resolved": False,
        }
        for region in prediction.regions
    ]
    return PackedPrediction(row, regions)


# -- writing -------------------------------------------------------------------------------


def write_packed(project: Project, packed: Sequence[PackedPrediction]) -> list[int]:
    """Store packed predictions in one transaction, replacing older ones of the same model.

    Frames that were ``new`` become ``prelabeled``.

    Returns:
        The stored predictions' ids, in order.
    """
    ids: list[int] = []
    if not packed:
        return ids
    with project.transaction() as conn:
        for item in packed:
            frame_id, model = item.row["frame_id"], item.row["model"]
            old = conn.execute(
                sa.select(t.predictions.c.id).where(
                    t.predictions.c.frame_id == frame_id, t.predictions.c.model == model
                )
            ).scalar()
            if old is not None:
                conn.execute(
                    t.uncertainty_regions.delete().where(
                        t.uncertainty_regions.c.prediction_id == old
                    )
                )
                conn.execute(t.predictions.delete().where(t.predictions.c.id == old))
            uid = conn.execute(t.predictions.insert().values(**item.row)).inserted_primary_key[0]
            if item.regions:
                conn.execute(
                    t.uncertainty_regions.insert(),
                    [region | {"prediction_id": uid} for region in item.regions],
                )
            ids.append(uid)
        frame_ids = sorted({item.row["frame_id"] for item in packed})
        conn.execute(
            t.frames.update()
            .where(t.frames.c.id.in_(frame_ids), t.frames.c.status == FrameStatus.NEW.value)
            .values(status=FrameStatus.PRELABELED.value, updated_at=utc_now().isoformat())
        )
    return ids


def write_predictions(project: Project, predictions: Sequence[FramePrediction]) -> list[int]:
    """Encode and store predictions in one transaction (see :func:`write_packed`)."""
    return write_packed(project, [pack(p) for p in predictions])


def delete_predictions(project: Project, model: str, frame_ids: Iterable[int] | None = None) -> int:
    """Remove a model's predictions (and their regions); returns how many were removed."""
    query = sa.select(t.predictions.c.id).where(t.predictions.c.model == model)
    if frame_ids is not None:
        query = query.where(t.predictions.c.frame_id.in_(list(frame_ids)))
    with project.transaction() as conn:
        ids = list(conn.execute(query).scalars())
        if ids:
            conn.execute(
                t.uncertainty_regions.delete().where(t.uncertainty_regions.c.prediction_id.in_(ids))
            )
            conn.execute(t.predictions.delete().where(t.predictions.c.id.in_(ids)))
    return len(ids)


# -- reading -------------------------------------------------------------------------------


def predicted_frame_ids(project: Project, model: str, digest: str | None = None) -> set[int]:
    """Frames that already have a prediction of ``model`` (of that file, with ``digest``)."""
    query = sa.select(t.predictions.c.frame_id).where(t.predictions.c.model == model)
    if digest is not None:
        query = query.where(t.predictions.c.model_digest == digest)
    with project._reading() as conn:  # the store's own read connection (same package)
        return set(conn.execute(query).scalars())


def prediction_models(project: Project) -> dict[str, int]:
    """Model name -> number of frames it has predictions for."""
    with project._reading() as conn:
        rows = conn.execute(
            sa.select(t.predictions.c.model, sa.func.count())
            .group_by(t.predictions.c.model)
            .order_by(t.predictions.c.model)
        ).all()
    return {model: int(count) for model, count in rows}


def read_prediction(
    project: Project, frame_id: int, model: str | None = None, *, with_maps: bool = True
) -> FramePrediction | None:
    """A frame's prediction by ``model`` (the newest of any model when ``None``).

    Raises:
        PredictionError: A stored map does not decode.
    """
    columns = [c for c in t.predictions.c if with_maps or c.name not in _MAP_COLUMNS]
    query = sa.select(*columns).where(t.predictions.c.frame_id == frame_id)
    if model is not None:
        query = query.where(t.predictions.c.model == model)
    query = query.order_by(t.predictions.c.created_at.desc(), t.predictions.c.id.desc())
    with project._reading() as conn:
        row = conn.execute(query).mappings().first()
        if row is None:
            return None
        region_rows = conn.execute(
            sa.select(t.uncertainty_regions)
            .where(t.uncertainty_regions.c.prediction_id == row["id"])
            .order_by(t.uncertainty_regions.c.score.desc(), t.uncertainty_regions.c.id)
        ).mappings()
        regions = tuple(_region_from_row(r) for r in region_rows)
        frame = project.frame(frame_id)
    maps = None
    if with_maps and row["label_map"] is not None:
        where = f"prediction {row['id']} ({row['model']}, frame {frame_id})"
        maps = SegmentationMaps(
            label_ids=decode_png(row["label_map"], what=f"{where}: label_map"),
            confidence=decode_png(row["confidence"], what=f"{where}: confidence"),
            margin=decode_png(row["margin"], what=f"{where}: margin"),
            entropy=decode_png(row["entropy"], what=f"{where}: entropy"),
            frame_width=frame.width,
            frame_height=frame.height,
        )
    return FramePrediction(
        frame_id=frame_id,
        model=row["model"],
        model_digest=row["model_digest"],
        task=row["task"],
        maps=maps,
        boxes=tuple(PredictedBox.from_json(b) for b in json.loads(row["boxes"])),
        regions=regions,
        created_at=datetime.fromisoformat(row["created_at"]),
        accepted_at=datetime.fromisoformat(row["accepted_at"]) if row["accepted_at"] else None,
        uid=row["id"],
    )


def _region_from_row(row: Any) -> UncertainRegion:
    return UncertainRegion(
        kind=row["kind"],
        box=Box(row["x0"], row["y0"], row["x1"], row["y1"]),
        area=float(row["area"]),
        mean_uncertainty=float(row["mean_uncertainty"]),
        classes=tuple(json.loads(row["classes"])),
        score=float(row["score"]),
        frame_id=row["frame_id"],
        model=row["model"],
        uid=row["id"],
        resolved=bool(row["resolved"]),
    )


def ranked_regions(
    project: Project,
    *,
    top: int | None = None,
    model: str | None = None,
    frame_id: int | None = None,
    include_resolved: bool = False,
) -> list[UncertainRegion]:
    """The project's uncertain regions, highest score (expected wrong pixels) first."""
    regions = t.uncertainty_regions
    query = sa.select(regions).order_by(regions.c.score.desc(), regions.c.id)
    if not include_resolved:
        query = query.where(regions.c.resolved == sa.false())
    if model is not None:
        query = query.where(regions.c.model == model)
    if frame_id is not None:
        query = query.where(regions.c.frame_id == frame_id)
    if top is not None:
        query = query.limit(top)
    with project._reading() as conn:
        return [_region_from_row(row) for row in conn.execute(query).mappings()]


def set_regions_resolved(project: Project, uids: Sequence[int], resolved: bool = True) -> None:
    """Mark uncertain regions as dealt with (or not), in one transaction."""
    if not uids:
        return
    with project.transaction() as conn:
        conn.execute(
            t.uncertainty_regions.update()
            .where(t.uncertainty_regions.c.id.in_(list(uids)))
            .values(resolved=resolved)
        )


# -- accepting -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AcceptOptions:
    """How predictions become objects.

    Attributes:
        min_score: Boxes scoring below this are not accepted.
        min_area: Connected pieces of a label smaller than this many map pixels are left
            out (speckles).
    """

    min_score: float = 0.5
    min_area: int = 4


def accepted_objects(
    prediction: FramePrediction,
    schema: LabelSchema,
    existing: Sequence[AnnotationObject] = (),
    *,
    user: str,
    options: AcceptOptions | None = None,
    at: datetime | None = None,
) -> list[AnnotationObject]:
    """The objects that accepting ``prediction`` adds (pure: nothing is stored).

    Regions come from the label map, vectorized along map-pixel edges and scaled to frame
    pixels: one region per label for labels without instances, one per connected piece
    (with its own instance id) for ``hasInstances`` labels. Boxes come from detections
    scoring at least ``min_score``. Each object gets source ``model:NAME`` and its
    confidence (mean top-1 probability over a region, the score of a box).

    Args:
        prediction: The frame's prediction (with maps for a segmentation model).
        schema: The project's label schema.
        existing: The frame's current objects (new instance ids follow theirs).
        user: Who accepts.
        options: Thresholds.
        at: Time stamp (now by default).
    """
    options = options or AcceptOptions()
    source = f"{MODEL_SOURCE_PREFIX}{prediction.model}"
    when = at or utc_now()
    next_instance = 1 + max(
        (obj.instance_id or 0 for obj in existing if not obj.deleted), default=0
    )
    out: list[AnnotationObject] = []

    def provenance(confidence: float) -> Provenance:
        return Provenance.new(source, user, at=when, confidence=round(confidence, 4))

    if prediction.maps is not None:
        for label_id, region, confidence, is_instance in _map_regions(
            prediction.maps, schema, options.min_area
        ):
            instance = None
            if is_instance:
                instance, next_instance = next_instance, next_instance + 1
            out.append(
                AnnotationObject(label_id, region, provenance(confidence), instance_id=instance)
            )
    for predicted in prediction.boxes:
        if predicted.flip_only or predicted.score < options.min_score:
            continue
        label = schema.by_id.get(predicted.label_id)
        if label is None or not label.drawable or predicted.box.area <= 0:
            continue
        instance = None
        if label.has_instances:
            instance, next_instance = next_instance, next_instance + 1
        out.append(
            AnnotationObject(
                predicted.label_id,
                predicted.box,
                provenance(float(predicted.score)),
                instance_id=instance,
            )
        )
    return out


def _map_regions(
    maps: SegmentationMaps, schema: LabelSchema, min_area: int
) -> Iterable[tuple[int, Any, float, bool]]:
    """``(label_id, region, confidence, is_instance)`` for the label map's pieces."""
    labels = maps.label_ids
    confidence = maps.confidence
    sx, sy = maps.scale
    present = np.unique(labels)
    for label_id in present.tolist():
        label = schema.by_id.get(label_id)
        if label_id == NO_LABEL or label is None or not label.drawable:
            continue
        mask = (labels == label_id).astype(np.uint8)
        count, components, stats, _ = cv2.connectedComponentsWithStats(
            mask, connectivity=8, ltype=cv2.CV_32S
        )
        keep = [k for k in range(1, count) if stats[k, cv2.CC_STAT_AREA] >= min_area]
        if not keep:
            continue
        if label.has_instances:
            pieces = []
            for k in keep:
                left, top, w, h = (int(v) for v in stats[k, :4])
                pieces.append((components[top : top + h, left : left + w] == k, (left, top)))
        else:
            pieces = [(np.isin(components, keep), (0, 0))]
        for piece, (left, top) in pieces:
            region = mask_to_region(piece, offset=(float(left), float(top)))
            if region is None:
                continue
            if (sx, sy) != (1.0, 1.0):
                region = shapely.affinity.scale(region, xfact=sx, yfact=sy, origin=(0.0, 0.0))
            h, w = piece.shape
            window = confidence[top : top + h, left : left + w]
            mean_confidence = float(window[piece].mean()) / 255.0
            yield label_id, region, mean_confidence, label.has_instances


@dataclass(frozen=True)
class AcceptResult:
    """What one accept changed, enough to undo and redo it.

    Attributes:
        frame_id: The frame.
        model: The model whose prediction was accepted.
        uids: Store ids of the objects added.
        previous_accepted_at: The prediction's accepted time before (``None`` if never).
    """

    frame_id: int
    model: str
    uids: tuple[int, ...]
    previous_accepted_at: str | None


def accept_prediction(
    project: Project,
    frame_id: int,
    model: str | None = None,
    *,
    options: AcceptOptions | None = None,
) -> AcceptResult:
    """Turn a frame's prediction into objects, in one transaction.

    The new objects go under the frame's existing ones (human labels stay on top).

    Raises:
        PredictionError: The frame has no prediction (by ``model``).
    """
    with project.transaction() as conn:
        prediction = read_prediction(project, frame_id, model)
        if prediction is None:
            which = f" by {model!r}" if model else ""
            raise PredictionError(
                f"frame {frame_id} has no prediction{which}", path=project.location
            )
        existing = project.objects(frame_id)
        objects = accepted_objects(
            prediction, project.schema, list(existing), user=project.user, options=options
        )
        stored = project.add_objects(frame_id, objects, at_bottom=True)
        previous = conn.execute(
            sa.select(t.predictions.c.accepted_at).where(t.predictions.c.id == prediction.uid)
        ).scalar()
        conn.execute(
            t.predictions.update()
            .where(t.predictions.c.id == prediction.uid)
            .values(accepted_at=utc_now().isoformat())
        )
    return AcceptResult(
        frame_id=frame_id,
        model=prediction.model,
        uids=tuple(int(obj.uid) for obj in stored if obj.uid is not None),
        previous_accepted_at=previous,
    )


def _set_deleted(
    project: Project, result: AcceptResult, deleted: bool, accepted_at: str | None
) -> None:
    with project.transaction() as conn:
        objects = {obj.uid: obj for obj in project.objects(result.frame_id)}
        missing = [uid for uid in result.uids if uid not in objects]
        if missing:
            raise ProjectError(
                f"objects {missing} of frame {result.frame_id} are no longer in the project",
                path=project.location,
            )
        project.update_objects([replace(objects[uid], deleted=deleted) for uid in result.uids])
        conn.execute(
            t.predictions.update()
            .where(
                t.predictions.c.frame_id == result.frame_id,
                t.predictions.c.model == result.model,
            )
            .values(accepted_at=accepted_at)
        )


def undo_accept(project: Project, result: AcceptResult) -> None:
    """Undo :func:`accept_prediction`: soft-delete exactly its objects, in one transaction."""
    _set_deleted(project, result, True, result.previous_accepted_at)


def redo_accept(project: Project, result: AcceptResult) -> None:
    """Redo an undone accept: bring its objects back, in one transaction."""
    _set_deleted(project, result, False, utc_now().isoformat())
