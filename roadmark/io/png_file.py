"""PNG files assembled from their parts (the signature and chunks, RFC 2083).

Roadmark writes some PNGs itself rather than through OpenCV: the Cityscapes label maps
(:mod:`roadmark.io.formats.owner_png`, the same bytes as OpenCV's, made faster) and the
stored prediction maps (:func:`gray_png`, compressed by ISA-L).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

SIGNATURE = b"\x89PNG\r\n\x1a\n"
FILTER_UP = 2  # a row filtered by the row above (the first row: by zeros)


def chunk(kind: bytes, data: bytes) -> bytes:
    """One chunk: length, type, data and the CRC of type and data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(data, zlib.crc32(kind)))


def assemble(width: int, height: int, depth: int, colour_type: int, stream: bytes,
             idat_bytes: int | None = None) -> bytes:
    """A PNG file of filtered rows already made a zlib ``stream``: signature, header, the
    stream in IDAT chunks of at most ``idat_bytes`` (one chunk: ``None``) and the end."""
    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)  # no interlace
    size = idat_bytes or max(len(stream), 1)
    idat = [chunk(b"IDAT", stream[i : i + size]) for i in range(0, len(stream), size)]
    return b"".join([SIGNATURE, chunk(b"IHDR", header), *idat, chunk(b"IEND", b"")])


def gray_png(array: NDArray[np.uint8] | NDArray[np.uint16],
             compress: Callable[[bytes], bytes]) -> bytes:
    """A greyscale PNG of a 2-D ``uint8`` or ``uint16`` array, every row filtered with
    "up" and the filtered rows made a zlib stream by ``compress``.

    Raises:
        ValueError: Not a non-empty 2-D ``uint8`` or ``uint16`` array.
    """
    if array.ndim != 2 or array.dtype not in (np.uint8, np.uint16) or 0 in array.shape:
        raise ValueError(f"cannot write a {array.dtype} array of shape {array.shape} as PNG")
    height, width = array.shape
    depth = 8 * array.dtype.itemsize
    samples = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder(">"))  # PNG order
    rows = samples.view(np.uint8).reshape(height, -1)
    filtered = np.empty((height, rows.shape[1] + 1), dtype=np.uint8)
    filtered[:, 0] = FILTER_UP
    filtered[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])  # byte by byte, modulo 256
    return assemble(width, height, depth, 0, compress(filtered.tobytes()))  # 0: grey
