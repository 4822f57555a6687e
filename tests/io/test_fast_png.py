"""PNG's row filters undone by the compiled ``roadmark.io.fast_png`` and the common PNGs
decoded without libpng (roadmark.io.png_file): the same pixels as OpenCV's decoding for
every filter and pixel size, and OpenCV's own answer wherever the file is unusual."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest

from roadmark.io import png_file
from roadmark.io.png_file import SIGNATURE, assemble, chunk, imdecode
from tests.compiled import compiled_module, skip_without

fast_png = compiled_module("roadmark.io.fast_png")
pytestmark = skip_without(fast_png)

RNG = np.random.default_rng(11)


def _paeth(left: np.ndarray, above: np.ndarray, corner: np.ndarray) -> np.ndarray:
    left, above, corner = (x.astype(np.int16) for x in (left, above, corner))
    pa, pb = np.abs(above - corner), np.abs(left - corner)
    pc = np.abs(left + above - 2 * corner)
    return np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, above, corner))


def _filtered(rows: np.ndarray, kinds: list[int], bpp: int) -> bytes:
    """PNG's filters applied as RFC 2083 writes them: ``rows`` (height, row bytes) with the
    filter ``kinds[y]`` on row ``y``, each row after its filter type byte."""
    out = []
    previous = np.zeros(rows.shape[1], np.uint8)
    for row, kind in zip(rows, kinds, strict=True):
        left = np.concatenate([np.zeros(bpp, np.uint8), row[:-bpp]])
        corner = np.concatenate([np.zeros(bpp, np.uint8), previous[:-bpp]])
        wide = row.astype(np.int16)
        predicted = [
            np.zeros_like(wide),
            left.astype(np.int16),
            previous.astype(np.int16),
            (left.astype(np.int16) + previous) // 2,
            _paeth(left, previous, corner),
        ][kind]
        out.append(bytes([kind]) + ((wide - predicted) % 256).astype(np.uint8).tobytes())
        previous = row
    return b"".join(out)


def _png(image: np.ndarray, colour: int, kinds: list[int] | None = None,
         extra: list[tuple[bytes, bytes]] = ()) -> bytes:
    """A PNG of ``image`` (8- or 16-bit; grey, RGB or RGBA as ``colour`` says), its rows
    filtered by ``kinds`` (random types by default), with ``extra`` chunks after IHDR."""
    height, width = image.shape[:2]
    depth = 8 * image.dtype.itemsize
    rows = np.ascontiguousarray(image, image.dtype.newbyteorder(">")).view(np.uint8)
    rows = rows.reshape(height, -1)
    bpp = rows.shape[1] // width
    kinds = kinds if kinds is not None else RNG.integers(0, 5, height).tolist()
    data = assemble(width, height, depth, colour, zlib.compress(_filtered(rows, kinds, bpp)))
    if not extra:
        return data
    ihdr_end = len(SIGNATURE) + 25
    return data[:ihdr_end] + b"".join(chunk(k, body) for k, body in extra) + data[ihdr_end:]


def _image(shape: tuple[int, ...], depth: int = 8) -> np.ndarray:
    """Smooth random content (the filters predict something) with some noise."""
    top = 255 if depth == 8 else 65535
    base = cv2.resize(RNG.integers(0, top, (5, 7, *shape[2:]), dtype=np.int64).astype(np.float32),
                      shape[1::-1]).reshape(shape)
    noisy = base + RNG.normal(0, top / 200, shape)
    return np.clip(noisy, 0, top).astype(np.uint8 if depth == 8 else np.uint16)


@pytest.mark.parametrize("bpp", [1, 2, 3, 4, 6, 8])
def test_every_filter_is_undone_at_every_pixel_size(bpp: int) -> None:
    rows = RNG.integers(0, 256, (40, bpp * 13), dtype=np.uint8)
    rows[::3] = rows[::3] // 7  # smoother rows too (small differences)
    kinds = [0, 1, 2, 3, 4] * 8
    out = np.empty_like(rows)
    fast_png.unfilter(_filtered(rows, kinds, bpp), out, 40, bpp * 13, bpp)
    assert np.array_equal(out, rows)


def test_a_bad_filter_type_or_sizes_that_do_not_match_are_refused() -> None:
    rows = RNG.integers(0, 256, (3, 12), dtype=np.uint8)
    filtered = bytearray(_filtered(rows, [1, 4, 2], 3))
    out = np.empty_like(rows)
    filtered[13] = 5  # the second row's filter type
    with pytest.raises(ValueError, match="row 1"):
        fast_png.unfilter(bytes(filtered), out, 3, 12, 3)
    good = _filtered(rows, [1, 4, 2], 3)
    for args in ((good, out, 4, 12, 3), (good, out, 3, 11, 3), (good[:-1], out, 3, 12, 3),
                 (good, out[:2], 3, 12, 3), (good, out, 3, 12, 5), (good, out, 3, 12, 0),
                 (good, out, -1, 12, 3), (good, out, 3, 12, 9)):
        with pytest.raises(ValueError):
            fast_png.unfilter(*args)
    with pytest.raises(TypeError):  # the output must be writable
        fast_png.unfilter(good, bytes(36), 3, 12, 3)


KINDS = [
    ("grey", 0, (31, 45), 8),
    ("rgb", 2, (31, 45, 3), 8),
    ("rgba", 6, (31, 45, 4), 8),
    ("grey16", 0, (31, 45), 16),
    ("rgb16", 2, (31, 45, 3), 16),
    ("rgba16", 6, (31, 45, 4), 16),
]
FLAGS = [cv2.IMREAD_COLOR, cv2.IMREAD_COLOR_RGB, cv2.IMREAD_UNCHANGED]


@pytest.mark.parametrize(("colour", "shape", "depth"), [k[1:] for k in KINDS],
                         ids=[k[0] for k in KINDS])
@pytest.mark.parametrize("flags", FLAGS, ids=["color", "color-rgb", "unchanged"])
def test_common_pngs_decode_as_opencv_does_and_without_libpng(
    monkeypatch: pytest.MonkeyPatch, colour: int, shape: tuple[int, ...], depth: int,
    flags: int
) -> None:
    data = _png(_image(shape, depth), colour)
    expected = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    got = imdecode(data, flags)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert np.array_equal(got, expected)
    if depth == 16 and flags != cv2.IMREAD_UNCHANGED:
        return  # libpng's reduction to 8 bits: decoded by libpng
    # the path without libpng is the one taken: OpenCV's decoding is not called
    monkeypatch.setattr(png_file.cv2, "imdecode", lambda *_: pytest.fail("libpng called"))
    assert np.array_equal(imdecode(data, flags), expected)


@pytest.mark.parametrize(
    "extra",
    [[(b"tRNS", b"\x00\x01\x00\x02\x00\x03")], [(b"gAMA", struct.pack(">I", 100000))],
     [(b"PLTE", bytes(range(48)))], [(b"eXIf", b"MM\x00*\x00\x00\x00\x08\x00\x00")],
     [(b"tEXt", b"Comment\x00plain"), (b"pHYs", bytes(9))]],
    ids=["transparency", "gamma", "suggested-palette", "exif", "plain"],
)
@pytest.mark.parametrize("flags", FLAGS, ids=["color", "color-rgb", "unchanged"])
def test_pngs_with_other_chunks_get_opencvs_pixels(extra: list, flags: int) -> None:
    data = _png(_image((20, 30, 3)), 2, extra=extra)
    expected = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    got = imdecode(data, flags)
    assert expected is not None and got is not None and np.array_equal(got, expected)


def _opencvs_answer(data: bytes) -> None:
    """``imdecode`` gives what OpenCV gives for ``data`` under each flag (None or pixels)."""
    for flags in FLAGS:
        expected = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
        got = imdecode(data, flags)
        assert (got is None) == (expected is None)
        if expected is not None:
            assert np.array_equal(got, expected)


def _damaged(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x40]) + data[at + 1 :]


def test_damage_that_libpng_judges_gets_its_answer() -> None:
    image = _image((20, 30, 3))
    data = _png(image, 2, kinds=[1] * 20)
    rows = bytearray(_filtered(image.reshape(20, -1), [1] * 20, 3))
    rows[91 * 4] = 9  # the fifth row's filter type
    bad_filter = assemble(30, 20, 8, 2, zlib.compress(bytes(rows)))
    header_crc = _damaged(data, len(SIGNATURE) + 8 + 13 + 2)
    bad_method = _png(image, 2, kinds=[1] * 20)
    bad_method = bad_method[:len(SIGNATURE) + 18] + b"\x01" + bad_method[len(SIGNATURE) + 19:]
    no_end = data[: -12]
    for case in (bad_filter, header_crc, bad_method, no_end):
        _opencvs_answer(case)


def test_without_the_compiled_module_the_pixels_are_the_same(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _png(_image((64, 80, 3)), 2)
    fast = imdecode(data, cv2.IMREAD_COLOR_RGB)
    monkeypatch.setattr(png_file, "fast_png", None)
    assert np.array_equal(imdecode(data, cv2.IMREAD_COLOR_RGB), fast)


def test_images_over_libpngs_and_opencvs_limits_get_their_answer(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """libpng refuses a side over a million pixels and OpenCV an image over its pixel limit
    (before decoding anything): neither path here decodes those, so the answer is theirs
    and no memory is spent on an image they refuse."""
    wide = assemble(1_000_001, 1, 8, 0, zlib.compress(bytes(1_000_002)))
    for flags in FLAGS:
        assert cv2.imdecode(np.frombuffer(wide, np.uint8), flags) is None
        assert imdecode(wide, flags) is None
    data = _png(_image((20, 30, 3)), 2)
    monkeypatch.setattr(png_file, "OPENCV_MAX_PIXELS", 599)  # 20 x 30 = 600 pixels
    monkeypatch.setattr(png_file.cv2, "imdecode", lambda *_: "OpenCV's answer")
    assert png_file.stored_copy(data) is None
    assert imdecode(data, cv2.IMREAD_COLOR_RGB) == "OpenCV's answer"


@pytest.mark.parametrize("kind", [b"zTXt", b"iTXt", b"tIME", b"pHYs", b"tEXt"])
def test_a_chunk_opencv_finds_too_long_before_the_image_data_gets_its_answer(
    kind: bytes
) -> None:
    """OpenCV refuses a chunk of over 8 MB before the image data unless it is one of a few
    kinds (tEXt among them); after the image data it does not look."""
    image = _image((6, 8, 3))
    long = bytes(8_000_000 - 11)  # 12 bytes of length, type and CRC around it: one too many
    before = _png(image, 2, extra=[(kind, long)])
    after_data = _png(image, 2)
    after = after_data[:-12] + chunk(kind, long) + after_data[-12:]
    for data in (before, after):
        _opencvs_answer(data)
    if kind != b"tEXt":
        assert cv2.imdecode(np.frombuffer(before, np.uint8), cv2.IMREAD_COLOR) is None


def test_a_file_handed_as_one_row_is_decoded_without_libpng(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _png(_image((20, 30, 3)), 2)
    expected = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    monkeypatch.setattr(png_file.cv2, "imdecode", lambda *_: pytest.fail("libpng called"))
    got = imdecode(np.frombuffer(data, np.uint8).reshape(1, -1), cv2.IMREAD_COLOR)
    assert np.array_equal(got, expected)


def test_unfilter_does_nothing_for_no_rows_and_refuses_overlapping_buffers() -> None:
    assert fast_png.unfilter(b"", bytearray(), 0, 10**12, 1) is None  # no row allocated
    shared = bytearray(_filtered(np.zeros((2, 6), np.uint8), [0, 0], 3) + bytes(12))
    with pytest.raises(ValueError, match="overlap"):
        fast_png.unfilter(memoryview(shared)[:14], memoryview(shared)[2:14], 2, 6, 3)
