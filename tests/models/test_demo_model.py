"""The bundled demo model and the pre-labeled demo project."""

from __future__ import annotations

from pathlib import Path

import pytest

from roadmark.core.annotation import FrameStatus
from roadmark.io import demo_project
from roadmark.io.predictions import predicted_frame_ids
from roadmark.io.store import Project
from roadmark.models.demo_model import demo_model_path, prelabel_demo
from roadmark.models.files import load_model


def test_the_demo_model_is_small_and_documents_its_training():
    path = demo_model_path()
    assert path.is_file() and path.stat().st_size < 8_000_000
    model = load_model(path)
    manifest = model.manifest
    assert manifest.task == "segmentation" and manifest.input.size == (128, 256)
    assert "make_demo_model.py" in manifest.description
    assert manifest.training["validation"]["miou"] > 0.2
    assert manifest.training["validation"]["iou"]["road"] > 0.5


def test_demo_frames_nobody_labeled_are_pre_labeled(tmp_path: Path):
    with demo_project.build_demo_project(
        tmp_path / "d.roadmark", frames=4, labeled=2, width=256, height=128
    ) as project:
        result = prelabel_demo(project, device="cpu")
        frames = project.frames()
        model = load_model(demo_model_path())
        predicted = predicted_frame_ids(project, model.name, model.digest)
    assert result.predicted == 2
    assert predicted == {frames[2].id, frames[3].id}
    assert [f.status for f in frames] == [FrameStatus.DONE] * 2 + [FrameStatus.PRELABELED] * 2


def test_ensure_demo_project_runs_prelabel_before_moving_it_in(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(demo_project, "DEMO_FRAMES", 3)
    monkeypatch.setattr(demo_project, "DEMO_LABELED", 1)
    seen: list[int] = []

    def prelabel(project: Project) -> None:
        assert ".demo-" in str(project.location)  # still in the staging folder
        seen.append(len(project.frames(status=FrameStatus.NEW)))

    path = demo_project.ensure_demo_project(prelabel=prelabel)
    assert seen == [2] and path.is_file()
    demo_project.ensure_demo_project(prelabel=prelabel)
    assert seen == [2]  # made once
