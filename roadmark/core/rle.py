"""COCO run-length encoding helpers (pycocotools), JSON-friendly.

An RLE here is ``{"size": [height, width], "counts": str}`` (compressed counts, as
pycocotools writes them). Uncompressed RLE (``counts`` a list of ints) is accepted on input.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from pycocotools import mask as coco_mask

from roadmark.core.annotation import Region
from roadmark.core.errors import GeometryError
from roadmark.core.raster import mask_to_region, region_mask

Rle = dict[str, Any]


def encode(mask: NDArray[np.bool_]) -> Rle:
    """Compressed RLE of a 2-D mask."""
    if mask.ndim != 2:
        raise GeometryError(f"a mask must be 2-D, got shape {mask.shape}")
    rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def _to_native(rle: Rle) -> dict[str, Any]:
    try:
        height, width = (int(v) for v in rle["size"])
        counts = rle["counts"]
    except (KeyError, TypeError, ValueError) as error:
        raise GeometryError("an RLE needs 'size' [height, width] and 'counts'") from error
    if isinstance(counts, list):
        if sum(int(c) for c in counts) != height * width:
            raise GeometryError(
                f"RLE counts add up to {sum(counts)}, not height*width = {height * width}"
            )
        native: dict[str, Any] = coco_mask.frPyObjects(
            {"size": [height, width], "counts": counts}, height, width
        )
        return native
    if isinstance(counts, str):
        counts = counts.encode("ascii")
    if not isinstance(counts, bytes):
        raise GeometryError(f"RLE 'counts' must be a string or a list, got {type(counts).__name__}")
    if _covered(counts) != height * width:
        raise GeometryError(
            f"RLE counts do not cover its size (height*width = {height * width} pixels)"
        )
    return {"size": [height, width], "counts": counts}


def _covered(text: bytes) -> int | None:
    """How many pixels compressed counts cover, read as pycocotools reads them
    (``rleFrString``: 5 bits a character, a continuation bit, a sign bit, each run after
    the second coded as the difference to the run two before); ``None`` for text that is
    no such counts (a character out of range, a run cut off, a negative run).

    pycocotools decodes counts that cover too few pixels into memory it leaves
    uninitialized, so the same bad RLE would give a different mask each time: the sum
    is checked here, the decoding stays pycocotools'.
    """
    counts: list[int] = []
    value = shift = 0
    for char in text:
        bits = char - 48
        if not 0 <= bits < 64 or shift > 30:
            return None
        value |= (bits & 0x1F) << shift
        shift += 5
        if bits & 0x20:
            continue
        if bits & 0x10:
            value |= -1 << shift
        if len(counts) > 2:
            value += counts[-2]
        if not 0 <= value < 2**32:
            return None
        counts.append(value)
        value = shift = 0
    return None if shift else sum(counts)


def _decoded(native: dict[str, Any]) -> NDArray[np.uint8]:
    """pycocotools' decode of a native RLE (whose counts cover it: :func:`_to_native`),
    checked against its area."""
    height, width = native["size"]
    area = int(coco_mask.area(native))
    mask: NDArray[np.uint8] = coco_mask.decode(native)
    if mask.shape != (height, width) or np.count_nonzero(mask) != area:
        raise GeometryError("RLE counts do not match its size")
    return mask


def decode(rle: Rle) -> NDArray[np.bool_]:
    """The boolean mask of an RLE (compressed or uncompressed counts).

    Raises:
        GeometryError: The RLE is malformed or its counts do not cover ``size``.
    """
    return _decoded(_to_native(rle)).astype(bool)


def decode_window(rle: Rle) -> tuple[NDArray[np.bool_], tuple[int, int]]:
    """The part of an RLE's mask inside its bounding box, and the box's corner ``(x, y)``
    (an empty mask gives an empty window at ``(0, 0)``): what a region is traced from,
    without copying the rest of the frame. The checks of :func:`decode`.

    Raises:
        GeometryError: The RLE is malformed or its counts do not cover ``size``.
    """
    native = _to_native(rle)
    mask = _decoded(native)
    x, y, w, h = (int(v) for v in coco_mask.toBbox(native))
    window: NDArray[np.bool_] = mask[y : y + h, x : x + w].astype(bool)
    return window, (x, y)


def area(rle: Rle) -> int:
    return int(coco_mask.area(_to_native(rle)))


def from_region(region: Region, height: int, width: int) -> Rle:
    """RLE of a region rasterized at ``height x width``."""
    return encode(region_mask(region, height, width))


def to_region(rle: Rle) -> Region | None:
    """The exact (pixel-edge) region of an RLE; ``None`` when it is empty."""
    window, (x, y) = decode_window(rle)
    return mask_to_region(window, offset=(float(x), float(y)))
