"""PNG files assembled from their parts (the signature and chunks, RFC 2083), and PNGs
decoded faster.

Roadmark writes some PNGs itself rather than through OpenCV: the Cityscapes label maps
(:mod:`roadmark.io.formats.owner_png`, the same bytes as OpenCV's, made faster) and the
stored prediction maps (:func:`gray_png`, compressed by ISA-L).

Decoding a PNG is mostly inflating its image data: libpng's zlib takes about 28 of the
36 ms of a 2048x1024 RGB frame, ISA-L about 9. :func:`imdecode` inflates the data with
ISA-L, stores the rows uncompressed in a copy of the file (the same chunks otherwise) and
lets OpenCV's libpng decode that copy (unfiltering, conversions and all checks as before):
the same pixels in about 60 % of the time.

Where the compiled ``roadmark.io.fast_png`` is built, the common PNGs (8-bit grey, RGB
and RGBA, 16-bit grey and RGB read unchanged; no chunk that could change the pixels, such
as a palette, transparency or EXIF orientation) skip libpng altogether: ISA-L inflates
the rows into one buffer and ``fast_png.unfilter`` undoes the row filters straight into
the image (libpng's build in OpenCV's wheel unfilters a byte at a time, after a second
pass for the checksums of the copy): a 2048x1024 frame of the synthetic drive in about
15 instead of 24 ms.
Every other PNG, and any file this path finds damaged, goes the way above.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable
from typing import Any, NamedTuple, cast

import cv2
import numpy as np
from isal import isal_zlib
from numpy.typing import NDArray

SIGNATURE = b"\x89PNG\r\n\x1a\n"
FILTER_UP = 2  # a row filtered by the row above (the first row: by zeros)
STORED_BLOCK = 65_535  # the most bytes a stored deflate block holds (RFC 1951)
INFLATE_PIECE = 16 * STORED_BLOCK  # bytes inflated at a time (never far past the rows)
FEED_BYTES = 1 << 18  # compressed bytes handed to the inflater at a time
DEFLATE_MAX_RATIO = 1032  # deflate makes at most about 1032 bytes of one (258 per 2 bits)
MAX_CHUNK = 0x7FFF_FFFF  # PNG's longest chunk
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples a pixel
# ISA-L's error class (its stubs declare it as an instance)
_INFLATE_ERROR = cast(type[Exception], isal_zlib.error)

try:
    from roadmark.io import fast_png
except ImportError:  # built without a C compiler: libpng decodes (see the module doc)
    fast_png = None  # type: ignore[assignment]

LIBPNG_MAX_SIDE = 1_000_000  # libpng refuses a wider or taller image (its user limits)
OPENCV_MAX_PIXELS = 1 << 30  # OpenCV refuses larger images (OPENCV_IO_MAX_IMAGE_PIXELS)
# OpenCV reads the chunks before the image data itself and refuses one longer than this,
# whatever its type, except these
OPENCV_MAX_CHUNK = 8_000_000
OPENCV_LONG_CHUNKS = frozenset({b"IDAT", b"IEND", b"PLTE", b"tEXt", b"tRNS", b"fdAT"})

# chunks that do not change the pixels OpenCV makes of an image: text, time, resolution
PLAIN_CHUNKS = frozenset({b"IHDR", b"IDAT", b"IEND", b"tEXt", b"zTXt", b"iTXt", b"tIME",
                          b"pHYs"})
_COLOR_RGB: int | None = getattr(cv2, "IMREAD_COLOR_RGB", None)


def chunk(kind: bytes, data: bytes) -> bytes:
    """One chunk: length, type, data and the CRC of type and data."""
    crc = isal_zlib.crc32(data, zlib.crc32(kind))
    return b"".join([struct.pack(">I", len(data)), kind, data, struct.pack(">I", crc)])


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


def imdecode(data: bytes | NDArray[np.uint8], flags: int) -> NDArray[Any] | None:
    """``cv2.imdecode(data, flags)``, a PNG's image data inflated by ISA-L first (see
    :func:`stored_copy`): the same array, or ``None`` where OpenCV gives ``None``."""
    buffer = np.ascontiguousarray(
        data if isinstance(data, np.ndarray) else np.frombuffer(data, dtype=np.uint8))
    if not buffer.size:
        return None
    copy = None
    flat = buffer.reshape(-1)  # (a (1, N) array is a file too)
    if flat[: len(SIGNATURE)].tobytes() == SIGNATURE:
        view = memoryview(flat.data).cast("B")
        layout = _layout(view)  # the chunks read once for both ways below
        if layout is not None:
            image = _decoded_here(view, layout, flags)
            if image is not None:
                return image
            copy = _stored_copy(view, layout)
    if copy is not None:
        image = cv2.imdecode(copy, flags)
        if image is not None:
            return cast(NDArray[Any], image)
    return cast("NDArray[Any] | None", cv2.imdecode(buffer, flags))


def stored_copy(data: bytes | memoryview) -> NDArray[np.uint8] | None:
    """The PNG ``data`` with its image data inflated and stored uncompressed (one IDAT
    chunk of stored deflate blocks; every other chunk as it was), or ``None`` where this
    is left to libpng as it is: not a PNG, interlaced, a chunk that runs past the end, IDAT
    chunks apart or one whose CRC is wrong, a zlib header other than a 32 KB window's
    (ISA-L ignores the window size that zlib holds a stream to), rows more than deflate
    can make of the data, data that does not inflate to exactly the rows the header
    declares (damaged, short, long or followed by more: libpng reports it as it did), or
    data hardly compressed at all (nothing to gain).
    One leniency is ISA-L's own: a block whose Huffman code is incomplete, which zlib
    refuses, is read (the checksum still has to hold).

    The rows are inflated a megabyte at a time and copied into the stored blocks: one
    buffer the size of the rows is made (fresh memory is dear), and no more than a piece
    past what the header declares is ever inflated (a decompression bomb stops there)."""
    view = memoryview(data).cast("B")
    layout = _layout(view)
    return None if layout is None else _stored_copy(view, layout)


def _stored_copy(view: memoryview, layout: _Layout) -> NDArray[np.uint8] | None:
    """:func:`stored_copy` of a PNG whose chunks :func:`_layout` has read."""
    rows, idat = layout.rows, layout.idat
    if sum(length for _, length in idat) * 10 >= rows * 9:
        return None  # hardly compressed (noise): little to inflate, the copy would cost more
    compressed = _zlib_stream(view, layout)
    if compressed is None:
        return None
    blocks = -(-rows // STORED_BLOCK)
    stream = 2 + 5 * blocks + rows + 4  # zlib header, blocks, Adler-32
    if stream > MAX_CHUNK:
        return None
    first, end = idat[0][0], idat[-1][0] + 12 + idat[-1][1]
    out = np.empty(first + 12 + stream + len(view) - end, np.uint8)  # (no zeroing pass)
    target = out.data
    target[:first] = view[:first]
    body = first + 8
    struct.pack_into(">I4s2s", target, first, stream, b"IDAT", b"\x78\x01")  # 32 KB window
    for block in range(blocks):
        size = min(STORED_BLOCK, rows - block * STORED_BLOCK)
        struct.pack_into("<BHH", target, body + 2 + block * (STORED_BLOCK + 5),
                         block == blocks - 1, size, size ^ 0xFFFF)
    if not _inflate(compressed, rows, lambda at, piece: _place(target, body + 2, at, piece)):
        return None
    target[body + stream - 4 : body + stream] = compressed[-4:]  # the rows' Adler-32, checked
    crc = isal_zlib.crc32(target[first + 4 : body + stream])  # type and data
    struct.pack_into(">I", target, body + stream, crc)
    target[body + stream + 4 :] = view[end:]
    return out


class _Layout(NamedTuple):
    """A PNG's header fields and chunks, as :func:`_layout` found them."""

    width: int
    height: int
    depth: int
    colour: int
    chunks: list[tuple[bytes, int, int]]  # type, start of the chunk, data length
    idat: list[tuple[int, int]]  # the image data's chunks: start, data length

    @property
    def row_bytes(self) -> int:
        """Bytes of one row of samples (no filter byte)."""
        return (self.width * _CHANNELS[self.colour] * self.depth + 7) // 8

    @property
    def rows(self) -> int:
        """The rows' size, filter bytes included."""
        return self.height * (1 + self.row_bytes)


