"""Augmentation for driving footage, on ``uint8`` numpy images (OpenCV, no torch).

What changes between drives: the distance to things (scale), where they are in the frame
(crop), which side of the road they are on (horizontal flip) and the light (brightness,
contrast, saturation, a little hue). What does not: up is up, so there is no vertical flip
and no rotation. Segmentation targets move with the image (nearest-neighbour resizing,
padding with the ignore value); detection boxes are cropped with the image and dropped
when too little of them is left.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np
from numpy.typing import NDArray

Image = NDArray[np.uint8]  # an image or a target map

IGNORE = 255
MIN_BOX_KEPT = 0.4  # a cropped box keeps this share of its area, or is dropped
MIN_BOX_SIDE = 2.0  # pixels


@dataclass(frozen=True)
class Augment:
    """Augmentation settings.

    Attributes:
        scale: Range of the random zoom (segmentation: image scale before the crop;
            detection: 1 / the share of the frame a crop keeps).
        flip: Probability of a horizontal flip.
        brightness: Largest relative change of brightness.
        contrast: Largest relative change of contrast.
        saturation: Largest relative change of saturation.
        hue: Largest hue shift, as a fraction of the colour circle.
    """

    scale: tuple[float, float] = (0.75, 1.5)
    flip: float = 0.5
    brightness: float = 0.25
    contrast: float = 0.25
    saturation: float = 0.25
    hue: float = 0.02

    def segmentation(
        self,
        image: NDArray[np.uint8],
        target: NDArray[np.uint8],
        crop: tuple[int, int],
        rng: np.random.Generator,
    ) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
        """Scale, crop to ``crop`` ``(height, width)`` (padding with ignore), flip and
        recolour an image and its target map."""
        factor = float(rng.uniform(*self.scale))
        height, width = target.shape
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        if size != (width, height):
            image = cast(Image, cv2.resize(image, size, interpolation=cv2.INTER_LINEAR))
            target = cast(Image, cv2.resize(target, size, interpolation=cv2.INTER_NEAREST))
        image, target = random_crop(image, target, crop, rng)
        if rng.random() < self.flip:
            image, target = image[:, ::-1], target[:, ::-1]
        return self.recolor(np.ascontiguousarray(image), rng), np.ascontiguousarray(target)

    def detection(
        self,
        image: NDArray[np.uint8],
        boxes: NDArray[np.float32],
        labels: NDArray[np.int64],
        rng: np.random.Generator,
    ) -> tuple[NDArray[np.uint8], NDArray[np.float32], NDArray[np.int64]]:
        """Zoom into a random part of the frame (same aspect, resized back to the frame
        size), flip and recolour; boxes ``(N, 4)`` as ``x0, y0, x1, y1`` follow."""
        height, width = image.shape[:2]
        zoom = float(rng.uniform(*self.scale))
        if zoom > 1.0:
            ch, cw = max(1, round(height / zoom)), max(1, round(width / zoom))
            y0 = int(rng.integers(0, height - ch + 1))
            x0 = int(rng.integers(0, width - cw + 1))
            window = image[y0 : y0 + ch, x0 : x0 + cw]
            image = cast(Image, cv2.resize(window, (width, height), interpolation=cv2.INTER_LINEAR))
            boxes, labels = crop_boxes(boxes, labels, (x0, y0, x0 + cw, y0 + ch))
            boxes = boxes * np.array([width / cw, height / ch] * 2, dtype=np.float32)
        if rng.random() < self.flip:
            image = np.ascontiguousarray(image[:, ::-1])
            boxes = np.stack(
                [width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], axis=1
            ).astype(np.float32)
        return self.recolor(image, rng), boxes.reshape(-1, 4), labels

    def recolor(self, image: NDArray[np.uint8], rng: np.random.Generator) -> NDArray[np.uint8]:
        """Random brightness, contrast, saturation and hue."""
        out = image.astype(np.float32)
        if self.brightness:
            out *= float(rng.uniform(1 - self.brightness, 1 + self.brightness))
        if self.contrast:
            mean = float(out.mean())
            out = (out - mean) * float(rng.uniform(1 - self.contrast, 1 + self.contrast)) + mean
        if self.saturation:
            gray = out.mean(axis=2, keepdims=True)
            factor = float(rng.uniform(1 - self.saturation, 1 + self.saturation))
            out = cast(NDArray[np.float32], (out - gray) * factor + gray)
        pixels: Image = np.clip(out, 0, 255).astype(np.uint8)
        if self.hue:
            shift = round(float(rng.uniform(-self.hue, self.hue)) * 180)
            if shift:
                hsv = cv2.cvtColor(pixels, cv2.COLOR_RGB2HSV)
                hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + shift) % 180).astype(np.uint8)
                pixels = cast(Image, cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB))
        return pixels


def random_crop(
    image: NDArray[np.uint8],
    target: NDArray[np.uint8],
    crop: tuple[int, int],
    rng: np.random.Generator,
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """A random ``crop`` ``(height, width)`` window; padded (image 0, target ignore) where
    the image is smaller."""
    ch, cw = crop
    height, width = target.shape
    if height < ch or width < cw:
        ph, pw = max(0, ch - height), max(0, cw - width)
        image = cast(
            Image, cv2.copyMakeBorder(image, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        )
        target = cast(
            Image, cv2.copyMakeBorder(target, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=IGNORE)
        )
        height, width = target.shape
    y0 = int(rng.integers(0, height - ch + 1))
    x0 = int(rng.integers(0, width - cw + 1))
    return image[y0 : y0 + ch, x0 : x0 + cw], target[y0 : y0 + ch, x0 : x0 + cw]


def crop_boxes(
    boxes: NDArray[np.float32], labels: NDArray[np.int64], window: tuple[int, int, int, int]
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Boxes clipped to ``window`` (``x0, y0, x1, y1``), in its coordinates; boxes that
    keep less than :data:`MIN_BOX_KEPT` of their area or get thinner than
    :data:`MIN_BOX_SIDE` pixels are dropped."""
    x0, y0, x1, y1 = window
    boxes = boxes.reshape(-1, 4)
    clipped = np.stack(
        [
            np.clip(boxes[:, 0], x0, x1),
            np.clip(boxes[:, 1], y0, y1),
            np.clip(boxes[:, 2], x0, x1),
            np.clip(boxes[:, 3], y0, y1),
        ],
        axis=1,
    )
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    kept_w = clipped[:, 2] - clipped[:, 0]
    kept_h = clipped[:, 3] - clipped[:, 1]
    keep = (
        (kept_w >= MIN_BOX_SIDE)
        & (kept_h >= MIN_BOX_SIDE)
        & (kept_w * kept_h >= MIN_BOX_KEPT * np.maximum(area, 1e-6))
    )
    shifted = clipped[keep] - np.array([x0, y0, x0, y0], dtype=np.float32)
    return shifted.astype(np.float32), labels[keep]
