"""JPEG frames decoded where the model runs are turned upright by their EXIF orientation,
as the CPU's decoders turn them (torchvision does so on the CPU only)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.io import ImageReadMode, decode_jpeg

from roadmark.demo.drive import generate_drive
from roadmark.io.frames import decode_image, read_image, scan
from roadmark.io.image_limits import header_orientation
from roadmark.io.store import FrameSpec, Project
from roadmark.models.demo_model import demo_model_path
from roadmark.models.device_decode import EncodedFrame, EncodedFrames, decode_on_device, upright
from roadmark.models.files import load_model
from roadmark.models.runner import PrelabelOptions, prelabel


def _jpeg(image: np.ndarray, orientation: int | None) -> bytes:
    out = io.BytesIO()
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    Image.fromarray(image).save(out, "JPEG", quality=95, exif=exif.tobytes())
    return out.getvalue()


@pytest.fixture(scope="module")
def stored() -> np.ndarray:
    """An image whose every turn and mirror differs (not square, no symmetry)."""
    rng = np.random.default_rng(5)
    return rng.integers(0, 256, (48, 80, 3), dtype=np.uint8)


@pytest.mark.parametrize("orientation", [None, 1, 2, 3, 4, 5, 6, 7, 8])
def test_device_decoding_turns_each_orientation_as_the_cpu_decoders_do(
    stored: np.ndarray, orientation: int | None
):
    data = _jpeg(stored, orientation)
    assert header_orientation(data) == (orientation or 1)
    tensor = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    reference = decode_jpeg(tensor, mode=ImageReadMode.RGB, apply_exif_orientation=True)
    size = (int(reference.shape[1]), int(reference.shape[2]))
    ours = decode_on_device([EncodedFrame(tensor, header_orientation(data))], ["f.jpg"], size,
                            torch.device("cpu"))
    assert torch.equal(ours[0], reference.permute(1, 2, 0))  # the same decoder, turned
    # and as the CPU path gives it (OpenCV, which reads the orientation itself)
    cpu = torch.from_numpy(decode_image(data, name="f.jpg"))
    assert cpu.shape == ours[0].shape
    assert float((cpu.int() - ours[0].int()).abs().float().mean()) <= 1.0
    if orientation in (5, 6, 7, 8):
        assert size == (80, 48)  # turned on its side


def test_upright_leaves_unknown_orientations_as_stored():
    image = torch.arange(24).view(1, 4, 6)
    for odd in (0, 9, -1):
        assert torch.equal(upright(image, odd), image)


def test_header_orientation_of_what_is_no_image_is_upright():
    assert header_orientation(b"") == 1
    assert header_orientation(b"\xff\xd8\xff\xe1 not really exif") == 1


def test_encoded_frames_read_the_orientation_in_the_loader(tmp_path: Path, stored: np.ndarray):
    path = tmp_path / "turned.jpg"
    path.write_bytes(_jpeg(stored, 6))
    index, frame, error = EncodedFrames([str(path), str(tmp_path / "gone.jpg")])[0]
    assert index == 0 and error is None and frame is not None and frame.orientation == 6
    _, missing, error = EncodedFrames([str(tmp_path / "gone.jpg")])[0]
    assert missing is None and error is not None and "gone.jpg" in error


def test_a_turned_photo_is_prelabeled_upright_when_decoded_on_the_device(tmp_path: Path):
    """A frame stored on its side (EXIF 6) is in the project at its upright size; decoded
    where the model runs it gives the labels that decoding in the workers gives."""
    from roadmark.io.predictions import read_prediction

    (frame,) = generate_drive(frames=1, width=256, height=128, seed=2)
    on_side = np.ascontiguousarray(np.rot90(frame.image, 1))  # stored turned, 128 x 256
    path = tmp_path / "phone.jpg"
    path.write_bytes(_jpeg(on_side, 6))  # 6: turn 90 degrees clockwise to show
    assert read_image(path).shape == (128, 256, 3)
    model = load_model(demo_model_path())
    with Project.create(tmp_path / "p.roadmark") as project:
        specs: list[FrameSpec] = list(scan([path]))
        project.add_frames(specs)
        (row,) = project.frames()
        assert (row.width, row.height) == (256, 128)
        prelabel(project, model, PrelabelOptions(device="cpu", decode="workers"))
        workers = read_prediction(project, row.id).maps
        done = prelabel(project, model, PrelabelOptions(device="cpu", decode="device",
                                                         force=True))
        assert done.predicted == 1
        device = read_prediction(project, row.id).maps
    assert workers is not None and device is not None
    assert device.shape == workers.shape == (64, 128)
    # two JPEG decoders and two resizes: nearly the same labels
    assert (device.label_ids == workers.label_ids).mean() > 0.9


def test_a_frame_the_device_refuses_is_decoded_as_on_the_cpu(
    stored: np.ndarray, monkeypatch: pytest.MonkeyPatch
):
    """One frame that the device's decoder cannot read (a CMYK JPEG, say) fails the batch's
    call: each frame is tried alone, and the refused one is decoded by OpenCV instead."""
    import torchvision.io

    datas = [_jpeg(stored, 1), _jpeg(stored, 3), _jpeg(stored, 1), _jpeg(stored, 6)]
    frames = [EncodedFrame(torch.frombuffer(bytearray(d), dtype=torch.uint8),
                           header_orientation(d)) for d in datas]
    cpu = torch.device("cpu")
    alone = [decode_on_device([f], ["f.jpg"], (80, 48) if f.orientation == 6 else (48, 80),
                              cpu)[0] for f in frames]
    opencv = [torch.from_numpy(decode_image(d, name="f.jpg")) for d in datas]
    real = torchvision.io.decode_jpeg
    refused = (frames[1].data, frames[3].data)

    def refusing(input, *args, **kwargs):
        if any(torch.equal(t, r) for t in input for r in refused):
            raise RuntimeError("nvjpeg: unsupported")
        return real(input, *args, **kwargs)

    monkeypatch.setattr(torchvision.io, "decode_jpeg", refusing)
    batch = decode_on_device(frames[:3], ["a.jpg", "refused.jpg", "c.jpg"], (48, 80), cpu)
    assert torch.equal(batch[0], alone[0]) and torch.equal(batch[2], alone[2])
    assert torch.equal(batch[1], opencv[1])  # OpenCV's decoding, turned 180 degrees
    (turned,) = decode_on_device([frames[3]], ["refused.jpg"], (80, 48), cpu)
    assert torch.equal(turned, opencv[3])  # on its side, turned upright by OpenCV


def test_a_file_no_decoder_reads_is_named(stored: np.ndarray):
    from roadmark.io.errors import FrameSourceError

    good = _jpeg(stored, None)
    broken = good[:300]
    frames = [EncodedFrame(torch.frombuffer(bytearray(d), dtype=torch.uint8), 1)
              for d in (good, broken)]
    with pytest.raises(FrameSourceError, match=r"broken\.jpg: is not a readable image"):
        decode_on_device(frames, ["good.jpg", "broken.jpg"], (48, 80), torch.device("cpu"))

