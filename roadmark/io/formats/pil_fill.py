"""What cityscapesScripts draws for a polygon (PIL's ``ImageDraw.polygon``), and how far
an export's traced polygons are from the raster they came from.

Getting a small image's pixels out of PIL (``tobytes``) costs more than drawing them, so
PIL draws straight into numpy memory: an image mapped onto an array
(``Image.frombuffer``), marked writable so that drawing does not copy it first. Whether
this Pillow really draws in place is tried once per process; if it does not, the pixels
are copied back as before. :func:`mismatched_pixels`, called for every region of an export,
draws on one canvas per thread that grows to the largest region, and clears what it drew.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

_mapped_drawing: bool | None = None  # PIL draws into a mapped numpy array (tried once)


def fill(polygons: Sequence[Any], height: int, width: int) -> NDArray[np.bool_]:
    """What cityscapesScripts draws for ``polygons`` in a ``height x width`` image."""
    out = np.zeros((height, width), np.uint8)
    if not out.size:
        return out.view(bool)
    if draws_in_place():
        _draw(ImageDraw.Draw(_mapped(out)), polygons)
    else:
        image = Image.new("L", (width, height), 0)
        _draw(ImageDraw.Draw(image), polygons)
        out[...] = np.frombuffer(image.tobytes(), np.uint8).reshape(height, width)
    return out.view(bool)


def mismatched_pixels(polygons: Sequence[Any], mask: NDArray[np.uint8]) -> int:
    """Pixels where PIL's fill of ``polygons`` differs from ``mask`` (0 and 1), within the
    mask's shape (as if drawn on an image of that size)."""
    height, width = mask.shape
    if not mask.size:
        return 0
    if not draws_in_place():
        return int(np.count_nonzero(fill(polygons, height, width) != mask))
    canvas = _CANVAS.at_least(height, width)
    box = _draw(canvas.drawer, polygons)
    # values are 0 and 1: the sum of absolute differences counts the pixels that differ
    differ = int(cv2.norm(canvas.array[:height, :width], mask, cv2.NORM_L1))
    x0, y0, x1, y1 = box  # cleared with a margin of a pixel
    canvas.array[max(y0 - 1, 0) : max(y1 + 2, 0), max(x0 - 1, 0) : max(x1 + 2, 0)] = 0
    return differ


def draws_in_place() -> bool:
    """Whether this Pillow draws on an image mapped onto a numpy array (tried once)."""
    global _mapped_drawing
    if _mapped_drawing is None:
        probe = np.zeros((4, 4), np.uint8)
        ImageDraw.Draw(_mapped(probe)).polygon([0, 0, 3, 0, 3, 3], fill=1)
        _mapped_drawing = bool(probe.any())
    return _mapped_drawing


def _draw(drawer: ImageDraw.ImageDraw, polygons: Sequence[Any]) -> tuple[int, int, int, int]:
    """Fill each polygon (fewer than 3 points: the last repeated, as cityscapesScripts'
    PIL accepts them); returns the box of all points ``(x0, y0, x1, y1)``, inclusive."""
    x0 = y0 = np.iinfo(np.int64).max
    x1 = y1 = np.iinfo(np.int64).min
    for polygon in polygons:
        points = np.asarray(polygon, dtype=np.int64).reshape(-1, 2)
        if not len(points):
            continue
        if len(points) < 3:
            points = np.concatenate([points, points[-1:].repeat(3 - len(points), axis=0)])
        drawer.polygon(points.ravel().tolist(), fill=1)
        low, high = points.min(axis=0), points.max(axis=0)
        x0, y0 = min(x0, int(low[0])), min(y0, int(low[1]))
        x1, y1 = max(x1, int(high[0])), max(y1, int(high[1]))
    return int(x0), int(y0), int(x1), int(y1)


def _mapped(array: NDArray[np.uint8]) -> Image.Image:
    height, width = array.shape
    image = Image.frombuffer("L", (width, height), array, "raw", "L", 0, 1)
    with contextlib.suppress(AttributeError):  # (a Pillow without the flag: the probe tells)
        image.readonly = False  # the array is writable: draw on it rather than on a copy
    return image


class _Canvas(threading.local):
    """A zeroed array and a PIL drawer on it, one per thread, grown when a region needs
    more room (drawing past the part compared is what a smaller image would clip)."""

    def __init__(self) -> None:
        self.array = np.zeros((64, 64), np.uint8)
        self.drawer = ImageDraw.Draw(_mapped(self.array))

    def at_least(self, height: int, width: int) -> _Canvas:
        if height > self.array.shape[0] or width > self.array.shape[1]:
            self.array = np.zeros((max(height, self.array.shape[0]),
                                   max(width, self.array.shape[1])), np.uint8)
            self.drawer = ImageDraw.Draw(_mapped(self.array))
        return self


_CANVAS = _Canvas()
