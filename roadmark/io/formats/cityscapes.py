"""Cityscapes (``gtFine``): polygons in z-order plus label, train-id, instance and color maps.

Layout, read and written::

    leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png
    gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_polygons.json
    gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png       (uint8, or uint16
    gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_labelTrainIds.png   if an id > 255)
    gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_instanceIds.png    (uint16)
    gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_color.png          (RGBA)
    gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_boxes.json         (roadmark sidecar)

Import also takes a single ``*_gtFine_polygons.json``, or a folder of them next to their
images (``<base>_leftImg8bit.png`` or ``<base>.png``); ``--images`` points at another
folder to look in.

Polygons file: ``imgHeight``, ``imgWidth`` and ``objects`` in z-order (first at the
bottom), each with ``label``, ``polygon`` (integer pixel centers), ``deleted`` (soft
delete), ``verified``, ``user`` (last editor) and ``date`` (last edit, ``%d-%b-%Y
%H:%M:%S``, read as UTC). A label with a ``group`` suffix that the schema lacks (``cargroup``)
is a crowd region of the base label and is written that way. Each object also carries
``"roadmark"`` extras (see :mod:`roadmark.io.formats.common`) plus ``"object"``: its index
in the frame's z-order, which joins the parts of one object and places the boxes.

Boxes sidecar (``*_gtFine_boxes.json``; Cityscapes polygons have no boxes and boxes never
go into the polygons): ``{"imgHeight", "imgWidth", "objects": [{"label", "bbox": [x, y,
w, h], "deleted", "verified", "user", "date", "roadmark": {...}}]}``, with ``bbox`` in
roadmark's float pixel coordinates (origin at the top-left corner of the top-left pixel).

Label maps are roadmark's own rasterization (what the editor shows); the polygons are
written so that cityscapesScripts' ``json2labelImg`` and ``json2instanceImg`` reproduce
them (see :mod:`roadmark.io.formats.cityscapes_geometry` for the rule). Two exceptions,
counted in the export's figures. An instance whose raster falls apart in several pieces
(separate parts, or a connection thinner than a pixel) is written as its largest piece
plus ``<label>group`` polygons for the others: ``json2labelImg`` draws them all with the
label, ``json2instanceImg`` gives the extra pieces the bare label id instead of counting
them as instances (so the numbering of later instances holds), and roadmark's extras join
the pieces into one object again on import. An imported object that was not edited is
written with its original points, which PIL fills up to a thin band of boundary pixels
differently from roadmark's raster of the imported region.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from roadmark.core.annotation import AnnotationObject, Box, ObjectKind, as_region
from roadmark.core.errors import GeometryError
from roadmark.core.schema import LabelSchema
from roadmark.io.codec import JsonText, json_text
from roadmark.io.formats import Capability, DatasetFormat, register_format, validate
from roadmark.io.formats.cityscapes_ahead import Ahead, Ready, file_regions
from roadmark.io.formats.cityscapes_files import (
    BOXES,
    GROUP,
    LEFT,
    POLYGONS,
    FrameNames,
    parse_date,
    write_frame,
)
from roadmark.io.formats.cityscapes_geometry import (
    polygon_to_region,
)
from roadmark.io.formats.common import (
    EXTRAS_KEY,
    ExportContext,
    ExportFrame,
    ImportContext,
    ImportedFrame,
    extras_changes,
    integer,
    number,
    point_array,
    read_json,
    read_json_bytes,
)
from roadmark.io.formats.errors import FormatError
from roadmark.io.formats.parallel import map_frames
from roadmark.io.formats.stored_frame import StoredFrame
from roadmark.io.frames import IMAGE_SUFFIXES, natural_key

WRITER_THREADS = 2
READ_AHEAD = 8  # files in flight per import worker: two workers cover a chunk of frames


@register_format
class CityscapesFormat(DatasetFormat):
    """Cityscapes gtFine polygons with label, train-id, instance and color maps."""

    id = "cityscapes"
    version = "1.0"
    title = "Cityscapes (gtFine polygons and label maps)"
    capabilities = frozenset(
        {
            Capability.IMPORT,
            Capability.EXPORT,
            Capability.REGIONS,
            Capability.BOXES,
            Capability.HOLES,
            Capability.CROWD,
            Capability.Z_ORDER,
            Capability.SOFT_DELETE,
            Capability.ATTRIBUTES,
            Capability.TRACKS,
            Capability.PROVENANCE,
            Capability.LABEL_MAPS,
        }
    )
    output = "folder"
    import_chunk = 16  # with READ_AHEAD, the workers never wait for a chunk to be stored
    reads_in_workers = True  # an export's workers read their frames (stored_frame)

    # -- import ------------------------------------------------------------------------------

    def read(self, source: Path, context: ImportContext) -> Iterator[ImportedFrame]:
        files, root = _polygon_files(source)
        context.job.begin("reading", len(files))
        # The files are parsed and the polygons' regions worked out a few files ahead in
        # worker processes (for many files; threads for a few); what they hand back is
        # checked and made into objects here, in order, as before (a file the worker could
        # not parse is read here again, and names its problem).
        # READ_AHEAD files a worker in flight keep the workers busy while a chunk of frames
        # is stored (two left them idle then: 64-frame chunks, 30 frames/s instead of 37).
        ahead = map_frames(
            file_regions, ((file,) for file in files), frames=len(files), ahead=READ_AHEAD
        )
        try:
            for done, (file, ready) in enumerate(zip(files, ahead, strict=True), start=1):
                context.job.check()
                yield self._read_file(file, root, context, ready)
                context.job.report(done, len(files))
        finally:
            ahead.close()

    def _read_file(
        self,
        file: Path,
        root: Path | None,
        context: ImportContext,
        ahead: Ahead | None = None,
    ) -> ImportedFrame:
        where = str(file)
        # parsed by the worker, the polygons it worked out left out (no second reading)
        data = ahead.data if ahead is not None else read_json_bytes(file)[0]
        if not isinstance(data, dict):
            raise FormatError("must be an object with imgHeight, imgWidth and objects", path=where)
        height = integer(data.get("imgHeight"), where=where, field="imgHeight", minimum=1)
        width = integer(data.get("imgWidth"), where=where, field="imgWidth", minimum=1)
        validate.image_size(width, height, where=where, field="imgWidth")
        raw_objects = data.get("objects")
        if not isinstance(raw_objects, list):
            raise FormatError("must be a list", path=where, field="objects")
        ready = ahead.ready if ahead is not None else [None] * len(raw_objects)
        entries = [
            self._read_polygon(item, f"objects[{i}]", where, (width, height), context, done)
            for i, (item, done) in enumerate(zip(raw_objects, ready, strict=True))
        ]
        boxes_file = file.with_name(file.name[: -len(POLYGONS)] + BOXES)
        if file.name.endswith(POLYGONS) and boxes_file.is_file():
            entries += _read_boxes(boxes_file, (width, height), context)
        objects, originals = _assemble(entries, context.labels.schema)
        return ImportedFrame(
            image=_find_image(file, root, context.images),
            objects=objects,
            where=where,
            width=width,
            height=height,
            originals=originals,
        )

    def _read_polygon(
        self,
        item: Any,
        field: str,
        where: str,
        size: tuple[int, int],
        context: ImportContext,
        ready: Ready | None = None,
    ) -> _Entry | None:
        """One object of a file; ``ready``: its points' extent, region and polygon text
        worked out ahead (the worker checked the points as :func:`point_array` and
        :func:`validate.extent` check them here, found them inside the margin and took the
        polygon out of ``item``)."""
        if not isinstance(item, dict):
            raise FormatError("must be an object with label and polygon", path=where, field=field)
        if ready is None:
            outline = point_array(item.get("polygon"), where=where, field=f"{field}.polygon")
            # Range-checked before any geometry is built from the numbers.
            beyond, extent = validate.extent(
                outline, *size, where=where, field=f"{field}.polygon"
            )
        else:
            beyond, extent = False, ready[0]
        label_id, crowd = _label(item.get("label"), where, f"{field}.label", context)
        if ready is None:
            try:
                imported = polygon_to_region(outline)
            except GeometryError as error:
                raise FormatError(error.message, path=where, field=f"{field}.polygon") from error
        else:
            imported = ready[1]
        if imported.repaired:
            context.warnings.warn(
                "self-intersecting polygon repaired (make_valid)",
                path=where,
                field=f"{field}.polygon",
            )
        _check_inside(extent, size, where, f"{field}.polygon", context)
        region = imported.region
        if beyond:
            region = validate.clip_region(region, *size)
            context.warnings.warn(
                "polygon reaches more than two image sizes outside the image; clipped to "
                "that margin",
                path=where,
                field=f"{field}.polygon",
            )
            if region is None:
                return None
        if label_id is None:
            return None
        obj = AnnotationObject(
            label_id=label_id,
            geometry=region,
            provenance=_provenance(item, where, field, context),
            crowd=crowd,
            deleted=_flag(item.get("deleted", 0), where, f"{field}.deleted"),
        )
        # the points as the file wrote them (checked above: a list of [x, y] numbers)
        if beyond:
            original = None
        else:
            original = ready[2] if ready is not None else json_text(item["polygon"])
        return _Entry(obj, item.get(EXTRAS_KEY), where, field, original)

    # -- export ------------------------------------------------------------------------------

    def write(self, frames: Iterable[ExportFrame], target: Path, context: ExportContext) -> None:
        self._write(frames, target, context)

    def write_stored(
        self, frames: Iterable[StoredFrame], target: Path, context: ExportContext
    ) -> None:
        self._write(frames, target, context)

    def _write(
        self, frames: Iterable[ExportFrame | StoredFrame], target: Path, context: ExportContext
    ) -> None:
        names = FrameNames()
        stats = context.stats
        for key in ("polygons", "original_polygons", "mismatched_pixels", "split_instances"):
            stats.setdefault(key, 0)
        schema = context.schema

        def calls() -> Iterator[tuple]:
            made: set[Path] = set()
            for item in frames:  # read here, or a StoredFrame that the worker reads
                split, city, base = names.of(item)
                gt = target / "gtFine" / split / city
                left = target / "leftImg8bit" / split / city
                for folder in (gt, left):
                    if folder not in made:  # (once per city, not per frame)
                        folder.mkdir(parents=True, exist_ok=True)
                        made.add(folder)
                yield item, gt, left, base, schema, context.link_images

        # Each frame is rasterized once, traced, encoded and written by one worker
        # (processes for many frames, threads for a few); a few frames are in flight.
        for frame_stats in map_frames(
            write_frame, calls(), frames=len(context.frames), threads=WRITER_THREADS
        ):
            for key, value in frame_stats.items():
                stats[key] = stats.get(key, 0) + value  # (objects read in workers: for the job)
        if stats["split_instances"]:
            context.warnings.warn(
                f"{stats['split_instances']} object(s) of labels with instances fall apart in "
                "several pieces; the largest is written as the instance and the others as "
                "'<label>group' polygons, which json2instanceImg draws with the bare label id"
            )


# -- reading helpers ----------------------------------------------------------------------------


class _Entry:
    """One polygon or box read from a file, before parts are joined."""

    def __init__(
        self, obj: AnnotationObject, extras: Any, where: str, field: str, original: str | None
    ):
        self.obj = obj
        self.extras = extras
        self.where = where
        self.field = field
        self.original = original


def _polygon_files(source: Path) -> tuple[list[Path], Path | None]:
    if source.is_file():
        if not source.name.endswith(".json"):
            raise FormatError(
                "expected a *_gtFine_polygons.json file or a folder", path=str(source)
            )
        root = next((p.parent for p in source.parents if p.name == "gtFine"), None)
        return [source], root
    if not source.is_dir():
        raise FormatError("no such file or folder", path=str(source))
    root = source if (source / "gtFine").is_dir() else None
    search = source / "gtFine" if root else source
    files = sorted(search.rglob(f"*{POLYGONS}"), key=lambda p: natural_key(str(p)))
    if root is None:
        root = next((p.parent for p in source.parents if p.name == "gtFine"), None)
        if source.name == "gtFine":
            root = source.parent
    if not files:
        raise FormatError(f"has no *{POLYGONS} files", path=str(source))
    return files, root


def _find_image(file: Path, root: Path | None, images: Path | None) -> Path:
    base = file.name[: -len(POLYGONS)] if file.name.endswith(POLYGONS) else file.stem
    folders: list[Path] = []
    relative: Path | None = None
    if root is not None:
        try:
            relative = file.parent.relative_to(root / "gtFine")
        except ValueError:
            relative = None
    for top in [images] if images is not None else [root, file.parent]:
        if top is None:
            continue
        if relative is not None:
            folders += [top / "leftImg8bit" / relative, top / relative]
            if len(relative.parts) > 1:
                folders.append(top / relative.parts[-1])
        folders.append(top)
    folders.append(file.parent)
    tried = []
    for folder in dict.fromkeys(folders):
        for stem in (base + LEFT, base):
            for suffix in sorted(IMAGE_SUFFIXES):
                candidate = folder / f"{stem}{suffix}"
                if candidate.is_file():
                    return candidate.resolve()
        tried.append(str(folder))
    raise FormatError(
        f"image {base}{LEFT}.png not found (looked in {', '.join(tried)}; use --images DIR)",
        path=str(file),
        field="image",
    )


def _label(name: Any, where: str, field: str, context: ImportContext) -> tuple[int | None, bool]:
    if not isinstance(name, str) or not name:
        raise FormatError(f"must be a label name, got {name!r}", path=where, field=field)
    labels = context.labels
    if labels.knows(name):
        label = labels.resolve(name)
        return (label.id if label else None), False
    base = name[: -len(GROUP)]
    if name.endswith(GROUP) and base and (labels.knows(base) or labels.add_missing):
        label = labels.resolve(base)
        return (label.id if label else None), True
    label = labels.resolve(name)
    return (label.id if label else None), False


def _flag(value: Any, where: str, field: str) -> bool:
    if value in (0, 1) and not isinstance(value, float):
        return bool(value)
    raise FormatError(f"must be 0, 1, true or false, got {value!r}", path=where, field=field)


def _provenance(item: dict, where: str, field: str, context: ImportContext) -> Any:
    changes: dict[str, Any] = {}
    user = item.get("user", "")
    if not isinstance(user, str):
        raise FormatError(f"must be text, got {user!r}", path=where, field=f"{field}.user")
    if user:
        changes |= {"created_by": user, "updated_by": user}
    date = item.get("date", "")
    if not isinstance(date, str):
        raise FormatError(f"must be text, got {date!r}", path=where, field=f"{field}.date")
    if date:
        when = parse_date(date)
        if when is None:
            context.warnings.warn(
                f"date {date!r} is not like 28-Feb-2016 14:48:51; the import time is used",
                path=where,
                field=f"{field}.date",
            )
        else:
            changes |= {"created_at": when, "updated_at": when}
    if "verified" in item:
        changes["verified"] = _flag(item["verified"], where, f"{field}.verified")
    return context.provenance(**changes)


def _check_inside(
    extent: tuple[float, float, float, float],
    size: tuple[int, int],
    where: str,
    field: str,
    context: ImportContext,
) -> None:
    """Warn about a polygon (its points' ``extent``) outside the image, or reaching out."""
    width, height = size
    x_lo, y_lo, x_hi, y_hi = extent
    if x_hi < 0 or y_hi < 0 or x_lo > width - 1 or y_lo > height - 1:
        context.warnings.warn(
            f"polygon lies outside the {width}x{height} image; kept", path=where, field=field
        )
    elif x_lo < -1 or y_lo < -1 or x_hi > width or y_hi > height:
        context.warnings.warn(
            f"polygon reaches outside the {width}x{height} image; kept (label maps clip it)",
            path=where,
            field=field,
        )


def _read_boxes(file: Path, size: tuple[int, int], context: ImportContext) -> list[_Entry | None]:
    where = str(file)
    data = read_json(file)
    if not isinstance(data, dict) or not isinstance(data.get("objects"), list):
        raise FormatError("must be an object with an 'objects' list", path=where)
    width, height = size
    if data.get("imgWidth", width) != width or data.get("imgHeight", height) != height:
        raise FormatError(
            f"image size differs from the polygons file ({width}x{height})",
            path=where,
            field="imgWidth",
        )
    entries: list[_Entry | None] = []
    for index, item in enumerate(data["objects"]):
        field = f"objects[{index}]"
        if not isinstance(item, dict):
            raise FormatError("must be an object with label and bbox", path=where, field=field)
        bbox = item.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise FormatError(
                f"must be [x, y, w, h], got {bbox!r}", path=where, field=f"{field}.bbox"
            )
        x, y, w, h = (number(v, where=where, field=f"{field}.bbox") for v in bbox)
        if w < 0 or h < 0:
            raise FormatError(
                "width and height must not be negative", path=where, field=f"{field}.bbox"
            )
        box = Box.from_xywh(x, y, w, h)
        corners = np.array([[box.x0, box.y0], [box.x1, box.y1]])
        if validate.coordinates(corners, width, height, where=where, field=f"{field}.bbox"):
            box = validate.clip_box(box, width, height)
            context.warnings.warn(
                "box reaches more than two image sizes outside the image; clipped",
                path=where,
                field=f"{field}.bbox",
            )
        label_id, crowd = _label(item.get("label"), where, f"{field}.label", context)
        if label_id is None:
            entries.append(None)
            continue
        obj = AnnotationObject(
            label_id=label_id,
            geometry=box,
            provenance=_provenance(item, where, field, context),
            crowd=crowd,
            deleted=_flag(item.get("deleted", 0), where, f"{field}.deleted"),
        )
        entries.append(_Entry(obj, item.get(EXTRAS_KEY), where, field, None))
    return entries


def _assemble(
    entries: list[_Entry | None], schema: LabelSchema
) -> tuple[list[AnnotationObject], list[Any]]:
    """Objects in z-order from polygons and boxes: parts joined, boxes placed, ids given."""
    groups: dict[Any, list[_Entry]] = {}
    order: list[tuple[float, int, Any]] = []
    for position, entry in enumerate(entries):
        if entry is None:
            continue
        extras = entry.extras if isinstance(entry.extras, dict) else {}
        index = extras.get("object")
        if isinstance(index, int) and not isinstance(index, bool) and index >= 0:
            key: Any = ("object", index)
            rank = float(index)
        else:
            key, rank = ("entry", position), float("inf")
        if key not in groups:
            groups[key] = []
            order.append((rank, position, key))
        groups[key].append(entry)
    objects: list[AnnotationObject] = []
    originals: list[Any] = []
    counts: dict[int, int] = {}
    for _, _, key in sorted(order):
        parts = groups[key]
        first = parts[0]
        obj = first.obj
        changes: dict[str, Any] = {}  # made in one replace: parts joined, ids, extras
        if len(parts) > 1:
            changes["geometry"] = as_region(shapely.union_all([p.obj.region for p in parts]))
        label = schema.by_id.get(obj.label_id)
        if (
            label is not None
            and label.has_instances
            and not obj.crowd
            and not obj.deleted
            and obj.kind is ObjectKind.REGION
        ):
            counts[obj.label_id] = counts.get(obj.label_id, 0) + 1
            changes["instance_id"] = counts[obj.label_id]
        extras = first.extras
        if extras is not None:  # the extras' values win (an instance id among them)
            if isinstance(extras, dict):
                extras = {k: v for k, v in extras.items() if k != "object"}
            own, of_provenance = extras_changes(
                extras, where=first.where, field=f"{first.field}.{EXTRAS_KEY}"
            )
            changes |= own
            if of_provenance:
                changes["provenance"] = replace(obj.provenance, **of_provenance)
        objects.append(replace(obj, **changes) if changes else obj)
        # the parts' polygons as the file wrote them: a list of them, as JSON text
        texts = [p.original for p in parts if p.original]
        originals.append(JsonText(f"[{','.join(texts)}]") if first.original else None)
    return objects, originals
