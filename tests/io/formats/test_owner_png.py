"""The owner-map PNG encoder writes the same bytes as OpenCV, for every kind of map the
Cityscapes export writes, and falls back to OpenCV if it ever does not."""

from __future__ import annotations

import zlib

import cv2
import numpy as np
import pytest

from roadmark.io.formats import owner_png
from roadmark.io.formats.owner_png import OwnerMaps


def _opencv(array: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", array, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    assert ok
    return encoded.tobytes()


def _owner(rng: np.random.Generator, height: int, width: int, count: int) -> np.ndarray:
    """Shapes drawn over each other (edges of every slope), a noisy patch, a thin line."""
    owner = np.zeros((height, width), np.int32)
    for k in range(1, count):
        shape = rng.integers(3)
        x, y = int(rng.integers(width)), int(rng.integers(height))
        size = int(rng.integers(2, max(3, width // 3)))
        if shape == 0:
            cv2.rectangle(owner, (x, y), (x + size, y + size // 2), k, -1)
        elif shape == 1:
            cv2.circle(owner, (x, y), size // 2, k, -1)
        else:
            cv2.line(owner, (x, y), (int(rng.integers(width)), int(rng.integers(height))), k,
                     int(rng.integers(1, 4)))
    y0, x0 = height // 3, width // 3
    patch = owner[y0 : y0 + height // 6, x0 : x0 + width // 6]
    patch[...] = rng.integers(0, count, patch.shape)
    return owner


def _tables(rng: np.random.Generator, count: int) -> dict[str, np.ndarray]:
    ids = rng.integers(0, 34, count)
    colours = rng.integers(0, 256, (count, 4)).astype(np.uint8)
    colours[:, 3] = 255
    return {
        "labels": ids.astype(np.uint8),
        "train": np.where(ids > 30, 255, ids % 19).astype(np.uint8),
        "instances": (ids * 1000 + np.arange(count)).astype(np.uint16),
        "bgra": colours,
        "bgr": np.ascontiguousarray(colours[:, :3]),
        "wide labels": (ids * 300).astype(np.uint16),
    }


@pytest.mark.parametrize(("height", "width", "count", "seed"), [
    (256, 512, 40, 0),
    (197, 131, 7, 1),  # odd sizes
    (1, 20000, 5, 2),  # one row
    (20000, 1, 5, 3),  # one column
    (40, 60, 5, 8),  # small: OpenCV writes it (libpng narrows zlib's window)
    (128, 256, 300, 4),  # more owners than a byte holds
    (200, 300, 2, 5),  # almost uniform
])
def test_the_same_bytes_as_opencv(height: int, width: int, count: int, seed: int):
    rng = np.random.default_rng(seed)
    owner = _owner(rng, height, width, count)
    maps = [OwnerMaps(owner)]
    if count <= 256:
        maps.append(OwnerMaps(owner.astype(np.uint8)))  # the export's usual owner map
    for encoder in maps:
        for name, table in _tables(rng, count).items():
            expected = _opencv(np.take(table, owner, axis=0))
            assert encoder.png(table) == expected, name
            if height * width * table.itemsize * (table.size // count) > owner_png.SMALL_BYTES:
                assert encoder.encode(table) == expected, name


def test_a_uniform_map_and_a_map_of_noise():
    rng = np.random.default_rng(6)
    noise = rng.integers(0, 256, (150, 170)).astype(np.uint8)
    for owner in (np.zeros((150, 170), np.uint8), noise):
        table = rng.integers(0, 256, (256, 4)).astype(np.uint8)
        assert OwnerMaps(owner).encode(table) == _opencv(np.take(table, owner, axis=0))


def test_should_the_bytes_ever_differ_opencv_encodes_that_kind(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(owner_png, "_checked", {})
    monkeypatch.setattr(owner_png, "IDAT_BYTES", 1000)  # chunks unlike libpng's
    rng = np.random.default_rng(7)
    owner = _owner(rng, 120, 160, 20).astype(np.uint8)
    table = _tables(rng, 20)["labels"]
    expected = _opencv(np.take(table, owner, axis=0))
    encoder = OwnerMaps(owner)
    assert encoder.encode(table) != expected
    assert encoder.png(table) == expected
    assert owner_png._checked[(table.dtype.str, 1)] is False
    assert encoder.png(table) == expected  # from now on, OpenCV's


def test_a_table_shorter_than_the_owners_is_refused_by_numpy_not_misread():
    owner = np.array([[0, 1], [2, 3]], np.uint8)
    with pytest.raises(IndexError):
        OwnerMaps(owner).png(np.zeros(3, np.uint8))


def test_the_maps_of_a_frame_together_are_each_map_alone():
    """pngs() works out the row filters of all tables at once: the same bytes as each table
    on its own, with a table left to OpenCV (too short for the map's owners) among them."""
    rng = np.random.default_rng(9)
    owner = _owner(rng, 180, 240, 60).astype(np.uint8)
    tables = list(_tables(rng, 60).values())
    encoder = OwnerMaps(owner)
    together = encoder.pngs(tables)
    assert together == [encoder.png(table) for table in tables]
    assert together == [_opencv(np.take(table, owner, axis=0)) for table in tables]
    assert encoder.encode_all(tables) == [encoder.encode(table) for table in tables]
    assert encoder.pngs([]) == []


def test_the_stream_is_zlibs_own_with_the_checksum_from_the_non_zero_bytes():
    """The raw deflate is wrapped in zlib's header for the level and an Adler-32 worked out
    from the rows' non-zero bytes; rows left unfiltered (a uniform band of colour) and rows
    of noise included."""
    assert zlib.compress(b"", owner_png.LEVEL)[:2] == owner_png.ZLIB_HEADER
    rng = np.random.default_rng(10)
    owner = np.zeros((300, 400), np.uint8)
    owner[40:90] = 3  # whole rows of one owner: no filter beats "none" on its first row
    owner[150:200, 100:300] = rng.integers(0, 6, (50, 200))
    table = rng.integers(1, 256, (6, 4)).astype(np.uint8)
    png = OwnerMaps(owner).encode(table)
    assert png == _opencv(np.take(table, owner, axis=0))
