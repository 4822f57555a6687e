"""KITTI files: ``label_2`` lines, the semantic/instance maps and roadmark's sidecar.

See :mod:`roadmark.io.formats.kitti` for the layout and the rules.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon

from roadmark.core.annotation import AnnotationObject, Box, region_parts
from roadmark.core.raster import mask_to_region, region_mask_in_box
from roadmark.core.schema import Label, LabelSchema
from roadmark.io.formats.common import points
from roadmark.io.formats.errors import FormatError
from roadmark.io.png_file import imdecode

DONT_CARE = "DontCare"
FIELDS = (
    "type",
    "truncated",
    "occluded",
    "alpha",
    "left",
    "top",
    "right",
    "bottom",
    "height",
    "width",
    "length",
    "x",
    "y",
    "z",
    "rotation_y",
    "score",
)
INSTANCE_SHIFT = 256  # instance map value = label id * 256 + instance (KITTI devkit)
MAX_LABEL_ID = 255
MAX_INSTANCES = 255
KITTI_NAME = re.compile(r"^\d{6}(?:_\d+)?$")


# -- label_2 lines ---------------------------------------------------------------------------


@dataclass
class KittiLine:
    """One object line of a ``label_2`` file.

    Attributes:
        tokens: The line's values as written (15, or 16 with a score).
        box: The 2D box (left, top, right, bottom).
        truncated: 0 (not truncated) .. 1 (truncated); -1 for DontCare.
        occluded: 0 visible, 1 partly, 2 largely occluded, 3 unknown; -1 for DontCare.
        score: Detection confidence (results files only).
    """

    tokens: list[str]
    box: Box
    truncated: float
    occluded: int
    score: float | None

    @property
    def type(self) -> str:
        return self.tokens[0]


def parse_lines(text: str, where: str) -> list[KittiLine]:
    """The object lines of a ``label_2`` file (blank lines skipped).

    Raises:
        FormatError: A line with the wrong number of values, a value that is not a finite
            number, a box with right < left or bottom < top, an occlusion that is not -1..3.
    """
    out = []
    for number_, raw in enumerate(text.splitlines(), start=1):
        tokens = raw.split()
        if not tokens:
            continue
        field = f"line {number_}"
        if len(tokens) not in (15, 16):
            raise FormatError(
                f"expected 15 values (16 with a score), got {len(tokens)}", path=where, field=field
            )
        values = [
            _value(token, where, f"{field}.{name}")
            for token, name in zip(tokens[1:], FIELDS[1:], strict=False)
        ]
        truncated, occluded = values[0], values[1]
        if not occluded.is_integer() or not -1 <= occluded <= 3:
            raise FormatError(
                f"must be -1, 0, 1, 2 or 3, got {tokens[2]!r}",
                path=where,
                field=f"{field}.occluded",
            )
        left, top, right, bottom = values[3:7]
        if right < left or bottom < top:
            raise FormatError(
                f"right/bottom must not be less than left/top, got {' '.join(tokens[4:8])}",
                path=where,
                field=f"{field}.bbox",
            )
        out.append(
            KittiLine(
                tokens=tokens,
                box=Box(left, top, right, bottom),
                truncated=truncated,
                occluded=int(occluded),
                score=values[14] if len(values) == 15 else None,
            )
        )
    return out


def _value(token: str, where: str, field: str) -> float:
    try:
        value = float(token)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise FormatError(f"must be a finite number, got {token!r}", path=where, field=field)
    return value


def number_text(value: float) -> str:
    """KITTI's two decimals where they hold the value exactly, else the shortest exact text."""
    text = f"{value:.2f}"
    return text if float(text) == value else repr(float(value))


def type_name(label: Label, schema: LabelSchema) -> str:
    """The ``type`` written for ``label``: its name with ``_`` for spaces; ``DontCare`` for
    the label DontCare boxes are read as."""
    ignore = ignore_label(schema)
    if label.name == DONT_CARE or (
        ignore is not None and label.id == ignore.id and DONT_CARE not in schema.by_name
    ):
        return DONT_CARE
    return label.name.replace(" ", "_")


def ignore_label(schema: LabelSchema) -> Label | None:
    """The label DontCare regions become when the schema has no ``DontCare`` label: label 0
    when it is ignored in evaluation (Cityscapes' ``unlabeled``), else the ignored label with
    the lowest id."""
    ignored = sorted(
        (label for label in schema.labels if label.ignore_in_eval and label.id >= 0),
        key=lambda label: label.id,
    )
    return ignored[0] if ignored else None


FIELD_TOKENS = {  # schema attribute named after a label_2 field -> its tokens
    "truncated": slice(1, 2),
    "occluded": slice(2, 3),
    "alpha": slice(3, 4),
    "dimensions": slice(8, 11),
    "location": slice(11, 14),
    "rotation_y": slice(14, 15),
}


