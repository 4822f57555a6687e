"""YOLO label lines and class names: reading and writing the text of one label file.

See :mod:`roadmark.io.formats.yolo` for the layout and the rules.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from PIL import Image, UnidentifiedImageError
from shapely.geometry import LineString, Point, Polygon
from shapely.ops import polylabel

from roadmark.core.annotation import AnnotationObject, Box, Region, as_region
from roadmark.core.errors import GeometryError
from roadmark.io.formats.common import ImportContext
from roadmark.io.formats.errors import FormatError

DECIMALS = 6  # digits after the point of a normalized coordinate
_EXIF_ORIENTATION = 0x0112
_TRANSPOSED = {5, 6, 7, 8}  # EXIF orientations that swap width and height


def yolo_line(class_index: int, values: list[float], confidence: float | None) -> str:
    """``class v1 v2 ...`` with :data:`DECIMALS` decimals (and the confidence last)."""
    parts = [str(class_index)] + [f"{min(max(v, 0.0), 1.0):.{DECIMALS}f}" for v in values]
    if confidence is not None:
        parts.append(f"{confidence:.{DECIMALS}f}")
    return " ".join(parts)


def class_names(data: dict, where: str) -> list[str]:
    """The class names of a dataset YAML by class index (``names`` as a list or a mapping).

    Raises:
        FormatError: ``names`` is missing or malformed, or disagrees with ``nc``.
    """
    names = data.get("names")
    if isinstance(names, dict):
        keys = list(names)
        if not all(isinstance(k, int) and not isinstance(k, bool) for k in keys) or sorted(
            keys
        ) != list(range(len(keys))):
            raise FormatError(
                "must map the class indices 0, 1, ... to names", path=where, field="names"
            )
        names = [names[index] for index in range(len(keys))]
    if not isinstance(names, list) or not names:
        raise FormatError("must be a list of class names", path=where, field="names")
    for index, name in enumerate(names):
        if not isinstance(name, str) or not name.strip():
            raise FormatError(f"must be a name, got {name!r}", path=where, field=f"names[{index}]")
    count = data.get("nc")
    if count is not None and count != len(names):
        raise FormatError(
            f"says {count!r} classes but names lists {len(names)}", path=where, field="nc"
        )
    return [name.strip() for name in names]


def image_size(path: Path) -> tuple[int, int]:
    """Width and height of an image as shown (EXIF orientation applied), from its header.

    Raises:
        FormatError: The file is not an image.
    """
    try:
        with Image.open(path) as image:
            width, height = image.size
            orientation = image.getexif().get(_EXIF_ORIENTATION)
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise FormatError("is not a readable image", path=str(path)) from error
    return (height, width) if orientation in _TRANSPOSED else (width, height)


def read_label_file(
    path: Path, names: list[str], size: tuple[int, int], context: ImportContext
) -> list[AnnotationObject]:
    """The objects of one label file, in line order.

    Raises:
        FormatError: A line is malformed, names an unknown class or has coordinates
            outside 0..1 (naming the file and the line).
    """
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise FormatError("not a text file (not UTF-8)", path=where) from error
    except OSError as error:
        raise FormatError(f"cannot read ({error.strerror})", path=where) from error
    objects = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            obj = _read_line(line, names, size, where, f"line {number}", context)
            if obj is not None:
                objects.append(obj)
    return objects


def _read_line(
    line: str,
    names: list[str],
    size: tuple[int, int],
    where: str,
    field: str,
    context: ImportContext,
) -> AnnotationObject | None:
    tokens = line.split()
    values = [_value(token, where, field) for token in tokens[1:]]
    class_index = _class_index(tokens[0], len(names), where, field)
    count = len(values)
    if count not in (4, 5) and count < 6:
        raise FormatError(
            f"expected 'class cx cy w h' or 'class x1 y1 x2 y2 x3 y3 ...', got {count} values "
            "after the class",
            path=where,
            field=field,
        )
    scored = count == 5 or (count > 5 and count % 2 == 1)
    confidence = values.pop() if scored else None
    if any(not 0.0 <= v <= 1.0 for v in values):
        raise FormatError(
            "coordinates must be normalized to 0..1 (divided by the image size)",
            path=where,
            field=field,
        )
    if confidence is not None and not 0.0 <= confidence <= 1.0:
        raise FormatError(
            f"the confidence must lie in 0..1, got {confidence}", path=where, field=field
        )
    label = context.labels.resolve(names[class_index])
    if label is None:
        return None
    width, height = size
    provenance = context.provenance(confidence=confidence)
    if len(values) == 4:
        cx, cy, w, h = values
        box = Box.from_xywh((cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height)
        return AnnotationObject(label.id, box, provenance)
    points = [(x * width, y * height) for x, y in zip(values[::2], values[1::2], strict=True)]
    try:
        region = even_odd_region(points)
    except GeometryError:
        context.warnings.warn("polygon has no area; skipped", path=where, field=field)
        return None
    return AnnotationObject(label.id, region, provenance)


def even_odd_region(points: list[tuple[float, float]]) -> Region:
    """The region a closed outline fills by the even-odd rule (as OpenCV's ``fillPoly``
    draws YOLO polygons): a point is inside when a ray from it crosses the outline an odd
    number of times. Zero-width cuts (an edge drawn there and back) join holes and parts
    without adding area, so a joined outline comes back as its parts and holes.

    Raises:
        GeometryError: The outline encloses no area.
    """
    polygon = Polygon(points)
    if polygon.is_valid and polygon.area > 0:
        return polygon
    outline = np.asarray(points, dtype=float)
    noded = shapely.unary_union(LineString([*points, points[0]]))  # crossings become nodes
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    inside = [face for face in faces if _odd(outline, _deep_point(face))]
    if not inside:
        raise GeometryError("region has no area")
    return as_region(shapely.union_all(inside))


def _deep_point(face: Polygon) -> Point:
    """A point of ``face`` far from its edges (the pole of inaccessibility), so the ray
    test is not decided by rounding, even in a sliver."""
    return polylabel(face, tolerance=max(face.length * 1e-6, 1e-12))


def _odd(outline: np.ndarray, point: Point) -> bool:
    """Whether a ray from ``point`` to the right crosses the closed ``outline`` an odd
    number of times (edges counted half-open in y, so a vertex on the ray counts once)."""
    x, y = point.x, point.y
    x0, y0 = outline[:, 0], outline[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    straddles = (y0 > y) != (y1 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing_x = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    return bool(np.count_nonzero(straddles & (crossing_x > x)) % 2)


def _value(token: str, where: str, field: str) -> float:
    try:
        value = float(token)
    except ValueError as error:
        raise FormatError(f"{token!r} is not a number", path=where, field=field) from error
    if not math.isfinite(value):
        raise FormatError(f"{token!r} is not a finite number", path=where, field=field)
    return value


def _class_index(token: str, count: int, where: str, field: str) -> int:
    value: Any = _value(token, where, field)
    if not float(value).is_integer() or not 0 <= value < count:
        raise FormatError(
            f"class {token!r} is not one of the {count} classes (0..{count - 1}) in names",
            path=where,
            field=field,
        )
    return int(value)
