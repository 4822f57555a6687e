"""Video frame ranges and extraction into the project's frame folder."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from roadmark.cli import main
from roadmark.core.jobs import CancelToken, JobCancelled
from roadmark.io.errors import FrameSourceError
from roadmark.io.frames import VideoReader, read_image, scan
from roadmark.io.store import Project
from roadmark.io.video_cache import extract_frames, frame_folder
from tests.helpers import make_image
from tests.io.test_frames import _write_video


def test_frame_range_of_a_video(tmp_path: Path):
    video = _write_video(tmp_path / "drive.avi")
    specs = scan([video], every=2, start=3, end=9)
    assert [(s.video_frame, s.sequence_index) for s in specs] == [(3, 3), (5, 5), (7, 7)]
    assert [s.video_frame for s in scan([video], start=10)] == [10, 11]


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (12, None, r"frame range 12\.\.11 is outside the video \(frames 0\.\.11\)"),
        (0, 13, r"frame range 0\.\.12 is outside the video"),
        (5, 5, "bad frame range"),
        (-1, None, "bad frame range"),
    ],
)
def test_frame_range_outside_the_video_is_refused(
    tmp_path: Path, start: int, end: int | None, message: str
):
    video = _write_video(tmp_path / "drive.avi")
    with pytest.raises(FrameSourceError, match=message) as caught:
        scan([video], start=start, end=end)
    assert caught.value.field == "--start/--end"


def test_extraction_writes_images_that_keep_sequence_and_index(tmp_path: Path):
    video = _write_video(tmp_path / "drive.avi")
    image = make_image(tmp_path / "still.png")
    specs = scan([image, video], every=4)
    folder = frame_folder(tmp_path / "p.roadmark")
    assert folder == tmp_path / "p-frames"
    calls: list[tuple[int, int]] = []
    out = extract_frames(specs, folder, progress=lambda d, t: calls.append((d, t)))
    assert out[0] == specs[0]  # images pass through
    assert [(s.video_frame, s.sequence, s.sequence_index) for s in out[1:]] == [
        (None, "drive", 0),
        (None, "drive", 4),
        (None, "drive", 8),
    ]
    assert calls[-1] == (3, 3)
    reader = VideoReader(video)
    for spec in out[1:]:
        assert spec.path.parent.parent == folder and spec.path.suffix == ".png"
        assert np.array_equal(read_image(spec.path), reader.read(spec.sequence_index))
    reader.close()
    jpegs = extract_frames(specs, folder, image_format="jpg")
    assert jpegs[1].path.suffix == ".jpg" and jpegs[1].path.is_file()


def test_a_frame_that_does_not_decode_leaves_nothing_behind(tmp_path: Path):
    video = _write_video(tmp_path / "drive.avi")
    data = video.read_bytes()
    broken = tmp_path / "broken.avi"
    broken.write_bytes(data[: int(len(data) * 0.8)])  # header says 12 frames, 5 decode
    # scan refuses it (its last frame does not decode); frames listed before the file was
    # cut short are what extraction can meet
    specs = [replace(spec, path=broken.resolve()) for spec in scan([video])]
    folder = tmp_path / "p-frames"
    with pytest.raises(FrameSourceError, match=r"frame \d+ does not decode") as caught:
        extract_frames(specs, folder)
    assert caught.value.path == str(broken.resolve())
    assert not folder.exists()


def test_cancelling_removes_what_was_written(tmp_path: Path):
    specs = scan([_write_video(tmp_path / "drive.avi")])
    folder = tmp_path / "p-frames"
    folder.mkdir()
    (folder / "keep.txt").write_text("not ours")
    done: list[int] = []
    stop = CancelToken()

    def progress(d: int, t: int) -> None:
        done.append(d)
        if len(done) >= 3:
            stop.cancel()

    with pytest.raises(JobCancelled):
        extract_frames(specs, folder, progress=progress, cancel=stop)
    assert done == [1, 2, 3]
    assert sorted(p.name for p in folder.rglob("*")) == ["keep.txt"]
    with pytest.raises(FrameSourceError, match="unknown image format"):
        extract_frames(specs, folder, image_format="gif")


def test_cli_add_video_with_range_and_extraction(tmp_path: Path, capsys: pytest.CaptureFixture):
    video = _write_video(tmp_path / "drive.avi")
    project = tmp_path / "p.roadmark"
    assert main(["new", str(project)]) == 0
    code = main(["add", str(project), str(video), "--every", "3", "--start", "1", "--extract"])
    assert code == 0
    assert "added 4 frames" in capsys.readouterr().out
    with Project.open(project) as opened:
        frames = opened.frames()
    assert [(f.sequence, f.sequence_index, f.video_frame) for f in frames] == [
        ("drive", i, None) for i in (1, 4, 7, 10)
    ]
    assert all(f.path.startswith("p-frames/drive-") and f.path.endswith(".png") for f in frames)

    assert main(["add", str(project), str(video), "--start", "20"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1
    assert "drive.avi: --start/--end: frame range 20..11 is outside the video" in error[0]
    with Project.open(project) as opened:
        assert opened.frame_count() == 4


def test_a_video_cut_short_is_refused_with_a_clear_error(tmp_path: Path, capsys):
    video = _write_video(tmp_path / "drive.avi")
    data = video.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: int(len(data) * 0.8)])  # header says 12 frames, 5 decode
    with pytest.raises(FrameSourceError, match="does not decode: the video may be cut short"):
        scan([cut], every=5)
    assert [s.video_frame for s in scan([cut], every=2, end=4)] == [0, 2]
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 255, 5000, np.uint8).tobytes())
    project = tmp_path / "p.roadmark"
    assert main(["new", str(project)]) == 0
    assert main(["add", str(project), str(cut), "--every", "5"]) == 2
    assert main(["add", str(project), str(garbage)]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert errors[-2].startswith("roadmark: error: ") and "cut.avi" in errors[-2]
    assert "garbage.mp4" in errors[-1] and "cannot open video" in errors[-1]
    with Project.open(project) as opened:
        assert opened.frames() == []
