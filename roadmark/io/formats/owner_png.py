"""PNG files of label maps that are lookups of one owner map, byte-identical to OpenCV's.

A Cityscapes export writes four maps of a frame (label ids, train ids, instance ids,
colours), each a table lookup of the same map of which object owns each pixel. OpenCV
(libpng) encodes a map by trying five row filters on every row and keeping the one with
the smallest sum of absolute byte values, which costs about three times the compression
itself. Here the same choice is made from the pixels where the owner changes: where a
pixel's owner equals its left, upper and upper-left neighbours', every filter but "none"
gives 0, so the filters' sums need only those pixels (a few percent of a frame); the
"none" sums come from each row's owner counts. The filtered rows are then compressed
with zlib at level 1 as OpenCV does and cut into IDAT chunks of libpng's size, giving the
same bytes as ``cv2.imencode(".png", map, [cv2.IMWRITE_PNG_COMPRESSION, 1])``.

The first map of each kind (depth and channels) a process encodes is also encoded by
OpenCV and compared; should they ever differ (another zlib or libpng), OpenCV encodes
every later map of that kind in the process.
"""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
from numpy.typing import NDArray

LEVEL = 1  # OpenCV's PNG compression level here (IMWRITE_PNG_COMPRESSION)
IDAT_BYTES = 8192  # libpng's compression buffer: the size of each IDAT chunk
SMALL_BYTES = 16384  # libpng narrows zlib's window for smaller images: OpenCV writes those
SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPES = {1: 0, 3: 2, 4: 6}  # channels -> PNG colour type (grey, RGB, RGBA)
_checked: dict[tuple[str, int], bool] = {}  # kind -> our bytes equal OpenCV's


def _cost(values: NDArray[np.int16]) -> NDArray[np.int16]:
    """libpng's cost of filtered bytes: their absolute value as signed bytes."""
    return np.minimum(values, 256 - values)


