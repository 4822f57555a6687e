"""What an imported object looked like in its file, so an unedited object exports unchanged.

Cityscapes polygons have integer points and roadmark widens them slightly on import (see
:mod:`roadmark.io.formats.cityscapes_geometry`), so the points cannot be recovered from the
region. The table ``import_sources`` keeps, per imported object, the format, a digest of
the geometry as imported (16 bytes of BLAKE2b over its WKB; projects imported before keep
the WKB itself, which is compared as it is) and the original representation (JSON). On
export an object whose geometry is still the imported one is written from the original; an
edited object is written from its geometry. Rows go with their object (``ON DELETE
CASCADE``).

The table is registered on the project's metadata (new projects get it when this module is
loaded before they are made) and created on first use in older ones. Portable SQL as in
:mod:`roadmark.io.tables`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

import shapely
import sqlalchemy as sa

from roadmark.core.annotation import AnnotationObject, Box
from roadmark.io.codec import JsonText, geometry_wkbs, json_text
from roadmark.io.tables import metadata

import_sources = sa.Table(
    "import_sources",
    metadata,
    sa.Column(
        "object_id",
        sa.Integer,
        sa.ForeignKey("objects.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("format", sa.String(32), nullable=False),
    sa.Column("geometry", sa.LargeBinary, nullable=False),  # digest (or WKB) as imported
    sa.Column("original", sa.Text, nullable=False),  # JSON, the format's own representation
)


DIGEST_BYTES = 16


def geometry_key(obj: AnnotationObject) -> bytes:
    """The bytes that tell whether an object's geometry changed since import (its WKB, or a
    box's corners as JSON)."""
    if isinstance(obj.geometry, Box):
        return json.dumps(obj.geometry.to_xywh()).encode()
    return shapely.to_wkb(obj.geometry)


def geometry_keys(objects: Sequence[AnnotationObject]) -> list[bytes]:
    """:func:`geometry_key` of each object (the regions' WKB made in one call)."""
    return [
        geometry_key(obj) if wkb is None else wkb
        for obj, wkb in zip(objects, geometry_wkbs(objects), strict=True)
    ]


def _digest(key: bytes) -> bytes:
    return hashlib.blake2b(key, digest_size=DIGEST_BYTES).digest()


def _same_geometry(stored: bytes, key: bytes) -> bool:
    """Whether ``stored`` (a digest, or the key itself in older projects) is that of an
    object's :func:`geometry_key` ``key``."""
    return stored in (_digest(key), key)


class Recorder:
    """Keeps the originals of one import's stored objects, in its transaction ``conn``.

    The table is made (if the project lacks it) with the first rows, once per import
    rather than looked up again for every frame.
    """

    def __init__(self, conn: sa.Connection, format_id: str) -> None:
        self._conn = conn
        self._format_id = format_id
        self._table_made = False

    def record(self, stored: Sequence[AnnotationObject], originals: Sequence[Any]) -> None:
        """Keep the originals of just-stored objects (``uid`` set): JSON-compatible values
        or their :class:`~roadmark.io.codec.JsonText`; ``None`` entries are skipped."""
        kept = [
            (obj, original)
            for obj, original in zip(stored, originals, strict=True)
            if original is not None and obj.uid is not None
        ]
        keys = geometry_keys([obj for obj, _ in kept])
        rows = [
            {
                "object_id": obj.uid,
                "format": self._format_id,
                "geometry": _digest(key),  # a third of the row, not the shape
                "original": original if isinstance(original, JsonText) else json_text(original),
            }
            for (obj, original), key in zip(kept, keys, strict=True)
        ]
        if not rows:
            return
        if not self._table_made:
            import_sources.create(self._conn, checkfirst=True)
            self._table_made = True
        self._conn.execute(import_sources.insert(), rows)


def present(conn: sa.Connection) -> bool:
    """Whether the project has the table (it is made by the first import that needs it)."""
    return sa.inspect(conn).has_table(import_sources.name)


def unchanged_originals(
    conn: sa.Connection, format_id: str, objects: Iterable[AnnotationObject]
) -> dict[int, Any]:
    """``uid -> original`` for ``objects`` imported from ``format_id`` and not reshaped since.

    The table must be :func:`present`.
    """
    by_uid = {obj.uid: obj for obj in objects if obj.uid is not None}
    if not by_uid:
        return {}
    rows = conn.execute(
        sa.select(import_sources.c.object_id, import_sources.c.geometry, import_sources.c.original)
        .where(import_sources.c.format == format_id)
        .where(import_sources.c.object_id.in_(list(by_uid)))
    )
    found = rows.all()
    keys = geometry_keys([by_uid[uid] for uid, _, _ in found])  # the regions' WKB at once
    return {
        uid: json.loads(original)
        for (uid, geometry, original), key in zip(found, keys, strict=True)
        if _same_geometry(bytes(geometry), key)
    }
