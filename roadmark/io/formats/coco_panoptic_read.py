"""COCO panoptic reading: the JSON's entries and the segment PNGs into roadmark objects.

See :mod:`roadmark.io.formats.coco_panoptic` for the layout and the rules.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import cv2
import numpy as np
import shapely
from numpy.typing import NDArray

from roadmark.core.annotation import AnnotationObject, Box, as_region
from roadmark.core.errors import GeometryError
from roadmark.core.raster import mask_to_region
from roadmark.io.formats.common import (
    EXTRAS_KEY,
    ImportContext,
    ImportedFrame,
    apply_extras,
    integer,
    number,
    number_instances,
    safe_relative,
)
from roadmark.io.formats.errors import FormatError
from roadmark.io.png_file import imdecode

MAX_SEGMENT_ID = 256**3 - 1


def rgb_to_id(rgb: NDArray[np.uint8]) -> NDArray[np.int64]:
    """Segment ids of an ``(H, W, 3)`` RGB array: ``R + 256 * G + 256^2 * B``
    (panopticapi's ``rgb2id``)."""
    red, green, blue = (rgb[..., channel].astype(np.int64) for channel in range(3))
    return red | (green << 8) | (blue << 16)


def id_to_rgb(ids: NDArray[np.integer]) -> NDArray[np.uint8]:
    """The RGB array of a segment-id map (the inverse of :func:`rgb_to_id`; ids must lie in
    ``0 .. 256^3 - 1``): the three low bytes of each id, least significant first."""
    little = np.ascontiguousarray(ids, dtype="<u4")
    return little.view(np.uint8).reshape(*little.shape, 4)[..., :3]


def read_list(data: dict, key: str, where: str) -> list:
    value = data.get(key)
    if value is None and key == "annotations":
        return []
    if not isinstance(value, list):
        raise FormatError(f"must be a list, got {type(value).__name__}", path=where, field=key)
    return value


def read_categories(items: list, where: str) -> dict[int, str]:
    out: dict[int, str] = {}
    for index, item in enumerate(items):
        field = f"categories[{index}]"
        if not isinstance(item, dict):
            raise FormatError("must be an object with id and name", path=where, field=field)
        category_id = integer(item.get("id"), where=where, field=f"{field}.id")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise FormatError(f"must be a name, got {name!r}", path=where, field=f"{field}.name")
        isthing = item.get("isthing", 0)
        if isthing not in (0, 1) or isinstance(isthing, bool | float):
            raise FormatError(
                f"must be 0 or 1, got {item.get('isthing')!r}", path=where, field=f"{field}.isthing"
            )
        if category_id in out:
            raise FormatError(
                f"duplicate category id {category_id}", path=where, field=f"{field}.id"
            )
        out[category_id] = name
    return out


def image_roots(source: Path, data: dict, images: Path | None) -> list[Path]:
    if images is not None:
        return [images]
    roots = [source.parent]
    info = data.get("info")
    extras = info.get(EXTRAS_KEY) if isinstance(info, dict) else None
    recorded = extras.get("images_root") if isinstance(extras, dict) else None
    if isinstance(recorded, str) and recorded and "\x00" not in recorded:
        roots.append(Path(recorded))
    return roots


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name too long for the file system, for example
        return False


def read_image_entry(
    image: dict,
    index: int,
    annotation: tuple[int, dict] | None,
    categories: dict[int, str],
    roots: list[Path],
    masks: Path,
    where: str,
    context: ImportContext,
) -> ImportedFrame:
    field = f"images[{index}]"
    name = safe_relative(image.get("file_name"), where=where, field=f"{field}.file_name")
    width = integer(image.get("width"), where=where, field=f"{field}.width", minimum=1)
    height = integer(image.get("height"), where=where, field=f"{field}.height", minimum=1)
    extras = image.get(EXTRAS_KEY)
    video_frame = None
    if isinstance(extras, dict) and extras.get("video_frame") is not None:
        video_frame = integer(
            extras["video_frame"], where=where, field=f"{field}.{EXTRAS_KEY}.video_frame", minimum=0
        )
    path = next((root / name for root in roots if _is_file(root / name)), None)
    if path is None:
        raise FormatError(
            f"image {str(name)!r} not found under {', '.join(map(str, roots))} (use --images DIR)",
            path=where,
            field=f"{field}.file_name",
        )
    objects: list[AnnotationObject] = []
    if annotation is not None:
        objects = _read_annotation(*annotation, categories, (width, height), masks, where, context)
    return ImportedFrame(
        image=path.resolve(),
        objects=objects,
        where=where,
        width=width,
        height=height,
        video_frame=video_frame,
    )


def _read_png(path: Path, size: tuple[int, int], where: str, field: str) -> NDArray[np.int64]:
    try:
        data = path.read_bytes()
    except FileNotFoundError as error:
        raise FormatError(
            f"segment PNG {path} not found (use --masks DIR)", path=where, field=field
        ) from error
    except OSError as error:
        raise FormatError(f"cannot read ({error.strerror})", path=str(path)) from error
    array = imdecode(data, cv2.IMREAD_UNCHANGED)
    if array is None:
        raise FormatError("is not a readable PNG", path=str(path))
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] not in (3, 4):
        raise FormatError(
            f"must be an 8-bit RGB image, got {array.dtype} with shape {array.shape}",
            path=str(path),
        )
    width, height = size
    if array.shape[:2] != (height, width):
        raise FormatError(
            f"is {array.shape[1]}x{array.shape[0]} but the image is {width}x{height}",
            path=str(path),
        )
    return rgb_to_id(cast(NDArray[np.uint8], cv2.cvtColor(array[:, :, :3], cv2.COLOR_BGR2RGB)))


