"""Training samples from a project's labeled frames: images, target maps and boxes.

Targets are made from the vector labels, scaled to the size the model sees (the
manifest's input size, or the frame's own size):

- segmentation: each pixel gets the model class of the top-most object covering it
  (:func:`roadmark.core.raster.paint`, z-order). Pixels are ignored (255) under labels the
  model has no class for, labels marked ``ignoreInEval``, and objects no person made or
  verified; pixels with no object are the model's background class when it has one (a
  class mapped to no label), else ignored;
- detection: the bounding box of every trusted, non-crowd object of a class the model
  has (boxes as drawn, regions by their bounds).

When the frames fit in :data:`CACHE_BYTES` at that size they are decoded and rasterized
once and kept in memory; otherwise each sample is read from disk when it is drawn.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import cv2
import numpy as np
import shapely
import torch
from numpy.typing import NDArray
from torch.utils.data import Dataset

from roadmark.core.annotation import AnnotationObject, Box
from roadmark.core.raster import paint
from roadmark.core.schema import LabelSchema
from roadmark.io.frames import VideoReader, read_image
from roadmark.io.training_set import LabeledFrame, is_trusted
from roadmark.models.augment import IGNORE, Augment
from roadmark.models.errors import ModelError
from roadmark.models.manifest import ModelManifest

CACHE_BYTES = 1 << 30


class ClassMap:
    """Schema label ids -> the model's class indices (see the module doc).

    Raises:
        ClassMappingError: A class maps to a label the schema lacks.
        ModelError: A segmentation model with 255 classes or more (255 marks ignored
            pixels).
    """

    def __init__(self, manifest: ModelManifest, schema: LabelSchema, *, source: str) -> None:
        ids = manifest.label_ids(schema, source=source)
        if manifest.task == "segmentation" and len(ids) >= IGNORE:
            raise ModelError(f"cannot train more than {IGNORE - 1} classes", field="classes")
        self.schema = schema
        self.names = [c.name for c in manifest.classes]
        self.by_label: dict[int, int] = {}
        for index, label_id in enumerate(ids):
            if label_id is None or label_id in self.by_label:
                continue
            if not schema.by_id[label_id].ignore_in_eval:
                self.by_label[label_id] = index
        background = [i for i, label_id in enumerate(ids) if label_id is None]
        self.background = background[0] if background else IGNORE

    def pixel_value(self, obj: AnnotationObject) -> int | None:
        """The value ``obj`` paints into a target map (``None``: not drawn at all)."""
        label = self.schema.by_id.get(obj.label_id)
        if label is None or not label.drawable:
            return None
        if not is_trusted(obj):
            return IGNORE
        return self.by_label.get(obj.label_id, IGNORE)

    def box_class(self, obj: AnnotationObject) -> int | None:
        """The detection class of ``obj``, ``None`` when it is no training box."""
        if obj.crowd or not is_trusted(obj):
            return None
        index = self.by_label.get(obj.label_id)
        return None if index is None or index == self.background else index


def scaled(obj: AnnotationObject, sx: float, sy: float) -> AnnotationObject:
    """``obj`` with its geometry scaled about the image origin."""
    geometry = obj.geometry
    if isinstance(geometry, Box):
        new: Any = Box(geometry.x0 * sx, geometry.y0 * sy, geometry.x1 * sx, geometry.y1 * sy)
    else:
        new = shapely.affinity.scale(geometry, xfact=sx, yfact=sy, origin=(0, 0))
    return dataclasses.replace(obj, geometry=new)


def target_map(item: LabeledFrame, classes: ClassMap, size: tuple[int, int]) -> NDArray[np.uint8]:
    """The frame's segmentation target at ``size`` ``(height, width)``."""
    height, width = size
    sx, sy = width / item.frame.width, height / item.frame.height
    objects = [scaled(obj, sx, sy) for obj in item.objects] if (sx, sy) != (1, 1) else item.objects
    return paint(
        list(objects),
        classes.pixel_value,
        height,
        width,
        background=classes.background,
        dtype=np.uint8,
    )


