"""Pixels counted per level of a quantized map, and the boxes of a mask's parts.

The uncertain regions of a frame (:mod:`roadmark.analysis.uncertainty`) are summed through
histograms of its uint8 maps, per piece, and its mask's parts are boxed before they are
split. OpenCV does both, more slowly than it could here:

- ``calcHist`` adds each pixel to its level's count, every addition waiting on the one
  before where a run of pixels has one level: a confident area, or the flat maps of a
  random-weight model (1.1 ms a 1024x512 map, against 0.16 for varied levels).
  ``fast_parts.count_levels`` counts consecutive pixels into four tables in turn and adds
  the tables up at the end (0.3 ms on the flat map);
- ``connectedComponentsWithStats`` computes every part's centroid in float64, three
  quarters of its time, and the regions do not use them: ``connectedComponents`` then
  ``fast_parts.part_boxes`` (a row's run of one label at a time) give the same labels and
  the same boxes and pixel counts in about a third of the time.

Where roadmark was built without a C compiler (no ``fast_parts``), OpenCV gives the same
counts and boxes.
"""

from __future__ import annotations

from typing import cast

import cv2
import numpy as np
from numpy.typing import NDArray

try:
    from roadmark.analysis import fast_parts
except ImportError:  # built without a C compiler: OpenCV counts
    fast_parts = None  # type: ignore[assignment]

LEVELS = 256  # values of a quantized (uint8) map
MAX_OWNERS = 256  # owners of pixels that level_counts tells apart (uint8 owner ids)
_EXACT_FLOAT32 = 1 << 24  # calcHist's float32 counts are exact up to this


def level_counts(
    levels: NDArray[np.uint8],
    owners: NDArray[np.uint8] | NDArray[np.bool_] | None = None,
    rows: int = 1,
) -> NDArray[np.int64]:
    """Pixels of each owner (row) and level (column): ``(rows, 256)`` counts.

    Args:
        levels: A 1-D or 2-D uint8 map (a window of a larger one too).
        owners: The same pixels' owners, uint8 values ``0 .. rows - 1`` (a piece image)
            or a boolean mask (owners 0 and 1), or ``None``: every pixel is owner 0.
        rows: Owners told apart, 1 to :data:`MAX_OWNERS`.

    Raises:
        ValueError: An owner is ``rows`` or more, the arrays differ in shape, or their
            types are not these.
    """
    if not 1 <= rows <= MAX_OWNERS:
        raise ValueError(f"rows must be 1 to {MAX_OWNERS}, got {rows}")
    if levels.dtype != np.uint8:
        raise ValueError(f"levels of type {levels.dtype}: uint8 only")
    ids: NDArray[np.uint8] | None = None
    if owners is not None:  # (a boolean mask is owners 0 and 1)
        ids = cast(NDArray[np.uint8], owners.view(np.uint8) if owners.dtype == np.bool_ else owners)
        if ids.dtype != np.uint8 or ids.shape != levels.shape:
            raise ValueError(f"owners of type {owners.dtype} and shape {owners.shape} for "
                             f"levels of shape {levels.shape}: uint8 of the same shape only")
    if fast_parts is not None:
        counts = np.empty((rows, LEVELS), np.int64)
        fast_parts.count_levels(_plane(levels), None if ids is None else _plane(ids), rows,
                                counts)
        return counts
    return _opencv_counts(levels, ids, rows)


def _plane(array: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """``array`` as the compiled module takes it: 2-D, each row's bytes contiguous."""
    plane = array.reshape(1, -1) if array.ndim == 1 else array
    return plane if plane.strides[1] == 1 else np.ascontiguousarray(plane)


def _opencv_counts(
    levels: NDArray[np.uint8], owners: NDArray[np.uint8] | None, rows: int
) -> NDArray[np.int64]:
    """:func:`level_counts` by OpenCV (float32 counts, exact below 2**24 pixels)."""
    if levels.size >= _EXACT_FLOAT32:
        keys = levels.ravel().astype(np.int64)
        if owners is not None:
            keys |= owners.ravel().astype(np.int64) << 8
        counts = np.bincount(keys, minlength=rows * LEVELS)
        if counts.size > rows * LEVELS:
            raise ValueError(f"an owner outside 0 .. {rows - 1}")
        return counts.reshape(rows, LEVELS)
    plane = np.ascontiguousarray(_plane(levels))
    if owners is None or plane.size == 0:
        counts = np.zeros((rows, LEVELS), np.int64)
        if plane.size:
            counts[0] = cv2.calcHist([plane], [0], None, [LEVELS], [0, LEVELS]).ravel()
        return counts
    ids = np.ascontiguousarray(_plane(owners))
    if int(ids.max()) >= rows:
        raise ValueError(f"an owner outside 0 .. {rows - 1}")
    hist = cv2.calcHist([ids, plane], [0, 1], None, [rows, LEVELS], [0, rows, 0, LEVELS])
    return hist.astype(np.int64)


def labelled_parts(
    mask: NDArray[np.uint8],
) -> tuple[int, NDArray[np.int32], NDArray[np.int32]]:
    """``(count, labels, stats)`` of ``mask``'s 8-connected parts, as
    ``cv2.connectedComponentsWithStats`` gives them (labels 1..count - 1 numbered as
    OpenCV numbers them, 0 = background; ``stats``: left, top, width, height, pixels per
    label, OpenCV's layout) without the centroids. The background's row is its box where
    it has pixels (zeros where it has none)."""
    if mask.dtype != np.uint8 or mask.ndim != 2:
        raise ValueError(f"a mask of type {mask.dtype} and shape {mask.shape}: 2-D uint8 only")
    if fast_parts is None:
        count, labels, stats, _ = cv2.connectedComponentsWithStats(
            mask, connectivity=8, ltype=cv2.CV_32S
        )
        return int(count), labels, stats
    count, labels = cv2.connectedComponents(mask, connectivity=8, ltype=cv2.CV_32S)
    stats = np.empty((count, 5), np.int32)
    fast_parts.part_boxes(labels, count, stats)
    return int(count), cast(NDArray[np.int32], labels), stats