class OwnerMaps:
    """The PNG encoder for lookups ``table[owner]`` of one owner map (``owner``: 2-D,
    non-negative integers below the tables' length)."""

    def __init__(self, owner: NDArray[np.integer]) -> None:
        self.owner = owner
        height, width = owner.shape
        self.shape = (height, width)
        changed = np.ones((height, width), dtype=bool)
        o = owner
        changed[1:, 1:] = (o[1:, 1:] != o[1:, :-1]) | (o[1:, 1:] != o[:-1, 1:]) | (
            o[1:, 1:] != o[:-1, :-1])
        rows, cols = np.nonzero(changed)
        self.rows, self.cols = rows, cols
        self.count = int(owner.max(initial=0)) + 1
        zero = self.count  # the index of a zero table row: neighbours beyond the map
        above, before = np.maximum(rows - 1, 0), np.maximum(cols - 1, 0)
        self.at = owner[rows, cols].astype(np.int64)
        self.left = np.where(cols > 0, owner[rows, before].astype(np.int64), zero)
        self.up = np.where(rows > 0, owner[above, cols].astype(np.int64), zero)
        self.upleft = np.where((rows > 0) & (cols > 0),
                               owner[above, before].astype(np.int64), zero)
        # the rows' runs of one owner (each starts at a changed pixel): for the sums of the
        # unfiltered rows
        starts = np.flatnonzero(self.at != self.left)
        run_rows, run_cols = rows[starts], cols[starts]
        same_row = np.append(run_rows[1:] == run_rows[:-1], False)
        ends = np.where(same_row, np.append(run_cols[1:], 0), width)
        self.run_rows, self.run_owner = run_rows, self.at[starts]
        self.run_lengths = (ends - run_cols).astype(np.float64)

    def png(self, table: NDArray[np.integer]) -> bytes:
        """The PNG of ``table[owner]`` (``table``: ``N`` or ``N x C`` of uint8 or uint16;
        ``C`` channels in OpenCV's order, BGR or BGRA) as OpenCV writes it."""
        channels = 1 if table.ndim == 1 else table.shape[1]
        kind = (table.dtype.str, channels)
        height, width = self.shape
        filtered_size = height * (1 + width * channels * table.dtype.itemsize)
        if _checked.get(kind) is False or channels not in _COLOUR_TYPES or \
                table.dtype not in (np.uint8, np.uint16) or len(table) < self.count or \
                filtered_size <= SMALL_BYTES:
            return _opencv(np.take(table, self.owner, axis=0))
        encoded = self.encode(table)
        if kind not in _checked:  # the first of its kind: OpenCV's bytes decide
            reference = _opencv(np.take(table, self.owner, axis=0))
            _checked[kind] = encoded == reference
            return reference
        return encoded

    def encode(self, table: NDArray[np.integer]) -> bytes:
        """:meth:`png` without the comparison with OpenCV or the cases left to it (tables
        of uint8 or uint16, 1, 3 or 4 channels; maps of more than :data:`SMALL_BYTES`)."""
        channels = 1 if table.ndim == 1 else table.shape[1]
        height, width = self.shape
        # each owner's pixel as PNG bytes (big-endian samples, RGB order), a zero row last
        samples = table.reshape(len(table), channels)[: self.count]
        if channels >= 3:
            samples = samples[:, [2, 1, 0, *range(3, channels)]]
        raw = np.ascontiguousarray(samples.astype(samples.dtype.newbyteorder(">")))
        pixel_bytes = raw.view(np.uint8).reshape(self.count, -1)
        bpp = pixel_bytes.shape[1]
        tab = np.vstack([pixel_bytes, np.zeros((1, bpp), np.uint8)]).astype(np.int16)
        x, a, b, c = tab[self.at], tab[self.left], tab[self.up], tab[self.upleft]
        pa, pb, pc = np.abs(b - c), np.abs(a - c), np.abs(a + b - 2 * c)
        paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
        filtered = [(x - a) & 255, (x - b) & 255, (x - ((a + b) >> 1)) & 255, (x - paeth) & 255]
        sums = np.empty((5, height))
        plain_cost = _cost(tab[: self.count]).sum(axis=1).astype(np.float64)
        sums[0] = np.bincount(self.run_rows, weights=self.run_lengths * plain_cost[self.run_owner],
                              minlength=height)
        for k, values in enumerate(filtered, start=1):
            sums[k] = np.bincount(self.rows, weights=_cost(values).sum(axis=1),
                                  minlength=height)
        # libpng leaves out the filters that need a row above (one row) or a pixel to the
        # left (one column)
        if height == 1:
            sums[[2, 3, 4]] = np.inf
        if width == 1:
            sums[[1, 3, 4]] = np.inf
        types = np.argmin(sums, axis=0).astype(np.uint8)  # the first of equal sums, as libpng
        row_bytes = width * bpp
        out = np.zeros((height, 1 + row_bytes), np.uint8)
        out[:, 0] = types
        plain = np.flatnonzero(types == 0)
        if plain.size:
            out[plain, 1:] = pixel_bytes[self.owner[plain]].reshape(plain.size, row_bytes)
        kind = types[self.rows]
        keep = kind > 0
        chosen = np.stack(filtered)[kind[keep] - 1, np.flatnonzero(keep)]
        start = self.rows[keep] * (1 + row_bytes) + 1 + self.cols[keep] * bpp
        out.reshape(-1)[(start[:, None] + np.arange(bpp)).ravel()] = chosen.ravel()
        depth = 16 if table.dtype == np.uint16 else 8
        header = struct.pack(">IIBBBBB", width, height, depth, _COLOUR_TYPES[channels], 0, 0, 0)
        data = zlib.compress(out.data, LEVEL)
        parts = [SIGNATURE, _chunk(b"IHDR", header)]
        parts += [_chunk(b"IDAT", data[i : i + IDAT_BYTES])
                  for i in range(0, len(data), IDAT_BYTES)]
        parts.append(_chunk(b"IEND", b""))
        return b"".join(parts)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(data, zlib.crc32(kind)))


def _opencv(array: NDArray[np.integer]) -> bytes:
    ok, encoded = cv2.imencode(".png", array, [cv2.IMWRITE_PNG_COMPRESSION, LEVEL])
    if not ok:
        raise ValueError("OpenCV could not encode the map as PNG")
    return bytes(encoded.tobytes())
