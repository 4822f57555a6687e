"""Cityscapes files: names, dates, and writing one frame's polygons, boxes and label maps.

See :mod:`roadmark.io.formats.cityscapes` for the layout and the rules.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from roadmark.core.annotation import AnnotationObject, Box, ObjectKind
from roadmark.core.raster import INSTANCE_FACTOR
from roadmark.core.schema import IGNORE_TRAIN_ID, LabelSchema
from roadmark.io.codec import extras_of
from roadmark.io.errors import FrameSourceError
from roadmark.io.formats.cityscapes_geometry import region_padded_in_box, region_to_polygons
from roadmark.io.formats.common import EXTRAS_KEY, ExportFrame
from roadmark.io.formats.errors import FormatError
from roadmark.io.formats.owner_png import OwnerMaps
from roadmark.io.formats.stored_frame import OBJECTS_READ, StoredFrame
from roadmark.io.frames import VideoReader, read_image, write_image

POLYGONS = "_gtFine_polygons.json"
BOXES = "_gtFine_boxes.json"
LEFT = "_leftImg8bit"
GROUP = "group"
DATE_FORMAT = "%d-%b-%Y %H:%M:%S"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_NAME = re.compile(r"^(?P<city>[A-Za-z0-9-]+)_(?P<seq>\d+)_(?P<frame>\d+)(?:_leftImg8bit)?$")
_DATE = re.compile(r"^(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{1,2}):(\d{2}):(\d{2})$")


@functools.lru_cache(maxsize=4096)  # objects share a few times; datetimes are immutable
def format_date(when: datetime) -> str:
    """Cityscapes' ``date``: ``28-Feb-2016 14:48:51`` (UTC, English month names)."""
    when = when.astimezone(UTC)
    return f"{when.day:02d}-{_MONTHS[when.month - 1]}-{when:%Y %H:%M:%S}"


@functools.lru_cache(maxsize=4096)  # objects share a few dates; datetimes are immutable
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


class FrameNames:
    """Cityscapes split, city and base name for each frame, unique within the export."""

    def __init__(self) -> None:
        self.used: set[tuple[str, str, str]] = set()
        self.sequences: dict[str, int] = {}

    def of(self, item: ExportFrame | StoredFrame) -> tuple[str, str, str]:
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


def write_frame_image(item: ExportFrame, path: Path, *, link: bool = False) -> None:
    """The frame as an 8-bit RGB PNG: an 8-bit RGB PNG source is copied (hard-linked with
    ``link``), anything else (other formats, 16-bit, gray, alpha, palette) is decoded and
    written again; a video frame is decoded."""
    source = item.image
    if item.frame.video_frame is not None:
        reader = VideoReader(source)
        try:
            write_image(path, reader.read(item.frame.video_frame))
        finally:
            reader.close()
        return
    if not is_rgb8_png(source):
        write_image(path, read_image(source))
        return
    if link:
        with contextlib.suppress(OSError):  # another file system: copy instead
            os.link(source, path)
            return
    shutil.copyfile(source, path)


def is_rgb8_png(path: Path) -> bool:
    """Whether a file is a PNG of 8-bit RGB pixels, by its header (IHDR)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(26)
    except FileNotFoundError as error:
        raise FrameSourceError("image not found", path=str(path)) from error
    return (
        len(head) == 26
        and head[:8] == b"\x89PNG\r\n\x1a\n"
        and head[12:16] == b"IHDR"
        and head[24] == 8  # bit depth
        and head[25] == 2  # colour type: RGB (no palette, no alpha, not gray)
    )


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data), encoding="utf-8")


@dataclass
class FramePayload:
    """One frame's entries and top-object map, ready to be written.

    Attributes:
        item: The frame.
        owner: ``1 + index`` of the object drawn on top at each pixel (0: none).
        polygons: Polygon entries in z-order.
        boxes: Box entries (the sidecar).
    """

    item: ExportFrame
    owner: np.ndarray
    polygons: list[dict]
    boxes: list[dict]


def write_frame_files(
    payload: FramePayload,
    gt: Path,
    left: Path,
    base: str,
    schema: LabelSchema,
    *,
    link_images: bool = False,
) -> None:
    """Write a frame's image, polygons, boxes and label maps (thread-safe: own files only)."""
    item = payload.item
    write_frame_image(item, left / f"{base}{LEFT}.png", link=link_images)
    header = {"imgHeight": item.frame.height, "imgWidth": item.frame.width}
    _write_json(gt / f"{base}{POLYGONS}", header | {"objects": payload.polygons})
    if payload.boxes:
        _write_json(gt / f"{base}{BOXES}", header | {"objects": payload.boxes})
    tables = _tables(item.objects, schema)
    try:
        files = OwnerMaps(payload.owner).pngs(list(tables.values()))
    except ValueError as exc:
        raise FormatError(str(exc), path=str(gt / f"{base}_gtFine_*.png")) from exc
    for suffix, data in zip(tables, files, strict=True):
        (gt / f"{base}_gtFine_{suffix}.png").write_bytes(data)


