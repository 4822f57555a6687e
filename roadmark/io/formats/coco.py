"""COCO instances: ``images``, ``categories`` and ``annotations`` in one JSON file.

Export (streamed: one JSON item at a time, so a file of any size is never held in memory):

- ``images``: ``id`` (the project's frame id), ``file_name`` relative to the deepest folder
  holding every exported image (recorded as ``info.roadmark.images_root``), ``width``,
  ``height``; a video frame names its video and carries ``roadmark.video_frame``.
- ``categories``: the schema labels that are used, ``id`` = label id, ``supercategory`` =
  the label's category.
- ``annotations``, per image in z-order (first at the bottom): ``bbox`` ``[x, y, w, h]``,
  ``area`` (pixels of roadmark's raster; ``w * h`` for a box), ``iscrowd``,
  ``segmentation`` as polygons (exact float vertices, one list per separate part) or as
  compressed RLE of roadmark's raster where a region has holes or is a crowd
  (``iscrowd: 1``). A box-only object has ``bbox`` and no ``segmentation``. Extras:
  ``attributes`` (schema attributes), ``track_id``, ``score`` (a model's confidence) and
  ``roadmark`` (instance id, provenance; see :mod:`roadmark.io.formats.common`).
  Soft-deleted objects are not exported (COCO has no soft delete).

Import reads polygons, compressed (string ``counts``) and uncompressed (list ``counts``)
RLE, crowd annotations, image ids that are 0 or strings, category ids from 0, file names
with subfolders; categories become schema labels by name. Images are found under
``--images``, else next to the file, else under ``info.roadmark.images_root``. An RLE
becomes the exact pixel-edge region of its mask, so it rasterizes back to the same pixels.
A self-intersecting polygon is repaired with ``make_valid`` (with a warning); where that
disagrees with the pixels pycocotools decodes for it, the decoded pixels are imported.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import shapely
from pycocotools import mask as coco_mask

from roadmark import __version__
from roadmark.core import rle
from roadmark.core.annotation import (
    AnnotationObject,
    Box,
    Frame,
    as_region,
    region_parts,
)
from roadmark.core.errors import GeometryError
from roadmark.core.raster import mask_to_region, region_mask
from roadmark.core.schema import LabelSchema
from roadmark.io.codec import extras_of
from roadmark.io.formats import Capability, DatasetFormat, register_format, validate
from roadmark.io.formats.coco_stream import CocoStream
from roadmark.io.formats.common import (
    EXTRAS_KEY,
    ExportContext,
    ExportFrame,
    ImportContext,
    ImportedFrame,
    extras_changes,
    integer,
    number,
    number_instances,
    safe_relative,
)
from roadmark.io.formats.errors import FormatError

_TOP_LEVEL_EXTRAS = ("attributes", "track_id", "confidence")
MAX_CHECKED_PIXELS = 1 << 26  # a self-crossing polygon is compared with pycocotools' decode


@register_format
class CocoFormat(DatasetFormat):
    """COCO instances JSON (boxes, polygons, RLE, crowds)."""

    id = "coco"
    version = "1.0"
    title = "COCO instances (JSON)"
    capabilities = frozenset(
        {
            Capability.IMPORT,
            Capability.EXPORT,
            Capability.REGIONS,
            Capability.BOXES,
            Capability.HOLES,
            Capability.CROWD,
            Capability.Z_ORDER,
            Capability.ATTRIBUTES,
            Capability.TRACKS,
            Capability.SCORES,
            Capability.PROVENANCE,
        }
    )
    output = "file"
    suffix = ".json"

    # -- import ------------------------------------------------------------------------------

    def read(self, source: Path, context: ImportContext) -> Iterator[ImportedFrame]:
        where = str(source)
        if source.is_dir():
            raise FormatError("expected a COCO .json file, got a folder", path=where)
        with CocoStream(source) as stream:
            entries: dict[Any, tuple[int, dict]] = {}
            seen_ids: set[Any] = set()
            unplaced: list[tuple[int, Any]] = []  # annotations read before their image

            def check_annotation(index: int, ann: Any) -> Any:
                field = f"annotations[{index}]"
                if not isinstance(ann, dict):
                    raise FormatError("must be an object", path=where, field=field)
                if "id" in ann:
                    ann_id = read_id(ann["id"], where, f"{field}.id")
                    if ann_id in seen_ids:
                        raise FormatError(
                            f"duplicate annotation id {ann_id!r}", path=where, field=f"{field}.id"
                        )
                    seen_ids.add(ann_id)
                image_id = _key(ann.get("image_id"))
                if not images_read:
                    unplaced.append((index, image_id))
                elif image_id not in entries:
                    _no_image(image_id, where, f"{field}.image_id")
                return image_id

            def on_images(images: Any) -> None:
                images_read.append(True)
                _image_entries(_list({"images": images}, "images", where, required=True))

            def _image_entries(images: list) -> None:
                for index, image in enumerate(images):
                    field = f"images[{index}]"
                    if not isinstance(image, dict):
                        raise FormatError("must be an object", path=where, field=field)
                    image_id = read_id(image.get("id"), where, f"{field}.id")
                    if image_id in entries:
                        raise FormatError(
                            f"duplicate image id {image_id!r}", path=where, field=f"{field}.id"
                        )
                    entries[image_id] = (index, image)

            images_read: list[bool] = []
            stream.read(check_annotation, on_images)
            if "images" not in stream.present:
                _list({}, "images", where, required=True)
            for index, image_id in unplaced:
                if image_id not in entries:
                    _no_image(image_id, where, f"annotations[{index}].image_id")
            if stream.annotations is not None:
                _list({"annotations": stream.annotations}, "annotations", where, required=False)
            categories = _categories(
                _list(
                    {"categories": stream.categories},
                    "categories",
                    where,
                    required=stream.annotation_count > 0,
                ),
                where,
            )
            roots = _image_roots(source, {"info": stream.info}, context.images, where)
            context.job.begin("reading", len(entries))
            for done, (image_id, (index, image)) in enumerate(entries.items(), start=1):
                context.job.check()
                yield self._read_image(
                    image,
                    index,
                    stream.annotations_of(image_id),
                    categories,
                    roots,
                    where,
                    context,
                )
                context.job.report(done, len(entries))

    def _read_image(
        self,
        image: dict,
        index: int,
        annotations: list[tuple[int, dict]],
        categories: dict[int, str],
        roots: list[Path],
        where: str,
        context: ImportContext,
    ) -> ImportedFrame:
        field = f"images[{index}]"
        name = safe_relative(image.get("file_name"), where=where, field=f"{field}.file_name")
        width = integer(image.get("width"), where=where, field=f"{field}.width", minimum=1)
        height = integer(image.get("height"), where=where, field=f"{field}.height", minimum=1)
        validate.image_size(width, height, where=where, field=f"{field}.width")
        extras = image.get(EXTRAS_KEY)
        video_frame = None
        if isinstance(extras, dict) and extras.get("video_frame") is not None:
            video_frame = integer(
                extras["video_frame"],
                where=where,
                field=f"{field}.{EXTRAS_KEY}.video_frame",
                minimum=0,
            )
        path = next((root / name for root in roots if _is_file(root / name)), None)
        if path is None:
            raise FormatError(
                f"image {str(name)!r} not found under {', '.join(map(str, roots))} "
                "(use --images DIR)",
                path=where,
                field=f"{field}.file_name",
            )
        if video_frame is None:  # before any mask of the declared size is decoded
            validate.size_matches_file(path, width, height, where=where, field=f"{field}.width")
        objects = []
        for ann_index, ann in annotations:
            obj = self._read_annotation(ann, ann_index, categories, (width, height), where, context)
            if obj is not None:
                objects.append(obj)
        return ImportedFrame(
            image=path.resolve(),
            objects=number_instances(objects, context.labels.schema),
            where=where,
            width=width,
            height=height,
            video_frame=video_frame,
        )

    def _read_annotation(
        self,
        ann: dict,
        index: int,
        categories: dict[int, str],
        size: tuple[int, int],
        where: str,
        context: ImportContext,
    ) -> AnnotationObject | None:
        field = f"annotations[{index}]" + (f" (id {ann['id']!r})" if "id" in ann else "")
        category_id = _key(ann.get("category_id"))
        if category_id not in categories:
            raise FormatError(
                f"no category has id {category_id!r}", path=where, field=f"{field}.category_id"
            )
        crowd = ann.get("iscrowd", 0)
        if crowd not in (0, 1) or isinstance(crowd, float):
            raise FormatError(
                f"must be 0 or 1, got {crowd!r}", path=where, field=f"{field}.iscrowd"
            )
        geometry = self._geometry(ann, size, where, field, context)
        label = context.labels.resolve(categories[category_id])
        if label is None or geometry is None:
            return None
        changes: dict[str, Any] = {}
        prov_changes: dict[str, Any] = {}
        if ann.get("score") is not None:
            prov_changes["confidence"] = number(ann["score"], where=where, field=f"{field}.score")
        # The top-level extras, then roadmark's (which win), as apply_extras applies them
        # one after the other; the object is built once.
        top = {key: ann[key] for key in ("attributes", "track_id") if ann.get(key) is not None}
        extras = ann.get(EXTRAS_KEY)
        for given, place in ((top or None, field), (extras, f"{field}.{EXTRAS_KEY}")):
            if given is not None:
                more, more_prov = extras_changes(given, where=where, field=place)
                changes |= more
                prov_changes |= more_prov
        provenance = context.provenance(**prov_changes)
        return AnnotationObject(label.id, geometry, provenance, crowd=bool(crowd), **changes)

    def _geometry(
        self, ann: dict, size: tuple[int, int], where: str, field: str, context: ImportContext
    ) -> Box | Any | None:
        segmentation = ann.get("segmentation")
        width, height = size
        region = None
        if isinstance(segmentation, dict):
            region = _rle_region(segmentation, height, width, where, f"{field}.segmentation")
            if region is None:
                context.warnings.warn("empty mask", path=where, field=f"{field}.segmentation")
        elif isinstance(segmentation, list) and segmentation:
            region = _polygon_region(segmentation, size, where, f"{field}.segmentation", context)
        elif segmentation not in (None, []):
            raise FormatError(
                f"must be a list of polygons or an RLE object, got {type(segmentation).__name__}",
                path=where,
                field=f"{field}.segmentation",
            )
        if region is not None:
            return region
        bbox = ann.get("bbox")
        if bbox is None:
            if segmentation not in (None, []):
                context.warnings.warn("skipped: no area and no bbox", path=where, field=field)
                return None
            raise FormatError("needs a segmentation or a bbox", path=where, field=field)
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise FormatError(
                f"must be [x, y, w, h], got {bbox!r}", path=where, field=f"{field}.bbox"
            )
        x, y, w, h = (number(v, where=where, field=f"{field}.bbox") for v in bbox)
        if w < 0 or h < 0:
            raise FormatError(
                "width and height must not be negative", path=where, field=f"{field}.bbox"
            )
        if segmentation not in (None, []):
            context.warnings.warn(
                "the segmentation has no area; imported as its bbox", path=where, field=field
            )
        box = Box.from_xywh(x, y, w, h)
        corners = np.array([[box.x0, box.y0], [box.x1, box.y1]])
        if validate.coordinates(corners, width, height, where=where, field=f"{field}.bbox"):
            context.warnings.warn(
                "box reaches more than two image sizes outside the image; clipped",
                path=where,
                field=f"{field}.bbox",
            )
            box = validate.clip_box(box, width, height)
        return box

    # -- export ------------------------------------------------------------------------------

    def write(self, frames: Iterable[ExportFrame], target: Path, context: ExportContext) -> None:
        stats = context.stats
        for key in ("annotations", "polygons", "rle", "boxes", "deleted_skipped"):
            stats.setdefault(key, 0)
        used: set[int] = set()
        with open(target, "w", encoding="utf-8") as out:
            info = {
                "description": "exported by roadmark",
                "version": __version__,
                "roadmark": {
                    "format_version": self.version,
                    "images_root": str(context.image_root),
                    "schema": context.schema.name,
                },
            }
            out.write('{"info": ' + json.dumps(info) + ', "licenses": [], "images": [')
            for position, frame in enumerate(context.frames):
                out.write(
                    ("," if position else "") + "\n" + json.dumps(image_entry(frame, context))
                )
            out.write('\n], "annotations": [')
            next_id = 1
            for item in frames:
                for obj in item.objects:
                    if obj.deleted:
                        stats["deleted_skipped"] += 1
                        continue
                    entry = _annotation(obj, next_id, item, context.schema, stats)
                    out.write(("," if next_id > 1 else "") + "\n" + json.dumps(entry))
                    used.add(obj.label_id)
                    next_id += 1
            stats["annotations"] = next_id - 1
            _write_categories(out, context.schema, used)


# -- reading helpers -------------------------------------------------------------------------


def _no_image(image_id: Any, where: str, field: str) -> None:
    raise FormatError(f"no image has id {image_id!r}", path=where, field=field)


def _list(data: dict, key: str, where: str, *, required: bool) -> list:
    value = data.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise FormatError(f"must be a list, got {type(value).__name__}", path=where, field=key)
    return value


def read_id(value: Any, where: str, field: str) -> Any:
    """A COCO id: an integer or a non-empty string."""
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        raise FormatError(f"must be an integer or a string, got {value!r}", path=where, field=field)
    return value


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name too long for the file system, for example
        return False


def _key(value: Any) -> int | str | None:
    """``value`` when it can be an id (an integer or a string), else ``None``."""
    return value if isinstance(value, int | str) and not isinstance(value, bool) else None


def _categories(items: list, where: str) -> dict[int, str]:
    out: dict[int, str] = {}
    for index, item in enumerate(items):
        field = f"categories[{index}]"
        if not isinstance(item, dict):
            raise FormatError("must be an object with id and name", path=where, field=field)
        category_id = integer(item.get("id"), where=where, field=f"{field}.id")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise FormatError(f"must be a name, got {name!r}", path=where, field=f"{field}.name")
        if category_id in out:
            raise FormatError(
                f"duplicate category id {category_id}", path=where, field=f"{field}.id"
            )
        out[category_id] = name
    return out


def _image_roots(source: Path, data: dict, images: Path | None, where: str) -> list[Path]:
    if images is not None:
        return [images]
    roots = [source.parent]
    info = data.get("info")
    extras = info.get(EXTRAS_KEY) if isinstance(info, dict) else None
    recorded = extras.get("images_root") if isinstance(extras, dict) else None
    if isinstance(recorded, str) and recorded and "\x00" not in recorded:
        roots.append(Path(recorded))
    return roots


def _rle_region(segmentation: dict, height: int, width: int, where: str, field: str) -> Any:
    size = validate.rle_size(
        segmentation.get("size"), width, height, where=where, field=f"{field}.size"
    )
    counts = segmentation.get("counts")
    if isinstance(counts, list) and not all(
        isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts
    ):
        raise FormatError(
            "RLE counts must be non-negative integers", path=where, field=f"{field}.counts"
        )
    try:
        window, (x, y) = rle.decode_window({"size": size, "counts": counts})
    except (GeometryError, ValueError, TypeError, UnicodeEncodeError) as error:
        message = error.message if isinstance(error, GeometryError) else "malformed RLE counts"
        raise FormatError(message, path=where, field=f"{field}.counts") from error
    return mask_to_region(window, offset=(float(x), float(y)))


def _polygon_region(
    segmentation: list, size: tuple[int, int], where: str, field: str, context: ImportContext
) -> Any:
    width, height = size
    regions = []
    for index, flat in enumerate(segmentation):
        part = f"{field}[{index}]"
        if not isinstance(flat, list | np.ndarray) or len(flat) % 2:
            raise FormatError("must be a flat list [x1, y1, x2, y2, ...]", path=where, field=part)
        values = _coordinates(flat, where, part)
        if len(values) < 6:
            raise FormatError(
                f"a polygon needs at least 3 points, got {len(values) // 2}", path=where, field=part
            )
        ring = np.asarray(values, dtype=float).reshape(-1, 2)
        # Range-checked before shapely or pycocotools see the numbers.
        beyond, (x0, y0, x1, y1) = validate.extent(ring, width, height, where=where, field=part)
        polygon = shapely.polygons(ring)  # Polygon(ring), one shapely call
        try:
            region = polygon if polygon.is_valid and polygon.area > 0 else as_region(polygon)
        except GeometryError:
            context.warnings.warn("polygon has no area; skipped", path=where, field=part)
            continue
        if region is not polygon:
            context.warnings.warn(
                "self-intersecting polygon repaired (make_valid)", path=where, field=part
            )
            region = _as_decoded(region, ring.ravel().tolist(), height, width)
        if x1 < 0 or y1 < 0 or x0 > width or y0 > height:
            context.warnings.warn(
                f"polygon lies outside the {width}x{height} image; kept", path=where, field=part
            )
        elif min(x0, y0) < -1 or x1 > width + 1 or y1 > height + 1:
            context.warnings.warn(
                f"polygon reaches outside the {width}x{height} image; kept", path=where, field=part
            )
        if beyond:
            context.warnings.warn(
                "polygon reaches more than two image sizes outside the image; clipped to "
                "that margin",
                path=where,
                field=part,
            )
            region = validate.clip_region(region, width, height)
            if region is None:
                continue
        regions.append(region)
    if not regions:
        return None
    if len(regions) == 1 and regions[0] is polygon:
        return polygon  # valid, with area: what as_region would give back
    merged = regions[0] if len(regions) == 1 else shapely.union_all(regions)
    return as_region(merged)


def _coordinates(flat: list | np.ndarray, where: str, field: str) -> Any:
    """``flat`` checked to be finite numbers (a vectorized check; the slow per-value one
    runs only to name the bad value). The reader gives a polygon of plain numbers as a
    float64 array (see :meth:`CocoStream.annotations_of`)."""
    if isinstance(flat, np.ndarray):
        if np.isfinite(flat).all():
            return flat
        return [number(v, where=where, field=field) for v in flat.tolist()]
    if all(type(v) is float or type(v) is int for v in flat):
        if np.isfinite(np.asarray(flat, dtype=np.float64)).all():
            return flat
    return [number(v, where=where, field=field) for v in flat]


def _as_decoded(region: Any, flat: list[float], height: int, width: int) -> Any:
    """``region``, or the exact pixel region pycocotools decodes for the polygon ``flat``
    where the two differ.

    ``make_valid`` keeps the area of a ring that crosses or touches itself, but
    pycocotools fills crossings even-odd, so they can disagree by a few pixels (a figure
    eight, a traced outline doubling back along a spike). What pycocotools decodes is what
    the dataset means for training, so that wins (within the image; images over
    :data:`MAX_CHECKED_PIXELS` are left as ``make_valid`` gives them).
    """
    if height * width > MAX_CHECKED_PIXELS or height <= 0 or width <= 0:
        return region
    decoded = coco_mask.decode(coco_mask.merge(coco_mask.frPyObjects([flat], height, width)))
    drawn = decoded.astype(bool)
    if np.array_equal(drawn, region_mask(region, height, width)):
        return region
    exact = mask_to_region(drawn)
    return region if exact is None else exact


# -- writing helpers -------------------------------------------------------------------------


def image_entry(frame: Frame, context: ExportContext) -> dict[str, Any]:
    """The ``images`` entry of one exported frame (shared with COCO panoptic)."""
    name = Path(os.path.relpath(context.files[frame.id], context.image_root)).as_posix()
    entry: dict[str, Any] = {
        "id": frame.id,
        "file_name": name,
        "width": frame.width,
        "height": frame.height,
    }
    if frame.video_frame is not None:
        entry[EXTRAS_KEY] = {"video_frame": frame.video_frame}
    return entry


def _annotation(
    obj: AnnotationObject, ann_id: int, item: ExportFrame, schema: LabelSchema, stats: dict
) -> dict[str, Any]:
    height, width = item.frame.height, item.frame.width
    entry: dict[str, Any] = {
        "id": ann_id,
        "image_id": item.frame.id,
        "category_id": obj.label_id,
        "iscrowd": int(obj.crowd),
    }
    if isinstance(obj.geometry, Box):
        entry["bbox"] = list(obj.geometry.to_xywh())
        entry["area"] = obj.geometry.area
        stats["boxes"] += 1
    else:
        region = obj.geometry
        x0, y0, x1, y1 = region.bounds
        x0, y0 = min(max(x0, 0.0), width), min(max(y0, 0.0), height)
        x1, y1 = min(max(x1, 0.0), width), min(max(y1, 0.0), height)
        entry["bbox"] = [x0, y0, x1 - x0, y1 - y0]
        parts = region_parts(region)
        if obj.crowd or any(part.interiors for part in parts):
            encoded = rle.encode(region_mask(region, height, width))
            entry["segmentation"] = encoded
            entry["area"] = rle.area(encoded)
            stats["rle"] += 1
        else:
            polygons = [
                [float(v) for point in part.exterior.coords[:-1] for v in point] for part in parts
            ]
            entry["segmentation"] = polygons
            native = coco_mask.merge(coco_mask.frPyObjects(polygons, height, width))
            entry["area"] = int(coco_mask.area(native))
            stats["polygons"] += 1
    extras = extras_of(obj)
    for key in _TOP_LEVEL_EXTRAS:
        value = extras.pop(key, None)
        if value is not None:
            entry["score" if key == "confidence" else key] = value
    entry[EXTRAS_KEY] = extras
    return entry


def _write_categories(out: IO[str], schema: LabelSchema, used: set[int]) -> None:
    categories = [
        {"id": label.id, "name": label.name, "supercategory": label.category}
        for label in schema.labels
        if label.id in used
    ]
    out.write('\n], "categories": ' + json.dumps(categories, indent=None) + "}\n")
