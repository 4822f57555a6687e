"""COCO panoptic: ``OUT.json`` with ``segments_info`` per image plus the PNG folder ``OUT/``.

The layout of the COCO panoptic annotations (``panoptic_val2017.json`` beside
``panoptic_val2017/``). Each PNG is RGB; a pixel's segment id is ``R + 256 * G + 256^2 * B``
(panopticapi's ``rgb2id``), 0 is void (unlabeled). The JSON::

    {"info": {..., "roadmark": {"images_root": ..., "schema": ...}},
     "images": [{"id", "file_name", "width", "height"}],
     "annotations": [{"image_id", "file_name": PNG name, "segments_info": [
         {"id", "category_id", "iscrowd", "area", "bbox": [x, y, w, h],
          "roadmark": {extras, "object": z-index}}],
       "roadmark": {"boxes": [{"category_id", "bbox", "iscrowd", "roadmark": {...}}],
                    "unseen": [{"category_id", "iscrowd", "wkt", "roadmark": {...}}]}}],
     "categories": [{"id", "name", "supercategory", "isthing", "color"}]}

Export writes, per frame, one segment per live region that shows in the label map (what
the editor shows: regions painted in z-order, later on top), so segments never overlap.
``segments_info`` lists them in z-order (bottom first). ``category_id`` is the label id,
``isthing`` the label's ``hasInstances``; ``area`` and ``bbox`` are computed from the
segment's pixels with pycocotools (``area``, ``toBbox``: integer pixel counts and the
enclosing pixel box). Segment ids follow cityscapesScripts' ``createPanopticImgs``
(the Cityscapes panoptic convention): ``label id * 1000 + k`` for the ``k``-th instance of
a label with instances (counted from 0 in z-order, as in ``_instanceIds.png``) and the bare
label id for stuff and crowd regions; a second segment that would get a taken id (a second
region of a stuff label, an id of 0 or one past ``256^3``) gets the next free id. Regions
covered entirely by later ones (``hidden``) or covering no pixel center of their image
(``empty``) have no segment (warned); they go, with their exact geometry as WKT, into the
annotation's ``roadmark.unseen``, so that a round trip keeps them and the instance
numbering. Regions of labels with a negative id (no label-map id) and soft-deleted objects
are not written. Boxes have no place in the panoptic format and go into the annotation's
``roadmark`` extras. Every segment carries ``roadmark`` extras (instance and track ids,
attributes, provenance; see :mod:`roadmark.io.formats.common`) and ``object``, its index
in the frame's z-order.
``categories`` lists every label of the schema with an id >= 0.

Import reads the JSON and the PNG of each annotation, from the folder beside the JSON named
like it (``--masks DIR`` for another place); images are found as for COCO (``--images``,
beside the JSON, or ``info.roadmark.images_root``). Every segment becomes a region (the
exact pixel-edge outline of its pixels, so it rasterizes back to the same pixels) with its
label, ``iscrowd`` and extras; segments of labels with instances get instance numbers
1, 2, ... in list order where the extras give none. A segment listed without pixels is
skipped with a warning; PNG pixels with ids no segment lists stay unlabeled (warned); a
stated ``area`` that differs from the PNG is warned (the PNG wins).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np
import shapely
from numpy.typing import NDArray
from pycocotools import mask as coco_mask

from roadmark import __version__
from roadmark.core.annotation import AnnotationObject, Box, Frame, ObjectKind
from roadmark.core.raster import INSTANCE_FACTOR, region_mask_in_box
from roadmark.core.schema import LabelSchema
from roadmark.io.codec import extras_of
from roadmark.io.formats import Capability, DatasetFormat, register_format
from roadmark.io.formats.coco import image_entry, read_id
from roadmark.io.formats.coco_panoptic_read import (
    MAX_SEGMENT_ID,
    id_to_rgb,
    image_roots,
    read_categories,
    read_image_entry,
    read_list,
)
from roadmark.io.formats.common import (
    EXTRAS_KEY,
    ExportContext,
    ExportFrame,
    ImportContext,
    ImportedFrame,
    read_json,
)
from roadmark.io.formats.errors import FormatError

WRITER_THREADS = 2


@register_format
class CocoPanopticFormat(DatasetFormat):
    """COCO panoptic segmentation: JSON with ``segments_info`` and a folder of id PNGs."""

    id = "coco-panoptic"
    version = "1.0"
    title = "COCO panoptic (JSON and segment PNGs)"
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
            Capability.LABEL_MAPS,
        }
    )
    output = "file"
    suffix = ".json"
    mask_files = True

    def companions(self, target: Path) -> list[Path]:
        return [target.with_suffix("")]

    # -- import ------------------------------------------------------------------------------

    def read(self, source: Path, context: ImportContext) -> Iterator[ImportedFrame]:
        where = str(source)
        if source.is_dir():
            raise FormatError("expected a COCO panoptic .json file, got a folder", path=where)
        data = read_json(source)
        if not isinstance(data, dict):
            raise FormatError("must be an object with images, annotations, categories", path=where)
        images = read_list(data, "images", where)
        annotations = read_list(data, "annotations", where)
        categories = read_categories(read_list(data, "categories", where), where)
        masks = context.masks or source.with_suffix("")
        roots = image_roots(source, data, context.images)
        entries: dict[Any, int] = {}
        for index, image in enumerate(images):
            if not isinstance(image, dict):
                raise FormatError("must be an object", path=where, field=f"images[{index}]")
            image_id = read_id(image.get("id"), where, f"images[{index}].id")
            if image_id in entries:
                raise FormatError(
                    f"duplicate image id {image_id!r}", path=where, field=f"images[{index}].id"
                )
            entries[image_id] = index
        by_image: dict[Any, int] = {}
        for index, ann in enumerate(annotations):
            field = f"annotations[{index}]"
            if not isinstance(ann, dict):
                raise FormatError("must be an object", path=where, field=field)
            image_id = ann.get("image_id")
            if isinstance(image_id, bool) or not isinstance(image_id, int | str):
                image_id = None
            if image_id not in entries:
                raise FormatError(
                    f"no image has id {image_id!r}", path=where, field=f"{field}.image_id"
                )
            if image_id in by_image:
                raise FormatError(
                    f"image {image_id!r} has a second annotation (annotations"
                    f"[{by_image[image_id]}] is the first)",
                    path=where,
                    field=f"{field}.image_id",
                )
            by_image[image_id] = index
        context.job.begin("reading", len(entries))
        for done, (image_id, index) in enumerate(entries.items(), start=1):
            context.job.check()
            ann_index = by_image.get(image_id)
            yield read_image_entry(
                images[index],
                index,
                None if ann_index is None else (ann_index, annotations[ann_index]),
                categories,
                roots,
                masks,
                where,
                context,
            )
            context.job.report(done, len(entries))

    # -- export ------------------------------------------------------------------------------

    def write(self, frames: Iterable[ExportFrame], target: Path, context: ExportContext) -> None:
        stats = context.stats
        for key in (
            "segments",
            "boxes",
            "hidden",
            "empty",
            "deleted_skipped",
            "undrawable_skipped",
            "renumbered",
        ):
            stats.setdefault(key, 0)
        (masks,) = self.companions(target)
        masks.mkdir()
        names = _PngNames()
        with (
            open(target, "w", encoding="utf-8") as out,
            ThreadPoolExecutor(max_workers=WRITER_THREADS) as pool,
        ):
            info = {
                "description": "exported by roadmark",
                "version": __version__,
                EXTRAS_KEY: {
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
            pending: list[Future] = []
            for position, item in enumerate(frames):
                name = names.of(item.frame, context)
                segments = panoptic_segments(item.objects, context.schema, item.frame, stats)
                entry = _annotation(item, name, segments, stats)
                out.write(("," if position else "") + "\n" + json.dumps(entry))
                path = masks / name
                path.parent.mkdir(parents=True, exist_ok=True)
                pending.append(pool.submit(_write_png, path, segments.ids))
                while len(pending) > 2 * WRITER_THREADS:
                    pending.pop(0).result()
            for future in pending:
                future.result()
            _write_categories(out, context.schema)
        if stats["hidden"] or stats["empty"]:
            context.warnings.warn(
                f"{stats['hidden']} region(s) covered entirely by regions above them and "
                f"{stats['empty']} that cover no pixel of their image have no segment; they "
                "are kept in the annotation's roadmark.unseen"
            )
        if stats["undrawable_skipped"]:
            context.warnings.warn(
                f"{stats['undrawable_skipped']} region(s) of labels without a label-map id "
                "(negative ids) are not written"
            )


# -- segments ------------------------------------------------------------------------------------


@dataclass
class PanopticSegments:
    """The segments of one frame.

    Attributes:
        ids: ``(H, W)`` segment id of each pixel (0: void).
        info: ``segments_info`` entries in z-order (without extras).
        objects: The object of each entry.
        indexes: Each entry's object index in the frame's z-order.
        unseen: Indexes of the live regions without a segment: covered entirely by later
            ones, or covering no pixel center of the image.
    """

    ids: NDArray[np.uint32]
    info: list[dict[str, Any]]
    objects: list[AnnotationObject]
    indexes: list[int]
    unseen: list[int]


def panoptic_segments(
    objects: list[AnnotationObject], schema: LabelSchema, frame: Frame, stats: dict[str, int]
) -> PanopticSegments:
    """Non-overlapping segments from the z-ordered live regions (what the label map shows).

    Segment ids, ``area`` and ``bbox`` as in the module doc. ``stats`` counts hidden,
    deleted, empty, undrawable and renumbered regions.
    """
    height, width = frame.height, frame.width
    owner = np.zeros((height, width), dtype=np.int32)  # 1 + index of the top object
    windows: dict[int, tuple[int, int, int, int]] = {}
    empty: list[int] = []
    for index, obj in enumerate(objects):
        if obj.deleted:
            stats["deleted_skipped"] = stats.get("deleted_skipped", 0) + 1
            continue
        if obj.kind is not ObjectKind.REGION:
            continue
        label = schema.by_id.get(obj.label_id)
        if label is None or not label.drawable:
            stats["undrawable_skipped"] = stats.get("undrawable_skipped", 0) + 1
            continue
        mask, row0, col0 = region_mask_in_box(obj.region, height, width)
        if not mask.any():  # outside the image, or too thin to cover a pixel center
            empty.append(index)
            continue
        owner[row0 : row0 + mask.shape[0], col0 : col0 + mask.shape[1]][mask] = index + 1
        windows[index] = (row0, col0, row0 + mask.shape[0], col0 + mask.shape[1])
    preferred: dict[int, int] = {}
    counts: dict[int, int] = {}
    for index in windows:
        obj = objects[index]
        label = schema.by_id[obj.label_id]
        if label.has_instances and not obj.crowd:
            k = counts.get(label.id, 0)
            counts[label.id] = k + 1
            preferred[index] = label.id * INSTANCE_FACTOR + k
        else:
            preferred[index] = label.id
    visible = []
    hidden = []
    for index, (row0, col0, row1, col1) in windows.items():
        crop = owner[row0:row1, col0:col1] == index + 1
        if crop.any():
            visible.append((index, crop, row0, col0))
        else:
            hidden.append(index)
    stats["hidden"] = stats.get("hidden", 0) + len(hidden)
    stats["empty"] = stats.get("empty", 0) + len(empty)
    taken: set[int] = set()
    chosen: dict[int, int] = {}
    for index, _, _, _ in visible:
        wanted = preferred[index]
        if 0 < wanted <= MAX_SEGMENT_ID and wanted not in taken:
            chosen[index] = wanted
            taken.add(wanted)
    next_free = 1
    reserved = set(preferred.values())
    for index, _, _, _ in visible:
        if index in chosen:
            continue
        while next_free in taken or next_free in reserved:
            next_free += 1
        if next_free > MAX_SEGMENT_ID:
            raise FormatError(f"frame {frame.name} has more segments than 256^3 - 1 ids")
        chosen[index] = next_free
        taken.add(next_free)
        stats["renumbered"] = stats.get("renumbered", 0) + 1
    lut = np.zeros(len(objects) + 1, dtype=np.uint32)
    info: list[dict[str, Any]] = []
    for index, crop, row0, col0 in visible:
        lut[index + 1] = chosen[index]
        encoded = coco_mask.encode(np.asfortranarray(crop.astype(np.uint8)))
        x, y, w, h = (int(v) for v in coco_mask.toBbox(encoded))
        obj = objects[index]
        info.append(
            {
                "id": chosen[index],
                "category_id": obj.label_id,
                "iscrowd": int(obj.crowd),
                "area": int(coco_mask.area(encoded)),
                "bbox": [x + col0, y + row0, w, h],
            }
        )
    stats["segments"] = stats.get("segments", 0) + len(info)
    return PanopticSegments(
        ids=lut[owner],
        info=info,
        objects=[objects[index] for index, *_ in visible],
        indexes=[index for index, *_ in visible],
        unseen=sorted(hidden + empty),
    )


# -- writing helpers -------------------------------------------------------------------------------


class _PngNames:
    """A PNG name per frame, unique within the export: the image's path with ``.png``."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def of(self, frame: Frame, context: ExportContext) -> str:
        relative = Path(os.path.relpath(context.files[frame.id], context.image_root))
        stem = relative.with_suffix("").as_posix()
        if frame.video_frame is not None:
            stem += f"_{frame.video_frame:06d}"
        name = stem + ".png"
        if name in self.used:
            name = f"{stem}_{frame.id}.png"
        self.used.add(name)
        return name



