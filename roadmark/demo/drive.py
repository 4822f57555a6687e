"""Synthetic demo drive: a rendered street scene with exact, z-ordered ground truth.

The scene is a world description made from the seed: buildings, trees and bushes, street
lamps, sign posts and traffic lights, cars in five lanes (two oncoming, a parking strip),
pedestrians on the sidewalks and a distant skyline. Frame ``i`` puts a pinhole camera
``i / FPS`` seconds down the road, projects every object into the image as a shapely
region, orders the regions in painter's order (sky and ground; then the roadside blocks far
to near; then everything on the sidewalks and the road far to near) and renders the image
*from those regions*: each region is rasterized with
:func:`~roadmark.core.raster.region_mask_in_box` and filled with its own texture, so image
and ground truth agree by construction. Lighting drift over the drive, a slight lens blur,
vignetting and sensor noise are applied last.

Each physical object keeps its track id (and, for ``hasInstances`` labels, its instance
id) in every frame. Any frame can be made on its own; the output depends only on the
arguments.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import cast

import cv2
import numpy as np
import shapely
from numpy.typing import NDArray

from roadmark.core.annotation import AnnotationObject, as_region
from roadmark.core.errors import GeometryError
from roadmark.core.raster import region_mask_in_box
from roadmark.core.schema import Label, cityscapes_schema
from roadmark.demo.scene import (
    EGO_SPEED,
    FOCAL,
    FPS,
    HORIZON,
    MAKERS,
    PROVENANCE,
    Camera,
    Item,
    Patch,
    Pen,
    World,
    ground_items,
    make_world,
    prop,
)


@dataclass(frozen=True)
class SyntheticFrame:
    """One rendered frame of the demo drive and its exact ground truth.

    Attributes:
        index: Position in the drive.
        image: ``height x width x 3`` RGB image.
        objects: Regions in z-order (bottom first) with Cityscapes label ids; instance ids
            on ``hasInstances`` labels, track ids on every physical object.
    """

    index: int
    image: NDArray[np.uint8]
    objects: list[AnnotationObject]


# -- frames ---------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _vignette(height: int, width: int) -> NDArray[np.float32]:
    y = (np.arange(height, dtype=np.float32) + 0.5) / height - 0.5
    x = (np.arange(width, dtype=np.float32) + 0.5) / width - 0.5
    out = np.asarray((1.0 - 0.45 * (x[None, :] ** 2 + y[:, None] ** 2))[..., None], np.float32)
    out.flags.writeable = False
    return out


@lru_cache(maxsize=1)
def _labels() -> dict[str, Label]:
    return {label.name: label for label in cityscapes_schema()}


def render_frame(
    index: int,
    *,
    frames: int = 40,
    width: int = 1024,
    height: int = 512,
    seed: int = 0,
    detail: float = 1.0,
) -> SyntheticFrame:
    """Render frame ``index`` of the synthetic drive, with its ground truth.

    Frames can be made in any order; the result depends only on the arguments.

    Args:
        index: Position in the drive, ``0 <= index < frames``.
        frames: Length of the drive (the world is populated to cover all of it).
        width: Image width in pixels.
        height: Image height in pixels.
        seed: Scene and noise seed (>= 0).
        detail: Density of buildings, poles, signs, trees, cars and pedestrians; 1 gives
            about 80 regions a frame, 2.5 about 130 (at 2048x1024).

    Returns:
        The RGB image and its z-ordered regions.

    Raises:
        ValueError: An argument is out of range.
    """
    if frames < 1 or not 0 <= index < frames:
        raise ValueError(f"frame index {index} is outside a drive of {frames} frames")
    if width < 16 or height < 16 or seed < 0 or not 0 < detail <= 10:
        raise ValueError(f"bad size {width}x{height}, seed {seed} or detail {detail}")
    world = make_world(seed, frames, float(detail))
    t = index / FPS
    cam = Camera(width, height, FOCAL * width, width / 2, HORIZON * height, EGO_SPEED * t)
    items = ground_items(cam, seed)
    placed = [MAKERS.get(thing.kind, prop)(thing, cam, t) for thing in world.things]
    for band in (1, 2):
        layer = [item for item in placed if item is not None and item.band == band]
        items += sorted(layer, key=lambda item: (-item.depth, item.thing.track))  # type: ignore[union-attr]
    canvas = np.zeros((height, width, 3), dtype=np.float32)
    owner = np.full((height, width), -1, dtype=np.int32)
    kept: list[Item] = []
    for item in items:
        x0, y0, x1, y1 = item.region.bounds
        item.truncated = x0 < 0 or y0 < 0 or x1 > width or y1 > height
        try:
            item.region = as_region(shapely.clip_by_rect(item.region, 0, 0, width, height))
        except GeometryError:
            continue
        mask, row0, col0 = region_mask_in_box(item.region, height, width)
        if not mask.any():
            continue
        pen = Pen(np.zeros((*mask.shape, 3), dtype=np.float32), (col0, row0), cam)
        item.paint(pen)
        rows, cols = slice(row0, row0 + mask.shape[0]), slice(col0, col0 + mask.shape[1])
        np.copyto(canvas[rows, cols], pen.patch, where=mask[..., None])
        owner[rows, cols][mask] = len(kept)
        item.pixels = int(np.count_nonzero(mask))
        kept.append(item)
    shown = np.bincount(owner.ravel() + 1, minlength=len(kept) + 1)[1:]
    objects = []
    for item, pixels in zip(kept, shown.tolist(), strict=True):
        if pixels == 0:
            continue  # hidden by later objects
        label, thing = _labels()[item.label], item.thing
        flags = {"occluded": pixels < 0.9 * item.pixels, "truncated": item.truncated}
        attributes = {name: flags[name] for name in label.attributes if name in flags}
        instance, track = (thing.instance, thing.track) if thing else (None, None)
        objects.append(
            AnnotationObject(label.id, item.region, PROVENANCE, instance, track, attributes)
        )
    return SyntheticFrame(index, _finish(canvas, world, index, frames), objects)


def _finish(canvas: Patch, world: World, index: int, frames: int) -> NDArray[np.uint8]:
    """Lens blur, lighting drift over the drive, vignetting and sensor noise."""
    height, width = canvas.shape[:2]
    image = cast(Patch, cv2.GaussianBlur(canvas, (0, 0), 0.55 * width / 1024))
    s = index / max(frames - 1, 1)
    gain = 1.0 + 0.1 * math.sin(2 * math.pi * 0.8 * s + world.light_phase)
    contrast = 1.0 + 0.08 * math.sin(2 * math.pi * 0.5 * s + 2 * world.light_phase)
    scale = np.array(world.tint, dtype=np.float32) * gain
    image *= contrast * scale
    image += 118.0 * (1.0 - contrast) * scale
    image *= _vignette(height, width)
    noise = np.random.default_rng([world.seed, index, 0x401]).standard_normal(
        image.shape, dtype=np.float32
    )
    image = cast(Patch, cv2.scaleAdd(noise, 2.5, image))
    pixels: NDArray[np.uint8] = np.clip(image + 0.5, 0, 255).astype(np.uint8)
    return pixels


def generate_drive(
    *, frames: int = 40, width: int = 1024, height: int = 512, seed: int = 0, detail: float = 1.0
) -> Iterator[SyntheticFrame]:
    """Render the frames of a synthetic drive in order (see :func:`render_frame`)."""
    for index in range(frames):
        yield render_frame(
            index, frames=frames, width=width, height=height, seed=seed, detail=detail
        )


def write_drive(
    folder: Path,
    *,
    frames: int = 40,
    width: int = 1024,
    height: int = 512,
    seed: int = 0,
    detail: float = 1.0,
    city: str = "demo",
    every: int = 1,
) -> list[tuple[Path, SyntheticFrame]]:
    """Render a drive (every ``every``-th of its ``frames``) and write its images as
    Cityscapes-style PNG files.

    Files are named ``{city}_{seed:06d}_{index:06d}_leftImg8bit.png``.

    Returns:
        ``(path, frame)`` for every frame written, in order.

    Raises:
        OSError: An image cannot be written.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for index in range(0, frames, every):
        frame = render_frame(
            index, frames=frames, width=width, height=height, seed=seed, detail=detail
        )
        path = folder / f"{city}_{seed:06d}_{frame.index:06d}_leftImg8bit.png"
        if not cv2.imwrite(str(path), cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR)):
            raise OSError(f"cannot write {path}")
        out.append((path, frame))
    return out
