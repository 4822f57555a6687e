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
from roadmark.core.raster import expand_runs, mask_to_region, region_mask, run_lengths

Rle = dict[str, Any]


def encode(mask: NDArray[np.bool_]) -> Rle:
    """Compressed RLE of a 2-D mask."""
    if mask.ndim != 2:
        raise GeometryError(f"a mask must be 2-D, got shape {mask.shape}")
    rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def _to_native(rle: Rle) -> tuple[dict[str, Any], NDArray[np.int64]]:
    """pycocotools' form of an RLE, and its runs (checked to cover its size)."""
    try:
        height, width = (int(v) for v in rle["size"])
        counts = rle["counts"]
    except (KeyError, TypeError, ValueError) as error:
        raise GeometryError("an RLE needs 'size' [height, width] and 'counts'") from error
    if isinstance(counts, list):
        if any(int(c) < 0 for c in counts):
            raise GeometryError("RLE counts must not be negative")
        if sum(int(c) for c in counts) != height * width:
            raise GeometryError(
                f"RLE counts add up to {sum(counts)}, not height*width = {height * width}"
            )
        native: dict[str, Any] = coco_mask.frPyObjects(
            {"size": [height, width], "counts": counts}, height, width
        )
        return native, np.asarray(counts, dtype=np.int64).reshape(-1)
    if isinstance(counts, str):
        counts = counts.encode("ascii")
    if not isinstance(counts, bytes):
        raise GeometryError(f"RLE 'counts' must be a string or a list, got {type(counts).__name__}")
    runs = _runs(counts, height * width)
    if runs is None or int(runs.sum()) != height * width:
        raise GeometryError(
            f"RLE counts do not cover its size (height*width = {height * width} pixels)"
        )
    return {"size": [height, width], "counts": counts}, runs


def _runs(text: bytes, pixels: int) -> NDArray[np.int64] | None:
    """The runs of compressed counts read as pycocotools reads them (``rleFrString``: 5
    bits a character, a continuation bit, a sign bit, each run after the second coded as
    the difference to the run two before: :func:`roadmark.core.raster.run_lengths`), in
    numpy; ``None`` for text that is no such counts (a character out of range, a run of
    more than 7 characters or cut off, a run negative or of 2**32 or more) or that holds
    more runs than a mask of ``pixels`` pixels has (``pixels + 1``: no encoder pads with
    empty runs; counted before the runs are read, which takes about 30 bytes a character,
    so that text of millions of characters for a small mask is refused at once).

    pycocotools decodes counts that cover too few pixels into memory it leaves
    uninitialized, so the same bad RLE would give a different mask each time: the runs
    are checked and expanded here.
    """
    chars = np.frombuffer(text, dtype=np.uint8)
    if not len(chars):
        return np.zeros(0, dtype=np.int64)
    if ((chars < 48) | (chars >= 48 + 64)).any():
        return None
    last = ((chars - 48) & 0x20) == 0
    if not last[-1]:  # the last run cut off
        return None
    if np.count_nonzero(last) > pixels + 1:
        return None
    ends = np.flatnonzero(last)
    if np.diff(ends, prepend=-1).max() > 7:  # more than 35 bits (pycocotools' shift > 30)
        return None
    runs = run_lengths(text)
    return runs if ((runs >= 0) & (runs < 2**32)).all() else None


def decode(rle: Rle) -> NDArray[np.bool_]:
    """The boolean mask of an RLE (compressed or uncompressed counts).

    Raises:
        GeometryError: The RLE is malformed or its counts do not cover ``size``.
    """
    native, runs = _to_native(rle)
    return expand_runs(runs, *native["size"])


def decode_window(rle: Rle) -> tuple[NDArray[np.bool_], tuple[int, int]]:
    """The part of an RLE's mask inside its bounding box, and the box's corner ``(x, y)``
    (an empty mask gives an empty window at ``(0, 0)``): what a region is traced from,
    without copying the rest of the frame. The checks of :func:`decode`.

    Raises:
        GeometryError: The RLE is malformed or its counts do not cover ``size``.
    """
    native, runs = _to_native(rle)
    mask = expand_runs(runs, *native["size"])
    x, y, w, h = (int(v) for v in coco_mask.toBbox(native))
    window: NDArray[np.bool_] = mask[y : y + h, x : x + w].copy(order="K")
    return window, (x, y)


def area(rle: Rle) -> int:
    return int(coco_mask.area(_to_native(rle)[0]))


def from_region(region: Region, height: int, width: int) -> Rle:
    """RLE of a region rasterized at ``height x width``."""
    return encode(region_mask(region, height, width))


def to_region(rle: Rle) -> Region | None:
    """The exact (pixel-edge) region of an RLE; ``None`` when it is empty."""
    window, (x, y) = decode_window(rle)
    return mask_to_region(window, offset=(float(x), float(y)))