def _layout(view: memoryview) -> _Layout | None:
    """The layout of a PNG whose image data this module can inflate (see
    :func:`stored_copy`), or ``None``."""
    chunks: list[tuple[bytes, int, int]] = []
    at = len(SIGNATURE)
    while at + 12 <= len(view):
        length, kind = struct.unpack_from(">I4s", view, at)
        if at + 12 + length > len(view):
            return None
        chunks.append((kind, at, length))
        at += 12 + length
        if kind == b"IEND":
            break
    if not chunks or chunks[0][0] != b"IHDR" or chunks[0][2] != 13:
        return None
    width, height, depth, colour, _, _, interlace = struct.unpack_from(
        ">IIBBBBB", view, chunks[0][1] + 8)
    at_idat = [i for i, (kind, _, _) in enumerate(chunks) if kind == b"IDAT"]
    if interlace or colour not in _CHANNELS or not at_idat or not width or not height:
        return None
    if max(width, height) > LIBPNG_MAX_SIDE or width * height > _opencv_max_pixels():
        return None  # refused by libpng or OpenCV before decoding: their answer, not ours
    if at_idat != list(range(at_idat[0], at_idat[-1] + 1)):
        return None  # other chunks between the image data: libpng stops at them
    idat = [(chunks[i][1], chunks[i][2]) for i in at_idat]
    return _Layout(width, height, depth, colour, chunks, idat)


