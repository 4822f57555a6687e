"""YOLO (Ultralytics layout): a dataset YAML, ``images/<split>/`` and ``labels/<split>/*.txt``.

Layout, read and written::

    data.yaml                    names (class index -> name), nc, train/val/test folders
    images/<split>/<name>.<ext>  the frames' images (copied; video frames as PNG)
    labels/<split>/<name>.txt    one line per object, in z-order (first at the bottom)

A label line is ``class`` followed by normalized coordinates (pixels divided by the image
width or height, written with :data:`DECIMALS` decimals, so a coordinate is exact to half a
millionth of the image size): ``class cx cy w h`` is a box (detection), ``class x1 y1 x2
y2 ... xn yn`` with n >= 3 is a polygon (segmentation); a model's confidence, where an
object has one, is appended as the last value (Ultralytics' ``save_conf``), so a line with
an even number of values ends with a confidence. A region with several parts or with holes
is written as one polygon that joins its rings by zero-width cuts (as Ultralytics'
``merge_multi_segment`` joins COCO parts); reading fills a polygon by the even-odd rule
(as OpenCV's ``fillPoly`` draws it), which gives those parts and holes back exactly, and
repairs a self-crossing polygon the same way. Regions and boxes are clipped to the image
(YOLO coordinates lie in 0..1; counted as ``clipped``); soft-deleted objects are not
written.

The YAML's ``names`` lists every label of the project's schema in schema order, so class
indices are the same in every export of a project; ``roadmark.label_ids`` gives each index's
schema label id. The split of a frame is the name of the folder its image lies in when that
is ``train``, ``val``, ``valid`` or ``test`` (also one level up, as in ``leftImg8bit/val/
city/``), otherwise ``train``; Ultralytics needs a ``val`` entry, so a project with no
validation frames gets ``val`` pointing at the training images. No ``path`` key is written:
Ultralytics then resolves the folders against the YAML's own folder.

Import takes the YAML file, or a folder holding one ``*.yaml``. Split entries may be
folders of images or ``.txt`` lists of image paths (relative to ``path``, else to the
YAML's folder); the label file of ``.../images/.../x.jpg`` is ``.../labels/.../x.txt``. An
image without a label file has no objects. YOLO carries no instance ids, tracks, crowds,
attributes or provenance: each object of a label with instances becomes an instance
(numbered 1, 2, ... in line order).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import shapely
import yaml

from roadmark.core.annotation import AnnotationObject, Box, Frame, as_region, region_parts
from roadmark.core.errors import GeometryError
from roadmark.io.formats import Capability, DatasetFormat, register_format
from roadmark.io.formats.common import (
    ExportContext,
    ExportFrame,
    ImportContext,
    ImportedFrame,
    number_instances,
)
from roadmark.io.formats.errors import FormatError
from roadmark.io.formats.yolo_lines import (
    DECIMALS,
    class_names,
    image_size,
    read_label_file,
    yolo_line,
)
from roadmark.io.frames import IMAGE_SUFFIXES, VideoReader, natural_key, write_image

SPLITS = ("train", "val", "test")
_SPLIT_FOLDERS = {"train": "train", "val": "val", "valid": "val", "test": "test"}

__all__ = ["DECIMALS", "YoloFormat"]


@register_format
class YoloFormat(DatasetFormat):
    """YOLO detection and segmentation label files with the dataset YAML."""

    id = "yolo"
    version = "1.0"
    title = "YOLO (Ultralytics: data.yaml, images/, labels/)"
    capabilities = frozenset(
        {
            Capability.IMPORT,
            Capability.EXPORT,
            Capability.REGIONS,
            Capability.BOXES,
            Capability.HOLES,
            Capability.Z_ORDER,
            Capability.SCORES,
        }
    )
    output = "folder"

    # -- import ------------------------------------------------------------------------------

    def read(self, source: Path, context: ImportContext) -> Iterator[ImportedFrame]:
        if context.images is not None:
            raise FormatError(
                "yolo takes no --images: the dataset YAML names the image folders and the "
                "label files lie beside them",
                path=str(source),
                field="--images",
            )
        yaml_file = _yaml_file(source)
        where = str(yaml_file)
        data = _read_yaml(yaml_file)
        names = class_names(data, where)
        base = _base_folder(data, yaml_file, where)
        images: dict[Path, None] = {}
        for split in SPLITS:
            for image in _split_images(data.get(split), base, where, split):
                images.setdefault(image.resolve(), None)
        if not images:
            raise FormatError("lists no images (train, val, test)", path=where)
        context.job.begin("reading", len(images))
        for done, image in enumerate(images, start=1):
            context.job.check()
            width, height = image_size(image)
            label_file = _label_path(image)
            objects: list[AnnotationObject] = []
            if label_file.is_file():
                objects = read_label_file(label_file, names, (width, height), context)
            yield ImportedFrame(
                image=image,
                objects=number_instances(objects, context.labels.schema),
                where=str(label_file) if label_file.is_file() else str(image),
                width=width,
                height=height,
            )
            context.job.report(done, len(images))

    # -- export ------------------------------------------------------------------------------

    def write(self, frames: Iterable[ExportFrame], target: Path, context: ExportContext) -> None:
        stats = context.stats
        for key in ("boxes", "polygons", "clipped", "deleted_skipped", "empty_skipped"):
            stats.setdefault(key, 0)
        classes = {label.id: index for index, label in enumerate(context.schema.labels)}
        names = _FileNames()
        splits: set[str] = set()
        for item in frames:
            split, stem, suffix = names.of(item, context)
            splits.add(split)
            image_folder = target / "images" / split
            label_folder = target / "labels" / split
            image_folder.mkdir(parents=True, exist_ok=True)
            label_folder.mkdir(parents=True, exist_ok=True)
            _copy_image(item, image_folder / f"{stem}{suffix}")
            lines = [
                line
                for obj in item.objects
                if (line := _line(obj, classes[obj.label_id], item.frame, stats)) is not None
            ]
            text = "".join(line + "\n" for line in lines)
            (label_folder / f"{stem}.txt").write_text(text, encoding="utf-8")
        document: dict[str, Any] = {split: f"images/{split}" for split in SPLITS if split in splits}
        if "val" not in document and "train" in document:
            document["val"] = document["train"]
        document["nc"] = len(context.schema.labels)
        document["names"] = {i: label.name for i, label in enumerate(context.schema.labels)}
        document["roadmark"] = {
            "format_version": self.version,
            "schema": context.schema.name,
            "label_ids": {i: label.id for i, label in enumerate(context.schema.labels)},
        }
        with open(target / "data.yaml", "w", encoding="utf-8") as out:
            yaml.safe_dump(document, out, sort_keys=False, allow_unicode=True)
        if stats["clipped"]:
            context.warnings.warn(
                f"{stats['clipped']} object(s) reach outside their image and were clipped to "
                "it (YOLO coordinates lie in 0..1)"
            )


# -- reading helpers -------------------------------------------------------------------------------


def _yaml_file(source: Path) -> Path:
    if source.is_file():
        if source.suffix.lower() not in (".yaml", ".yml"):
            raise FormatError("expected the dataset's .yaml file or its folder", path=str(source))
        return source
    if not source.is_dir():
        raise FormatError("no such file or folder", path=str(source))
    found = sorted(p for p in source.iterdir() if p.suffix.lower() in (".yaml", ".yml"))
    if len(found) != 1:
        what = "no .yaml file" if not found else f"{len(found)} .yaml files"
        raise FormatError(f"has {what}; name the dataset YAML to import", path=str(source))
    return found[0]


def _read_yaml(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise FormatError(f"not valid YAML{where}", path=str(path)) from error
    except UnicodeDecodeError as error:
        raise FormatError("not valid YAML (not UTF-8 text)", path=str(path)) from error
    except OSError as error:
        raise FormatError(f"cannot read ({error.strerror})", path=str(path)) from error
    if not isinstance(data, dict):
        raise FormatError("must be a mapping with names and train/val/test", path=str(path))
    return data


def _base_folder(data: dict, yaml_file: Path, where: str) -> Path:
    value = data.get("path")
    if value is None or value == "":
        return yaml_file.parent
    if not isinstance(value, str) or "\x00" in value:
        raise FormatError(f"must be a folder, got {value!r}", path=where, field="path")
    folder = Path(value)
    folder = folder if folder.is_absolute() else yaml_file.parent / folder
    if not folder.is_dir():
        raise FormatError(f"folder {folder} does not exist", path=where, field="path")
    return folder


def _split_images(value: Any, base: Path, where: str, split: str) -> list[Path]:
    if value is None:
        return []
    entries = value if isinstance(value, list) else [value]
    images: list[Path] = []
    for index, entry in enumerate(entries):
        field = split if not isinstance(value, list) else f"{split}[{index}]"
        if not isinstance(entry, str) or not entry or "\x00" in entry:
            raise FormatError(
                f"must be a folder or a .txt list of images, got {entry!r}", path=where, field=field
            )
        path = Path(entry) if Path(entry).is_absolute() else base / entry
        if path.is_dir():
            found = [p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES]
            images += sorted(found, key=lambda p: natural_key(p.relative_to(path).as_posix()))
        elif path.is_file() and path.suffix.lower() == ".txt":
            images += _image_list(path, base)
        else:
            raise FormatError(f"{path} does not exist", path=where, field=field)
    return images


def _image_list(path: Path, base: Path) -> list[Path]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise FormatError("cannot read the list of images", path=str(path)) from error
    images = []
    for number, line in enumerate(lines, start=1):
        name = line.strip()
        if not name:
            continue
        image = Path(name) if Path(name).is_absolute() else base / name
        if not image.is_file():
            raise FormatError(f"image {name!r} not found", path=str(path), field=f"line {number}")
        images.append(image)
    return images


def _label_path(image: Path) -> Path:
    """Ultralytics' rule: the last ``images`` folder of the path becomes ``labels``."""
    parts = list(image.parts)
    for index in range(len(parts) - 2, -1, -1):
        if parts[index] == "images":
            parts[index] = "labels"
            return Path(*parts).with_suffix(".txt")
    return image.with_suffix(".txt")