def _annotation(
    item: ExportFrame, name: str, segments: PanopticSegments, stats: dict[str, int]
) -> dict[str, Any]:
    infos = [
        info | {EXTRAS_KEY: extras_of(obj) | {"object": index}}
        for info, obj, index in zip(segments.info, segments.objects, segments.indexes, strict=True)
    ]
    entry: dict[str, Any] = {"image_id": item.frame.id, "file_name": name, "segments_info": infos}
    extras: dict[str, list] = {}
    for index in segments.unseen:
        obj = item.objects[index]
        extras.setdefault("unseen", []).append(
            {
                "category_id": obj.label_id,
                "iscrowd": int(obj.crowd),
                "wkt": shapely.to_wkt(obj.region, rounding_precision=-1),
                EXTRAS_KEY: extras_of(obj) | {"object": index},
            }
        )
    boxes = []
    for index, obj in enumerate(item.objects):
        if obj.deleted or not isinstance(obj.geometry, Box):
            continue
        boxes.append(
            {
                "category_id": obj.label_id,
                "bbox": list(obj.geometry.to_xywh()),
                "iscrowd": int(obj.crowd),
                EXTRAS_KEY: extras_of(obj) | {"object": index},
            }
        )
    if boxes:
        extras["boxes"] = boxes
        stats["boxes"] += len(boxes)
    if extras:
        entry[EXTRAS_KEY] = extras
    return entry


def _write_png(path: Path, ids: NDArray[np.uint32]) -> None:
    bgr = np.ascontiguousarray(id_to_rgb(ids)[:, :, ::-1])  # OpenCV writes BGR
    ok, encoded = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise FormatError("cannot encode PNG", path=str(path))
    path.write_bytes(encoded.tobytes())


def _write_categories(out: IO[str], schema: LabelSchema) -> None:
    categories = [
        {
            "id": label.id,
            "name": label.name,
            "supercategory": label.category,
            "isthing": int(label.has_instances),
            "color": list(label.color),
        }
        for label in schema.labels
        if label.drawable
    ]
    out.write('\n], "categories": ' + json.dumps(categories) + "}\n")
