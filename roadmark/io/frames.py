"""Frame sources: image files, folders of images, and videos (OpenCV).

Adding frames checks that each image decodes (a corrupt file is refused with its name before
anything is written) and reads its size (dataset imports read a PNG's or JPEG's size from
its header and check that the file ends whole, see :func:`scan`); pixels are decoded again
on demand when a frame is shown, through a memory-bounded LRU cache. Images come out as RGB
``uint8`` arrays, EXIF orientation applied, gray and RGBA converted.

Sequences: Cityscapes-style names ``city_seq_frame_*`` give sequence ``city_seq`` and index
``frame``; other images in a folder form one sequence named after the folder, in natural
order; a video is one sequence with the video frame number as index.
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import cast

# FFmpeg prints its own complaints about broken videos to stderr; roadmark reports them
# as one clear error instead. Read by OpenCV when its FFmpeg backend starts.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

import cv2
import numpy as np
from numpy.typing import NDArray

from roadmark.io.errors import FrameSourceError
from roadmark.io.frame_spec import FrameSpec
from roadmark.io.image_limits import (
    BYTES_PER_PIXEL_DECODING,
    BYTES_PER_PIXEL_PNG_ROWS,
    DECODERS,
    check_encoded,
    check_pixels,
    header_info,
)
from roadmark.io.png_file import SIGNATURE, imdecode

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"})
_CITYSCAPES_NAME = re.compile(r"^(?P<city>[A-Za-z0-9-]+)_(?P<seq>\d+)_(?P<frame>\d+)(?:_|$)")
_DIGITS = re.compile(r"(\d+)")

Image = NDArray[np.uint8]
Progress = Callable[[int, int], None]


def natural_key(text: str) -> list[object]:
    """Sort key that orders ``frame2`` before ``frame10``."""
    return [int(part) if part.isdigit() else part.lower() for part in _DIGITS.split(text)]


_REDUCED = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4}
_REDUCED[8] = cv2.IMREAD_REDUCED_COLOR_8
# OpenCV >= 4.10 decodes straight to RGB (no conversion pass over the whole image)
_RGB: int | None = getattr(cv2, "IMREAD_COLOR_RGB", None)


def decode_image(data: bytes, *, name: str, reduce: int = 1) -> Image:
    """Decode image bytes to RGB ``uint8`` (EXIF orientation applied).

    The header is checked first (:mod:`roadmark.io.image_limits`): an image over the pixel
    limit is refused without decoding, and decodes running at once share a memory budget.

    Args:
        data: The file's bytes.
        name: The file, for errors.
        reduce: 1, 2, 4 or 8: decode at 1/reduce of the size (rounded up); JPEG decodes
            only what that size needs (a 2048 px frame at 1/4 costs about a tenth).

    Raises:
        FrameSourceError: The bytes are not an image OpenCV can decode, or it is too large.
    """
    size = check_encoded(data, name=name)
    buffer = np.frombuffer(data, dtype=np.uint8)
    if not buffer.size:
        raise FrameSourceError("is not a readable image (corrupt or unsupported format)", path=name)
    # PNG and other formats decode whole before reducing: reserve for the whole image (and
    # a PNG's inflated rows, see png_file.imdecode)
    per_pixel = BYTES_PER_PIXEL_DECODING + (
        BYTES_PER_PIXEL_PNG_ROWS if data[: len(SIGNATURE)] == SIGNATURE else 0)
    reserve = size[0] * size[1] * per_pixel if size else 0
    with DECODERS.reserve(reserve):
        return _decode(buffer, name, reduce)


def _decode(buffer: np.ndarray, name: str, reduce: int) -> Image:
    flags = _REDUCED[reduce]
    if _RGB is not None:
        flags = (flags & ~cv2.IMREAD_COLOR) | _RGB
    image = imdecode(buffer, flags)
    if image is None:
        raise FrameSourceError("is not a readable image (corrupt or unsupported format)", path=name)
    return cast(Image, image if _RGB is not None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB))


def read_image(path: Path, *, reduce: int = 1) -> Image:
    """Read an image file as RGB ``uint8`` (at 1/``reduce`` of its size, see
    :func:`decode_image`).

    Raises:
        FrameSourceError: Missing, unreadable or corrupt file.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError as error:
        raise FrameSourceError("image not found", path=str(path)) from error
    except OSError as error:
        raise FrameSourceError(f"cannot read image ({error.strerror})", path=str(path)) from error
    return decode_image(data, name=str(path), reduce=reduce)