def _read_annotation(
    index: int,
    ann: dict,
    categories: dict[int, str],
    size: tuple[int, int],
    masks: Path,
    where: str,
    context: ImportContext,
) -> list[AnnotationObject]:
    field = f"annotations[{index}]"
    name = safe_relative(ann.get("file_name"), where=where, field=f"{field}.file_name")
    infos = ann.get("segments_info")
    if not isinstance(infos, list):
        raise FormatError(
            f"must be a list, got {type(infos).__name__}",
            path=where,
            field=f"{field}.segments_info",
        )
    ids = _read_png(masks / name, size, where, f"{field}.file_name")
    table = _SegmentTable.of(ids)
    entries: list[tuple[float, int, AnnotationObject]] = []
    listed: set[int] = set()
    for seg_index, info in enumerate(infos):
        seg_field = f"{field}.segments_info[{seg_index}]"
        segment_id, obj = _read_segment(info, seg_field, categories, table, where, context)
        if segment_id in listed:
            raise FormatError(
                f"duplicate segment id {segment_id}", path=where, field=f"{seg_field}.id"
            )
        listed.add(segment_id)
        if obj is not None:
            entries.append((_rank(info), seg_index, obj))
    unlisted = [
        (int(v), int(c))
        for v, c in zip(table.values, table.counts, strict=True)
        if v and v not in listed
    ]
    if unlisted:
        pixels = sum(c for _, c in unlisted)
        shown = ", ".join(str(v) for v, _ in unlisted[:5])
        context.warnings.warn(
            f"{pixels} pixels have segment ids no segment lists ({shown}"
            f"{', ...' if len(unlisted) > 5 else ''}); left unlabeled",
            path=str(masks / name),
        )
    extras = ann.get(EXTRAS_KEY)
    if extras is not None:
        if not isinstance(extras, dict):
            raise FormatError("must be an object", path=where, field=f"{field}.{EXTRAS_KEY}")
        boxes = extras.get("boxes", [])
        if not isinstance(boxes, list):
            raise FormatError("must be a list", path=where, field=f"{field}.{EXTRAS_KEY}.boxes")
        for box_index, item in enumerate(boxes):
            box_field = f"{field}.{EXTRAS_KEY}.boxes[{box_index}]"
            obj = _read_box(item, box_field, categories, where, context)
            if obj is not None:
                entries.append((_rank(item), len(infos) + box_index, obj))
        unseen = extras.get("unseen", [])
        if not isinstance(unseen, list):
            raise FormatError("must be a list", path=where, field=f"{field}.{EXTRAS_KEY}.unseen")
        for unseen_index, item in enumerate(unseen):
            unseen_field = f"{field}.{EXTRAS_KEY}.unseen[{unseen_index}]"
            obj = _read_unseen(item, unseen_field, categories, where, context)
            if obj is not None:
                entries.append((_rank(item), len(infos) + len(boxes) + unseen_index, obj))
    entries.sort(key=lambda entry: (entry[0], entry[1]))
    return number_instances([obj for _, _, obj in entries], context.labels.schema)


