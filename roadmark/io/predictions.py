"""Predictions in the project store and the review queue of uncertain regions.

Predictions live in their own tables (``predictions``, ``uncertainty_regions``), apart
from the human labels in ``objects``; nothing here touches the labels. Accepting a
prediction is an edit like any other: :mod:`roadmark.annotators.review.prelabels` builds one
undoable command from it, which the editing session runs.

Maps are stored as PNG (lossless; uint8, or uint16 label ids), boxes as JSON text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import cv2
import numpy as np
import shapely
import shapely.errors
import sqlalchemy as sa
from isal import isal_zlib
from numpy.typing import NDArray

from roadmark.analysis.pixel_counts import level_counts
from roadmark.analysis.uncertainty import coverage_share
from roadmark.core.annotation import (
    Box,
    Region,
    as_region,
    utc_now,
)
from roadmark.core.errors import GeometryError, RoadmarkError
from roadmark.core.prediction import (
    FramePrediction,
    PredictedBox,
    RegionKind,
    SegmentationMaps,
    UncertainRegion,
    wrong_probability_of,
)
from roadmark.io import tables as t
from roadmark.io.errors import FrameSourceError
from roadmark.io.image_limits import check_encoded
from roadmark.io.png_file import gray_png, imdecode
from roadmark.io.roles import Permission
from roadmark.io.store import Project
from roadmark.io.workflow import record_prelabeled

# Fast lossless settings: every row filtered with "up" (the row above) instead of libpng's
# per-row choice among all five filters, which costs more than the compression here
# (prediction maps of a trained model encode 40 % faster for 13 % more bytes), and the rows
# compressed by ISA-L at its level 1 (the same size as zlib's level 1 with run-length
# matching, at a quarter of its time: 9 -> 2 ms for a trained model's four maps at
# 1024x512). Any PNG decoder reads them, rows stored before included.
_ISAL_LEVEL = 1


_MAP_COLUMNS = ("label_map", "confidence", "margin", "entropy")


class PredictionError(RoadmarkError):
    """A stored prediction cannot be read, or an accept/undo does not apply."""


# -- encoding ------------------------------------------------------------------------------


def encode_png(array: NDArray[Any]) -> bytes:
    """Lossless PNG of a 2-D ``uint8`` or ``uint16`` array (fast settings)."""
    try:
        return gray_png(array, lambda rows: isal_zlib.compress(rows, _ISAL_LEVEL))
    except ValueError as error:
        raise PredictionError(f"cannot store a {array.dtype} map of shape {array.shape}") from error


def _expected_errors(maps: SegmentationMaps) -> float:
    """``maps.expected_errors()`` from the confidence map's histogram (no float map): every
    level's wrong probability is a multiple of 2**-32, so the sum is exact up to 2**21
    pixels and the same as pixel by pixel."""
    counts = level_counts(maps.confidence)[0]
    levels = wrong_probability_of(np.arange(256, dtype=np.uint8))
    sx, sy = maps.scale
    return float(counts.astype(np.float64) @ levels.astype(np.float64)) * sx * sy


def decode_png(data: bytes, *, what: str) -> NDArray[Any]:
    """Inverse of :func:`encode_png`.

    Raises:
        PredictionError: The bytes are not a single-channel PNG, or its header declares
            more pixels than the image limit (checked before decoding).
    """
    try:
        check_encoded(data, name=what)
    except FrameSourceError as error:
        raise PredictionError(f"stored map: {error.args[0]}", field=what) from error
    image = imdecode(data, cv2.IMREAD_UNCHANGED)
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
        "map_width": None,
        "map_height": None,
        "expected_errors": prediction.expected_errors,
    }
    for column in _MAP_COLUMNS:
        row[column] = None
    if maps is not None:
        row["map_height"], row["map_width"] = maps.shape
        row["label_map"] = encode_png(maps.label_ids)
        row["confidence"] = encode_png(maps.confidence)
        row["margin"] = encode_png(maps.margin)
        row["entropy"] = encode_png(maps.entropy)
        if prediction.expected_errors is None:
            row["expected_errors"] = _expected_errors(maps)
    # every outline's WKB in one call (None where a region has none)
    outlines = shapely.to_wkb(np.array([r.outline for r in prediction.regions], dtype=object))
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
            "outline": outline,
        }
        for region, outline in zip(prediction.regions, outlines.tolist(), strict=True)
    ]
    return PackedPrediction(row, regions)


# -- writing -------------------------------------------------------------------------------


def write_packed(project: Project, packed: Sequence[PackedPrediction]) -> list[int]:
    """Store packed predictions in one transaction, replacing older ones of the same model.

    Frames that were ``new`` become ``prelabeled``, each move recorded as a workflow event
    (:func:`roadmark.io.workflow.record_prelabeled`) by the project's user, the model's
    name as its reason.

    Returns:
        The stored predictions' ids, in order.
    """
    ids: list[int] = []
    if not packed:
        return ids
    with project.transaction() as conn:
        project.require(Permission.PRELABEL)
        keys = [(item.row["frame_id"], item.row["model"]) for item in packed]
        if len(set(keys)) == len(keys) and len({tuple(item.row) for item in packed}) == 1:
            ids = _store(conn, packed)
        else:  # a frame twice (each replaces the one before), or rows of different kinds
            ids = [uid for item in packed for uid in _store(conn, [item])]
        by_model: dict[str, set[int]] = {}
        for frame_id, model in keys:
            by_model.setdefault(model, set()).add(frame_id)
        for model, frame_ids in sorted(by_model.items()):
            record_prelabeled(conn, frame_ids, project.user, model=model)
    return ids


_IDS_A_STATEMENT = 500  # ids in one IN list (SQLite allows 32766 parameters a statement)


def _store(conn: sa.Connection, packed: Sequence[PackedPrediction]) -> list[int]:
    """Store predictions of distinct frames (or models), rows of one kind, with a handful of
    statements for all of them: the older predictions they replace found and removed at
    once, the rows inserted in one batch (their ids returned in order), then every region
    (a frame's statements one by one cost about a millisecond of Python a frame)."""
    p = t.predictions.c
    keys = [(item.row["frame_id"], item.row["model"]) for item in packed]
    wanted = set(keys)
    frame_ids = sorted({frame_id for frame_id, _ in keys})
    models = sorted({model for _, model in keys})
    old: list[int] = []
    for at in range(0, len(frame_ids), _IDS_A_STATEMENT):
        found = conn.execute(sa.select(p.id, p.frame_id, p.model).where(
            p.frame_id.in_(frame_ids[at : at + _IDS_A_STATEMENT]), p.model.in_(models)))
        old += [row.id for row in found if (row.frame_id, row.model) in wanted]
    for at in range(0, len(old), _IDS_A_STATEMENT):
        chunk = old[at : at + _IDS_A_STATEMENT]
        conn.execute(t.uncertainty_regions.delete().where(
            t.uncertainty_regions.c.prediction_id.in_(chunk)))
        conn.execute(t.predictions.delete().where(p.id.in_(chunk)))
    inserted = conn.execute(
        t.predictions.insert().returning(p.id, sort_by_parameter_order=True),
        [item.row for item in packed],
    )
    ids = [int(uid) for uid in inserted.scalars()]
    regions = [region | {"prediction_id": uid}
               for item, uid in zip(packed, ids, strict=True) for region in item.regions]
    if regions:
        conn.execute(t.uncertainty_regions.insert(), regions)
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
    with project.reading() as conn:
        return set(conn.execute(query).scalars())


def prediction_models(project: Project) -> dict[str, int]:
    """Model name -> number of frames it has predictions for."""
    with project.reading() as conn:
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
    with project.reading() as conn:
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
        expected_errors=row["expected_errors"],
        created_at=datetime.fromisoformat(row["created_at"]),
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
        outline=_outline(row["outline"]),
        frame_id=row["frame_id"],
        model=row["model"],
        uid=row["id"],
        resolved=bool(row["resolved"]),
    )


