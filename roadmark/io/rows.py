"""Decoding stored rows, checked: a tampered or damaged row is one clear error.

The project file is a database that anyone can edit with other tools. Every value read
back from it is checked as it is decoded; a value that does not parse (a label colour, a
frame status, a date, a geometry, an object's label that the label table lacks, a number
out of range) raises :class:`~roadmark.io.errors.ProjectError` naming the table, the row
and the field, instead of a traceback (or a crash in a later export or the editor).
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import numpy as np
import shapely
from shapely.errors import GEOSException

from roadmark.core.annotation import (
    AnnotationObject,
    Box,
    Frame,
    FrameStatus,
    ObjectKind,
    Provenance,
)
from roadmark.core.errors import RoadmarkError
from roadmark.io.errors import ProjectError

# No stored coordinate may be farther from the origin than this (image pixels); larger
# values overflow the rasterizers (int32) and are refused where data comes in.
MAX_STORED_COORDINATE = 1e7
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_REGION_TYPES = (3, 6)  # shapely's type ids of Polygon and MultiPolygon
T = TypeVar("T")


class BadRowError(ProjectError):
    """A stored row holds a value that does not parse."""


def _field(table: str, row_id: Any, field: str, location: str | None, decode: Callable[[], T]) -> T:
    try:
        return decode()
    except RoadmarkError as error:
        raise BadRowError(
            f"{table} row {row_id}: {error.args[0] if error.args else error}",
            path=location,
            field=field,
        ) from error
    except (
        ValueError,
        TypeError,
        KeyError,
        OverflowError,
        AttributeError,
        GEOSException,
        json.JSONDecodeError,
        UnicodeError,
    ) as error:
        detail = (str(error).strip().splitlines() or [""])[0][:120]
        raise BadRowError(
            f"{table} row {row_id}: the stored value does not parse "
            f"({detail or type(error).__name__})",
            path=location,
            field=field,
        ) from error


def parse_color(text: Any) -> tuple[int, int, int]:
    """``(r, g, b)`` of a ``#rrggbb`` colour.

    Raises:
        ValueError: Not ``#`` and six hex digits.
    """
    if not isinstance(text, str) or not _COLOR.match(text):
        raise ValueError(f"not a #rrggbb colour: {text!r}")
    return int(text[1:3], 16), int(text[3:5], 16), int(text[5:7], 16)


def label_color(row: Mapping[Any, Any], location: str | None) -> tuple[int, int, int]:
    """A label row's colour, checked."""
    return _field("labels", row["id"], "color", location, lambda: parse_color(row["color"]))


def label_attributes(row: Mapping[Any, Any], location: str | None) -> tuple[str, ...]:
    """A label row's attribute names, checked."""

    def decode() -> tuple[str, ...]:
        names = json.loads(row["attributes"])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError("not a list of names")
        return tuple(names)

    return _field("labels", row["id"], "attributes", location, decode)


def frame_from_row(row: Any, location: str | None = None) -> Frame:
    """A :class:`Frame` from a ``frames`` row, every field checked."""

    def size(value: Any) -> int:
        if not isinstance(value, int) or not 0 < value <= MAX_STORED_COORDINATE:
            raise ValueError(f"not a size in pixels: {value!r}")
        return value

    return Frame(
        id=row.id,
        path=_field("frames", row.id, "path", location, lambda: _text(row.path)),
        video_frame=None if row.video_frame < 0 else row.video_frame,
        width=_field("frames", row.id, "width", location, lambda: size(row.width)),
        height=_field("frames", row.id, "height", location, lambda: size(row.height)),
        sequence=row.sequence,
        sequence_index=row.sequence_index,
        status=_field("frames", row.id, "status", location, lambda: FrameStatus(row.status)),
        assignee=row.assignee,
    )


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"not text: {value!r}")
    value.encode("utf-8")  # a lone surrogate cannot be written anywhere
    return value


def _date(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"not a date: {value!r}")
    return datetime.fromisoformat(value)


def _finite_coordinates(values: Any) -> None:
    for value in values:
        if not (isinstance(value, int | float) and math.isfinite(value)):
            raise ValueError(f"not a finite coordinate: {value!r}")
        if abs(value) > MAX_STORED_COORDINATE:
            raise ValueError(f"coordinate {value!r} is out of range")


