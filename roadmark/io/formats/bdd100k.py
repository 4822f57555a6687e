"""BDD100K labels (the Scalabel JSON format): frames with ``box2d``, ``poly2d`` and ``rle``
objects, their attributes, and sequences (``videoName``, ``frameIndex``) with tracks.

Import reads a ``.json`` file holding a list of frames (the detection and tracking label
files) or a Scalabel dataset ``{"frames": [...]}``, or a folder of such files (the tracking
sets have one per video). Per frame: ``name`` (the image, relative to ``--images``, else to
the file's folder, under ``<videoName>/`` first), ``videoName`` and ``frameIndex`` (the frame
joins roadmark sequence ``videoName`` at that index), optional ``size`` ``{"width",
"height"}`` (checked against the image) and ``labels``. Per label:

- ``category``: the label name (``--map pedestrian=person`` maps BDD's names to the schema's);
- ``box2d`` ``{x1, y1, x2, y2}``: a box. BDD's ``x2``/``y2`` are the last pixel inside the
  box (Scalabel's ``box2d_to_bbox`` takes ``x2 - x1 + 1`` as the width), so roadmark's
  right and bottom edges are ``x2 + 1`` and ``y2 + 1``;
- ``poly2d`` ``[{vertices, types, closed}]``: closed polygons make one region (their union);
  ``C`` vertices are cubic Bezier control points (sampled); open polylines (lane markings)
  have no area and are skipped with a warning;
- ``rle`` ``{counts, size}`` (COCO compressed RLE, Scalabel's masks): the exact pixel region;
- ``attributes``: ``crowd`` is roadmark's crowd flag; the others (``occluded``,
  ``truncated``, ``trafficLightColor``, ...) are object attributes where the label has them
  in the schema (the built-in ``bdd100k`` schema has BDD's categories with these
  attributes), else dropped with one warning per attribute name;
- ``id``: in a frame with ``videoName`` the track; numeric ids keep their number, others
  are numbered per video;
- ``score``: the model's confidence.

Export writes one ``.json`` list of frames: ``name`` relative to the deepest folder holding
every image (recorded as ``roadmark.images_root`` on each frame), ``videoName`` and
``frameIndex`` from the frame's sequence, and per object ``id`` (its track, else a unique
``<frame>.<index>``), ``category``, ``attributes`` (with ``crowd`` for a crowd), ``box2d``
for a box, ``poly2d`` for a region without holes (exact float vertices, one closed polygon
per part), ``rle`` of roadmark's raster for a region with holes, ``score`` and
``roadmark`` extras (see :mod:`roadmark.io.formats.common`); where those are present they
decide the ids on import. BDD has no soft delete (deleted objects are not exported) and no
z-order field: objects are listed bottom first. Frame attributes (weather, scene, time of
day) and timestamps are not kept.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import Polygon

from roadmark.core import rle
from roadmark.core.annotation import AnnotationObject, Box, as_region, region_parts
from roadmark.core.errors import GeometryError
from roadmark.core.raster import mask_to_region, region_mask
from roadmark.core.schema import LabelSchema
from roadmark.io.codec import extras_of
from roadmark.io.formats import Capability, DatasetFormat, register_format
from roadmark.io.formats.common import (
    EXTRAS_KEY,
    ExportContext,
    ExportFrame,
    ImportContext,
    ImportedFrame,
    apply_extras,
    integer,
    number,
    number_instances,
    read_json,
    safe_relative,
)
from roadmark.io.formats.errors import FormatError
from roadmark.io.frames import natural_key

BEZIER_STEPS = 8  # segments per cubic curve of a poly2d


@register_format
class Bdd100kFormat(DatasetFormat):
    """BDD100K / Scalabel JSON labels (boxes, polygons, masks, sequences and tracks)."""

    id = "bdd100k"
    version = "1.0"
    title = "BDD100K (Scalabel JSON)"
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
        }
    )
    output = "file"
    suffix = ".json"

    # -- import ------------------------------------------------------------------------------

    def read(self, source: Path, context: ImportContext) -> Iterator[ImportedFrame]:
        entries: list[tuple[Path, int, dict]] = []
        for file in _label_files(source):
            entries += [(file, index, frame) for index, frame in enumerate(_frames_of(file))]
        tracks = _TrackIds(entries)
        dropped: Counter[str] = Counter()
        open_lines = 0
        context.job.begin("reading", len(entries))
        for done, (file, index, frame) in enumerate(entries, start=1):
            context.job.check()
            reader = _FrameReader(file, index, frame, context, tracks)
            yield reader.read()
            dropped += reader.dropped
            open_lines += reader.open_lines
            context.job.report(done, len(entries))
        for name, count in sorted(dropped.items()):
            context.warnings.warn(
                f"attribute {name!r} dropped on {count} object(s): their labels have no such "
                "attribute in the project's schema",
                path=str(source),
            )
        if open_lines:
            context.warnings.warn(
                f"{open_lines} open poly2d line(s) (lane markings) have no area; skipped",
                path=str(source),
            )

    # -- export ------------------------------------------------------------------------------

    def write(self, frames: Iterable[ExportFrame], target: Path, context: ExportContext) -> None:
        stats = context.stats
        for key in ("labels", "boxes", "polygons", "rle", "deleted_skipped"):
            stats.setdefault(key, 0)
        with open(target, "w", encoding="utf-8") as out:
            out.write("[")
            for position, item in enumerate(frames):
                entry = _frame_entry(item, context, stats)
                out.write(("," if position else "") + "\n" + json.dumps(entry))
            out.write("\n]\n")


# -- reading ----------------------------------------------------------------------------------


def _label_files(source: Path) -> list[Path]:
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise FormatError("no such file or folder", path=str(source))
    files = sorted(source.rglob("*.json"), key=lambda path: natural_key(str(path)))
    if not files:
        raise FormatError("has no .json label files", path=str(source))
    return files


def _frames_of(file: Path) -> list[dict]:
    data = read_json(file)
    frames = data.get("frames") if isinstance(data, dict) else data
    if not isinstance(frames, list):
        raise FormatError(
            "must be a list of frames or an object with a 'frames' list", path=str(file)
        )
    for index, frame in enumerate(frames):
        if not isinstance(frame, dict):
            raise FormatError("must be an object", path=str(file), field=f"frames[{index}]")
    return frames


class _TrackIds:
    """roadmark track ids for BDD label ids, per video: a numeric id keeps its number,
    others get numbers above every numeric id of their video, in order of appearance."""

    def __init__(self, entries: list[tuple[Path, int, dict]]):
        self.ids: dict[tuple[str, str], int] = {}
        self.next: dict[str, int] = {}
        top: dict[str, int] = {}
        for _, _, frame in entries:
            video = frame.get("videoName")
            labels = frame.get("labels")
            if not isinstance(video, str) or not isinstance(labels, list):
                continue
            for label in labels:
                number_ = _numeric(label.get("id") if isinstance(label, dict) else None)
                if number_ is not None:
                    top[video] = max(top.get(video, 0), number_)
        self.next = {video: value + 1 for video, value in top.items()}

    def of(self, video: str, label_id: Any) -> int | None:
        if isinstance(label_id, bool) or not isinstance(label_id, int | str) or label_id == "":
            return None
        numeric = _numeric(label_id)
        if numeric is not None:
            return numeric
        key = (video, str(label_id))
        if key not in self.ids:
            self.ids[key] = self.next.get(video, 1)
            self.next[video] = self.ids[key] + 1
        return self.ids[key]


def _numeric(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31:
        return value
    if isinstance(value, str) and value.isdigit() and len(value) < 10:
        return int(value)
    return None


class _FrameReader:
    """Reads one frame entry; collects what it dropped for the summary warnings."""

    def __init__(
        self, file: Path, index: int, frame: dict, context: ImportContext, tracks: _TrackIds
    ):
        self.where = str(file)
        self.file = file
        self.field = f"frames[{index}]"
        self.frame = frame
        self.context = context
        self.tracks = tracks
        self.dropped: Counter[str] = Counter()
        self.open_lines = 0
        self.mask_size: list[int] | None = None

    def read(self) -> ImportedFrame:
        frame, where, field = self.frame, self.where, self.field
        name = safe_relative(frame.get("name"), where=where, field=f"{field}.name")
        video = frame.get("videoName")
        if video is not None and (not isinstance(video, str) or not video.strip()):
            raise FormatError(
                f"must be a video name, got {video!r}", path=where, field=f"{field}.videoName"
            )
        index = None
        if frame.get("frameIndex") is not None:
            index = integer(
                frame["frameIndex"], where=where, field=f"{field}.frameIndex", minimum=0
            )
        width, height = self._size()
        extras = frame.get(EXTRAS_KEY)
        extras = extras if isinstance(extras, dict) else {}
        video_frame = None
        if extras.get("video_frame") is not None:
            video_frame = integer(
                extras["video_frame"],
                where=where,
                field=f"{field}.{EXTRAS_KEY}.video_frame",
                minimum=0,
            )
        labels = frame.get("labels")
        if labels is None:
            labels = []
        if not isinstance(labels, list):
            raise FormatError("must be a list", path=where, field=f"{field}.labels")
        objects = []
        for position, label in enumerate(labels):
            obj = self._label(label, f"{field}.labels[{position}]", video, (width, height))
            if obj is not None:
                objects.append(obj)
        if width is None and self.mask_size is not None:
            height, width = self.mask_size  # checked against the image like a given size
        return ImportedFrame(
            image=self._image(name, video, extras.get("images_root")),
            objects=number_instances(objects, self.context.labels.schema),
            where=where,
            width=width,
            height=height,
            video_frame=video_frame,
            sequence=video,
            sequence_index=index,
        )

    def _size(self) -> tuple[int | None, int | None]:
        size = self.frame.get("size")
        if size is None:
            return None, None
        field = f"{self.field}.size"
        if not isinstance(size, dict):
            raise FormatError("must be {width, height}", path=self.where, field=field)
        width = integer(size.get("width"), where=self.where, field=f"{field}.width", minimum=1)
        height = integer(size.get("height"), where=self.where, field=f"{field}.height", minimum=1)
        return width, height

    def _image(self, name: Any, video: str | None, recorded: Any) -> Path:
        if self.context.images is not None:
            roots = [self.context.images]
        else:
            roots = [self.file.parent, self.file.parent / "images"]
            if isinstance(recorded, str) and recorded and "\x00" not in recorded:
                roots.append(Path(recorded))
        tried = []
        for root in roots:
            for candidate in ([root / video / name] if video else []) + [root / name]:
                tried.append(str(candidate.parent))
                try:
                    if candidate.is_file():
                        return candidate.resolve()
                except OSError:  # a name too long for the file system
                    continue
        raise FormatError(
            f"image {str(name)!r} not found (looked in {', '.join(dict.fromkeys(tried))}; "
            "use --images DIR)",
            path=self.where,
            field=f"{self.field}.name",
        )

    def _label(
        self, item: Any, field: str, video: str | None, size: tuple[int | None, int | None]
    ) -> AnnotationObject | None:
        where = self.where
        if not isinstance(item, dict):
            raise FormatError("must be an object", path=where, field=field)
        category = item.get("category")
        if not isinstance(category, str) or not category:
            raise FormatError(
                f"must be a label name, got {category!r}", path=where, field=f"{field}.category"
            )
        attributes = item.get("attributes") or {}
        if not isinstance(attributes, dict):
            raise FormatError("must be an object", path=where, field=f"{field}.attributes")
        crowd = attributes.get("crowd", False)
        if not isinstance(crowd, bool):
            raise FormatError(
                f"must be true or false, got {crowd!r}",
                path=where,
                field=f"{field}.attributes.crowd",
            )
        geometry = self._geometry(item, field, size)
        label = self.context.labels.resolve(category)
        if label is None or geometry is None:
            return None
        kept = {}
        for key, value in attributes.items():
            if key == "crowd":
                continue
            if key in label.attributes:
                kept[key] = value
            else:
                self.dropped[key] += 1
        provenance = self.context.provenance()
        if item.get("score") is not None:
            score = number(item["score"], where=where, field=f"{field}.score")
            provenance = replace(provenance, confidence=score)
        extras = item.get(EXTRAS_KEY)
        track = None
        if video is not None and extras is None:
            track = self.tracks.of(video, item.get("id"))
        obj = AnnotationObject(
            label.id, geometry, provenance, track_id=track, attributes=kept, crowd=crowd
        )
        return apply_extras(obj, extras, where=where, field=f"{field}.{EXTRAS_KEY}")

    def _geometry(
        self, item: dict, field: str, size: tuple[int | None, int | None]
    ) -> Box | Any | None:
        where = self.where
        if item.get("rle") is not None:
            region, shape = _rle_region(item["rle"], size, where, f"{field}.rle")
            self.mask_size = self.mask_size or shape
            if shape != self.mask_size:
                raise FormatError(
                    f"RLE size {shape} differs from an earlier mask's {self.mask_size}",
                    path=where,
                    field=f"{field}.rle.size",
                )
            if region is None:
                self.context.warnings.warn("empty mask; skipped", path=where, field=f"{field}.rle")
            return region
        if item.get("poly2d") is not None:
            return self._polygons(item["poly2d"], f"{field}.poly2d")
        box = item.get("box2d")
        if box is None:
            raise FormatError("needs a box2d, poly2d or rle", path=where, field=field)
        if not isinstance(box, dict):
            raise FormatError("must be {x1, y1, x2, y2}", path=where, field=f"{field}.box2d")
        x1, y1, x2, y2 = (
            number(box.get(key), where=where, field=f"{field}.box2d.{key}")
            for key in ("x1", "y1", "x2", "y2")
        )
        if x2 + 1 < x1 or y2 + 1 < y1:
            raise FormatError(
                f"x2/y2 must not be less than x1/y1 - 1, got {box!r}",
                path=where,
                field=f"{field}.box2d",
            )
        return Box(x1, y1, x2 + 1, y2 + 1)

    def _polygons(self, value: Any, field: str) -> Any:
        where = self.where
        if not isinstance(value, list):
            raise FormatError("must be a list of polygons", path=where, field=field)
        regions = []
        for index, poly in enumerate(value):
            part = f"{field}[{index}]"
            if not isinstance(poly, dict):
                raise FormatError("must be {vertices, types, closed}", path=where, field=part)
            closed = poly.get("closed", True)
            if not isinstance(closed, bool):
                raise FormatError("must be true or false", path=where, field=f"{part}.closed")
            outline = _outline(poly.get("vertices"), poly.get("types"), where, part)
            if not closed:
                self.open_lines += 1
                continue
            if len(outline) < 3:
                raise FormatError(
                    f"a polygon needs at least 3 points, got {len(outline)}",
                    path=where,
                    field=f"{part}.vertices",
                )
            polygon = Polygon(outline)
            try:
                region = polygon if polygon.is_valid and polygon.area > 0 else as_region(polygon)
            except GeometryError:
                self.context.warnings.warn("polygon has no area; skipped", path=where, field=part)
                continue
            if region is not polygon:
                self.context.warnings.warn(
                    "self-intersecting polygon repaired (make_valid)", path=where, field=part
                )
            regions.append(region)
        if not regions:
            return None
        return as_region(regions[0] if len(regions) == 1 else shapely.union_all(regions))


def _outline(vertices: Any, types: Any, where: str, field: str) -> list[tuple[float, float]]:
    """The polygon's points, cubic Bezier segments (``C`` control points) sampled."""
    if not isinstance(vertices, list) or len(vertices) < 2:
        raise FormatError(
            "must be a list of at least 2 [x, y] points", path=where, field=f"{field}.vertices"
        )
    points: list[tuple[float, float]] = []
    for index, point in enumerate(vertices):
        if not isinstance(point, list) or len(point) != 2:
            raise FormatError(
                f"point {index} must be [x, y], got {point!r}",
                path=where,
                field=f"{field}.vertices",
            )
        at = f"{field}.vertices[{index}]"
        points.append(
            (number(point[0], where=where, field=at), number(point[1], where=where, field=at))
        )
    if types is None:
        types = "L" * len(points)
    if not isinstance(types, str) or len(types) != len(points) or set(types) - {"L", "C"}:
        raise FormatError(
            f"must be one L or C per vertex ({len(points)}), got {types!r}",
            path=where,
            field=f"{field}.types",
        )
    out: list[tuple[float, float]] = []
    count = len(points)
    index = 0
    while index < count:
        if index + 2 < count and types[index + 1] == "C" and types[index + 2] == "C":
            curve = [points[(index + k) % count] for k in range(4)]  # closes on the first
            p0, p1, p2, p3 = curve
            out += [_bezier(p0, p1, p2, p3, step / BEZIER_STEPS) for step in range(BEZIER_STEPS)]
            index += 3
        else:
            out.append(points[index])
            index += 1
    return out


