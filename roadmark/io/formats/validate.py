"""Range checks for numbers read from dataset files, one object at a time.

Readers call these per object, before any geometry is built from the numbers, so nothing
absurd reaches shapely, pycocotools, the store, a later export or the editor:

- coordinates must be finite. A polygon or box may reach up to two image sizes beyond
  each border (:data:`MARGIN`: ``x`` in ``[-2W, 3W]``, ``y`` in ``[-2H, 3H]``) and is kept as
  it is (datasets often have outlines outside the frame; label maps clip them); one that
  reaches farther is clipped to that margin, with a warning; one with a coordinate more
  than :data:`ABSURD` image sizes beyond a border (or beyond :data:`MAX_COORDINATE` pixels)
  is refused.
- an image's declared size must be positive and within the pixel limit
  (:mod:`roadmark.io.image_limits`), and agree with the image file's header;
- an RLE mask's ``size`` must be the image's, checked before it is decoded;
- ids (``track_id``, ``instance_id``) must fit in 63 bits (the store's integers);
- text (label names, ...) must be valid Unicode (no lone surrogates).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from roadmark.core.annotation import Box, Region, as_region
from roadmark.core.errors import GeometryError
from roadmark.io.errors import FrameSourceError
from roadmark.io.formats.errors import FormatError
from roadmark.io.image_limits import check_pixels, header_size

MARGIN = 2.0  # image sizes beyond each border kept as they are
ABSURD = 10.0  # image sizes beyond a border that are refused
MAX_COORDINATE = 1e7  # pixels; never more, whatever the image size
MAX_ID = 2**63 - 1


def image_size(width: int, height: int, *, where: str, field: str) -> None:
    """Refuse a declared image size over the pixel limit.

    Raises:
        FormatError: Naming the file and field.
    """
    try:
        check_pixels(width, height, name=where, field=field)
    except FrameSourceError as error:
        raise FormatError(error.args[0], path=where, field=field) from error


def size_matches_file(image: Path, width: int, height: int, *, where: str, field: str) -> None:
    """Refuse a declared size that the image file's header contradicts (read before any
    mask of that size is decoded). Files whose header cannot be read are left to the
    image check that follows.

    Raises:
        FormatError: Naming the dataset file and field.
    """
    try:
        with open(image, "rb") as handle:
            head = handle.read(1 << 16)
        found = header_size(head, name=str(image))
    except OSError:
        return
    except FrameSourceError as error:
        raise FormatError(error.args[0], path=str(image)) from error
    if found is not None and found != (width, height):
        raise FormatError(
            f"declares {width} x {height} but the image {image.name} is {found[0]} x {found[1]}",
            path=where,
            field=field,
        )


def rle_size(size: Any, width: int, height: int, *, where: str, field: str) -> list[int]:
    """An RLE's ``size`` ``[height, width]``, which must be the image's.

    Raises:
        FormatError: Malformed or different from the image.
    """
    if (
        not isinstance(size, list)
        or len(size) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in size)
    ):
        raise FormatError(
            f"RLE 'size' must be [height, width], got {size!r}", path=where, field=field
        )
    if size != [height, width]:
        raise FormatError(
            f"RLE size {size} does not match the image ({height} x {width})",
            path=where,
            field=field,
        )
    return size


def _limits(width: int, height: int, factor: float) -> tuple[float, float, float, float]:
    return (-factor * width, -factor * height, (1 + factor) * width, (1 + factor) * height)


def coordinates(xy: np.ndarray, width: int, height: int, *, where: str, field: str) -> bool:
    """Check an ``(N, 2)`` array of points against the image.

    Returns:
        Whether the points reach beyond the margin (the caller clips the shape with
        :func:`clip_region` or :func:`clip_box`).

    Raises:
        FormatError: A coordinate that is not finite or absurdly far from the image.
    """
    return extent(xy, width, height, where=where, field=field)[0]


def extent(
    xy: np.ndarray, width: int, height: int, *, where: str, field: str
) -> tuple[bool, tuple[float, float, float, float]]:
    """:func:`coordinates`, and the points' extent ``(x0, y0, x1, y1)`` (all zero when
    there are none): two reductions, the checks on their four numbers.

    Raises:
        FormatError: A coordinate that is not finite or absurdly far from the image.
    """
    if xy.size == 0:
        return False, (0.0, 0.0, 0.0, 0.0)
    (x_lo, y_lo), (x_hi, y_hi) = xy.min(axis=0).tolist(), xy.max(axis=0).tolist()
    # NaN carries through min and max, an infinity shows as an extreme
    if not (
        math.isfinite(x_lo) and math.isfinite(y_lo) and math.isfinite(x_hi) and math.isfinite(y_hi)
    ):
        raise FormatError("coordinates must be finite numbers", path=where, field=field)
    x0, y0, x1, y1 = _limits(width, height, ABSURD)
    if (
        max(-x_lo, x_hi, -y_lo, y_hi) > MAX_COORDINATE
        or x_lo < x0
        or y_lo < y0
        or x_hi > x1
        or y_hi > y1
    ):
        worst = float(xy.flat[int(np.abs(xy).argmax())])
        raise FormatError(
            f"coordinate {worst:g} is absurdly far outside the {width}x{height} image "
            f"(more than {ABSURD:g} image sizes); refused",
            path=where,
            field=field,
        )
    m0, n0, m1, n1 = _limits(width, height, MARGIN)
    beyond = x_lo < m0 or y_lo < n0 or x_hi > m1 or y_hi > n1
    return beyond, (x_lo, y_lo, x_hi, y_hi)


def clip_region(region: Any, width: int, height: int) -> Region | None:
    """``region`` cut to the margin around the image (``None`` if no area is left)."""
    clipped = shapely.intersection(region, shapely.box(*_limits(width, height, MARGIN)))
    try:
        return as_region(clipped)
    except GeometryError:
        return None


def clip_box(box: Box, width: int, height: int) -> Box:
    """``box`` cut to the margin around the image."""
    x0, y0, x1, y1 = _limits(width, height, MARGIN)
    return Box(
        min(max(box.x0, x0), x1),
        min(max(box.y0, y0), y1),
        min(max(box.x1, x0), x1),
        min(max(box.y1, y0), y1),
    )


def identifier(value: int, *, where: str, field: str) -> int:
    """An id that the store can hold (0 .. 2**63 - 1).

    Raises:
        FormatError: Out of range.
    """
    if not 0 <= value <= MAX_ID:
        raise FormatError(f"must be between 0 and 2**63 - 1, got {value}", path=where, field=field)
    return value


def text(value: str, *, where: str, field: str) -> str:
    """Text that can be stored and written out (valid Unicode, no lone surrogates).

    Raises:
        FormatError: Not encodable as UTF-8.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise FormatError(
            f"is not valid Unicode text (a lone surrogate at {error.start})",
            path=where,
            field=field,
        ) from error
    return value
