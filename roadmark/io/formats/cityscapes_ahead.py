"""A Cityscapes polygons file's regions, worked out ahead of the import in worker processes.

The import reads the files in order in its own process; :func:`file_regions` runs a few
files ahead in spawned workers (:func:`roadmark.io.formats.parallel.map_frames`) and does
the costly part, the regions of the usual polygons. It lives apart from
:mod:`roadmark.io.formats.cityscapes` so that a worker imports only what it needs (not the
project store and SQLAlchemy: each worker starts about 0.2 s sooner, which the import
otherwise waits for).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from roadmark.core.errors import GeometryError
from roadmark.io.formats import validate
from roadmark.io.formats.cityscapes_geometry import ImportedPolygon, polygons_to_regions
from roadmark.io.formats.common import integer, point_array, read_json_bytes
from roadmark.io.formats.errors import FormatError

Ready = tuple[NDArray[np.float64], ImportedPolygon]  # an outline's points and its region


@dataclass(frozen=True)
class Ahead:
    """A polygons file's regions worked out ahead: the digest of the bytes they were read
    from, and each object's outline and region (``None``: left to the reading in order)."""

    digest: bytes
    ready: list[Ready | None]


def digest(raw: bytes) -> bytes:
    """The digest that tells whether the file read in order has the bytes read ahead."""
    return hashlib.blake2b(raw, digest_size=16).digest()


def file_regions(file: Path) -> Ahead | None:
    """The regions of a polygons file's objects, worked out ahead (in a worker process),
    each with the outline it was made from.

    Only what reading the file in order would compute the same way: an object that is not
    a usual polygon inside the image's margin (or a file that does not parse) gets
    ``None``, and reading it in order raises or warns about it as before.
    """
    try:
        data, raw = read_json_bytes(file)
        width = integer(data.get("imgWidth"), where="", field="", minimum=1)
        height = integer(data.get("imgHeight"), where="", field="", minimum=1)
        objects = data.get("objects")
    except (FormatError, AttributeError):
        return None  # read in order, the file names its problem
    if not isinstance(objects, list):
        return None
    outlines, slots = [], []
    for index, item in enumerate(objects):
        try:
            outline = point_array(item.get("polygon"), where="", field="")
            beyond = validate.coordinates(outline, width, height, where="", field="")
        except (FormatError, AttributeError):
            continue
        if not beyond:
            outlines.append(outline)
            slots.append(index)
    ready: list[Ready | None] = [None] * len(objects)
    ahead = Ahead(digest(raw), ready)
    try:
        regions = polygons_to_regions(outlines)
    except GeometryError:
        return ahead
    for slot, outline, region in zip(slots, outlines, regions, strict=True):
        ready[slot] = (outline, region)
    return ahead
