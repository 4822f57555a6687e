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

import json
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import shapely

from roadmark.core.annotation import AnnotationObject, Box, ObjectKind, as_region
from roadmark.core.errors import GeometryError
from roadmark.core.raster import INSTANCE_FACTOR, region_mask_in_box
from roadmark.core.schema import IGNORE_TRAIN_ID, LabelSchema
from roadmark.io.formats import Capability, DatasetFormat, register_format
from roadmark.io.formats.cityscapes_geometry import (
    ImportedPolygon,
    polygon_to_region,
    region_to_polygons,
)
from roadmark.io.formats.common import (
    EXTRAS_KEY,
    ExportContext,
    ExportFrame,
    ImportContext,
    ImportedFrame,
    apply_extras,
    extras_of,
    integer,
    number,
    points,
    read_json,
)
from roadmark.io.formats.errors import FormatError
from roadmark.io.frames import IMAGE_SUFFIXES, VideoReader, natural_key, read_image, write_image

POLYGONS = "_gtFine_polygons.json"
BOXES = "_gtFine_boxes.json"
LEFT = "_leftImg8bit"
GROUP = "group"
DATE_FORMAT = "%d-%b-%Y %H:%M:%S"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_NAME = re.compile(r"^(?P<city>[A-Za-z0-9-]+)_(?P<seq>\d+)_(?P<frame>\d+)(?:_leftImg8bit)?$")
_DATE = re.compile(r"^(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{1,2}):(\d{2}):(\d{2})$")


def format_date(when: datetime) -> str:
    """Cityscapes' ``date``: ``28-Feb-2016 14:48:51`` (UTC, English month names)."""
    when = when.astimezone(UTC)
    return f"{when.day:02d}-{_MONTHS[when.month - 1]}-{when:%Y %H:%M:%S}"


