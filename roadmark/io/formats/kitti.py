"""KITTI: object labels (``label_2``) and the segmentation benchmark's semantic/instance maps.

Layout, read and written (``roadmark import P --format kitti DIR``; ``DIR`` may also be a
folder holding ``training/``)::

    DIR/image_2/<name>.png        the images (``--images`` points at another folder)
    DIR/label_2/<name>.txt        object labels, one line per box
    DIR/semantic/<name>.png       uint8 label ids, 0 = unlabeled
    DIR/instance/<name>.png       uint16 label id * 256 + instance (1, 2, ... per label in
                                  z-order; 0 = no instance)
    DIR/semantic_rgb/<name>.png   the label colors (written for viewing; not read)
    DIR/roadmark/<name>.json      roadmark's sidecar (below)

``label_2`` lines follow the object devkit: ``type truncated occluded alpha left top right
bottom height width length x y z rotation_y [score]``, whitespace separated. The box
``left top right bottom`` is taken as roadmark's float pixel coordinates as it stands.
``type`` is a label name (``_`` stands for a space: ``traffic_sign``); ``--map Car=car``
maps KITTI's names to the schema's. ``DontCare`` becomes a box of the schema's label
``DontCare`` if it has one, else of its ignored label (``unlabeled`` in Cityscapes), and is
written back as ``DontCare``. ``occluded`` 1 or 2 and ``truncated`` above 0 set ``bool``
schema attributes of those names where the label has them (Cityscapes); a ``text`` or
``choice`` attribute named after a field (``truncated``, ``occluded``, ``alpha``,
``dimensions``, ``location``, ``rotation_y``: the built-in ``kitti`` schema) holds the
field's text, and is written from there even after the box was edited. ``score`` is the
model confidence. Every value of an imported line is also kept with the object and written
back unchanged while its box is not edited; a new or edited box gets KITTI's "unknown"
values for fields no attribute holds.
Numbers are written with two decimals where they hold the value exactly, else with as
many as it takes.

The maps (KITTI semantics devkit): a ``semantic`` value is a label id of the project's
schema (Cityscapes ids by default, as KITTI uses); an ``instance`` value keeps the label id
in its high byte and the instance in its low byte. Imported, each value of the instance map
(the semantic map where there is none) becomes one region of exactly its pixels, with that
instance id; a label with instances and instance 0 is a crowd region. Exported, the regions
are painted in z-order (what the label map shows); a region of a label with instances that
is not a crowd is numbered 1, 2, ... per label.

The sidecar ``roadmark/<name>.json`` carries what KITTI has no field for: z-order, exact
vector outlines (hidden parts included) and roadmark's extras (ids, tracks, provenance;
see :mod:`roadmark.io.formats.common`)::

    {"objects": [{"line": 0, "roadmark": {...}},
                 {"label": "car", "crowd": false, "value": 6657,
                  "region": [[[[x, y], ...], [hole...]], ...], "roadmark": {...}}]}

It is used only while it agrees with the KITTI files (the same lines, and its regions paint
exactly the instance map); otherwise it is ignored with a warning and the KITTI files
decide. KITTI has no soft delete: deleted objects are not exported.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from roadmark.core.annotation import AnnotationObject, ObjectKind
from roadmark.core.raster import color_map
from roadmark.core.schema import Label, LabelSchema
from roadmark.io.codec import extras_of
from roadmark.io.formats import Capability, DatasetFormat, register_format
from roadmark.io.formats.cityscapes_files import write_frame_image
from roadmark.io.formats.common import (
    EXTRAS_KEY,
    ExportContext,
    ExportFrame,
    ImportContext,
    ImportedFrame,
    apply_extras,
    integer,
)
from roadmark.io.formats.errors import FormatError
from roadmark.io.formats.kitti_files import (
    DONT_CARE,
    INSTANCE_SHIFT,
    KITTI_NAME,
    KittiLine,
    box_line,
    ignore_label,
    line_attributes,
    map_value,
    paint_values,
    parse_lines,
    read_map,
    read_sidecar,
    region_from_json,
    region_to_json,
    segments,
    write_png,
)
from roadmark.io.frames import IMAGE_SUFFIXES, natural_key

IMAGES, LABELS, SEMANTIC, INSTANCE, COLORS, SIDECAR = (
    "image_2",
    "label_2",
    "semantic",
    "instance",
    "semantic_rgb",
    "roadmark",
)


@register_format
class KittiFormat(DatasetFormat):
    """KITTI object labels (label_2) with the semantic/instance maps."""

    id = "kitti"
    version = "1.0"
    title = "KITTI (label_2 boxes, semantic/instance maps)"
    capabilities = frozenset(
        {
            Capability.IMPORT,
            Capability.EXPORT,
            Capability.BOXES,
            Capability.REGIONS,
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
    output = "folder"

    # -- import ------------------------------------------------------------------------------

    def read(self, source: Path, context: ImportContext) -> Iterator[ImportedFrame]:
        root = _root(source)
        names = _frame_names(root)
        images = context.images if context.images is not None else root / IMAGES
        context.job.begin("reading", len(names))
        for done, name in enumerate(names, start=1):
            context.job.check()
            yield _read_frame(root, images, name, context)
            context.job.report(done, len(names))

    # -- export ------------------------------------------------------------------------------

    def write(self, frames: Iterable[ExportFrame], target: Path, context: ExportContext) -> None:
        stats = context.stats
        for key in ("boxes", "regions", "original_lines", "deleted_skipped"):
            stats.setdefault(key, 0)
        folders = {key: target / key for key in (IMAGES, LABELS, SIDECAR)}
        for folder in folders.values():
            folder.mkdir(parents=True)
        names = _export_names(context)
        for item in frames:
            _write_frame(item, names[item.frame.id], target, context.schema, stats)


# -- reading -----------------------------------------------------------------------------------


def _root(source: Path) -> Path:
    if source.is_file():
        raise FormatError("expected a KITTI folder holding image_2/ and label_2/", path=str(source))
    if not source.is_dir():
        raise FormatError("no such folder", path=str(source))
    if not any((source / key).is_dir() for key in (IMAGES, LABELS, SEMANTIC, INSTANCE)):
        if (source / "training").is_dir():
            return source / "training"
    return source


def _frame_names(root: Path) -> list[str]:
    names: set[str] = set()
    for folder, pattern in ((LABELS, "*.txt"), (SEMANTIC, "*.png"), (INSTANCE, "*.png")):
        if (root / folder).is_dir():
            names.update(path.stem for path in (root / folder).glob(pattern))
    if not names:
        raise FormatError(
            f"has no {LABELS}/*.txt, {SEMANTIC}/*.png or {INSTANCE}/*.png files", path=str(root)
        )
    return sorted(names, key=natural_key)


def _find_image(images: Path, name: str, where: str) -> Path:
    for suffix in sorted(IMAGE_SUFFIXES):
        candidate = images / f"{name}{suffix}"
        if candidate.is_file():
            return candidate.resolve()
    raise FormatError(
        f"image {name}.png not found in {images} (use --images DIR)", path=where, field="image"
    )


def _read_frame(root: Path, images: Path, name: str, context: ImportContext) -> ImportedFrame:
    label_file = root / LABELS / f"{name}.txt"
    candidates = (label_file, root / SEMANTIC / f"{name}.png", root / INSTANCE / f"{name}.png")
    where = str(next((path for path in candidates if path.is_file()), label_file))
    lines: list[KittiLine] = []
    if label_file.is_file():
        try:
            text = label_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise FormatError("cannot read as UTF-8 text", path=str(label_file)) from error
        lines = parse_lines(text, str(label_file))
    values, size = _read_maps(root, name)
    boxes = [_box_object(line, context) for line in lines]
    sidecar = root / SIDECAR / f"{name}.json"
    joined = _with_sidecar(sidecar, lines, boxes, values, context) if sidecar.is_file() else None
    if joined is not None:
        objects, originals = joined
    else:
        regions = _map_objects(values, context, where) if values is not None else []
        objects = regions + [obj for obj in boxes if obj]
        originals = [None] * len(regions) + [
            line.tokens for line, obj in zip(lines, boxes, strict=True) if obj
        ]
    image = _find_image(images, name, where)
    height, width = size if size else (None, None)
    return ImportedFrame(image, objects, where, width, height, originals=originals)


def _read_maps(root: Path, name: str) -> tuple[np.ndarray | None, tuple[int, int] | None]:
    """The frame's instance-map values (label id * 256 + instance), and its size."""
    semantic_file, instance_file = root / SEMANTIC / f"{name}.png", root / INSTANCE / f"{name}.png"
    semantic = read_map(semantic_file, instance=False) if semantic_file.is_file() else None
    instance = read_map(instance_file, instance=True) if instance_file.is_file() else None
    if instance is None:
        if semantic is None:
            return None, None
        return semantic * INSTANCE_SHIFT, semantic.shape
    if semantic is not None:
        if semantic.shape != instance.shape:
            raise FormatError(
                f"is {instance.shape[1]}x{instance.shape[0]} but the semantic map is "
                f"{semantic.shape[1]}x{semantic.shape[0]}",
                path=str(instance_file),
                field="size",
            )
        differ = int(np.count_nonzero(semantic != instance // INSTANCE_SHIFT))
        if differ:
            raise FormatError(
                f"labels (high byte) differ from {semantic_file.name} in the semantic folder "
                f"at {differ} pixels",
                path=str(instance_file),
                field="instance",
            )
    return instance, instance.shape


def _resolve(name: str, context: ImportContext) -> Label | None:
    labels = context.labels
    if name == DONT_CARE and not labels.knows(name):
        ignore = ignore_label(labels.schema)
        if ignore is not None:
            return ignore
    spaced = name.replace("_", " ")
    if not labels.knows(name) and labels.knows(spaced):
        return labels.resolve(spaced)
    return labels.resolve(name)


def _box_object(line: KittiLine, context: ImportContext) -> AnnotationObject | None:
    label = _resolve(line.type, context)
    if label is None:
        return None
    attributes = line_attributes(line, label, context.labels.schema)
    provenance = context.provenance()
    if line.score is not None:
        provenance = context.provenance(confidence=line.score)
    return AnnotationObject(label.id, line.box, provenance, attributes=attributes)


def _map_objects(values: np.ndarray, context: ImportContext, where: str) -> list[AnnotationObject]:
    schema = context.labels.schema
    out = []
    for value, region in segments(values):
        label_id, instance = divmod(value, INSTANCE_SHIFT)
        if label_id == 0:
            continue
        label = schema.by_id.get(label_id)
        if label is None:
            raise FormatError(
                f"label id {label_id} is not in the project's schema {schema.name!r}",
                path=where,
                field="semantic",
            )
        crowd = label.has_instances and instance == 0
        obj = AnnotationObject(
            label.id, region, context.provenance(), instance_id=instance or None, crowd=crowd
        )
        out.append(obj)
    return out


def _with_sidecar(
    path: Path,
    lines: list[KittiLine],
    boxes: list[AnnotationObject | None],
    values: np.ndarray | None,
    context: ImportContext,
) -> tuple[list[AnnotationObject], list[Any]] | None:
    """Objects in the sidecar's z-order with its outlines and extras, or ``None`` (warned)
    when it does not agree with the KITTI files."""
    where = str(path)
    objects: list[AnnotationObject] = []
    originals: list[Any] = []
    painted: list[tuple[Any, int]] = []
    used: list[int] = []
    for index, entry in enumerate(read_sidecar(path)):
        field = f"objects[{index}]"
        if not isinstance(entry, dict):
            raise FormatError("must be an object", path=where, field=field)
        if "line" in entry:
            line = integer(entry["line"], where=where, field=f"{field}.line", minimum=0)
            if line >= len(lines) or line in used:
                _disagrees(context, where, f"{field}.line")
                return None
            used.append(line)
            obj = boxes[line]
            original: Any = lines[line].tokens
        else:
            obj, region, value = _sidecar_region(entry, where, field, context)
            if value is not None:
                painted.append((region, value))
            original = None
        if obj is not None:
            extras = entry.get(EXTRAS_KEY)
            objects.append(apply_extras(obj, extras, where=where, field=f"{field}.{EXTRAS_KEY}"))
            originals.append(original)
    if len(used) != len(lines):
        _disagrees(context, where, "objects")
        return None
    if painted or values is not None:
        height, width = values.shape if values is not None else (0, 0)
        if values is None or not np.array_equal(paint_values(painted, height, width), values):
            _disagrees(context, where, "objects")
            return None
    return objects, originals


def _sidecar_region(
    entry: dict, where: str, field: str, context: ImportContext
) -> tuple[AnnotationObject | None, Any, int | None]:
    name = entry.get("label")
    if not isinstance(name, str) or not name:
        raise FormatError(f"must be a label name, got {name!r}", path=where, field=f"{field}.label")
    region = region_from_json(entry.get("region"), where, f"{field}.region")
    crowd = entry.get("crowd", False)
    if not isinstance(crowd, bool):
        raise FormatError("must be true or false", path=where, field=f"{field}.crowd")
    value = entry.get("value")
    if value is not None:
        value = integer(value, where=where, field=f"{field}.value", minimum=0)
    label = context.labels.resolve(name)
    if label is None:
        return None, region, value
    return AnnotationObject(label.id, region, context.provenance(), crowd=crowd), region, value


def _disagrees(context: ImportContext, where: str, field: str) -> None:
    context.warnings.warn(
        "does not match the KITTI files (edited by another tool?); ignored, the KITTI files decide",
        path=where,
        field=field,
    )


# -- writing -----------------------------------------------------------------------------------


def _export_names(context: ExportContext) -> dict[int, str]:
    """Each frame's file name: its image's own name when every image has a KITTI name
    (``000123``, ``000123_10``) and they are unique, else its position (``000000``, ...)."""
    stems = [context.files[frame.id].stem for frame in context.frames]
    if (
        all(KITTI_NAME.match(stem) for stem in stems)
        and len(set(stems)) == len(stems)
        and all(frame.video_frame is None for frame in context.frames)
    ):
        return {frame.id: stem for frame, stem in zip(context.frames, stems, strict=True)}
    return {frame.id: f"{position:06d}" for position, frame in enumerate(context.frames)}


def _write_frame(
    item: ExportFrame, name: str, target: Path, schema: LabelSchema, stats: dict[str, Any]
) -> None:
    height, width = item.frame.height, item.frame.width
    label_file = target / LABELS / f"{name}.txt"
    lines: list[str] = []
    sidecar: list[dict[str, Any]] = []
    painted: list[tuple[Any, int]] = []
    counts: dict[int, int] = {}
    for obj in item.objects:
        if obj.deleted:
            stats["deleted_skipped"] += 1
            continue
        label = schema.by_id[obj.label_id]
        extras = extras_of(obj)
        if obj.kind is ObjectKind.BOX:
            original = item.originals.get(obj.uid) if obj.uid is not None else None
            stats["original_lines"] += original is not None
            sidecar.append({"line": len(lines), EXTRAS_KEY: extras})
            lines.append(box_line(obj, label, schema, original, str(item.image)))
            stats["boxes"] += 1
            continue
        value = None
        if label.drawable:
            instance = 0
            if label.has_instances and not obj.crowd:
                instance = counts[label.id] = counts.get(label.id, 0) + 1
            value = map_value(label, instance, str(item.image))
            painted.append((obj.region, value))
        sidecar.append(
            {
                "label": label.name,
                "crowd": obj.crowd,
                "value": value,
                "region": region_to_json(obj.region),
                EXTRAS_KEY: extras,
            }
        )
        stats["regions"] += 1
    write_frame_image(item, target / IMAGES / f"{name}.png")
    label_file.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    if painted:
        values = paint_values(painted, height, width)
        semantic = (values // INSTANCE_SHIFT).astype(np.uint8)
        for folder, array in (
            (SEMANTIC, semantic),
            (INSTANCE, values.astype(np.uint16)),
            (COLORS, color_map(semantic, schema)),
        ):
            (target / folder).mkdir(exist_ok=True)
            write_png(target / folder / f"{name}.png", array)
    document = {"roadmark": {"format_version": KittiFormat.version}, "objects": sidecar}
    (target / SIDECAR / f"{name}.json").write_text(json.dumps(document), encoding="utf-8")