def _opencv_max_pixels() -> int:
    """OpenCV's limit on an image's pixels (its environment variable, or its default)."""
    try:
        return int(os.environ.get("OPENCV_IO_MAX_IMAGE_PIXELS", OPENCV_MAX_PIXELS))
    except ValueError:
        return OPENCV_MAX_PIXELS


def _zlib_stream(view: memoryview, layout: _Layout) -> bytes | None:
    """The image data of all IDAT chunks, or ``None`` where libpng is to judge it: a
    chunk's CRC wrong, more rows than deflate can make of the data, a zlib header other
    than deflate's with a 32 KB window and no preset dictionary."""
    if layout.rows > DEFLATE_MAX_RATIO * sum(length for _, length in layout.idat) + 64:
        return None  # more rows than the data can hold: libpng says what is wrong
    for start, length in layout.idat:  # libpng refuses a damaged IDAT: leave those to it
        if not _crc_holds(view, start, length):
            return None
    compressed = b"".join(view[start + 8 : start + 8 + length] for start, length in layout.idat)
    if len(compressed) < 2 or compressed[0] != 0x78 or compressed[1] & 0x20 or (
            compressed[0] * 256 + compressed[1]) % 31:
        return None
    return compressed


def _crc_holds(view: memoryview, start: int, length: int) -> bool:
    expected = struct.unpack_from(">I", view, start + 8 + length)[0]
    return bool(isal_zlib.crc32(view[start + 4 : start + 8 + length]) == expected)