def _geometry(row: Mapping[str, Any]) -> Any:
    kind = ObjectKind(row["kind"])
    if kind is ObjectKind.BOX:
        _finite_coordinates((row["x0"], row["y0"], row["x1"], row["y1"]))
        return Box(row["x0"], row["y0"], row["x1"], row["y1"])
    if not isinstance(row["geometry"], bytes | bytearray | memoryview):
        raise ValueError("no geometry stored")
    geometry = shapely.from_wkb(bytes(row["geometry"]))
    if geometry.geom_type not in ("Polygon", "MultiPolygon"):
        raise ValueError(f"a region must be a polygon, got {geometry.geom_type}")
    if not geometry.is_empty:
        _finite_coordinates(geometry.bounds)
    return geometry


def objects_from_rows(
    rows: Sequence[Mapping[Any, Any]], location: str | None = None, label_ids: Any = None
) -> list[AnnotationObject]:
    """:func:`object_from_row` of each row, the regions' geometries decoded and checked in
    one call for all (any that fails is decoded again by itself, to name its row)."""
    at = [i for i, row in enumerate(rows)
          if row["kind"] == ObjectKind.REGION and isinstance(row["geometry"], bytes)]
    decoded: dict[int, Any] = {}
    if len(at) > 1:
        with contextlib.suppress(GEOSException, ValueError, TypeError):
            geometries = shapely.from_wkb([rows[i]["geometry"] for i in at])
            bounds = shapely.bounds(geometries)
            inside = np.isfinite(bounds).all(axis=1) & (
                np.abs(bounds) <= MAX_STORED_COORDINATE).all(axis=1)
            good = np.isin(shapely.get_type_id(geometries), _REGION_TYPES) & (
                inside | shapely.is_empty(geometries))
            decoded = {i: g for i, g, ok in zip(at, geometries.tolist(), good.tolist(), strict=True)
                       if ok}
    return [object_from_row(row, location, label_ids, geometry=decoded.get(i))
            for i, row in enumerate(rows)]


def object_from_row(
    row: Mapping[Any, Any], location: str | None = None, label_ids: Any = None,
    *, geometry: Any = None,
) -> AnnotationObject:
    """An :class:`AnnotationObject` from an ``objects`` row, every field checked.

    Args:
        row: The row (a mapping).
        location: The project (named in errors).
        label_ids: The label ids the schema has; an object whose label is missing (a label
            row deleted behind roadmark's back) is refused.
        geometry: The row's region, already decoded and checked (``None``: decoded here).
    """
    row_id = row["id"]

    def check(field: str, decode: Callable[[], T]) -> T:
        return _field("objects", row_id, field, location, decode)

    def label() -> int:
        if label_ids is not None and row["label_id"] not in label_ids:
            raise ValueError(f"label id {row['label_id']} is not in the label table")
        return int(row["label_id"])

    def attributes() -> dict[str, Any]:
        value = json.loads(row["attributes"])
        if not isinstance(value, dict):
            raise ValueError("not an object")
        return value

    def identifier(name: str) -> int | None:
        value = row[name]
        if value is not None and not (isinstance(value, int) and 0 <= value < 2**63):
            raise ValueError(f"not an id: {value!r}")
        return value

    confidence = row["confidence"]
    return AnnotationObject(
        label_id=check("label_id", label),
        geometry=geometry if geometry is not None else check("geometry", lambda: _geometry(row)),
        provenance=Provenance(
            source=check("source", lambda: _text(row["source"])),
            created_by=row["created_by"],
            created_at=check("created_at", lambda: _date(row["created_at"])),
            updated_by=row["updated_by"],
            updated_at=check("updated_at", lambda: _date(row["updated_at"])),
            verified=bool(row["verified"]),
            confidence=check(
                "confidence",
                lambda: None if confidence is None else _confidence(confidence),
            ),
        ),
        instance_id=check("instance_id", lambda: identifier("instance_id")),
        track_id=check("track_id", lambda: identifier("track_id")),
        attributes=check("attributes", attributes),
        crowd=bool(row["crowd"]),
        deleted=bool(row["deleted"]),
        uid=row_id,
    )


def _confidence(value: Any) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"not a finite confidence: {value!r}")
    return number
