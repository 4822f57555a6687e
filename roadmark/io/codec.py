"""One object codec: an :class:`AnnotationObject` as plain JSON data and as row values.

Every place that writes an object's fields goes through here: the store (the values of an
``objects`` row, :func:`object_row`), the change log and the workflow snapshots (plain JSON
data, :func:`object_to_json` / :func:`object_from_json`, and the same form of a stored row,
:func:`row_to_json`) and the file formats' ``"roadmark"`` extras (:func:`extras_of`).

The JSON form is exact: geometry is base64 WKB (``None`` for a box, whose corners are
``bounds``), times are ISO-8601 text with their UTC offset.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import orjson
import shapely

from roadmark.core.annotation import AnnotationObject, Box, ObjectKind, Provenance

JsonObject = dict[str, Any]

# The fields of the JSON form that are not an object's "extras" (what file formats carry
# in their own terms): identity, label, shape and flags.
CORE_FIELDS = ("uid", "label_id", "kind", "bounds", "geometry", "crowd", "deleted")
# Extras that are left out when empty (``None``, or no attributes).
OPTIONAL_EXTRAS = ("instance_id", "track_id", "attributes", "confidence")


class JsonText(str):
    """Text that is already JSON (written once, where it was cheapest), stored as it is."""


def json_text(value: Any, *, sort_keys: bool = False) -> JsonText:
    """``value`` as JSON text, read back by ``json.loads`` as the standard library's
    ``json.dumps`` would be (the same values; orjson's text, several times quicker: the
    original polygons of a Cityscapes import are the bulk of its file, and the change log
    writes a text for every object stored).

    orjson writes NaN and infinities as ``null`` and refuses integers beyond 64 bits, keys
    that are not text and types it does not know, all of which ``json.dumps`` writes (or
    refuses) its own way: those values are written by ``json.dumps``.
    """
    option = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
    try:
        text = orjson.dumps(value, option=option | orjson.OPT_SORT_KEYS if sort_keys else option)
    except TypeError:
        text = None
    if text is None or (b"null" in text and not _finite(value)):
        return JsonText(json.dumps(value, sort_keys=sort_keys))
    return JsonText(text.decode())


def _finite(value: Any) -> bool:
    """Whether no float in ``value`` (nested dicts, lists and tuples) is NaN or infinite."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(map(_finite, value.values()))
    if isinstance(value, list | tuple):
        return all(map(_finite, value))
    return True


def geometry_wkb(obj: AnnotationObject) -> bytes | None:
    """A region's geometry as WKB; ``None`` for a box (its bounds are the box)."""
    return None if isinstance(obj.geometry, Box) else shapely.to_wkb(obj.geometry)


def _regions(objects: Sequence[AnnotationObject]) -> tuple[list[int], np.ndarray]:
    """The positions of the regions among ``objects`` and their geometries as one array
    (what a shapely call over all of them takes)."""
    at = [i for i, obj in enumerate(objects) if not isinstance(obj.geometry, Box)]
    shapes = np.empty(len(at), dtype=object)
    shapes[:] = [objects[i].geometry for i in at]
    return at, shapes


def geometry_wkbs(objects: Sequence[AnnotationObject]) -> list[bytes | None]:
    """:func:`geometry_wkb` of each object, the regions' in one shapely call (a frame's
    hundred regions about three times quicker than one call each)."""
    out: list[bytes | None] = [None] * len(objects)
    at, shapes = _regions(objects)
    for i, wkb in zip(at, shapely.to_wkb(shapes).tolist(), strict=True):
        out[i] = wkb
    return out


Bounds = tuple[float, float, float, float]


def objects_bounds(objects: Sequence[AnnotationObject]) -> list[Bounds]:
    """Each object's bounds ``(x0, y0, x1, y1)``, the regions' in one shapely call (each
    region's own ``bounds`` took a tenth of an import's storing)."""
    at, shapes = _regions(objects)
    regions = {i: (x0, y0, x1, y1) for i, (x0, y0, x1, y1)
               in zip(at, shapely.bounds(shapes).tolist(), strict=True)}
    return [regions[i] if i in regions else _bounds_of(obj) for i, obj in enumerate(objects)]


def _bounds_of(obj: AnnotationObject) -> Bounds:
    box = obj.bounds
    return (box.x0, box.y0, box.x1, box.y1)


def encode_wkb(wkb: bytes | bytearray | memoryview | None) -> str | None:
    """WKB as base64 text (how the JSON form holds geometry)."""
    return None if wkb is None else base64.b64encode(bytes(wkb)).decode()


def provenance_fields(prov: Provenance) -> JsonObject:
    """Provenance as plain data, in the order every writer uses."""
    return {
        "source": prov.source,
        "created_by": prov.created_by,
        "created_at": prov.created_at.isoformat(),
        "updated_by": prov.updated_by,
        "updated_at": prov.updated_at.isoformat(),
        "verified": prov.verified,
        "confidence": prov.confidence,
    }