def line_attributes(line: KittiLine, label: Label, schema: LabelSchema) -> dict[str, Any]:
    """The attributes of ``label`` that a line's fields fill.

    A ``bool`` ``occluded`` (1 or 2) or ``truncated`` (above 0) is set when true; a ``text``
    or ``choice`` attribute named after a field (the ``kitti`` schema's ``truncated``,
    ``occluded``, ``alpha``, ``dimensions``, ``location``, ``rotation_y``) takes its text.
    """
    out: dict[str, Any] = {}
    for name in label.attributes:
        part = FIELD_TOKENS.get(name)
        if part is None:
            continue
        spec = schema.attributes[name]
        text = " ".join(line.tokens[part])
        if spec.type == "bool":
            if (name == "occluded" and line.occluded in (1, 2)) or (
                name == "truncated" and line.truncated > 0
            ):
                out[name] = True
        elif spec.type == "text" or text in spec.choices:
            out[name] = text
    return out


def box_line(
    obj: AnnotationObject, label: Label, schema: LabelSchema, original: Any, where: str
) -> str:
    """The ``label_2`` line of a box.

    An unedited imported box starts from its original values (3D fields included), a new or
    edited one from KITTI's "unknown" values; the type, the score and the fields the
    label's attributes hold are then brought up to date.

    Raises:
        FormatError: A text attribute does not hold the number(s) its field needs.
    """
    assert isinstance(obj.geometry, Box)
    name = type_name(label, schema)
    confidence = obj.provenance.confidence
    tokens = _original_tokens(original)
    if tokens is None:
        box = obj.geometry
        unknown = "-1" if name == DONT_CARE else "0"
        tokens = [name, unknown + (".00" if unknown == "0" else ""), unknown, "-10"]
        tokens += [number_text(v) for v in (box.x0, box.y0, box.x1, box.y1)]
        tokens += ["-1", "-1", "-1", "-1000", "-1000", "-1000", "-10"]
    else:
        tokens[0] = name
        if confidence is not None and len(tokens) == 16 and float(tokens[15]) == confidence:
            confidence = None  # the original text of the score stays
        elif len(tokens) == 16:
            tokens.pop()
    for attribute in label.attributes:
        part = FIELD_TOKENS.get(attribute)
        value = obj.attributes.get(attribute)
        if part is None or (value is None and schema.attributes[attribute].type != "bool"):
            continue
        if schema.attributes[attribute].type == "bool":
            now = float(tokens[2]) in (1, 2) if attribute == "occluded" else float(tokens[1]) > 0
            if now != (value is True):
                tokens[part] = ["1" if value is True else "0"]
                if attribute == "truncated":
                    tokens[part] = ["1.00" if value is True else "0.00"]
            continue
        tokens[part] = _field_tokens(value, part.stop - part.start, attribute, where)
    if confidence is not None:
        tokens.append(number_text(confidence))
    return " ".join(tokens)


def _field_tokens(value: Any, count: int, attribute: str, where: str) -> list[str]:
    parts = value.split() if isinstance(value, str) else []
    if len(parts) != count or not all(math.isfinite(_float_or_nan(p)) for p in parts):
        raise FormatError(
            f"attribute {attribute!r} must hold {count} number(s) for KITTI, got {value!r}",
            path=where,
            field=attribute,
        )
    return parts


