"""Images are judged by their header before their pixels are decoded.

A small file can declare a huge image (a 875 KB PNG of 30000 x 30000 pixels decodes to
2.7 GB). Before decoding, :func:`check_encoded` reads the width and height from the
file's header (Pillow reads only the header) and refuses an image of more than
:func:`max_image_pixels` pixels. The limit is 100 million pixels by default (a 12000 x 8000
frame; driving cameras give 2-33 million); set ``ROADMARK_MAX_IMAGE_PIXELS`` to change it.
Pillow's own decompression-bomb limit (twice ``PIL.Image.MAX_IMAGE_PIXELS``, about 179
million pixels) caps what a header check can read, so larger limits are clipped to it.

Decoders that run at once (frame scans use a thread pool) share a memory budget,
:data:`DECODE_BUDGET_BYTES` (1 GiB, ``ROADMARK_DECODE_BUDGET_MB`` to change it): a decode
waits until the pixels it will hold fit beside the ones being decoded (one decode is always
let through), so memory stays bounded however many run.
"""

from __future__ import annotations

import io
import os
import struct
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from roadmark.io.errors import FrameSourceError

DEFAULT_MAX_IMAGE_PIXELS = 100_000_000
DECODE_BUDGET_BYTES = 1 << 30
BYTES_PER_PIXEL_DECODING = 6  # the decoded BGR image and its RGB copy
# a PNG's rows inflated for libpng and its data joined (png_file.imdecode): 8 bytes a pixel
# at most each (16-bit RGBA)
BYTES_PER_PIXEL_PNG_ROWS = 16
_EXIF_ORIENTATION = 0x0112


def max_image_pixels() -> int:
    """The pixel limit: ``ROADMARK_MAX_IMAGE_PIXELS`` or 100 million."""
    raw = os.environ.get("ROADMARK_MAX_IMAGE_PIXELS", "")
    try:
        value = int(raw) if raw.strip() else DEFAULT_MAX_IMAGE_PIXELS
    except ValueError:
        value = DEFAULT_MAX_IMAGE_PIXELS
    return max(1, value)


def check_pixels(width: int, height: int, *, name: str, field: str | None = None) -> None:
    """Refuse a width and height over :func:`max_image_pixels` (or not positive).

    Raises:
        FrameSourceError: Naming the file (and the field it was read from).
    """
    limit = max_image_pixels()
    if width <= 0 or height <= 0:
        raise FrameSourceError(f"has no pixels ({width} x {height})", path=name, field=field)
    if width * height > limit:
        raise FrameSourceError(
            f"declares {width} x {height} pixels, more than the limit of {limit:,} "
            "(ROADMARK_MAX_IMAGE_PIXELS)",
            path=name,
            field=field,
        )


def header_size(data: bytes | Path, *, name: str) -> tuple[int, int] | None:
    """``(width, height)`` from an encoded image's header (upright, after its EXIF
    orientation, as decoded), ``None`` if Pillow cannot tell.

    Args:
        data: The file's bytes, or the file (Pillow then reads only as far as the header).
        name: The file, for errors.

    Raises:
        FrameSourceError: The header declares more pixels than even Pillow reads.
    """
    found = header_info(data, name=name)
    return None if found is None else found[1]


def header_info(data: bytes | Path, *, name: str) -> tuple[str, tuple[int, int]] | None:
    """Pillow's format name (``"PNG"``, ``"JPEG"``, ...) and the upright ``(width, height)``
    from an image's header, ``None`` if Pillow cannot tell; no pixels are decoded.

    Raises:
        FrameSourceError: The header declares more pixels than even Pillow reads.
    """
    try:
        found = _header(data)
    except Image.DecompressionBombError as error:
        raise FrameSourceError(
            f"declares more pixels than the limit of {max_image_pixels():,} "
            "(ROADMARK_MAX_IMAGE_PIXELS)",
            path=name,
        ) from error
    if found is None:
        return None
    kind, (width, height), orientation = found
    # Decoders turn the image upright (EXIF orientation); sizes are given that way round.
    return kind, ((height, width) if orientation in (5, 6, 7, 8) else (width, height))


def header_orientation(data: bytes) -> int:
    """The EXIF orientation (1-8) an encoded image's header carries; 1 where it has none,
    or where Pillow cannot read the header (no pixels are decoded)."""
    try:
        found = _header(data)
    except Image.DecompressionBombError:
        return 1
    return 1 if found is None else found[2]


def _header(data: bytes | Path) -> tuple[str, tuple[int, int], int] | None:
    """Pillow's format name, the stored ``(width, height)`` and the EXIF orientation from
    an image's header, ``None`` if Pillow cannot tell (no pixels are decoded).

    Raises:
        Image.DecompressionBombError: More pixels than even Pillow reads.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's DecompressionBombWarning
            with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as image:
                size = (int(image.size[0]), int(image.size[1]))
                return str(image.format), size, _orientation(image)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        return None


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation that the header carries (1 when none), without decoding
    pixels (``Image.getexif`` would decode a PNG to look for a late EXIF chunk)."""
    try:
        if image.format == "TIFF":  # tags are read with the header
            return int(image.getexif().get(_EXIF_ORIENTATION, 1))
        raw = image.info.get("exif")
        if not raw:
            return 1
        exif = Image.Exif()
        exif.load(raw)
        return int(exif.get(_EXIF_ORIENTATION, 1))
    except (ValueError, TypeError, OSError, SyntaxError, KeyError, struct.error):
        return 1  # a broken EXIF block: decoders ignore it as well


def check_encoded(data: bytes, *, name: str) -> tuple[int, int] | None:
    """Check an encoded image's declared size before it is decoded; returns it.

    Raises:
        FrameSourceError: Over the pixel limit.
    """
    size = header_size(data, name=name)
    if size is not None:
        check_pixels(*size, name=name)
    return size


class DecodeBudget:
    """Bytes that decoders running at once may hold together."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._in_use = 0
        self._changed = threading.Condition()

    @property
    def in_use(self) -> int:
        return self._in_use

    @contextmanager
    def reserve(self, nbytes: int) -> Iterator[None]:
        """Wait until ``nbytes`` fit (at once when nothing else is reserved), then hold
        them for the block."""
        with self._changed:
            self._changed.wait_for(lambda: self._in_use == 0 or self._in_use + nbytes <= self.limit)
            self._in_use += nbytes
        try:
            yield
        finally:
            with self._changed:
                self._in_use -= nbytes
                self._changed.notify_all()


def _budget_bytes() -> int:
    raw = os.environ.get("ROADMARK_DECODE_BUDGET_MB", "")
    try:
        return int(raw) << 20 if raw.strip() else DECODE_BUDGET_BYTES
    except ValueError:
        return DECODE_BUDGET_BYTES


DECODERS = DecodeBudget(_budget_bytes())