def _fields(
    obj: AnnotationObject,
    *,
    geometry: bool = True,
    wkb: bytes | None = None,
    bounds: Bounds | None = None,
) -> JsonObject:
    """Every field of ``obj``, geometry as WKB bytes (encoded by the callers; ``wkb`` when
    given; ``None`` without ``geometry``, which saves encoding a shape that is not
    wanted); ``bounds``: its bounds when already worked out (:func:`objects_bounds`)."""
    if bounds is None:
        bounds = _bounds_of(obj)
    return {
        "uid": obj.uid,
        "label_id": obj.label_id,
        "kind": obj.kind.value,
        "bounds": list(bounds),
        "geometry": (wkb if wkb is not None else geometry_wkb(obj)) if geometry else None,
    } | _identity_fields(obj) | {
        "crowd": obj.crowd,
        "deleted": obj.deleted,
    } | provenance_fields(obj.provenance)


def _identity_fields(obj: AnnotationObject) -> JsonObject:
    """The ids and attributes of ``obj``, in the order every writer uses."""
    return {
        "instance_id": obj.instance_id,
        "track_id": obj.track_id,
        "attributes": dict(obj.attributes),
    }


def object_to_json(
    obj: AnnotationObject,
    *,
    geometry: bool = True,
    bounds: Bounds | None = None,
) -> JsonObject:
    """An object as plain JSON data (exact: geometry as base64 WKB; ``None`` without
    ``geometry``, which saves encoding a shape that is not wanted; ``bounds`` when already
    worked out)."""
    data = _fields(obj, geometry=geometry, bounds=bounds)
    data["geometry"] = encode_wkb(data["geometry"])
    return data


def row_to_json(row: Mapping[Any, Any]) -> JsonObject:
    """A row of the ``objects`` table in the same JSON form as :func:`object_to_json`."""
    return {
        "uid": row["id"],
        "label_id": row["label_id"],
        "kind": row["kind"],
        "bounds": [row["x0"], row["y0"], row["x1"], row["y1"]],
        "geometry": encode_wkb(row["geometry"]),
        "instance_id": row["instance_id"],
        "track_id": row["track_id"],
        "attributes": json.loads(row["attributes"]),
        "crowd": bool(row["crowd"]),
        "deleted": bool(row["deleted"]),
        "source": row["source"],
        "created_by": row["created_by"],
        "created_at": row["created_at"],
        "updated_by": row["updated_by"],
        "updated_at": row["updated_at"],
        "verified": bool(row["verified"]),
        "confidence": row["confidence"],
    }


def object_from_json(data: Mapping[str, Any]) -> AnnotationObject:
    """The object that :func:`object_to_json` wrote (uid included)."""
    if data["kind"] == ObjectKind.BOX.value:
        geometry: Any = Box(*data["bounds"])
    else:
        geometry = shapely.from_wkb(base64.b64decode(data["geometry"]))
    return AnnotationObject(
        label_id=data["label_id"],
        geometry=geometry,
        provenance=Provenance(
            source=data["source"],
            created_by=data["created_by"],
            created_at=datetime.fromisoformat(data["created_at"]),
            updated_by=data["updated_by"],
            updated_at=datetime.fromisoformat(data["updated_at"]),
            verified=bool(data["verified"]),
            confidence=data["confidence"],
        ),
        instance_id=data["instance_id"],
        track_id=data["track_id"],
        attributes=dict(data["attributes"]),
        crowd=bool(data["crowd"]),
        deleted=bool(data["deleted"]),
        uid=data["uid"],
    )


def object_rows(objects: Sequence[AnnotationObject]) -> list[JsonObject]:
    """:func:`object_row` of each object (their WKB and bounds made in one call each)."""
    return [
        object_row(obj, wkb, bounds)
        for obj, wkb, bounds in zip(
            objects, geometry_wkbs(objects), objects_bounds(objects), strict=True
        )
    ]


def object_row(
    obj: AnnotationObject,
    wkb: bytes | None = None,
    bounds: Bounds | None = None,
) -> JsonObject:
    """The values of an ``objects`` row for ``obj`` (without id, frame, z and version);
    ``wkb`` and ``bounds``: its geometry's WKB and bounds when already made."""
    data = _fields(obj, wkb=wkb, bounds=bounds)
    x0, y0, x1, y1 = data.pop("bounds")
    del data["uid"]
    data["attributes"] = json.dumps(data["attributes"], sort_keys=True)
    return data | {"x0": x0, "y0": y0, "x1": x1, "y1": y1}


def extras_of(obj: AnnotationObject) -> JsonObject:
    """The ``"roadmark"`` extras that file formats write: ids, attributes and provenance.

    The fields a format has its own terms for (label, shape, crowd, deleted) are left out,
    and so are empty ids, attributes and confidence.
    """
    # the fields of _fields() that are not CORE_FIELDS, in its order (without working out
    # the bounds and the rest that are left out: an export writes this for every object)
    data = _identity_fields(obj) | provenance_fields(obj.provenance)
    return {
        key: value
        for key, value in data.items()
        if not (key in OPTIONAL_EXTRAS and (value is None or value == {}))
    }