def _float_or_nan(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def _original_tokens(original: Any) -> list[str] | None:
    if (
        isinstance(original, list)
        and len(original) in (15, 16)
        and all(isinstance(token, str) for token in original)
    ):
        return list(original)
    return None


# -- semantic and instance maps --------------------------------------------------------------


def read_map(path: Path, *, instance: bool) -> np.ndarray:
    """A single-channel label map: ``semantic`` (8 or 16 bit) or ``instance`` (16 bit).

    Raises:
        FormatError: Unreadable, not single-channel, or not 16-bit for an instance map.
    """
    try:
        data = np.frombuffer(path.read_bytes(), dtype=np.uint8)
    except OSError as error:
        raise FormatError(f"cannot read ({error.strerror})", path=str(path)) from error
    array = imdecode(data, cv2.IMREAD_UNCHANGED)
    if array is None:
        raise FormatError("is not a readable PNG", path=str(path))
    if array.ndim != 2:
        raise FormatError(
            f"must be a single-channel label map, got {array.shape[2]} channels", path=str(path)
        )
    if instance and array.dtype != np.uint16:
        raise FormatError(
            "must be a 16-bit PNG (label id * 256 + instance)", path=str(path), field="instance"
        )
    if array.dtype not in (np.uint8, np.uint16):
        raise FormatError(f"must hold 8 or 16-bit values, got {array.dtype}", path=str(path))
    return array.astype(np.int64)


def segments(values: np.ndarray) -> Iterator[tuple[int, Any]]:
    """Each nonzero value of a map with the exact pixel region it covers.

    The bounding boxes of all values come from one pass over the map, so each region is
    traced from its own box rather than from the whole frame.
    """
    flat = values.ravel()
    found = np.flatnonzero(np.bincount(flat, minlength=1))  # values are 0..65535: no sort
    lookup = np.zeros(int(found[-1]) + 1, dtype=np.int32)
    lookup[found] = np.arange(len(found), dtype=np.int32)
    inverse = lookup[values]
    rows = np.zeros((len(found), values.shape[0]), dtype=bool)
    cols = np.zeros((len(found), values.shape[1]), dtype=bool)
    rows[inverse, np.arange(values.shape[0])[:, None]] = True
    cols[inverse, np.arange(values.shape[1])[None, :]] = True
    for index, value in enumerate(found.tolist()):
        if value == 0:
            continue
        r = np.flatnonzero(rows[index])
        c = np.flatnonzero(cols[index])
        window = inverse[r[0] : r[-1] + 1, c[0] : c[-1] + 1] == index
        yield int(value), mask_to_region(window, offset=(float(c[0]), float(r[0])))


def paint_values(regions: list[tuple[Any, int]], height: int, width: int) -> np.ndarray:
    """An instance map (``label id * 256 + instance``) of regions painted in z-order."""
    out = np.zeros((height, width), dtype=np.int64)
    for region, value in regions:
        mask, row0, col0 = region_mask_in_box(region, height, width)
        window = out[row0 : row0 + mask.shape[0], col0 : col0 + mask.shape[1]]
        window[mask] = value
    return out


def map_value(label: Label, instance: int, where: str) -> int:
    """The instance-map value of an object of ``label`` (``instance`` 0: none) on the frame
    of image ``where``.

    Raises:
        FormatError: The label id or the instance do not fit KITTI's 8 bits.
    """
    if not 0 <= label.id <= MAX_LABEL_ID:
        raise FormatError(
            f"label {label.name!r} has id {label.id}; KITTI label maps hold ids 0..{MAX_LABEL_ID}",
            path=where,
            field="label",
        )
    if instance > MAX_INSTANCES:
        raise FormatError(
            f"more than {MAX_INSTANCES} instances of {label.name!r}; KITTI instance maps hold "
            f"1..{MAX_INSTANCES} per label",
            path=where,
            field="instance",
        )
    return label.id * INSTANCE_SHIFT + instance


def write_png(path: Path, array: np.ndarray) -> None:
    """Write a label map or an RGB image (RGB order) as PNG."""
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".png", array, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise FormatError("cannot encode PNG", path=str(path))
    path.write_bytes(encoded.tobytes())


# -- the sidecar's regions -------------------------------------------------------------------


def region_to_json(region: Any) -> list[list[list[list[float]]]]:
    """A region as polygons of rings (outline first, then holes) of exact ``[x, y]`` points."""
    return [
        [[list(point) for point in ring.coords[:-1]] for ring in (part.exterior, *part.interiors)]
        for part in region_parts(region)
    ]


def region_from_json(value: Any, where: str, field: str) -> Any:
    """The region :func:`region_to_json` wrote.

    Raises:
        FormatError: Not a list of polygons of rings of points, or no valid area.
    """
    if not isinstance(value, list) or not value:
        raise FormatError("must be a list of polygons", path=where, field=field)
    parts = []
    for index, polygon in enumerate(value):
        part = f"{field}[{index}]"
        if not isinstance(polygon, list) or not polygon:
            raise FormatError("must be a list of rings", path=where, field=part)
        rings = [points(ring, where=where, field=f"{part}[{k}]") for k, ring in enumerate(polygon)]
        parts.append(Polygon(rings[0], rings[1:]))
    region = parts[0] if len(parts) == 1 else MultiPolygon(parts)
    if not region.is_valid or region.area <= 0:
        reason = shapely.is_valid_reason(region) if region.area > 0 else "no area"
        raise FormatError(f"is not a valid region ({reason})", path=where, field=field)
    return region


def read_sidecar(path: Path) -> list[Any]:
    """The ``objects`` of a sidecar file.

    Raises:
        FormatError: Not JSON, or not an object with an ``objects`` list.
    """
    try:
        data = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise FormatError("not valid JSON", path=str(path)) from error
    except OSError as error:
        raise FormatError(f"cannot read ({error.strerror})", path=str(path)) from error
    if not isinstance(data, dict) or not isinstance(data.get("objects"), list):
        raise FormatError("must be an object with an 'objects' list", path=str(path))
    return data["objects"]
