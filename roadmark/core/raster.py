"""Rasterization of regions into label maps, and exact vectorization of masks.

Label maps are derived data: they are made from a frame's regions in z-order (later objects
paint over earlier ones, as Cityscapes' ``json2labelImg`` does) and are never the source of
truth. Polygons are rasterized with pycocotools, whose rule matches roadmark's coordinate
convention (origin at the top-left corner of the top-left pixel): a polygon that follows
pixel edges gives back exactly those pixels, so :func:`mask_to_region` followed by
:func:`region_mask` is lossless. Each object is rasterized inside its own bounding box, so
the cost grows with the objects' area, not with the frame size times the object count.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from pycocotools import mask as coco_mask
from shapely.geometry import MultiPolygon, Polygon

from roadmark.core.annotation import AnnotationObject, ObjectKind, Region, region_parts
from roadmark.core.schema import IGNORE_TRAIN_ID, Label, LabelSchema

Mask = NDArray[np.bool_]
INSTANCE_FACTOR = 1000


# From this many pixels in a ring's box, pycocotools' runs are expanded by numpy (one
# ``np.repeat``: a fifth of the time at 320k pixels, a sixth at 1.2M); its ``decode``
# writes a byte at a time, which costs less than numpy's fixed overhead on small boxes.
REPEAT_MIN_PIXELS = 1 << 16


def _ring_mask(
    ring: Sequence[tuple[float, float]] | NDArray[np.float64], height: int, width: int
) -> Mask:
    """pycocotools' raster of one ring in a ``height x width`` box (column-major)."""
    flat = np.asarray(ring, dtype=np.float64)[:, :2].ravel().tolist()
    rles = coco_mask.frPyObjects([flat], height, width)
    if height * width >= REPEAT_MIN_PIXELS:
        runs = run_lengths(rles[0]["counts"])
        if int(runs.sum()) == height * width:  # (always so for pycocotools' own runs)
            return expand_runs(runs, height, width)
    mask: Mask = coco_mask.decode(rles)[:, :, 0].view(bool)
    return mask


def expand_runs(runs: NDArray[np.int64], height: int, width: int) -> Mask:
    """The ``height x width`` mask of RLE runs (background first, alternating, down the
    columns; non-negative, adding up to ``height * width``), column-major as pycocotools'
    ``decode`` gives it."""
    values = np.zeros(len(runs), dtype=bool)
    values[1::2] = True
    mask: Mask = np.repeat(values, runs).reshape(width, height).T
    return mask


def run_lengths(counts: bytes) -> NDArray[np.int64]:
    """The runs of pycocotools' compressed counts (its ``rleFrString``, in numpy): each
    run is 5-bit characters from ``'0'`` (low bits first, ``0x20`` = more follow, ``0x10``
    in the last = negative), and each after the second is the difference to the run two
    before. Only for counts pycocotools wrote (no checks: see
    :func:`roadmark.core.rle.decode` for counts from a file)."""
    chars = np.frombuffer(counts, dtype=np.uint8).astype(np.int64) - 48
    ends = np.flatnonzero((chars & 0x20) == 0)
    if len(ends) == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.empty_like(ends)
    starts[0], starts[1:] = 0, ends[:-1] + 1
    lengths = ends - starts + 1
    shift = 5 * (np.arange(len(chars)) - np.repeat(starts, lengths))
    runs = np.add.reduceat((chars & 0x1F) << shift, starts)
    negative = (chars[ends] & 0x10) != 0
    runs[negative] -= np.int64(1) << (5 * lengths[negative])
    runs[3::2] = np.cumsum(runs[3::2]) + (runs[1] if len(runs) > 1 else 0)
    runs[4::2] = np.cumsum(runs[4::2]) + (runs[2] if len(runs) > 2 else 0)
    return runs


def region_mask_in_box(
    region: Region, height: int, width: int, *, contiguous: bool = True
) -> tuple[Mask, int, int]:
    """Rasterize a region, clipped to the image, inside its own bounding box.

    Args:
        contiguous: Row-major (C order). ``False`` returns pycocotools' column-major
            raster as it comes, without the copy (for a caller that copies anyway).

    Returns:
        ``(mask, row0, col0)``: the mask covers rows ``row0 .. row0 + mask.shape[0]`` and
        columns ``col0 .. col0 + mask.shape[1]`` of the image. Empty when the region lies
        outside the image.
    """
    mask, row0, col0 = _box_mask(region, height, width)
    return (np.ascontiguousarray(mask) if contiguous else mask), row0, col0