def _bezier(
    p0: tuple[float, float],
    p1: tuple[float, float],
    p2: tuple[float, float],
    p3: tuple[float, float],
    t: float,
) -> tuple[float, float]:
    u = 1 - t
    a, b, c, d = u**3, 3 * u * u * t, 3 * u * t * t, t**3
    return (
        a * p0[0] + b * p1[0] + c * p2[0] + d * p3[0],
        a * p0[1] + b * p1[1] + c * p2[1] + d * p3[1],
    )


def _rle_region(
    value: Any, size: tuple[int | None, int | None], where: str, field: str
) -> tuple[Any, list[int]]:
    if not isinstance(value, dict):
        raise FormatError("must be {counts, size}", path=where, field=field)
    shape = value.get("size")
    if (
        not isinstance(shape, list)
        or len(shape) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape)
    ):
        raise FormatError(
            f"must be [height, width], got {shape!r}", path=where, field=f"{field}.size"
        )
    width, height = size
    if width is not None and shape != [height, width]:
        raise FormatError(
            f"RLE size {shape} does not match the frame's size ({height} x {width})",
            path=where,
            field=f"{field}.size",
        )
    counts = value.get("counts")
    if not isinstance(counts, str):
        raise FormatError("must be compressed RLE text", path=where, field=f"{field}.counts")
    try:
        mask = rle.decode({"size": shape, "counts": counts})
    except (GeometryError, ValueError, TypeError, UnicodeEncodeError) as error:
        raise FormatError("malformed RLE counts", path=where, field=f"{field}.counts") from error
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return None, shape
    window = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]  # traced from its box
    return mask_to_region(window, offset=(float(cols[0]), float(rows[0]))), shape