def write_frame(
    item: ExportFrame | StoredFrame,
    gt: Path,
    left: Path,
    base: str,
    schema: LabelSchema,
    link_images: bool = False,
) -> dict[str, int]:
    """Trace, rasterize (once) and write one frame; returns its figures for the export's
    stats (``polygons``, ``original_polygons``, ``mismatched_pixels``, ``split_instances``;
    for a :class:`StoredFrame`, read here, also the objects read under ``OBJECTS_READ``).

    Runs in an export worker process or thread (see :mod:`roadmark.io.formats.parallel`).
    """
    stats = dict.fromkeys(
        ("polygons", "original_polygons", "mismatched_pixels", "split_instances"), 0
    )
    if isinstance(item, StoredFrame):
        item = item.load()
        stats[OBJECTS_READ] = sum(not obj.deleted for obj in item.objects)
    payload = frame_payload(item, schema, stats)
    write_frame_files(payload, gt, left, base, schema, link_images=link_images)
    return stats


def frame_payload(item: ExportFrame, schema: LabelSchema, stats: dict[str, Any]) -> FramePayload:
    """The polygon and box entries of one frame, and which object is on top at each pixel."""
    height, width = item.frame.height, item.frame.width
    # 1 + index of the top object; uint8 for the usual frame lets the maps be table lookups
    count = len(item.objects) + 1
    owner = np.zeros((height, width), dtype=np.uint8 if count <= 256 else np.int32)
    zeros = np.zeros((height, width), np.uint8)  # what _paint adds to (pages never written)
    polygons: list[dict] = []
    boxes: list[dict] = []
    for index, obj in enumerate(item.objects):
        label = schema.by_id[obj.label_id]
        entry = _common_fields(obj, label.name, index)
        if isinstance(obj.geometry, Box):
            boxes.append(entry | {"bbox": list(obj.geometry.to_xywh())})
            continue
        raster = region_padded_in_box(obj.region, height, width)
        padded, row0, col0 = raster
        mask = padded[1:-1, 1:-1]  # 0 and 1
        if not obj.deleted and label.drawable and mask.size:
            window = owner[row0 : row0 + mask.shape[0], col0 : col0 + mask.shape[1]]
            _paint(window, mask, index + 1, zeros)
        original = item.originals.get(obj.uid) if obj.uid is not None else None
        if original:
            parts = original
            stats["original_polygons"] += len(parts)
        else:
            exported = region_to_polygons(obj.region, height, width, raster)
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
    return FramePayload(item, owner, polygons, boxes)


def _paint(window: np.ndarray, mask: np.ndarray, value: int, zeros: np.ndarray) -> None:
    """``window[mask] = value`` (``mask``: 0 and 1, the shape of ``window``). For uint8 by
    OpenCV's masked add of ``value`` to ``zeros`` (uint8 zeros at least that large),
    written straight into ``window``: one pass, several times faster than ``np.putmask``
    on the ragged edges of a frame's regions."""
    if window.dtype == np.uint8 and mask.size:
        blank = zeros[: window.shape[0], : window.shape[1]]
        if cv2.add(blank, value, dst=window, mask=mask) is window:
            return
    np.putmask(window, mask, value)  # (should OpenCV ever not write into the window)


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


def _tables(objects: list[AnnotationObject], schema: LabelSchema) -> dict[str, np.ndarray]:
    """Each map's value for each owner (``1 + index`` of the object on top, 0: none);
    colours as BGRA (OpenCV's order)."""
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
        "labelIds": ids.astype(label_dtype),
        "labelTrainIds": train.astype(np.uint8),
        "instanceIds": instance.astype(np.uint16),
        "color": np.ascontiguousarray(colors[:, [2, 1, 0, 3]]),
    }
