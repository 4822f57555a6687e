"""A Cityscapes polygons file read ahead of the import, in worker processes.

The import takes the files in order in its own process; :func:`file_regions` runs a few
files ahead in spawned workers (:func:`roadmark.io.formats.parallel.map_frames`): it parses
the file and does the costly part, the regions of the usual polygons and their JSON text
(kept as the objects' originals). The reading in order gets the parsed file without those
polygons (the bulk of its bytes), so it neither reads nor parses the file again. It lives
apart from :mod:`roadmark.io.formats.cityscapes` so that a worker imports only what it
needs (not the project store and SQLAlchemy: each worker starts about 0.2 s sooner, which
the import otherwise waits for).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roadmark.core.errors import GeometryError
from roadmark.io.codec import JsonText, json_text
from roadmark.io.formats import validate
from roadmark.io.formats.cityscapes_geometry import ImportedPolygon, polygons_to_regions
from roadmark.io.formats.common import integer, point_array, read_json_bytes
from roadmark.io.formats.errors import FormatError

# an object's outline's extent (x0, y0, x1, y1), its region and its "polygon" as JSON text
Ready = tuple[tuple[float, float, float, float], ImportedPolygon, JsonText]


@dataclass(frozen=True)
class Ahead:
    """A polygons file read ahead: its parsed content, where each object in ``ready`` has
    no ``"polygon"`` any more, and per object its points' extent, region and polygon text
    (``None``: the object is as in the file, left to the reading in order)."""

    data: dict[str, Any]
    ready: list[Ready | None]


def file_regions(file: Path) -> Ahead | None:
    """A polygons file parsed, with the regions of its objects worked out (in a worker
    process), each with the extent of the points it was made from.

    Only what reading the file in order would compute the same way: an object that is not
    a usual polygon inside the image's margin gets ``None`` and keeps its polygon, and
    reading it in order raises or warns about it as before; a file that does not parse as
    an object with a list of objects gives ``None`` (read in order, it names its problem).
    """
    try:
        data, _ = read_json_bytes(file)
        width = integer(data.get("imgWidth"), where="", field="", minimum=1)
        height = integer(data.get("imgHeight"), where="", field="", minimum=1)
        objects = data.get("objects")
    except (FormatError, AttributeError):
        return None  # read in order, the file names its problem
    if not isinstance(objects, list):
        return None
    outlines, extents, slots = [], [], []
    for index, item in enumerate(objects):
        try:
            outline = point_array(item.get("polygon"), where="", field="")
            beyond, extent = validate.extent(outline, width, height, where="", field="")
        except (FormatError, AttributeError):
            continue
        if not beyond:
            outlines.append(outline)
            extents.append(extent)
            slots.append(index)
    ready: list[Ready | None] = [None] * len(objects)
    ahead = Ahead(data, ready)
    try:
        regions = polygons_to_regions(outlines)
    except GeometryError:
        return ahead
    for slot, extent, region in zip(slots, extents, regions, strict=True):
        ready[slot] = (extent, region, json_text(objects[slot].pop("polygon")))
    return ahead
