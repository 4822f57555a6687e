"""PNG files of label maps that are lookups of one owner map, byte-identical to OpenCV's.

A Cityscapes export writes four maps of a frame (label ids, train ids, instance ids,
colours), each a table lookup of the same map of which object owns each pixel. OpenCV
(libpng) encodes a map by trying five row filters on every row and keeping the one with
the smallest sum of absolute byte values, which costs about three times the compression
itself. Here the same choice is made from the pixels where the owner changes: where a
pixel's owner equals its left, upper and upper-left neighbours', every filter but "none"
gives 0, so the filters' sums need only those pixels (a few percent of a frame); the
"none" sums come from each row's owner counts. The filtered rows are then compressed
with zlib at level 1 as OpenCV does (:mod:`roadmark.io.deflate`: zlib's bytes, faster) and
cut into IDAT chunks of libpng's size, giving the same bytes as
``cv2.imencode(".png", map, [cv2.IMWRITE_PNG_COMPRESSION, 1])``. The
compression is a raw deflate inside zlib's own header and Adler-32 checksum, the checksum
worked out from the rows' few non-zero bytes: zlib's pass over every byte for it cost a
fifth of the compression.

The first map of each kind (depth and channels) a process encodes is also encoded by
OpenCV and compared; should they ever differ (another zlib or libpng), OpenCV encodes
every later map of that kind in the process.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from roadmark.core.raster import nonzero_2d
from roadmark.io.deflate import raw_deflate
from roadmark.io.png_file import assemble

LEVEL = 1  # OpenCV's PNG compression level here (IMWRITE_PNG_COMPRESSION)
IDAT_BYTES = 8192  # libpng's compression buffer: the size of each IDAT chunk
SMALL_BYTES = 16384  # libpng narrows zlib's window for smaller images: OpenCV writes those
ZLIB_HEADER = b"\x78\x01"  # a zlib stream of a 32 KB window at level 1 (RFC 1950)
MOD_ADLER = 65521
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
        # a pixel differs from its left, upper or upper-left neighbour (compared in the flat
        # map, where the first pixel of a row follows the last of the row above: the first
        # column and the first row count as changed anyway)
        flat = np.ascontiguousarray(owner).reshape(-1)
        at = flat[width + 1 :]
        changed = np.ones(height * width, dtype=bool)
        changed[width + 1 :] = (at != flat[width:-1]) | (at != flat[1:-width]) | (
            at != flat[: -width - 1])
        changed[::width] = True
        rows, cols = nonzero_2d(changed.reshape(height, width))
        self.rows, self.cols = rows, cols
        # every row has a changed pixel (its first), so each row's pixels start here
        self.row_starts = np.flatnonzero(np.diff(rows, prepend=-1))
        self.count = int(owner.max(initial=0)) + 1
        zero = self.count  # the index of a zero table row: neighbours beyond the map
        above, before = np.maximum(rows - 1, 0), np.maximum(cols - 1, 0)
        self.at = owner[rows, cols].astype(np.int64)
        self.left = np.where(cols > 0, owner[rows, before].astype(np.int64), zero)
        self.up = np.where(rows > 0, owner[above, cols].astype(np.int64), zero)
        self.upleft = np.where((rows > 0) & (cols > 0),
                               owner[above, before].astype(np.int64), zero)
        # the rows' runs of one owner (each starts at a changed pixel, every row with one at
        # its first pixel): for the sums of the unfiltered rows
        starts = np.flatnonzero(self.at != self.left)
        run_rows, run_cols = rows[starts], cols[starts]
        same_row = np.append(run_rows[1:] == run_rows[:-1], False)
        ends = np.where(same_row, np.append(run_cols[1:], 0), width)
        self.run_row_starts = np.flatnonzero(np.diff(run_rows, prepend=-1))
        self.run_rows, self.run_cols = run_rows, run_cols
        self.run_owner = self.at[starts]
        self.run_lengths = (ends - run_cols).astype(np.int64)

    def png(self, table: NDArray[np.integer]) -> bytes:
        """The PNG of ``table[owner]`` (``table``: ``N`` or ``N x C`` of uint8 or uint16;
        ``C`` channels in OpenCV's order, BGR or BGRA) as OpenCV writes it."""
        return self.pngs([table])[0]

    def pngs(self, tables: Sequence[NDArray[np.integer]]) -> list[bytes]:
        """:meth:`png` of each table; the row filters of all are worked out together."""
        out: list[bytes] = []
        ours: list[int] = []
        height, width = self.shape
        for index, table in enumerate(tables):
            channels = 1 if table.ndim == 1 else table.shape[1]
            filtered_size = height * (1 + width * channels * table.dtype.itemsize)
            if _checked.get(_kind(table)) is False or channels not in _COLOUR_TYPES or \
                    table.dtype not in (np.uint8, np.uint16) or len(table) < self.count or \
                    filtered_size <= SMALL_BYTES:
                out.append(_opencv(np.take(table, self.owner, axis=0)))
            else:
                out.append(b"")
                ours.append(index)
        for index, encoded in zip(ours, self.encode_all([tables[i] for i in ours]), strict=True):
            kind = _kind(tables[index])
            if kind not in _checked:  # the first of its kind: OpenCV's bytes decide
                reference = _opencv(np.take(tables[index], self.owner, axis=0))
                _checked[kind] = encoded == reference
                encoded = reference
            out[index] = encoded
        return out

    def encode(self, table: NDArray[np.integer]) -> bytes:
        """:meth:`png` without the comparison with OpenCV or the cases left to it (tables
        of uint8 or uint16, 1, 3 or 4 channels; maps of more than :data:`SMALL_BYTES`)."""
        return self.encode_all([table])[0]

    def encode_all(self, tables: Sequence[NDArray[np.integer]]) -> list[bytes]:
        """:meth:`encode` of each table. The tables' PNG bytes side by side make one table,
        so the neighbours of the changed pixels are looked up and filtered once."""
        if not tables:
            return []
        height, width = self.shape
        pixels = [_pixel_bytes(table, self.count) for table in tables]
        spans = np.cumsum([0] + [p.shape[1] for p in pixels])
        tab = np.zeros((self.count + 1, spans[-1]), np.int16)  # a zero row last
        tab[: self.count] = np.hstack(pixels)
        x, a, b, c = tab[self.at], tab[self.left], tab[self.up], tab[self.upleft]
        pa, pb, pc = np.abs(b - c), np.abs(a - c), np.abs(a + b - 2 * c)
        paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
        filtered = np.stack([x - a, x - b, x - ((a + b) >> 1), x - paeth]) & 255
        # each filter's cost per row and byte column, then per row and table
        costs = np.add.reduceat(_cost(filtered), self.row_starts, axis=1, dtype=np.int64)
        runs = self.run_lengths[:, None] * _cost(tab[: self.count])[self.run_owner]
        plain = np.add.reduceat(runs, self.run_row_starts, axis=0)  # row, byte column
        sums = np.empty((len(tables), 5, height), np.int64)
        for k in range(len(tables)):
            columns = slice(spans[k], spans[k + 1])
            sums[k, 0] = plain[:, columns].sum(axis=1)
            sums[k, 1:] = costs[:, :, columns].sum(axis=2)
        # libpng leaves out the filters that need a row above (one row) or a pixel to the
        # left (one column)
        never = np.iinfo(np.int64).max
        if height == 1:
            sums[:, [2, 3, 4]] = never
        if width == 1:
            sums[:, [1, 3, 4]] = never
        types = np.argmin(sums, axis=1).astype(np.uint8)  # the first of equal sums, as libpng
        return [
            self._file(table, pixels[k], types[k], filtered[:, :, spans[k] : spans[k + 1]])
            for k, table in enumerate(tables)
        ]

    def _file(self, table: NDArray[np.integer], pixel_bytes: NDArray[np.uint8],
              types: NDArray[np.uint8], filtered: NDArray[np.int16]) -> bytes:
        """The PNG file of one table: its filtered rows compressed, in libpng's chunks."""
        height, width = self.shape
        bpp = pixel_bytes.shape[1]
        row_bytes = width * bpp
        out = np.zeros((height, 1 + row_bytes), np.uint8)
        out[:, 0] = types
        plain = np.flatnonzero(types == 0)
        if plain.size:
            out[plain, 1:] = pixel_bytes[self.owner[plain]].reshape(plain.size, row_bytes)
        kind = types[self.rows]
        keep = np.flatnonzero(kind > 0)
        chosen = filtered[kind[keep] - 1, keep]
        start = self.rows[keep] * (1 + row_bytes) + 1 + self.cols[keep] * bpp
        at = (start[:, None] + np.arange(bpp)).ravel()
        out.reshape(-1)[at] = chosen.ravel()
        channels = 1 if table.ndim == 1 else table.shape[1]
        depth = 16 if table.dtype == np.uint16 else 8
        # zlib's own stream around a raw deflate: the same bytes, without zlib's pass over
        # every byte for the checksum (the rows are nearly all zeros; see _adler32)
        checksum = self._adler32(types, plain, pixel_bytes, at, chosen.ravel())
        data = ZLIB_HEADER + _deflate(out) + struct.pack(">I", checksum)
        return assemble(width, height, depth, _COLOUR_TYPES[channels], data, IDAT_BYTES)

    def _adler32(self, types: NDArray[np.uint8], plain: NDArray[np.intp],
                 pixel_bytes: NDArray[np.uint8], at: NDArray[np.intp],
                 values: NDArray[np.int16]) -> int:
        """Adler-32 of the filtered rows from their non-zero bytes only: each row's filter
        type, the unfiltered rows (from their runs of one owner) and the filtered bytes at
        changed pixels (``values`` at flat positions ``at``). Of ``n`` bytes ``d_i``,
        ``A = 1 + sum(d_i)`` and ``B = n + sum((n - i) * d_i)``, both modulo 65521."""
        height, width = self.shape
        bpp = pixel_bytes.shape[1]
        stride = 1 + width * bpp
        n = height * stride
        row_at = np.arange(height, dtype=np.int64) * stride
        total = int(types.sum(dtype=np.int64)) + int(values.sum(dtype=np.int64))
        weighted = int(((n - row_at) * types).sum()) + int(((n - at) * values).sum())
        if plain.size:
            # a run of L pixels of one owner from column c0 in row r: L * S of bytes, at
            # positions r * stride + 1 + p * bpp + c (S: the owner's byte sum, C: the sum of
            # c times its byte c)
            runs = np.flatnonzero(np.isin(self.run_rows, plain))
            owner = self.run_owner[runs]
            length = self.run_lengths[runs]
            first = self.run_cols[runs].astype(np.int64)
            base = self.run_rows[runs].astype(np.int64) * stride + 1
            sample = pixel_bytes.astype(np.int64)
            byte_sum = sample.sum(axis=1)[owner]
            offset_sum = (sample * np.arange(bpp)).sum(axis=1)[owner]
            pixel_sum = length * first + length * (length - 1) // 2  # sum of p over the run
            run_total = length * byte_sum
            positions = (length * base * byte_sum) % MOD_ADLER + (
                bpp * byte_sum * pixel_sum) % MOD_ADLER + (length * offset_sum) % MOD_ADLER
            total += int(run_total.sum())
            weighted += int(((n % MOD_ADLER) * (run_total % MOD_ADLER)).sum()) - int(
                positions.sum())
        a = (1 + total) % MOD_ADLER
        b = (n + weighted) % MOD_ADLER
        return (b << 16) | a


def _deflate(rows: NDArray[np.uint8]) -> bytes:
    """The raw deflate of the filtered rows at libpng's level (its own function, so that
    a profile shows the compression apart from the filtering)."""
    return raw_deflate(rows.data, LEVEL)


def _kind(table: NDArray[np.integer]) -> tuple[str, int]:
    """What the comparison with OpenCV is kept for: sample type and channels."""
    return table.dtype.str, 1 if table.ndim == 1 else table.shape[1]


def _pixel_bytes(table: NDArray[np.integer], count: int) -> NDArray[np.uint8]:
    """Each owner's pixel as PNG bytes (big-endian samples, RGB order): ``count x bpp``."""
    channels = 1 if table.ndim == 1 else table.shape[1]
    samples = table.reshape(len(table), channels)[:count]
    if channels >= 3:
        samples = samples[:, [2, 1, 0, *range(3, channels)]]
    raw = np.ascontiguousarray(samples.astype(samples.dtype.newbyteorder(">")))
    return raw.view(np.uint8).reshape(count, -1)


def _opencv(array: NDArray[np.integer]) -> bytes:
    ok, encoded = cv2.imencode(".png", array, [cv2.IMWRITE_PNG_COMPRESSION, LEVEL])
    if not ok:
        raise ValueError("OpenCV could not encode the map as PNG")
    return bytes(encoded.tobytes())