# -- writing ----------------------------------------------------------------------------------


def _frame_entry(item: ExportFrame, context: ExportContext, stats: dict[str, Any]) -> dict:
    frame = item.frame
    name = Path(os.path.relpath(context.files[frame.id], context.image_root)).as_posix()
    extras: dict[str, Any] = {"images_root": str(context.image_root)}
    if frame.video_frame is not None:
        extras["video_frame"] = frame.video_frame
    labels = []
    for index, obj in enumerate(item.objects):
        if obj.deleted:
            stats["deleted_skipped"] += 1
            continue
        labels.append(_label_entry(obj, f"{frame.id}.{index}", item, context.schema, stats))
    stats["labels"] += len(labels)
    return {
        "name": name,
        "videoName": frame.sequence,
        "frameIndex": frame.sequence_index,
        "size": {"width": frame.width, "height": frame.height},
        "labels": labels,
        EXTRAS_KEY: extras,
    }


def _label_entry(
    obj: AnnotationObject, unique: str, item: ExportFrame, schema: LabelSchema, stats: dict
) -> dict[str, Any]:
    extras = extras_of(obj)
    attributes = dict(extras.pop("attributes", {}))
    if obj.crowd:
        attributes["crowd"] = True
    entry: dict[str, Any] = {
        "id": str(obj.track_id) if obj.track_id is not None else unique,
        "category": schema.by_id[obj.label_id].name,
        "attributes": attributes,
    }
    if isinstance(obj.geometry, Box):
        box = obj.geometry
        entry["box2d"] = {"x1": box.x0, "y1": box.y0, "x2": box.x1 - 1, "y2": box.y1 - 1}
        stats["boxes"] += 1
    else:
        parts = region_parts(obj.geometry)
        if any(part.interiors for part in parts):
            height, width = item.frame.height, item.frame.width
            entry["rle"] = rle.encode(region_mask(obj.geometry, height, width))
            stats["rle"] += 1
        else:
            entry["poly2d"] = [
                {
                    "vertices": [[float(x), float(y)] for x, y in part.exterior.coords[:-1]],
                    "types": "L" * (len(part.exterior.coords) - 1),
                    "closed": True,
                }
                for part in parts
            ]
            stats["polygons"] += 1
    confidence = extras.pop("confidence", None)
    if confidence is not None:
        entry["score"] = confidence
    entry[EXTRAS_KEY] = extras
    return entry
