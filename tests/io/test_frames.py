from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from roadmark.io.errors import FrameSourceError
from roadmark.io.frames import (
    FrameCache,
    FrameLoader,
    VideoReader,
    cityscapes_sequence,
    decode_image,
    natural_key,
    read_image,
    scan,
)
from tests.helpers import make_image


def test_gray_rgba_and_exif_orientation(tmp_path: Path):
    gray = tmp_path / "gray.png"
    Image.fromarray(np.full((5, 7), 100, np.uint8), "L").save(gray)
    assert read_image(gray).shape == (5, 7, 3)
    rgba = tmp_path / "rgba.png"
    Image.fromarray(
        np.dstack([np.full((5, 7, 3), 40, np.uint8), np.full((5, 7), 128, np.uint8)]), "RGBA"
    ).save(rgba)
    assert read_image(rgba).shape == (5, 7, 3)
    red = np.zeros((10, 20, 3), np.uint8)
    red[:, :10] = (255, 0, 0)
    rotated = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(red).save(rotated, exif=exif, quality=95)
    image = read_image(rotated)
    assert image.shape == (20, 10, 3)
    assert image[2, 5, 0] > 200 and image[17, 5, 0] < 60  # left half became the top half
    (spec,) = scan([rotated])
    assert (spec.width, spec.height) == (10, 20)


def test_folder_natural_order_and_cityscapes_sequences(tmp_path: Path):
    folder = tmp_path / "f"
    folder.mkdir()
    for name in ["frame10.png", "frame2.png", "frame1.png"]:
        make_image(folder / name)
    city = tmp_path / "city"
    city.mkdir()
    for frame in (19, 3):
        make_image(city / f"aachen_000001_{frame:06d}_leftImg8bit.png")
    specs = scan([folder, city])
    assert [s.path.name for s in specs[:3]] == ["frame1.png", "frame2.png", "frame10.png"]
    assert [(s.sequence, s.sequence_index) for s in specs[:3]] == [("f", 0), ("f", 1), ("f", 2)]
    assert [(s.sequence, s.sequence_index) for s in specs[3:]] == [
        ("aachen_000001", 3),
        ("aachen_000001", 19),
    ]
    assert cityscapes_sequence("frankfurt_000000_000294_gtFine_polygons.json") == (
        "frankfurt_000000",
        294,
    )
    assert sorted(["a10", "a9", "A1"], key=natural_key) == ["A1", "a9", "a10"]


def _write_video(path: Path, frames: int = 12, size: tuple[int, int] = (64, 48)) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, size)
    assert writer.isOpened()
    for i in range(frames):
        image = np.zeros((size[1], size[0], 3), np.uint8)
        image[:, :, 2] = i * 20  # red rises frame by frame (BGR)
        writer.write(image)
    writer.release()
    return path


def test_video_every_nth_and_random_access(tmp_path: Path):
    video = _write_video(tmp_path / "drive.avi")
    specs = scan([video], every=5)
    assert [s.video_frame for s in specs] == [0, 5, 10]
    assert specs[0].sequence == "drive" and (specs[0].width, specs[0].height) == (64, 48)
    reader = VideoReader(video)
    assert reader.frame_count == 12
    later = reader.read(10)
    earlier = reader.read(3)
    assert later[0, 0, 0] > earlier[0, 0, 0]  # RGB: red channel first
    assert abs(int(earlier[0, 0, 0]) - 60) < 12
    with pytest.raises(FrameSourceError, match="outside the video"):
        reader.read(12)
    reader.close()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.png", "no such file or folder"),
        (
            lambda d: (
                (d / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage") and d / "corrupt.png"
            ),
            "not a readable image",
        ),
        (lambda d: (d / "empty").mkdir() or d / "empty", "folder has no images"),
        (
            lambda d: (d / "notes.txt").write_text("hi") and d / "notes.txt",
            "is not an image or video",
        ),
        (lambda d: (d / "broken.mp4").write_bytes(b"\x00" * 100) and d / "broken.mp4", "video"),
    ],
)
def test_bad_sources_name_the_file(tmp_path: Path, make, message):
    path = make(tmp_path)
    with pytest.raises(FrameSourceError) as info:
        scan([path])
    assert message in str(info.value)
    assert path.name in str(info.value)


def test_truncated_image_is_refused(tmp_path: Path):
    good = make_image(tmp_path / "good.png", 200, 100)
    data = good.read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(FrameSourceError, match=r"cut\.png"):
        scan([tmp_path / "cut.png"])


def test_cache_is_bounded_and_lru():
    cache = FrameCache(max_bytes=3 * 100)
    loads = []

    def loader(key):
        def load():
            loads.append(key)
            return np.zeros(100, np.uint8)

        return load

    for key in "abc":
        cache.get(key, loader(key))
    cache.get("a", loader("a"))  # a is now most recent
    cache.get("d", loader("d"))  # evicts b
    assert cache.nbytes <= 300 and len(cache) == 3
    cache.get("a", loader("a"))
    cache.get("b", loader("b"))
    assert loads == ["a", "b", "c", "d", "b"]


def test_loader_reads_images_and_video_frames(tmp_path: Path):
    make_image(tmp_path / "x.png", 30, 20)
    _write_video(tmp_path / "v.avi")
    loader = FrameLoader(lambda p: tmp_path / p)
    assert loader.load("x.png").shape == (20, 30, 3)
    assert loader.load("v.avi", 4).shape == (48, 64, 3)
    assert loader.load("x.png") is loader.load("x.png")  # cached
    loader.close()


def _encoded_kinds() -> list[bytes]:
    import io

    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    out = [
        cv2.imencode(suffix, array)[1].tobytes()
        for suffix, array in (
            (".png", rgb), (".png", rgb[:, :, 0]), (".png", np.dstack([rgb, rgb[:, :, :1]])),
            (".png", rgb.astype(np.uint16) * 257), (".jpg", rgb), (".bmp", rgb),
            (".webp", rgb), (".tiff", rgb),
        )
    ]
    image = Image.fromarray(rgb)
    exif = image.getexif()
    exif[0x0112] = 6  # rotated: decoders turn it upright
    rotated = io.BytesIO()
    image.save(rotated, "JPEG", exif=exif)
    return [*out, rotated.getvalue()]


@pytest.mark.parametrize("reduce", [1, 2])
def test_decoding_to_rgb_gives_opencvs_pixels_in_rgb_order(reduce: int):
    """Straight to RGB where OpenCV can (and by a conversion where it cannot): the same
    pixels as OpenCV's BGR decoding converted, for every format, depth and orientation."""
    for data in _encoded_kinds():
        got = decode_image(data, name="x", reduce=reduce)
        flags = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2}[reduce]
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
        assert np.array_equal(got, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