def write_image(path: Path, image: Image) -> None:
    """Write an RGB (or single-channel) image; the format follows the suffix."""
    array = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    ok, encoded = cv2.imencode(Path(path).suffix or ".png", array)
    if not ok:
        raise FrameSourceError("cannot encode image", path=str(path))
    Path(path).write_bytes(encoded.tobytes())


def cityscapes_sequence(name: str) -> tuple[str, int] | None:
    """``('aachen_000000', 19)`` for ``aachen_000000_000019_leftImg8bit.png``."""
    match = _CITYSCAPES_NAME.match(name)
    if not match:
        return None
    return f"{match['city']}_{match['seq']}", int(match["frame"])


class VideoReader:
    """Random access to a video's frames through OpenCV.

    Raises:
        FrameSourceError: The video cannot be opened or has no frames.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise FrameSourceError("video not found", path=str(path))
        self._capture = cv2.VideoCapture(str(self.path))
        self._lock = threading.Lock()
        self._next = 0
        if not self._capture.isOpened():
            raise FrameSourceError("cannot open video (unsupported or corrupt)", path=str(path))
        self.frame_count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self.width = int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.fps = float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0)
        if self.frame_count <= 0 or self.width <= 0 or self.height <= 0:
            raise FrameSourceError("video has no decodable frames", path=str(path))

    def read(self, index: int) -> Image:
        """Frame ``index`` as RGB; sequential reads do not seek.

        Raises:
            FrameSourceError: ``index`` is outside the video or the frame does not decode.
        """
        if not 0 <= index < self.frame_count:
            raise FrameSourceError(
                f"frame {index} is outside the video (0..{self.frame_count - 1})",
                path=str(self.path),
            )
        with self._lock:
            if index != self._next:
                self._capture.set(cv2.CAP_PROP_POS_FRAMES, index)
            ok, image = self._capture.read()
            self._next = index + 1
        if not ok or image is None:
            raise FrameSourceError(f"frame {index} does not decode", path=str(self.path))
        return cast(Image, cv2.cvtColor(image, cv2.COLOR_BGR2RGB))

    def close(self) -> None:
        self._capture.release()


class FrameCache:
    """A thread-safe LRU cache of decoded frames bounded by their total size in bytes."""

    def __init__(self, max_bytes: int = 512 * 1024 * 1024):
        self.max_bytes = max_bytes
        self._items: OrderedDict[object, Image] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: object, load: Callable[[], Image]) -> Image:
        """The cached frame for ``key``, loading (outside the lock) on a miss."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        image = load()
        image.setflags(write=False)
        with self._lock:
            if key not in self._items:
                self._items[key] = image
                self._bytes += image.nbytes
                while self._bytes > self.max_bytes and len(self._items) > 1:
                    _, evicted = self._items.popitem(last=False)
                    self._bytes -= evicted.nbytes
        return image

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


class FrameLoader:
    """Decodes frames of a project on demand (images and video frames), with a cache."""

    def __init__(self, resolve: Callable[[str], Path], cache: FrameCache | None = None):
        self._resolve = resolve
        self.cache = cache or FrameCache()
        self._videos: dict[Path, VideoReader] = {}
        self._lock = threading.Lock()

    def load(self, path: str, video_frame: int | None = None) -> Image:
        """RGB pixels of a stored frame (``path`` as stored in the project)."""
        return self.cache.get((path, video_frame), lambda: self._decode(path, video_frame))

    def _decode(self, path: str, video_frame: int | None) -> Image:
        file = self._resolve(path)
        if video_frame is None:
            return read_image(file)
        with self._lock:
            reader = self._videos.get(file)
            if reader is None:
                reader = self._videos[file] = VideoReader(file)
        return reader.read(video_frame)

    def close(self) -> None:
        for reader in self._videos.values():
            reader.close()
        self._videos.clear()
        self.cache.clear()


@dataclass(frozen=True)
class _ImageProbe:
    path: Path
    width: int
    height: int


def _probe_image(path: Path) -> _ImageProbe:
    image = read_image(path)
    return _ImageProbe(path, image.shape[1], image.shape[0])


# The last bytes of a whole file: PNG's IEND chunk, JPEG's end-of-image marker.
_WHOLE_ENDINGS = {"PNG": b"\x00\x00\x00\x00IEND\xaeB`\x82", "JPEG": b"\xff\xd9"}