def _rank(item: Any) -> float:
    extras = item.get(EXTRAS_KEY) if isinstance(item, dict) else None
    index = extras.get("object") if isinstance(extras, dict) else None
    if isinstance(index, int) and not isinstance(index, bool) and index >= 0:
        return float(index)
    return float("inf")


def _category(
    value: Any, categories: dict[int, str], where: str, field: str, context: ImportContext
) -> Any:
    if isinstance(value, bool) or not isinstance(value, int) or value not in categories:
        raise FormatError(f"no category has id {value!r}", path=where, field=field)
    return context.labels.resolve(categories[value])


def _crowd(item: dict, where: str, field: str) -> bool:
    crowd = item.get("iscrowd", 0)
    if crowd not in (0, 1) or isinstance(crowd, bool | float):
        raise FormatError(f"must be 0 or 1, got {crowd!r}", path=where, field=field)
    return bool(crowd)


def _with_extras(obj: AnnotationObject, item: dict, where: str, field: str) -> AnnotationObject:
    if item.get("score") is not None:
        score = number(item["score"], where=where, field=f"{field}.score")
        obj = replace(obj, provenance=replace(obj.provenance, confidence=score))
    extras = item.get(EXTRAS_KEY)
    if isinstance(extras, dict):
        extras = {key: value for key, value in extras.items() if key != "object"}
    return apply_extras(obj, extras, where=where, field=f"{field}.{EXTRAS_KEY}")


def _read_segment(
    info: Any,
    field: str,
    categories: dict[int, str],
    table: _SegmentTable,
    where: str,
    context: ImportContext,
) -> tuple[int, AnnotationObject | None]:
    """The segment's id and its region (``None``: no pixels, or a label left out)."""
    if not isinstance(info, dict):
        raise FormatError("must be an object with id and category_id", path=where, field=field)
    segment_id = integer(info.get("id"), where=where, field=f"{field}.id", minimum=1)
    if segment_id > MAX_SEGMENT_ID:
        raise FormatError(
            f"must be at most 256^3 - 1 (an RGB color), got {segment_id}",
            path=where,
            field=f"{field}.id",
        )
    label = _category(info.get("category_id"), categories, where, f"{field}.category_id", context)
    crowd = _crowd(info, where, f"{field}.iscrowd")
    position = table.find(segment_id)
    found = position is not None
    pixels = int(table.counts[position]) if position is not None else 0
    if info.get("area") is not None:
        area = number(info["area"], where=where, field=f"{field}.area")
        if area != pixels and found:
            context.warnings.warn(
                f"area {area:g} differs from the segment's {pixels} pixels in the PNG; the PNG "
                "is imported",
                path=where,
                field=f"{field}.area",
            )
    if position is None:
        context.warnings.warn(
            f"segment {segment_id} has no pixels in the PNG; skipped", path=where, field=field
        )
        return segment_id, None
    if label is None:
        return segment_id, None
    region = table.region(position)
    obj = AnnotationObject(label.id, region, context.provenance(), crowd=crowd)
    return segment_id, _with_extras(obj, info, where, field)


