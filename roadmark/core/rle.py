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
    return {"size": [height, width], "counts": counts}


def decode(rle: Rle) -> NDArray[np.bool_]:
    """The boolean mask of an RLE (compressed or uncompressed counts).

    Raises:
        GeometryError: The RLE is malformed or its counts do not cover ``size``.
    """
    native = _to_native(rle)
    height, width = native["size"]
    area = int(coco_mask.area(native))
    mask: NDArray[np.bool_] = coco_mask.decode(native).astype(bool)
    if mask.shape != (height, width) or int(mask.sum()) != area:
        raise GeometryError("RLE counts do not match its size")
    return mask


def decode_window(rle: Rle) -> tuple[NDArray[np.bool_], tuple[int, int]]:
    """The part of an RLE's mask inside a box that holds every set pixel (its bounding
    box, or the full height of its columns), and the box's corner ``(x, y)``.

    The checks of :func:`decode`; counts of plain characters that cover the mask exactly
    (every RLE that pycocotools or roadmark writes) are read here and only the columns
    that hold the object are filled, so an object in a full-frame RLE costs its own size.

    Raises:
        GeometryError: The RLE is malformed or its counts do not cover ``size``.
    """
    native = _to_native(rle)
    height, width = native["size"]
    runs = _runs(native["counts"], height * width)
    if runs is not None:
        return _columns_of(runs, height)
    # Anything unusual is decoded whole by pycocotools and checked as decode() checks it
    # (counts that do not cover the mask leave pixels unwritten).
    mask = decode(rle)
    # the box holds every set pixel (a run across columns widens it to full height)
    x, y, w, h = (int(v) for v in coco_mask.toBbox(native))
    return mask[y : y + h, x : x + w], (x, y)


def _runs(text: bytes, total: int) -> list[int] | None:
    """The run lengths of compressed counts, as pycocotools reads them (``rleFrString``:
    5 bits a character, a continuation bit, a sign bit, each run after the second coded
    as the difference to the run two before), for text of plain characters whose runs
    are all non-negative and cover exactly ``total`` pixels; ``None`` for anything else
    (pycocotools then decides, as for every RLE before)."""
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
    if shift or sum(counts) != total:
        return None
    return counts


def _columns_of(counts: list[int], height: int) -> tuple[NDArray[np.bool_], tuple[int, int]]:
    """The full-height columns of a mask that hold its set pixels, from its run lengths
    (column-major, the first run unset), and the first column's ``(x, 0)``."""
    lengths = np.asarray(counts, dtype=np.int64)
    ends = np.cumsum(lengths)
    filled = lengths[1::2] > 0
    starts, stops = (ends - lengths)[1::2][filled], ends[1::2][filled]
    if not len(starts):
        return np.zeros((0, 0), dtype=bool), (0, 0)
    first, last = int(starts[0]) // height, (int(stops[-1]) - 1) // height
    base = first * height
    edges = np.zeros((last - first + 1) * height + 1, dtype=np.int8)
    edges[starts - base] = 1
    edges[stops - base] -= 1  # a run that ends where the next begins leaves 0
    flat = np.cumsum(edges[:-1], dtype=np.int8).view(bool)
    return flat.reshape(last - first + 1, height).T, (first, 0)


def area(rle: Rle) -> int:
    return int(coco_mask.area(_to_native(rle)))


def from_region(region: Region, height: int, width: int) -> Rle:
    """RLE of a region rasterized at ``height x width``."""
    return encode(region_mask(region, height, width))


def to_region(rle: Rle) -> Region | None:
    """The exact (pixel-edge) region of an RLE; ``None`` when it is empty."""
    window, (x, y) = decode_window(rle)
    return mask_to_region(window, offset=(float(x), float(y)))