def target_boxes(
    item: LabeledFrame, classes: ClassMap, size: tuple[int, int]
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """The frame's detection boxes ``(N, 4)`` and classes ``(N,)`` at ``size``."""
    height, width = size
    sx, sy = width / item.frame.width, height / item.frame.height
    boxes, labels = [], []
    for obj in item.objects:
        index = classes.box_class(obj)
        if index is None:
            continue
        box = obj.bounds.clipped(item.frame.width, item.frame.height)
        coords = (box.x0 * sx, box.y0 * sy, box.x1 * sx, box.y1 * sy)
        if coords[2] - coords[0] >= 1 and coords[3] - coords[1] >= 1:
            boxes.append(coords)
            labels.append(index)
    return (
        np.array(boxes, dtype=np.float32).reshape(-1, 4),
        np.array(labels, dtype=np.int64),
    )


def read_frame(path: Path, video_frame: int | None) -> NDArray[np.uint8]:
    """A frame's RGB pixels (an image file, or one frame of a video)."""
    if video_frame is None:
        return read_image(path)
    reader = VideoReader(path)
    try:
        return reader.read(video_frame)
    finally:
        reader.close()


def model_size(item: LabeledFrame, input_size: tuple[int, int] | None) -> tuple[int, int]:
    """``(height, width)`` a frame is trained at: the model's input size, or its own."""
    return input_size or (item.frame.height, item.frame.width)


class LabeledDataset(Dataset):
    """Labeled frames as training or validation samples.

    Args:
        items: The frames and their objects.
        paths: Each frame's image (or video) file.
        classes: The label-to-class map.
        task: ``segmentation`` or ``detection``.
        input_size: The model's input size (``None``: each frame's own size).
        augment: Augmentation for training samples (``None``: validation, as is).
        crop: Segmentation training crop ``(height, width)``.
        seed: Seed of the augmentation draws.

    A sample is ``(index, image uint8 (3, H, W), target)``; the target is a ``uint8
    (H, W)`` map (segmentation) or ``{"boxes", "labels"}`` (detection).
    """

    def __init__(
        self,
        items: Sequence[LabeledFrame],
        paths: Sequence[tuple[Path, int | None]],
        classes: ClassMap,
        task: str,
        input_size: tuple[int, int] | None,
        *,
        augment: Augment | None = None,
        crop: tuple[int, int] | None = None,
        seed: int = 0,
    ) -> None:
        self.items = list(items)
        self.paths = list(paths)
        self.classes = classes
        self.task = task
        self.input_size = input_size
        self.augment = augment
        self.crop = crop
        self.seed = seed
        self._draws = 0
        self._cache: dict[int, tuple[NDArray[np.uint8], Any]] = {}
        need = sum(4 * math.prod(model_size(item, input_size)) for item in self.items)
        if need <= CACHE_BYTES:
            for index in range(len(self.items)):
                self._cache[index] = self._load(index)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def fully_cached(self) -> bool:
        """Every frame's image and target are held in memory (loading costs nothing)."""
        return len(self._cache) == len(self.items)

    def _load(self, index: int) -> tuple[NDArray[np.uint8], Any]:
        item = self.items[index]
        size = model_size(item, self.input_size)
        image = read_frame(*self.paths[index])
        if image.shape[:2] != (item.frame.height, item.frame.width):
            raise ModelError(
                f"the image is {image.shape[1]}x{image.shape[0]} but the project says "
                f"{item.frame.width}x{item.frame.height}",
                path=str(self.paths[index][0]),
            )
        if image.shape[:2] != size:
            image = cast(
                NDArray[np.uint8],
                cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA),
            )
        if self.task == "segmentation":
            return image, target_map(item, self.classes, size)
        return image, target_boxes(item, self.classes, size)

    def base(self, index: int) -> tuple[NDArray[np.uint8], Any]:
        """A frame's image and target at the model's size, before augmentation."""
        cached = self._cache.get(index)
        return cached if cached is not None else self._load(index)

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor, Any]:
        image, target = self.base(index)
        if self.augment is not None:
            self._draws += 1
            rng = np.random.default_rng(
                [self.seed, torch.initial_seed() % 2**32, index, self._draws]
            )
            if self.task == "segmentation":
                crop = self.crop or target.shape
                image, target = self.augment.segmentation(image, target, crop, rng)
            else:
                boxes, labels = target
                image, boxes, labels = self.augment.detection(image, boxes, labels, rng)
                target = (boxes, labels)
        tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
        if self.task == "segmentation":
            return index, tensor, torch.from_numpy(np.ascontiguousarray(target))
        boxes, labels = target
        return index, tensor, {"boxes": torch.from_numpy(boxes), "labels": torch.from_numpy(labels)}

    def pixel_counts(self, num_classes: int, *, limit: int = 64) -> NDArray[np.int64]:
        """Pixels per class over (up to ``limit`` evenly spread) frames' targets."""
        counts = np.zeros(num_classes, dtype=np.int64)
        step = max(1, len(self.items) // limit)
        for index in range(0, len(self.items), step):
            _, target = self.base(index)
            values = np.bincount(target.ravel(), minlength=256)
            counts += values[:num_classes]
        return counts


def collate(batch: list[tuple[int, torch.Tensor, Any]]) -> tuple[list[int], Any, Any]:
    """Stack segmentation samples; keep detection samples as lists."""
    indices = [index for index, _, _ in batch]
    images = [image for _, image, _ in batch]
    targets = [target for _, _, target in batch]
    if isinstance(targets[0], torch.Tensor):
        return indices, torch.stack(images), torch.stack(targets)
    return indices, images, targets


def class_weights(counts: NDArray[np.int64], *, cap: float = 10.0) -> NDArray[np.float32]:
    """Loss weights that lift rare classes: ``1 / ln(1.02 + share)`` (as in ENet), scaled so
    that the average labeled pixel weighs 1 and capped at ``cap`` times that; classes with
    no pixels get 1 (they add nothing to the loss)."""
    total = counts.sum()
    if total == 0:
        return np.ones(len(counts), dtype=np.float32)
    share = counts / total
    weights = 1.0 / np.log(1.02 + share)
    weights /= float((weights * share).sum())
    weights = np.minimum(weights, cap)
    weights[counts == 0] = 1.0
    return weights.astype(np.float32)
