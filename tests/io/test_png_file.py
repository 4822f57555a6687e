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

from roadmark.io import png_file
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
        _opencv_png(RNG.integers(0, 256, (200, 300, 3), dtype=np.uint8)),  # noise
        _pil_png(Image.fromarray(SMOOTH[:, :, :3]).quantize(16)),  # palette
        _pil_png(Image.fromarray(SMOOTH[:, :, 0] > 128)),  # 1-bit
        _pil_png(Image.fromarray(SMOOTH[:, :, :2].copy(), "LA")),  # grey and alpha
        _pil_png(Image.fromarray(SMOOTH[:, :, :3]), optimize=True),
    ],
    ids=["rgb", "rgb-9", "rgba", "grey", "grey16", "rgba16", "one-pixel", "level0", "noise",
         "palette",
         "1-bit", "grey-alpha", "pil-optimized"],
)
@pytest.mark.parametrize(
    "flags", [cv2.IMREAD_COLOR, cv2.IMREAD_UNCHANGED, cv2.IMREAD_GRAYSCALE,
              cv2.IMREAD_REDUCED_COLOR_2],
)
def test_decodes_every_kind_of_png_as_opencv_does(data: bytes, flags: int) -> None:
    stream = b"".join(body for kind, body in _chunks(data) if kind == b"IDAT")
    # the faster path is the one taken, except where libpng wrote a narrower window than
    # 32 KB (small images), whose distances zlib holds the stream to and ISA-L does not,
    # and where the data is hardly compressed (nothing to gain)
    taken = stream[0] == 0x78 and len(stream) < 0.9 * len(zlib.decompress(stream))
    assert (stored_copy(data) is not None) == taken
    _same(data, flags)
    _same(np.frombuffer(data, np.uint8), flags)  # the callers that hand an array


def test_the_copy_holds_the_same_rows_uncompressed_and_every_other_chunk() -> None:
    data = _opencv_png(cv2.resize(SMOOTH[:, :, :3], (300, 400)))  # > 64 KB of rows
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
                   zlib.compress(rows) + b"x", zlib.compress(rows)[:-30], b"\x78\x01garbage",
                   zlib.compress(rows)[:-4] + b"\x00\x00\x00\x00"):  # (Adler-32)
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


def test_image_data_split_by_another_chunk_gets_opencvs_answer() -> None:
    """libpng stops at a chunk between IDAT chunks (not enough image data): so does this."""
    stream = zlib.compress(_rows(GOOD))
    parts = [(k, b) for k, b in _chunks(GOOD) if k != b"IDAT"]
    for cut in (len(stream) // 2, len(stream) - 4):  # (the second: only the checksum after)
        split = [parts[0], (b"IDAT", stream[:cut]), (b"tEXt", b"Note\x00between"),
                 (b"IDAT", stream[cut:]), *parts[1:]]
        data = _rebuilt(split)
        assert stored_copy(data) is None
        _same(data, cv2.IMREAD_UNCHANGED)


@pytest.mark.parametrize("cmf", [0x08, 0x48, 0x88, 0x79])
def test_a_zlib_header_other_than_a_32k_windows_is_left_to_libpng(cmf: int) -> None:
    """ISA-L ignores the window size; zlib refuses distances past it (and windows over
    32 KB, and methods other than deflate): such streams go to libpng as they are."""
    stream = bytearray(zlib.compress(_rows(GOOD)))
    stream[0] = cmf
    stream[1] = (stream[1] & 0xE0) + 31 - ((cmf * 256 + (stream[1] & 0xE0)) % 31)  # FCHECK
    assert (stream[0] * 256 + stream[1]) % 31 == 0
    data = _with_idat(GOOD, bytes(stream))
    assert stored_copy(data) is None
    _same(data, cv2.IMREAD_UNCHANGED)


@pytest.mark.parametrize(
    ("width", "height", "depth", "colour"),
    [(2**31 - 1, 2**31 - 1, 16, 6), (1, 2**31 - 1, 8, 0), (2_000_000_000, 1, 16, 6),
     (20_000, 10_000, 8, 0)],
)
def test_a_small_file_declaring_a_huge_image_is_not_allocated(
    width: int, height: int, depth: int, colour: int
) -> None:
    """A few bytes cannot inflate to more than deflate's ratio allows: nothing is made
    for the rows the header claims, and OpenCV gives its own answer."""
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    data = _rebuilt([(b"IHDR", header), (b"IDAT", zlib.compress(b"\x00" * 4096)),
                     (b"IEND", b"")])
    assert stored_copy(data) is None
    assert imdecode(data, cv2.IMREAD_UNCHANGED) is None


def test_an_array_that_is_not_contiguous_is_decoded_as_opencv_does() -> None:
    doubled = np.repeat(np.frombuffer(GOOD, np.uint8), 2)[::2]  # every other byte: the file
    assert not doubled.flags.c_contiguous
    expected = cv2.imdecode(doubled, cv2.IMREAD_UNCHANGED)
    assert np.array_equal(imdecode(doubled, cv2.IMREAD_UNCHANGED), expected)


@pytest.mark.parametrize("feed", [1, 7, 4096])
def test_fed_and_inflated_in_small_pieces_the_answers_are_the_same(
    monkeypatch: pytest.MonkeyPatch, feed: int
) -> None:
    """The data handed to ISA-L a few bytes at a time and inflated in small pieces (what a
    large image does in slices and megabytes): the same pixels and the same refusals."""
    monkeypatch.setattr(png_file, "FEED_BYTES", feed)
    monkeypatch.setattr(png_file, "INFLATE_PIECE", 1000)
    rows = _rows(GOOD)
    for data in (GOOD, _opencv_png(SMOOTH), _with_idat(GOOD, zlib.compress(rows) + b"after"),
                 _with_idat(GOOD, zlib.compress(rows + b"\x00")),
                 _with_idat(GOOD, zlib.compress(rows[:-1]))):
        _same(data, cv2.IMREAD_UNCHANGED)
    assert stored_copy(GOOD) is not None