def _decoded_here(view: memoryview, layout: _Layout, flags: int) -> NDArray[Any] | None:
    """A common PNG decoded without libpng (see the module doc): what ``cv2.imdecode``
    makes of it with ``flags``, or ``None`` where this leaves it to libpng (another kind
    of PNG, other flags, a chunk that is not plain or that OpenCV finds too long, an image
    over libpng's or OpenCV's size limits, a CRC or the data damaged). One leniency is
    ISA-L's, as for :func:`stored_copy`: a block whose Huffman code is incomplete, which
    zlib refuses, is read (the checksum still has to hold)."""
    if fast_png is None or flags not in (cv2.IMREAD_COLOR, cv2.IMREAD_UNCHANGED, _COLOR_RGB):
        return None
    if layout.colour not in (0, 2, 6) or layout.depth not in (8, 16):
        return None
    if layout.depth == 16 and flags != cv2.IMREAD_UNCHANGED:
        return None  # libpng's reduction to 8 bits is its own
    kinds = [kind for kind, _, _ in layout.chunks]
    if not PLAIN_CHUNKS.issuperset(kinds) or kinds.count(b"IHDR") != 1 or kinds[-1] != b"IEND":
        return None
    first_idat = layout.idat[0][0]
    if any(start < first_idat and kind not in OPENCV_LONG_CHUNKS
           and length + 12 > OPENCV_MAX_CHUNK for kind, start, length in layout.chunks):
        return None  # OpenCV refuses it
    if view[layout.chunks[0][1] + 18] or view[layout.chunks[0][1] + 19]:
        return None  # a compression or filter method other than PNG's one
    if not all(_crc_holds(view, start, length) for kind, start, length in layout.chunks
               if kind != b"IDAT"):
        return None
    compressed = _zlib_stream(view, layout)
    if compressed is None:
        return None
    rows = np.empty(layout.rows, np.uint8)
    target = rows.data

    def place(at: int, piece: bytes) -> None:
        target[at : at + len(piece)] = piece

    if not _inflate(compressed, layout.rows, place):
        return None
    channels = _CHANNELS[layout.colour]
    shape = (layout.height, layout.width) + ((channels,) if channels > 1 else ())
    samples = np.empty(shape, np.uint8 if layout.depth == 8 else ">u2")
    try:
        fast_png.unfilter(rows, samples.view(np.uint8), layout.height, layout.row_bytes,
                          channels * layout.depth // 8)
    except ValueError:  # a filter type PNG does not have: libpng reports it
        return None
    image = samples if layout.depth == 8 else samples.astype(np.uint16)
    return _converted(image, layout.colour, flags)


# (colour type, flags) -> OpenCV's conversion of the PNG's samples to what imdecode gives
_CONVERSIONS = {
    (0, cv2.IMREAD_COLOR): cv2.COLOR_GRAY2BGR,
    (0, _COLOR_RGB): cv2.COLOR_GRAY2RGB,
    (2, cv2.IMREAD_COLOR): cv2.COLOR_RGB2BGR,
    (2, cv2.IMREAD_UNCHANGED): cv2.COLOR_RGB2BGR,
    (6, cv2.IMREAD_COLOR): cv2.COLOR_RGBA2BGR,
    (6, _COLOR_RGB): cv2.COLOR_RGBA2RGB,
    (6, cv2.IMREAD_UNCHANGED): cv2.COLOR_RGBA2BGRA,
}


def _converted(image: NDArray[Any], colour: int, flags: int) -> NDArray[Any]:
    """The PNG's samples (grey, RGB or RGBA) in the channels ``cv2.imdecode`` gives."""
    code = _CONVERSIONS.get((colour, flags))
    if code is None:  # grey unchanged, RGB as RGB
        return image
    if code in (cv2.COLOR_RGB2BGR, cv2.COLOR_RGBA2BGRA):  # the same size: in place
        return cast(NDArray[Any], cv2.cvtColor(image, code, dst=image))
    return cast(NDArray[Any], cv2.cvtColor(image, code))


def _inflate(compressed: bytes, rows: int, place: Callable[[int, bytes], None]) -> bool:
    """Inflate ``compressed`` (a zlib stream), handing each piece to ``place`` with its
    offset in the rows; whether it made exactly ``rows`` bytes and ended, its Adler-32
    trailer checked (by ISA-L, as zlib checks it: the stream's last four bytes are then
    the rows' checksum)."""
    inflater = isal_zlib.decompressobj()
    data = memoryview(compressed)
    written = 0
    try:
        # fed a slice at a time (what is left of a slice is copied each round); the data
        # of all chunks as one stream, not a round per chunk (a few hundred small chunks,
        # each holding the GIL that pre-labeling's model threads want)
        for offset in range(0, len(data), FEED_BYTES):
            pending: bytes | memoryview = data[offset : offset + FEED_BYTES]
            while True:  # ISA-L may keep input it took when the output is full: drain it
                piece = inflater.decompress(pending, INFLATE_PIECE)
                pending = inflater.unconsumed_tail
                if written + len(piece) > rows:
                    return False
                place(written, piece)
                written += len(piece)
                if not pending and len(piece) < INFLATE_PIECE:
                    break
    except _INFLATE_ERROR:  # damaged data, a wrong checksum among them
        return False
    return written == rows and inflater.eof and not inflater.unused_data


def _place(target: memoryview, base: int, offset: int, piece: bytes) -> None:
    """Copy inflated bytes ``offset ..`` of the rows into their stored blocks (each
    :data:`STORED_BLOCK` bytes after a 5-byte header, from ``base``)."""
    source = memoryview(piece)
    done = 0
    while done < len(piece):
        block, inside = divmod(offset + done, STORED_BLOCK)
        take = min(len(piece) - done, STORED_BLOCK - inside)
        at = base + block * (STORED_BLOCK + 5) + 5 + inside
        target[at : at + take] = source[done : done + take]
        done += take
