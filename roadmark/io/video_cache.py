"""Extract video frames into image files beside the project, for fast random access.

Seeking in a compressed video to show one frame can take a long time (the decoder starts
at the previous keyframe), and annotators jump between frames constantly. Extraction
decodes the chosen frames once, in order, and writes them as images into the project's
frame folder (``NAME-frames/`` next to ``NAME.roadmark``); the frames are then added as
those images, keeping the video's name as their sequence and the video frame number as
their index, so sequence tools see the same order and spacing.

Extraction is all or nothing: if a frame does not decode, or the caller cancels, the files
written by this run are removed again and nothing is returned.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import cast

import cv2

from roadmark.io.errors import FrameSourceError
from roadmark.io.frames import Image, Progress, write_image
from roadmark.io.store import PROJECT_SUFFIX, FrameSpec

IMAGE_FORMATS = ("png", "jpg")


class ExtractionCancelled(Exception):
    """The caller asked extraction to stop; the files it wrote were removed."""


def frame_folder(project_file: Path) -> Path:
    """Where the frames of ``NAME.roadmark`` are extracted: ``NAME-frames`` beside it."""
    project_file = Path(project_file)
    stem = project_file.name.removesuffix(PROJECT_SUFFIX)
    return project_file.with_name(f"{stem}-frames")


def video_folder(folder: Path, video: Path) -> Path:
    """The sub-folder of one video: its name plus a short hash of its full path."""
    digest = hashlib.sha1(str(Path(video).resolve()).encode()).hexdigest()[:8]
    return Path(folder) / f"{Path(video).stem}-{digest}"


def extract_frames(
    specs: Sequence[FrameSpec],
    folder: Path,
    *,
    image_format: str = "png",
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> list[FrameSpec]:
    """Write the video frames among ``specs`` as images and return specs for the images.

    Image frames pass through unchanged; the order of ``specs`` is kept. Frames already
    extracted earlier are decoded and written again (the video may have changed).

    Args:
        specs: Frames from :func:`roadmark.io.frames.scan`.
        folder: The frame folder (see :func:`frame_folder`).
        image_format: ``png`` (lossless) or ``jpg`` (quality 95, smaller).
        progress: Called with ``(done, total)`` after each frame written.
        cancelled: Polled between frames; when it returns true, extraction stops.

    Raises:
        FrameSourceError: Unknown format, a video that cannot be opened, or a frame that
            does not decode (named); the files of this run are removed.
        ExtractionCancelled: ``cancelled`` returned true; the files were removed.
    """
    if image_format not in IMAGE_FORMATS:
        raise FrameSourceError(
            f"unknown image format {image_format!r} (png, jpg)", field="--extract"
        )
    wanted: dict[Path, list[int]] = defaultdict(list)
    for spec in specs:
        if spec.video_frame is not None:
            wanted[Path(spec.path)].append(spec.video_frame)
    total = sum(len(v) for v in wanted.values())
    written: list[Path] = []
    made: list[Path] = []
    files: dict[tuple[Path, int], Path] = {}
    try:
        for video, indices in wanted.items():
            target = video_folder(folder, video)
            made.extend(p for p in (*reversed(target.parents), target) if not p.exists())
            target.mkdir(parents=True, exist_ok=True)
            for index, image in _decode(video, sorted(set(indices))):
                if cancelled is not None and cancelled():
                    raise ExtractionCancelled
                path = target / f"{video.stem}_{index:06d}.{image_format}"
                _write_atomically(path, image)
                written.append(path)
                files[(video, index)] = path
                if progress:
                    progress(len(written), total)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        for path in reversed(made):
            try:
                path.rmdir()
            except OSError:  # not empty: something else is in it
                pass
        raise
    return [
        spec
        if spec.video_frame is None
        else replace(spec, path=files[(Path(spec.path), spec.video_frame)], video_frame=None)
        for spec in specs
    ]


def _write_atomically(path: Path, image: Image) -> None:
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        write_image(partial, image)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _decode(video: Path, indices: list[int]) -> Iterator[tuple[int, Image]]:
    """Yield ``(index, RGB image)`` for ``indices`` (sorted), decoding the video in order."""
    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise FrameSourceError("cannot open video (unsupported or corrupt)", path=str(video))
    try:
        position = 0
        if indices and indices[0] > 0:
            capture.set(cv2.CAP_PROP_POS_FRAMES, indices[0])
            position = indices[0]
        for index in indices:
            while position < index:
                if not capture.grab():
                    raise FrameSourceError(f"frame {position} does not decode", path=str(video))
                position += 1
            ok, image = capture.read()
            position += 1
            if not ok or image is None:
                raise FrameSourceError(f"frame {index} does not decode", path=str(video))
            yield index, cast(Image, cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