# -- writing helpers -------------------------------------------------------------------------------


class _FileNames:
    """Split, unique file stem and image suffix of each exported frame."""

    def __init__(self) -> None:
        self.used: set[tuple[str, str]] = set()

    def of(self, item: ExportFrame, context: ExportContext) -> tuple[str, str, str]:
        image = item.image
        relative = PurePosixPath(Path(os.path.relpath(image, context.image_root)).as_posix())
        split = "train"
        for folder in (relative.parent.name, relative.parent.parent.name):
            if folder.lower() in _SPLIT_FOLDERS:
                split = _SPLIT_FOLDERS[folder.lower()]
                break
        stem, suffix = image.stem, image.suffix.lower()
        if item.frame.video_frame is not None:
            stem, suffix = f"{stem}_{item.frame.video_frame:06d}", ".png"
        if (split, stem) in self.used:
            stem = f"{stem}_{item.frame.id}"
        self.used.add((split, stem))
        return split, stem, suffix


def _copy_image(item: ExportFrame, path: Path) -> None:
    if item.frame.video_frame is not None:
        reader = VideoReader(item.image)
        try:
            write_image(path, reader.read(item.frame.video_frame))
        finally:
            reader.close()
        return
    shutil.copyfile(item.image, path)


def _line(obj: AnnotationObject, class_index: int, frame: Frame, stats: dict) -> str | None:
    if obj.deleted:
        stats["deleted_skipped"] += 1
        return None
    width, height = frame.width, frame.height
    confidence = obj.provenance.confidence
    if isinstance(obj.geometry, Box):
        box = obj.geometry.clipped(width, height)
        if box != obj.geometry:
            stats["clipped"] += 1
        if box.width <= 0 or box.height <= 0:
            stats["empty_skipped"] += 1
            return None
        values = [
            (box.x0 + box.x1) / 2 / width,
            (box.y0 + box.y1) / 2 / height,
            box.width / width,
            box.height / height,
        ]
        stats["boxes"] += 1
        return yolo_line(class_index, values, confidence)
    region = obj.geometry
    inside = region.intersection(shapely.box(0, 0, width, height))
    if not inside.equals(region):
        stats["clipped"] += 1
        try:
            region = as_region(inside)
        except GeometryError:
            stats["empty_skipped"] += 1
            return None
    ring = joined_ring(region)
    values = (ring / np.array([width, height], dtype=float)).ravel().tolist()
    stats["polygons"] += 1
    return yolo_line(class_index, values, confidence)


def joined_ring(region: Any) -> np.ndarray:
    """One closed outline (without the repeated first point) through every ring of
    ``region``: each further ring (holes, other parts) is entered from the nearest vertex of
    the outline so far and left back to it, by a zero-width cut."""
    rings: list[np.ndarray] = []
    for part in region_parts(region):
        rings.append(np.asarray(part.exterior.coords, dtype=float)[:-1])
        rings.extend(np.asarray(hole.coords, dtype=float)[:-1] for hole in part.interiors)
    path = np.vstack([rings[0], rings[0][:1]])
    for ring in rings[1:]:
        distances = ((path[:, None, :] - ring[None, :, :]) ** 2).sum(axis=-1)
        k, j = np.unravel_index(int(np.argmin(distances)), distances.shape)
        rotated = np.roll(ring, -int(j), axis=0)
        path = np.vstack([path[: k + 1], rotated, rotated[:1], path[k:]])
    return path[:-1]