def parse_date(text: str) -> datetime | None:
    """A Cityscapes ``date`` as an aware UTC time; ``None`` when it does not parse."""
    match = _DATE.match(text.strip())
    if not match or match[2].title() not in _MONTHS:
        return None
    day, month, year = int(match[1]), _MONTHS.index(match[2].title()) + 1, int(match[3])
    try:
        return datetime(year, month, day, int(match[4]), int(match[5]), int(match[6]), tzinfo=UTC)
    except ValueError:
        return None


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

    # -- import ------------------------------------------------------------------------------

    def read(self, source: Path, context: ImportContext) -> Iterator[ImportedFrame]:
        files, root = _polygon_files(source)
        context.job.begin("reading", len(files))
        for done, file in enumerate(files, start=1):
            context.job.check()
            yield self._read_file(file, root, context)
            context.job.report(done, len(files))

    def _read_file(self, file: Path, root: Path | None, context: ImportContext) -> ImportedFrame:
        where = str(file)
        data = read_json(file)
        if not isinstance(data, dict):
            raise FormatError("must be an object with imgHeight, imgWidth and objects", path=where)
        height = integer(data.get("imgHeight"), where=where, field="imgHeight", minimum=1)
        width = integer(data.get("imgWidth"), where=where, field="imgWidth", minimum=1)
        raw_objects = data.get("objects")
        if not isinstance(raw_objects, list):
            raise FormatError("must be a list", path=where, field="objects")
        entries = [
            self._read_polygon(item, f"objects[{i}]", where, (width, height), context)
            for i, item in enumerate(raw_objects)
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
        self, item: Any, field: str, where: str, size: tuple[int, int], context: ImportContext
    ) -> _Entry | None:
        if not isinstance(item, dict):
            raise FormatError("must be an object with label and polygon", path=where, field=field)
        outline = points(item.get("polygon"), where=where, field=f"{field}.polygon")
        label_id, crowd = _label(item.get("label"), where, f"{field}.label", context)
        try:
            imported: ImportedPolygon = polygon_to_region(outline)
        except GeometryError as error:
            raise FormatError(error.message, path=where, field=f"{field}.polygon") from error
        if imported.repaired:
            context.warnings.warn(
                "self-intersecting polygon repaired (make_valid)",
                path=where,
                field=f"{field}.polygon",
            )
        _check_inside(outline, size, where, f"{field}.polygon", context)
        if label_id is None:
            return None
        obj = AnnotationObject(
            label_id=label_id,
            geometry=imported.region,
            provenance=_provenance(item, where, field, context),
            crowd=crowd,
            deleted=_flag(item.get("deleted", 0), where, f"{field}.deleted"),
        )
        return _Entry(obj, item.get(EXTRAS_KEY), where, field, [list(map(list, outline))])

    # -- export ------------------------------------------------------------------------------

    def write(self, frames: Iterable[ExportFrame], target: Path, context: ExportContext) -> None:
        names = _Names()
        stats = context.stats
        for key in ("polygons", "original_polygons", "mismatched_pixels", "split_instances"):
            stats.setdefault(key, 0)
        for item in frames:
            split, city, base = names.of(item)
            gt = target / "gtFine" / split / city
            left = target / "leftImg8bit" / split / city
            gt.mkdir(parents=True, exist_ok=True)
            left.mkdir(parents=True, exist_ok=True)
            _write_image(item, left / f"{base}{LEFT}.png")
            maps, polygons, boxes = _frame_payload(item, context.schema, stats)
            header = {"imgHeight": item.frame.height, "imgWidth": item.frame.width}
            _write_json(gt / f"{base}{POLYGONS}", header | {"objects": polygons})
            if boxes:
                _write_json(gt / f"{base}{BOXES}", header | {"objects": boxes})
            for suffix, array in maps.items():
                _write_png(gt / f"{base}_gtFine_{suffix}.png", array)
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
        self, obj: AnnotationObject, extras: Any, where: str, field: str, original: list | None
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
    outline: list[tuple[float, float]],
    size: tuple[int, int],
    where: str,
    field: str,
    context: ImportContext,
) -> None:
    width, height = size
    xs = [p[0] for p in outline]
    ys = [p[1] for p in outline]
    if max(xs) < 0 or max(ys) < 0 or min(xs) > width - 1 or min(ys) > height - 1:
        context.warnings.warn(
            f"polygon lies outside the {width}x{height} image; kept", path=where, field=field
        )
    elif min(xs) < -1 or min(ys) < -1 or max(xs) > width or max(ys) > height:
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
        label_id, crowd = _label(item.get("label"), where, f"{field}.label", context)
        if label_id is None:
            entries.append(None)
            continue
        obj = AnnotationObject(
            label_id=label_id,
            geometry=Box.from_xywh(x, y, w, h),
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
        if len(parts) > 1:
            merged = shapely.union_all([part.obj.region for part in parts])
            obj = replace(obj, geometry=as_region(merged))
        label = schema.by_id.get(obj.label_id)
        if (
            label is not None
            and label.has_instances
            and not obj.crowd
            and not obj.deleted
            and obj.kind is ObjectKind.REGION
        ):
            counts[obj.label_id] = counts.get(obj.label_id, 0) + 1
            obj = replace(obj, instance_id=counts[obj.label_id])
        extras = first.extras
        if isinstance(extras, dict):
            extras = {k: v for k, v in extras.items() if k != "object"}
        obj = apply_extras(obj, extras, where=first.where, field=f"{first.field}.{EXTRAS_KEY}")
        objects.append(obj)
        original = [p.original[0] for p in parts if p.original] if first.original else None
        originals.append(original)
    return objects, originals


# -- writing helpers ----------------------------------------------------------------------------


class _Names:
    """Cityscapes split, city and base name for each frame, unique within the export."""

    def __init__(self) -> None:
        self.used: set[tuple[str, str, str]] = set()
        self.sequences: dict[str, int] = {}

    def of(self, item: ExportFrame) -> tuple[str, str, str]:
        image = item.image
        stem = image.stem[: -len(LEFT)] if image.stem.endswith(LEFT) else image.stem
        parts = image.parts
        split = "default"
        if len(parts) >= 4 and parts[-4] == "leftImg8bit":
            split = _clean(parts[-3]) or split
        match = _NAME.match(stem) if item.frame.video_frame is None else None
        if match:
            city, base = match["city"], stem
        else:
            city = _clean(item.frame.sequence) or "frames"
            seq = self.sequences.setdefault(item.frame.sequence, len(self.sequences))
            base = f"{city}_{seq:06d}_{item.frame.sequence_index:06d}"
        if (split, city, base) in self.used:
            base = f"{city}_{item.frame.id:06d}_{item.frame.sequence_index:06d}"
        self.used.add((split, city, base))
        return split, city, base


def _clean(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]+", "-", text).strip("-")


def _write_image(item: ExportFrame, path: Path) -> None:
    source = item.image
    if item.frame.video_frame is not None:
        reader = VideoReader(source)
        try:
            write_image(path, reader.read(item.frame.video_frame))
        finally:
            reader.close()
        return
    if source.suffix.lower() != ".png":
        write_image(path, read_image(source))
        return
    try:
        os.link(source, path)
    except OSError:
        shutil.copyfile(source, path)


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")


def _write_png(path: Path, array: np.ndarray) -> None:
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGBA2BGRA)
    ok, encoded = cv2.imencode(".png", array, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise FormatError("cannot encode PNG", path=str(path))
    path.write_bytes(encoded.tobytes())


def _frame_payload(
    item: ExportFrame, schema: LabelSchema, stats: dict[str, Any]
) -> tuple[dict[str, np.ndarray], list[dict], list[dict]]:
    """Label maps, polygon entries and box entries of one frame."""
    height, width = item.frame.height, item.frame.width
    owner = np.zeros((height, width), dtype=np.int32)  # 1 + index of the top object
    polygons: list[dict] = []
    boxes: list[dict] = []
    for index, obj in enumerate(item.objects):
        label = schema.by_id[obj.label_id]
        entry = _common_fields(obj, label.name, index)
        if isinstance(obj.geometry, Box):
            boxes.append(entry | {"bbox": list(obj.geometry.to_xywh())})
            continue
        mask, row0, col0 = region_mask_in_box(obj.region, height, width)
        if not obj.deleted and label.drawable and mask.size:
            window = owner[row0 : row0 + mask.shape[0], col0 : col0 + mask.shape[1]]
            window[mask] = index + 1
        original = item.originals.get(obj.uid) if obj.uid is not None else None
        if original:
            parts = original
            stats["original_polygons"] += len(parts)
        else:
            exported = region_to_polygons(obj.region, height, width, (mask, row0, col0))
            parts = exported.polygons
            stats["mismatched_pixels"] += exported.mismatched
        split = len(parts) > 1 and label.has_instances and not obj.crowd and not obj.deleted
        if split:
            stats["split_instances"] += 1
        for piece, part in enumerate(parts):
            # Further pieces of an instance are written as a group so that json2instanceImg
            # does not count them as instances (the numbering of later instances holds).
            polygons.append(_ordered(entry, part, group=split and piece > 0))
        stats["polygons"] += len(parts)
    return _maps(owner, item.objects, schema), polygons, boxes


def _common_fields(obj: AnnotationObject, name: str, index: int) -> dict[str, Any]:
    prov = obj.provenance
    return {
        "label": name + GROUP if obj.crowd else name,
        "deleted": int(obj.deleted),
        "verified": int(prov.verified),
        "user": prov.updated_by,
        "date": format_date(prov.updated_at),
        EXTRAS_KEY: extras_of(obj) | {"object": index},
    }


def _ordered(entry: dict[str, Any], polygon: list, *, group: bool = False) -> dict[str, Any]:
    out = {"label": entry["label"] + (GROUP if group else ""), "polygon": polygon}
    out |= {k: v for k, v in entry.items() if k != "label"}
    return out


def _maps(
    owner: np.ndarray, objects: list[AnnotationObject], schema: LabelSchema
) -> dict[str, np.ndarray]:
    count = len(objects) + 1
    ids = np.zeros(count, dtype=np.int64)
    train = np.full(count, IGNORE_TRAIN_ID, dtype=np.int64)
    instance = np.zeros(count, dtype=np.int64)
    colors = np.zeros((count, 4), dtype=np.uint8)
    colors[:, 3] = 255
    seen: dict[int, int] = {}
    for index, obj in enumerate(objects, start=1):
        label = schema.by_id[obj.label_id]
        if obj.deleted or obj.kind is not ObjectKind.REGION or not label.drawable:
            continue
        ids[index] = label.id
        train[index] = label.train_id if 0 <= label.train_id < IGNORE_TRAIN_ID else IGNORE_TRAIN_ID
        colors[index, :3] = label.color
        if label.has_instances and not obj.crowd:
            k = seen.get(label.id, 0)
            seen[label.id] = k + 1
            instance[index] = label.id * INSTANCE_FACTOR + k
        else:
            instance[index] = label.id
    label_dtype = np.uint8 if ids.max(initial=0) <= 255 else np.uint16
    colors[0, :3] = schema.by_id[0].color if 0 in schema.by_id else (0, 0, 0)
    return {
        "labelIds": ids.astype(label_dtype)[owner],
        "labelTrainIds": train.astype(np.uint8)[owner],
        "instanceIds": instance.astype(np.uint16)[owner],
        "color": colors[owner],
    }
