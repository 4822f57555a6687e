"""PNG decoding through ISA-L's inflate (roadmark.io.png_file.imdecode): the same pixels
as OpenCV's own decoding for every kind of PNG, and OpenCV's answer for damaged files."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from roadmark.io.png_file import SIGNATURE, chunk, imdecode, stored_copy


def _opencv_png(array: np.ndarray, level: int = 3) -> bytes:
    ok, encoded = cv2.imencode(".png", array, [cv2.IMWRITE_PNG_COMPRESSION, level])
    assert ok
    return encoded.tobytes()


def _pil_png(image: Image.Image, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", **options)
    return out.getvalue()


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    out, at = [], len(SIGNATURE)
    while at < len(data):
        (length,) = struct.unpack_from(">I", data, at)
        out.append((data[at + 4 : at + 8], data[at + 8 : at + 8 + length]))
        at += 12 + length
    return out


def _rebuilt(parts: list[tuple[bytes, bytes]]) -> bytes:
    return SIGNATURE + b"".join(chunk(kind, body) for kind, body in parts)


def _same(data: bytes, flags: int) -> None:
    try:
        expected = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error:  # (OpenCV's reduced decoding of a one-pixel image): the same error
        with pytest.raises(cv2.error):
            imdecode(data, flags)
        return
    got = imdecode(data, flags)
    if expected is None:
        assert got is None
        return
    assert got is not None and got.dtype == expected.dtype and got.shape == expected.shape
    assert np.array_equal(got, expected)


RNG = np.random.default_rng(7)
SMOOTH = cv2.resize(RNG.integers(0, 256, (24, 40, 4), dtype=np.uint8), (301, 157))


@pytest.mark.parametrize(
    "data",
    [
        _opencv_png(SMOOTH[:, :, :3]),  # RGB, libpng's adaptive filters
        _opencv_png(SMOOTH[:, :, :3], level=9),
        _opencv_png(SMOOTH),  # RGBA
        _opencv_png(SMOOTH[:, :, 0]),  # grey
        _opencv_png(SMOOTH[:, :, 0].astype(np.uint16) * 257),  # 16-bit grey
        _opencv_png(SMOOTH.astype(np.uint16) * 255),  # 16-bit RGBA
        _opencv_png(RNG.integers(0, 256, (1, 1, 3), dtype=np.uint8)),  # one pixel
        _opencv_png(RNG.integers(0, 256, (700, 300, 3), dtype=np.uint8), level=0),  # stored
        _pil_png(Image.fromarray(SMOOTH[:, :, :3]).quantize(16)),  # palette
        _pil_png(Image.fromarray(SMOOTH[:, :, 0] > 128)),  # 1-bit
        _pil_png(Image.fromarray(SMOOTH[:, :, :2].copy(), "LA")),  # grey and alpha
        _pil_png(Image.fromarray(SMOOTH[:, :, :3]), optimize=True),
    ],
    ids=["rgb", "rgb-9", "rgba", "grey", "grey16", "rgba16", "one-pixel", "level0", "palette",
         "1-bit", "grey-alpha", "pil-optimized"],
)
@pytest.mark.parametrize(
    "flags", [cv2.IMREAD_COLOR, cv2.IMREAD_UNCHANGED, cv2.IMREAD_GRAYSCALE,
              cv2.IMREAD_REDUCED_COLOR_2],
)
def test_decodes_every_kind_of_png_as_opencv_does(data: bytes, flags: int) -> None:
    assert stored_copy(data) is not None  # the faster path is the one taken
    _same(data, flags)
    _same(np.frombuffer(data, np.uint8), flags)  # the callers that hand an array


def test_the_copy_holds_the_same_rows_uncompressed_and_every_other_chunk() -> None:
    data = _opencv_png(RNG.integers(0, 256, (400, 300, 3), dtype=np.uint8))  # > 64 KB rows
    parts = _chunks(data)
    parts.insert(1, (b"tEXt", b"Comment\x00made by a test"))
    parts.insert(-1, (b"tEXt", b"After\x00the image data"))
    data = _rebuilt(parts)
    copy = stored_copy(data)
    assert copy is not None
    copied = _chunks(copy.tobytes())
    assert [kind for kind, _ in copied] == [b"IHDR", b"tEXt", b"IDAT", b"tEXt", b"IEND"]
    rows = zlib.decompress(b"".join(body for kind, body in parts if kind == b"IDAT"))
    stored = next(body for kind, body in copied if kind == b"IDAT")
    assert zlib.decompress(stored) == rows  # checksums right, blocks well formed
    assert len(stored) == len(rows) + 2 + 5 * -(-len(rows) // 65_535) + 4
    _same(data, cv2.IMREAD_COLOR)


def _with_idat(data: bytes, stream: bytes) -> bytes:
    parts = [(k, b) for k, b in _chunks(data) if k != b"IDAT"]
    parts.insert(1, (b"IDAT", stream))
    return _rebuilt(parts)


def _rows(data: bytes) -> bytes:
    return zlib.decompress(b"".join(b for k, b in _chunks(data) if k == b"IDAT"))


GOOD = _opencv_png(SMOOTH[:, :, :3])


@pytest.mark.parametrize(
    "data",
    [
        _with_idat(GOOD, zlib.compress(_rows(GOOD)[:-10])),  # rows short
        _with_idat(GOOD, zlib.compress(_rows(GOOD) + b"\x00" * 500)),  # more than declared
        _with_idat(GOOD, zlib.compress(_rows(GOOD)) + b"trailing"),  # data after the stream
        _with_idat(GOOD, zlib.compress(_rows(GOOD))[:-30]),  # stream cut short
        _with_idat(GOOD, zlib.compress(_rows(GOOD))[:-4] + b"\x00\x00\x00\x00"),  # Adler-32
        GOOD[: len(GOOD) // 2],  # file cut short
        GOOD[:60] + bytes([GOOD[60] ^ 0xFF]) + GOOD[61:],  # in the first IDAT: its CRC
        SIGNATURE + b"not chunks at all",
        b"not a png",
    ],
    ids=["short", "long", "trailing", "cut-stream", "adler", "cut-file", "idat-crc",
         "no-chunks", "not-png"],
)
def test_damaged_files_get_opencvs_answer(data: bytes) -> None:
    _same(data, cv2.IMREAD_COLOR)
    _same(data, cv2.IMREAD_UNCHANGED)


def test_damaged_image_data_is_left_to_libpng() -> None:
    rows = _rows(GOOD)
    assert stored_copy(_with_idat(GOOD, zlib.compress(rows))) is not None
    for stream in (zlib.compress(rows[:-10]), zlib.compress(rows + b"\x00"),
                   zlib.compress(rows) + b"x", zlib.compress(rows)[:-30], b"\x78\x01garbage"):
        assert stored_copy(_with_idat(GOOD, stream)) is None


def test_a_stream_that_inflates_past_the_declared_rows_stops_early() -> None:
    """A small file whose data inflates to far more than its header declares (a
    decompression bomb) is given up after one block past the rows."""
    header = struct.pack(">IIBBBBB", 4, 4, 8, 0, 0, 0, 0)
    bomb = zlib.compress(b"\x00" * 200_000_000, 9)  # 200 MB of rows for a 4x4 image
    data = _rebuilt([(b"IHDR", header), (b"IDAT", bomb), (b"IEND", b"")])
    assert len(data) < 400_000
    assert stored_copy(data) is None


def _interlaced_grey(image: np.ndarray) -> bytes:
    """An Adam7-interlaced 8-bit grey PNG (no filters) of ``image``."""
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4),
              (1, 0, 2, 2), (0, 1, 1, 2)]  # x0, y0, x step, y step
    rows = b""
    for x0, y0, dx, dy in passes:
        sub = image[y0::dy, x0::dx]
        if sub.size:
            rows += b"".join(b"\x00" + row.tobytes() for row in sub)
    height, width = image.shape
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 1)
    return _rebuilt([(b"IHDR", header), (b"IDAT", zlib.compress(rows)), (b"IEND", b"")])


def test_interlaced_pngs_are_decoded_by_opencv_alone() -> None:
    image = SMOOTH[:45, :37, 0]
    interlaced = _interlaced_grey(image)
    assert np.array_equal(cv2.imdecode(np.frombuffer(interlaced, np.uint8),
                                       cv2.IMREAD_UNCHANGED), image)
    assert stored_copy(interlaced) is None
    _same(interlaced, cv2.IMREAD_COLOR)
