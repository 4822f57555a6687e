"""Dataset imports take image sizes from headers; what a header cannot vouch for is still
refused before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from roadmark.io import frames
from roadmark.io.errors import FrameSourceError
from roadmark.io.formats.errors import FormatError
from roadmark.io.formats.jobs import import_dataset
from roadmark.io.store import Project
from tests.helpers import make_image


def _coco(folder: Path, sizes: list[tuple[int, int]]) -> Path:
    folder.mkdir()
    images = []
    for index, (width, height) in enumerate(sizes):
        make_image(folder / f"f{index}.png", 64, 48, seed=index)
        images.append({"id": index, "file_name": f"f{index}.png", "width": width, "height": height})
    annotation = {"id": 1, "image_id": 0, "category_id": 1, "iscrowd": 0}
    annotation["segmentation"] = [[2, 2, 30, 2, 30, 20, 2, 20]]
    data = {
        "images": images,
        "annotations": [annotation],
        "categories": [{"id": 1, "name": "car"}],
    }
    path = folder / "coco.json"
    path.write_text(json.dumps(data))
    return path


def test_the_import_decodes_no_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    source = _coco(tmp_path / "ds", [(64, 48), (64, 48)])

    def no_decoding(path: Path, *, reduce: int = 1):
        raise AssertionError(f"decoded {path}")

    monkeypatch.setattr(frames, "read_image", no_decoding)
    with Project.create(tmp_path / "p.roadmark") as project:
        report = import_dataset(project, "coco", source)
        assert (report.frames, report.objects) == (2, 1)
        assert [(f.width, f.height) for f in project.frames()] == [(64, 48), (64, 48)]


def test_a_cut_image_and_a_wrong_size_are_refused(tmp_path: Path):
    source = _coco(tmp_path / "ds", [(64, 48), (64, 48)])
    image = tmp_path / "ds" / "f1.png"
    data = image.read_bytes()
    image.write_bytes(data[: len(data) // 2])
    with Project.create(tmp_path / "p.roadmark") as project:
        with pytest.raises(FrameSourceError, match=r"f1\.png"):
            import_dataset(project, "coco", source)
        assert project.frame_count() == 0
    wrong = _coco(tmp_path / "ds2", [(64, 48), (64, 40)])
    with Project.create(tmp_path / "q.roadmark") as project:
        with pytest.raises(FormatError, match="64 x 40"):
            import_dataset(project, "coco", wrong)
        assert project.frame_count() == 0
