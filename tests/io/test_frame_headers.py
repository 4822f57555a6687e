"""``scan(decode=False)``: sizes from headers, the hostile-input checks kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from roadmark.io import frames
from roadmark.io.errors import FrameSourceError
from roadmark.io.frames import read_image, scan
from tests.helpers import make_image


def _images(folder: Path) -> list[Path]:
    folder.mkdir()
    made = [
        make_image(folder / "a.png", 200, 100),
        make_image(folder / "b.jpg", 120, 90, seed=1),
    ]
    gray = folder / "c.png"
    Image.fromarray(np.full((30, 50), 7, np.uint8), "L").save(gray)
    deep = folder / "d.png"
    Image.fromarray(np.full((40, 60), 4000, np.uint16)).save(deep)
    rotated = folder / "e.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated: decoders give 20 x 40
    Image.fromarray(np.zeros((20, 40, 3), np.uint8)).save(rotated, exif=exif)
    bmp = folder / "f.bmp"
    Image.fromarray(np.zeros((11, 13, 3), np.uint8)).save(bmp)
    return [*made, gray, deep, rotated, bmp]


def test_header_sizes_equal_the_decoded_sizes(tmp_path: Path):
    paths = _images(tmp_path / "in")
    decoded = scan(paths)
    headers = scan(paths, decode=False)
    assert headers == decoded
    assert [(s.width, s.height) for s in headers][4] == (20, 40)


def test_png_and_jpeg_are_not_decoded_other_formats_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    paths = _images(tmp_path / "in")
    decoded: list[str] = []
    real = frames.read_image

    def counting(path: Path, *, reduce: int = 1) -> np.ndarray:
        decoded.append(Path(path).name)
        return real(path, reduce=reduce)

    monkeypatch.setattr(frames, "read_image", counting)
    scan(paths, decode=False)
    assert decoded == ["f.bmp"]
    decoded.clear()
    scan(paths)
    assert sorted(decoded) == sorted(p.name for p in paths)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_a_file_cut_short_is_still_refused(tmp_path: Path, suffix: str):
    data = make_image(tmp_path / f"good{suffix}", 200, 100).read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(FrameSourceError, match=rf"cut\{suffix}"):
        scan([cut], decode=False)


def test_a_bad_header_and_the_pixel_limit_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage" + b"\x00\x00\x00\x00IEND\xaeB`\x82")
    with pytest.raises(FrameSourceError, match="not a readable image"):
        scan([bad], decode=False)
    big = make_image(tmp_path / "big.png", 200, 100)
    monkeypatch.setenv("ROADMARK_MAX_IMAGE_PIXELS", "19999")
    monkeypatch.setattr(frames, "read_image", None)  # refused from the header, not decoded
    with pytest.raises(FrameSourceError, match="more than the limit") as info:
        scan([big], decode=False)
    assert "big.png" in str(info.value)


def test_a_damaged_body_is_found_at_the_first_decode(tmp_path: Path):
    good = make_image(tmp_path / "good.png", 200, 100)
    data = bytearray(good.read_bytes())
    start = data.index(b"IDAT") + 40
    data[start : start + 200] = bytes(200)  # inside the pixel data (its CRC no longer fits)
    damaged = tmp_path / "damaged.png"
    damaged.write_bytes(bytes(data))
    spec = scan([damaged], decode=False)[0]
    assert (spec.width, spec.height) == (200, 100)
    with pytest.raises(FrameSourceError, match=r"damaged\.png"):
        read_image(damaged)
    with pytest.raises(FrameSourceError, match=r"damaged\.png"):
        scan([damaged])
