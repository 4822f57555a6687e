"""Raw deflate (RFC 1951) with exactly zlib's bytes, about three times as fast on label maps.

A Cityscapes export compresses megabytes of filtered label-map rows a frame, nearly all
zeros, and its files must stay byte-identical to OpenCV's (zlib's) encoding. On such rows
zlib spends most of its time in two loops that do not depend on the data's structure:
shifting its hash tables every 32 KB of input, and comparing candidate matches a byte at
a time. ``roadmark.io.fast_deflate`` is zlib 1.3.1 compiled with the project (``csrc/``, see
its ``README.roadmark``) with those loops rewritten to compute the same values with
vector and word operations: the same compressed bytes, a frame's four maps in 8 instead
of 22 ms.

The module is built by ``pip install`` where a C compiler is found; without it (or at
level 0, whose stored blocks follow the output buffers, or for data beyond its counters)
Python's zlib compresses: the same bytes where Python links stock zlib, slower. (A Python
built on zlib-ng writes other bytes; the export checks its first map of each kind against
OpenCV's own encoding and lets OpenCV write them if they differ.) :data:`COMPILED` says
which one runs.
"""

from __future__ import annotations

import zlib

try:
    from roadmark.io import fast_deflate
except ImportError:  # built without a C compiler: Python's zlib (see above)
    fast_deflate = None  # type: ignore[assignment]

COMPILED = fast_deflate is not None


def raw_deflate(data: bytes | bytearray | memoryview, level: int) -> bytes:
    """``zlib.compress(data, level, wbits=-15)``: a raw deflate stream (no header or
    checksum) with a 32 KB window at zlib's default memory level."""
    if fast_deflate is not None and level != 0:
        try:
            return fast_deflate.compress(data, level)
        except OverflowError:  # more than the module's zlib counts (32-bit counters)
            pass
    return zlib.compress(data, level, wbits=-15)