def _box_mask(region: Region, height: int, width: int) -> tuple[Mask, int, int]:
    """:func:`region_mask_in_box` in whatever memory order pycocotools gives."""
    minx, miny, maxx, maxy = region.bounds
    col0 = max(0, math.floor(minx))
    row0 = max(0, math.floor(miny))
    col1 = min(width, math.ceil(maxx))
    row1 = min(height, math.ceil(maxy))
    if col1 <= col0 or row1 <= row0:
        return np.zeros((0, 0), dtype=bool), row0, col0
    h, w = row1 - row0, col1 - col0
    mask: Mask | None = None
    offset = np.array([col0, row0], dtype=np.float64)
    for part in region_parts(region):
        # Coordinates shifted into the box (x - col0, exactly what a translation gives).
        filled = _ring_mask(shapely.get_coordinates(part.exterior)[:-1] - offset, h, w)
        for interior in part.interiors:
            hole = _ring_mask(shapely.get_coordinates(interior)[:-1] - offset, h, w)
            np.logical_and(filled, ~hole, out=filled)
        if mask is None:
            mask = filled
        else:
            np.logical_or(mask, filled, out=mask)
    if mask is None:
        return np.zeros((h, w), dtype=bool), row0, col0
    return mask, row0, col0


def region_mask(region: Region, height: int, width: int) -> Mask:
    """Rasterize a region to a full-frame boolean mask (pixel centers inside)."""
    out = np.zeros((height, width), dtype=bool)
    mask, row0, col0 = region_mask_in_box(region, height, width)
    out[row0 : row0 + mask.shape[0], col0 : col0 + mask.shape[1]] = mask
    return out


def paint(
    objects: Sequence[AnnotationObject],
    value_of: Callable[[AnnotationObject], int | None],
    height: int,
    width: int,
    *,
    background: int = 0,
    dtype: type = np.uint16,
) -> NDArray[Any]:
    """Paint the live regions of ``objects`` in z-order; ``value_of`` gives each one's value.

    Objects for which ``value_of`` returns ``None`` are skipped (not drawn).
    """
    out: NDArray[Any] = np.full((height, width), background, dtype=dtype)
    for obj in objects:
        if obj.deleted or obj.kind is not ObjectKind.REGION:
            continue
        value = value_of(obj)
        if value is None:
            continue
        mask, row0, col0 = region_mask_in_box(obj.region, height, width)
        window = out[row0 : row0 + mask.shape[0], col0 : col0 + mask.shape[1]]
        window[mask] = value
    return out


def _drawable(schema: LabelSchema, obj: AnnotationObject) -> Label | None:
    label = schema.by_id.get(obj.label_id)
    return label if label is not None and label.drawable else None


def label_id_map(
    objects: Sequence[AnnotationObject], schema: LabelSchema, height: int, width: int
) -> NDArray[np.uint16]:
    """Semantic map of label ids; 0 (``unlabeled`` in Cityscapes) where nothing is drawn."""

    def value(obj: AnnotationObject) -> int | None:
        label = _drawable(schema, obj)
        return label.id if label else None

    return paint(objects, value, height, width)


def train_id_map(
    objects: Sequence[AnnotationObject], schema: LabelSchema, height: int, width: int
) -> NDArray[np.uint8]:
    """Semantic map of train ids; 255 where nothing is drawn or the label is ignored."""

    def value(obj: AnnotationObject) -> int | None:
        label = _drawable(schema, obj)
        if label is None:
            return None
        return label.train_id if 0 <= label.train_id < IGNORE_TRAIN_ID else IGNORE_TRAIN_ID

    return paint(objects, value, height, width, background=IGNORE_TRAIN_ID, dtype=np.uint8)


def instance_id_map(
    objects: Sequence[AnnotationObject], schema: LabelSchema, height: int, width: int
) -> NDArray[np.uint16]:
    """Cityscapes instance map: ``id * 1000 + k`` for instances of ``hasInstances`` labels.

    ``k`` counts the label's non-crowd objects in z-order starting at 0 (as
    cityscapesScripts' ``json2instanceImg``); crowd regions and labels without instances
    keep the bare label id.
    """
    counts: dict[int, int] = {}

    def value(obj: AnnotationObject) -> int | None:
        label = _drawable(schema, obj)
        if label is None:
            return None
        if not label.has_instances or obj.crowd:
            return label.id
        k = counts.get(label.id, 0)
        counts[label.id] = k + 1
        return label.id * INSTANCE_FACTOR + k

    return paint(objects, value, height, width)


