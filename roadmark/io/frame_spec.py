"""The description of a frame to add to a project (its own module, light to import: the
frame scanner in :mod:`roadmark.io.frames` makes them, the store adds them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FrameSpec:
    """A frame to add: where its pixels are and where it sits in a sequence.

    Attributes:
        path: Absolute path of the image or video file.
        video_frame: Frame number in the video, ``None`` for an image.
        width: Width in pixels (after EXIF orientation).
        height: Height in pixels.
        sequence: Sequence name.
        sequence_index: Position in the sequence.
    """

    path: Path
    video_frame: int | None
    width: int
    height: int
    sequence: str
    sequence_index: int