def _probe_header(path: Path) -> _ImageProbe:
    """An image's size from its header alone (no pixels decoded), the pixel limit checked.

    Only a PNG or JPEG whose header Pillow reads and whose file ends as a whole one does
    (IEND chunk, end-of-image marker) is taken on its header; anything else (another
    format, a header Pillow cannot read, a file cut short) is decoded as
    :func:`_probe_image` does, so those are refused here as before. A damaged body behind
    a good header and a good ending is found where the frame is first decoded.
    """
    found = header_info(path, name=str(path))
    if found is None or found[0] not in _WHOLE_ENDINGS:
        return _probe_image(path)
    kind, (width, height) = found
    ending = _WHOLE_ENDINGS[kind]
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - len(ending)))
            tail = handle.read()
    except OSError:
        return _probe_image(path)
    if tail != ending:
        return _probe_image(path)
    check_pixels(width, height, name=str(path))
    return _ImageProbe(path, width, height)


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files to add: images and videos given directly, and the images inside folders.

    Raises:
        FrameSourceError: A path does not exist, is not an image or video, or a folder
            holds no images.
    """
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            images = sorted(
                (p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
                key=lambda p: natural_key(p.relative_to(path).as_posix()),
            )
            if not images:
                raise FrameSourceError("folder has no images", path=str(path))
            out.extend(images)
        elif not path.exists():
            raise FrameSourceError("no such file or folder", path=str(path))
        elif path.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
            out.append(path)
        else:
            raise FrameSourceError(
                f"is not an image or video (suffix {path.suffix or 'missing'!r})", path=str(path)
            )
    return out


def scan(
    paths: Sequence[Path],
    *,
    every: int = 1,
    progress: Progress | None = None,
    workers: int = 4,
    start: int = 0,
    end: int | None = None,
    decode: bool = True,
) -> list[FrameSpec]:
    """Frames for images, folders and videos, each image decoded once to check it (or,
    with ``decode=False``, its header read).

    Args:
        paths: Image files, folders (searched recursively) and video files.
        every: Keep every Nth frame of a video.
        progress: Called with ``(done, total)`` as images are checked.
        workers: Threads decoding images (OpenCV releases the GIL).
        start: First frame kept of each video.
        end: Video frames from this index on are left out (``None``: to the end).
        decode: Decode every image to check it. ``False`` reads the size from a PNG's or
            JPEG's header and checks that the file ends whole (0.09 ms of CPU for a
            2048x1024 PNG instead of 41-47 ms; dataset imports, whose files declare the
            sizes too); other files are still decoded. A damaged body is then found at
            the first decode.

    Raises:
        FrameSourceError: The first bad input, naming the file, or a frame range outside
            a video; nothing is returned then.
    """
    if every < 1:
        raise FrameSourceError(f"--every must be at least 1, got {every}")
    if start < 0 or (end is not None and end <= start):
        raise FrameSourceError(
            f"bad frame range: start {start}, end {end} (need 0 <= start < end)",
            field="--start/--end",
        )
    files = expand_paths(paths)
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    probes: dict[Path, _ImageProbe] = {}
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        probe_one = _probe_image if decode else _probe_header
        for done, probe in enumerate(pool.map(probe_one, images), start=1):
            probes[probe.path] = probe
            if progress:
                progress(done, len(images))
    specs: list[FrameSpec] = []
    folder_counts: dict[str, int] = {}
    for file in files:
        if file in probes:
            probe = probes[file]
            named = cityscapes_sequence(file.name)
            if named:
                sequence, index = named
            else:
                sequence = file.parent.name or "frames"
                index = folder_counts.get(str(file.parent), 0)
                folder_counts[str(file.parent)] = index + 1
            specs.append(
                FrameSpec(file.resolve(), None, probe.width, probe.height, sequence, index)
            )
        else:
            specs.extend(_video_specs(file, every, start, end))
    return specs


def _video_specs(path: Path, every: int, start: int, end: int | None) -> list[FrameSpec]:
    reader = VideoReader(path)
    try:
        stop = reader.frame_count if end is None else end
        if start >= reader.frame_count or stop > reader.frame_count:
            raise FrameSourceError(
                f"frame range {start}..{stop - 1} is outside the video "
                f"(frames 0..{reader.frame_count - 1})",
                path=str(path),
                field="--start/--end",
            )
        indices = range(start, stop, every)
        reader.read(start)  # a header alone does not prove the frames decode
        if indices[-1] != start:
            try:
                reader.read(indices[-1])  # nor that a file cut short has all the frames
            except FrameSourceError as error:
                raise FrameSourceError(
                    f"{error.message}: the video may be cut short; --end N keeps the frames "
                    "before N",
                    path=str(path),
                    field="--end",
                ) from error
    finally:
        reader.close()
    return [
        FrameSpec(path.resolve(), index, reader.width, reader.height, path.stem, index)
        for index in indices
    ]