def _outline(data: bytes | None) -> Region | None:
    if data is None:
        return None
    try:
        return as_region(shapely.from_wkb(data))
    except (shapely.errors.GEOSException, GeometryError) as error:
        raise PredictionError(f"stored region outline does not decode ({error})") from error


def expected_errors_by_frame(
    project: Project, model: str | None = None
) -> dict[tuple[int, str], float]:
    """``(frame id, model)`` -> wrong pixels that prediction expects on the frame (frames
    predicted before project version 2, or by a detector, are left out)."""
    query = sa.select(
        t.predictions.c.frame_id, t.predictions.c.model, t.predictions.c.expected_errors
    ).where(t.predictions.c.expected_errors.is_not(None))
    if model is not None:
        query = query.where(t.predictions.c.model == model)
    with project.reading() as conn:
        return {(int(f), str(m)): float(e) for f, m, e in conn.execute(query).all()}


def queue_coverage_by_frame(
    project: Project, model: str | None = None
) -> dict[tuple[int, str], float]:
    """``(frame id, model)`` -> share of the expected wrong pixels its queue's pixel
    regions hold (resolved ones included: what the queue held when it was made), see
    :func:`roadmark.analysis.uncertainty.queue_coverage`; summed in the database."""
    expected = expected_errors_by_frame(project, model)
    regions = t.uncertainty_regions
    query = (
        sa.select(regions.c.frame_id, regions.c.model, sa.func.sum(regions.c.score))
        .where(regions.c.kind == RegionKind.PIXELS)
        .group_by(regions.c.frame_id, regions.c.model)
    )
    if model is not None:
        query = query.where(regions.c.model == model)
    with project.reading() as conn:
        held = {(int(f), str(m)): float(total) for f, m, total in conn.execute(query).all()}
    return {key: coverage_share(held.get(key, 0.0), errors) for key, errors in expected.items()}


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
    with project.reading() as conn:
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