def color_map(label_ids: NDArray[np.integer[Any]], schema: LabelSchema) -> NDArray[np.uint8]:
    """RGB image of a label-id map in the schema's colors."""
    lut = np.zeros((max(int(label_ids.max(initial=0)), max(schema.by_id)) + 1, 3), dtype=np.uint8)
    for label in schema.labels:
        if label.drawable:
            lut[label.id] = label.color
    colors: NDArray[np.uint8] = lut[label_ids]
    return colors


def nonzero_2d(mask: NDArray[np.bool_]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """``np.nonzero`` of a 2-D mask (rows, columns), worked out from the flat indices:
    numpy's 2-D path takes three to ten times as long."""
    rows, cols = np.divmod(np.flatnonzero(mask), mask.shape[1])
    return rows, cols


def mask_to_region(
    mask: NDArray[np.bool_], *, offset: tuple[float, float] = (0.0, 0.0)
) -> Region | None:
    """Vectorize a boolean mask exactly: the region's edges follow pixel edges.

    Runs of set pixels in consecutive rows with the same columns are merged into one
    rectangle before the union, so the cost follows the mask's outline, not its area.

    Args:
        mask: 2-D array, nonzero = inside.
        offset: ``(x, y)`` added to every coordinate (position of ``mask[0, 0]``).

    Returns:
        The region, or ``None`` when the mask is empty.
    """
    # Work inside the mask's bounding box (a small object in a full-frame RLE costs its
    # own size); the box's corner is added back to the integer coordinates below.
    found = cropped(mask)
    if found is None:
        return None
    mask, row_base, col_base = found
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    changes = np.diff(padded, axis=1)
    run_rows, run_starts = nonzero_2d(changes == 1)
    _, run_ends = nonzero_2d(changes == -1)
    # A run continues the identical run (same columns) of the row above: such chains are
    # one rectangle each. The runs are in row-major order, so their keys are sorted and
    # the run above or below is found by binary search; each run's chain head follows by
    # pointer doubling (a few vectorized steps, however tall the rectangle).
    span = np.int64(mask.shape[1] + 1)
    keys = (run_rows.astype(np.int64) * span + run_starts) * span + run_ends
    step = span * span  # one row
    index = np.arange(len(keys))
    above = _find(keys, keys - step)
    head = np.where(above >= 0, above, index)
    while True:
        jumped = head[head]
        if np.array_equal(jumped, head):
            break
        head = jumped
    last = np.flatnonzero(_find(keys, keys + step) < 0)  # runs with none below: chain ends
    row1 = run_rows[last] + 1
    order = np.lexsort((run_starts[last], row1))  # as the rectangles close, row by row
    last, row1 = last[order], row1[order]
    dx, dy = offset
    boxes = shapely.box(
        run_starts[last] + col_base + dx,
        run_rows[head[last]] + row_base + dy,
        run_ends[last] + col_base + dx,
        row1 + row_base + dy,
    )
    region = shapely.simplify(shapely.union_all(boxes), 0.0)
    if isinstance(region, Polygon | MultiPolygon):
        return region
    parts = [g for g in getattr(region, "geoms", []) if isinstance(g, Polygon)]
    return MultiPolygon(parts) if parts else None


def cropped(mask: NDArray[Any]) -> tuple[Mask, int, int] | None:
    """``mask`` (nonzero = inside) as booleans cut to the box of its set pixels, with the
    box's top row and left column; ``None`` when no pixel is set."""
    inside = np.asarray(mask, dtype=bool)
    rows = np.flatnonzero(inside.any(axis=1))
    if not len(rows):
        return None
    cols = np.flatnonzero(inside.any(axis=0))
    top, left = int(rows[0]), int(cols[0])
    return inside[top : int(rows[-1]) + 1, left : int(cols[-1]) + 1], top, left


def _find(keys: NDArray[np.int64], wanted: NDArray[np.int64]) -> NDArray[np.intp]:
    """Position of each ``wanted`` value in the sorted ``keys``, -1 where absent."""
    at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    found: NDArray[np.intp] = np.where(keys[at] == wanted, at, -1)
    return found
