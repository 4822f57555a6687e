"""JPEG frames decoded where the model runs (nvJPEG on a GPU), turned upright as on the CPU.

The loader (processes, threads or the calling thread) only reads each file's bytes and
its EXIF orientation (from the header, no pixels); the device decodes the batch and turns
each frame upright itself.
torchvision applies the EXIF orientation on the CPU only, so a phone's rotated photo would
otherwise be stored on its side on a GPU, and refused where its size then differs from
the project's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch.utils.data import Dataset

from roadmark.io.errors import FrameSourceError
from roadmark.io.frames import decode_image
from roadmark.io.image_limits import header_orientation


class EncodedFrame(NamedTuple):
    """A JPEG file's bytes (``uint8`` tensor) and its EXIF orientation (1-8, 1: upright)."""

    data: torch.Tensor
    orientation: int


class EncodedFrames(Dataset[tuple[int, EncodedFrame | None, str | None]]):
    """The bytes of JPEG frames, to be decoded on the device (see :func:`decode_on_device`);
    an item is ``(index, EncodedFrame, error)``."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = list(paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[int, EncodedFrame | None, str | None]:
        path = self.paths[index]
        try:
            data = Path(path).read_bytes()
        except OSError as error:
            return index, None, str(FrameSourceError(f"cannot read image ({error})", path=path))
        frame = EncodedFrame(torch.frombuffer(bytearray(data), dtype=torch.uint8),
                             header_orientation(data))
        return index, frame, None


def collate_encoded(items: list[tuple[int, Any, str | None]]) -> dict[str, Any]:
    """A batch of encoded frames: their :class:`EncodedFrame` as a list (errors passed on)."""
    errors = [(index, error) for index, _, error in items if error is not None]
    images = None if errors else [frame for _, frame, _ in items]
    return {"index": [i for i, _, _ in items], "images": images, "errors": errors}


def upright(image: torch.Tensor, orientation: int) -> torch.Tensor:
    """A ``(C, H, W)`` image as its EXIF ``orientation`` says it is shown (2-8: mirrored
    and/or turned; 1 and anything else: as stored)."""
    if orientation in (5, 6, 7, 8):  # stored on its side: rows become columns
        image = image.transpose(-1, -2)
    if orientation in (2, 3, 6, 7):
        image = image.flip(-1)
    if orientation in (3, 4, 7, 8):
        image = image.flip(-2)
    return image


def decode_on_device(
    frames: list[EncodedFrame], paths: Sequence[str], size: tuple[int, int],
    device: torch.device,
) -> torch.Tensor:
    """JPEG bytes -> upright ``uint8 (B, H, W, 3)`` on ``device`` (nvJPEG on a GPU).

    A frame the device's decoder refuses (a CMYK or otherwise unusual JPEG) is decoded as
    on the CPU instead (OpenCV) and copied there: the run goes on.

    Raises:
        FrameSourceError: A file that does not decode at all, or decodes to another size
            than the project records (the file names it).
    """
    from torchvision.io import ImageReadMode, decode_jpeg

    try:
        decoded = decode_jpeg([frame.data for frame in frames], mode=ImageReadMode.RGB,
                              device=device)
        turned = [upright(image, frame.orientation)
                  for image, frame in zip(decoded, frames, strict=True)]
    except RuntimeError:  # one frame fails the batch: each on its own
        turned = [_decode_one(frame, path, device)
                  for frame, path in zip(frames, paths, strict=True)]
    for image, path in zip(turned, paths, strict=True):
        if tuple(image.shape[-2:]) != size:
            raise FrameSourceError(
                f"decodes to {image.shape[-1]}x{image.shape[-2]} but the project says "
                f"{size[1]}x{size[0]}",
                path=path,
            )
    return torch.stack(turned).permute(0, 2, 3, 1)


def _decode_one(frame: EncodedFrame, path: str, device: torch.device) -> torch.Tensor:
    """One upright ``(3, H, W)`` frame on ``device``: decoded there, else as on the CPU."""
    from torchvision.io import ImageReadMode, decode_jpeg

    try:
        (image,) = decode_jpeg([frame.data], mode=ImageReadMode.RGB, device=device)
        return upright(image, frame.orientation)
    except RuntimeError:
        pass
    # OpenCV, as the CPU path decodes (upright, RGB); names a file it cannot read either
    decoded = decode_image(frame.data.numpy().tobytes(), name=path)
    return torch.from_numpy(decoded).permute(2, 0, 1).to(device)