@dataclass(frozen=True)
class _SegmentTable:
    """The segment ids of a PNG with their pixel counts and bounding boxes, from one sort
    of the id map (so each segment's region is traced inside its own box).

    Attributes:
        ids: The ``(H, W)`` id map.
        values: The ids present, ascending (0 included when there is void).
        counts: Pixels of each id.
        boxes: ``(row0, row1, col0, col1)`` of each id, ends exclusive.
    """

    ids: NDArray[np.int64]
    values: NDArray[np.int64]
    counts: NDArray[np.int64]
    boxes: NDArray[np.int64]

    @classmethod
    def of(cls, ids: NDArray[np.int64]) -> _SegmentTable:
        flat = ids.ravel()
        order = np.argsort(flat, kind="stable")
        ordered = flat[order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        rows, cols = np.divmod(order, ids.shape[1])
        boxes = np.stack(
            [
                np.minimum.reduceat(rows, starts),
                np.maximum.reduceat(rows, starts) + 1,
                np.minimum.reduceat(cols, starts),
                np.maximum.reduceat(cols, starts) + 1,
            ],
            axis=1,
        )
        counts = np.diff(np.r_[starts, flat.size])
        return cls(ids, ordered[starts], counts, boxes)

    def find(self, segment_id: int) -> int | None:
        """The position of ``segment_id`` in :attr:`values`; ``None`` when absent."""
        position = int(np.searchsorted(self.values, segment_id))
        if position < len(self.values) and self.values[position] == segment_id:
            return position
        return None

    def region(self, position: int) -> Any:
        """The exact pixel-edge region of the segment at ``position``."""
        row0, row1, col0, col1 = (int(v) for v in self.boxes[position])
        crop = self.ids[row0:row1, col0:col1] == self.values[position]
        return mask_to_region(crop, offset=(float(col0), float(row0)))


def _read_unseen(
    item: Any, field: str, categories: dict[int, str], where: str, context: ImportContext
) -> AnnotationObject | None:
    """A region without a segment (covered, or covering no pixel), kept as WKT."""
    if not isinstance(item, dict):
        raise FormatError("must be an object with category_id and wkt", path=where, field=field)
    label = _category(item.get("category_id"), categories, where, f"{field}.category_id", context)
    crowd = _crowd(item, where, f"{field}.iscrowd")
    text = item.get("wkt")
    try:
        if not isinstance(text, str):
            raise TypeError(text)
        region = as_region(shapely.from_wkt(text))
    except (shapely.errors.ShapelyError, GeometryError, TypeError) as error:
        raise FormatError(
            f"must be the WKT of a polygon with area, got {str(text)[:40]!r}",
            path=where,
            field=f"{field}.wkt",
        ) from error
    if not np.isfinite(shapely.get_coordinates(region)).all():
        raise FormatError("must have finite coordinates", path=where, field=f"{field}.wkt")
    if label is None:
        return None
    obj = AnnotationObject(label.id, region, context.provenance(), crowd=crowd)
    return _with_extras(obj, item, where, field)


def _read_box(
    item: Any, field: str, categories: dict[int, str], where: str, context: ImportContext
) -> AnnotationObject | None:
    if not isinstance(item, dict):
        raise FormatError("must be an object with category_id and bbox", path=where, field=field)
    label = _category(item.get("category_id"), categories, where, f"{field}.category_id", context)
    bbox = item.get("bbox")
    if not isinstance(bbox, list) or len(bbox) != 4:
        raise FormatError(f"must be [x, y, w, h], got {bbox!r}", path=where, field=f"{field}.bbox")
    x, y, w, h = (number(v, where=where, field=f"{field}.bbox") for v in bbox)
    if w < 0 or h < 0:
        raise FormatError(
            "width and height must not be negative", path=where, field=f"{field}.bbox"
        )
    crowd = _crowd(item, where, f"{field}.iscrowd")
    if label is None:
        return None
    obj = AnnotationObject(label.id, Box.from_xywh(x, y, w, h), context.provenance(), crowd=crowd)
    return _with_extras(obj, item, where, field)
