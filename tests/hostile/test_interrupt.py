"""Ctrl+C during ``roadmark import``: before the commit nothing is imported (exit 130);
after it, the import is reported as done (exit 0), so nobody imports it twice."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from roadmark.cli import main
from roadmark.io.formats import jobs
from roadmark.io.stats import project_info
from roadmark.io.store import Project
from tests.helpers import make_image


@pytest.fixture
def dataset(tmp_path: Path) -> tuple[Path, Path]:
    make_image(tmp_path / "img.png")
    coco = tmp_path / "coco.json"
    coco.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "img.png", "width": 64, "height": 48}],
        "categories": [{"id": 26, "name": "car"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 26, "bbox": [1, 1, 9, 9]}],
    }))  # fmt: skip
    project = tmp_path / "p.roadmark"
    Project.create(project).close()
    return project, coco


def _objects(project: Path) -> int:
    with Project.open(project, read_only=True) as opened:
        return project_info(opened)["objects"]


def test_ctrl_c_after_the_commit_reports_success(
    dataset, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    project, coco = dataset
    real = jobs.import_dataset

    def import_then_ctrl_c(*args, **kwargs):
        report = real(*args, **kwargs)  # committed
        os.kill(os.getpid(), signal.SIGINT)
        return report

    monkeypatch.setattr(jobs, "import_dataset", import_then_ctrl_c)
    assert main(["import", str(project), "--format", "coco", str(coco)]) == 0
    assert "imported 1 objects" in capsys.readouterr().out
    assert _objects(project) == 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_before_the_commit_imports_nothing(
    dataset, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    project, coco = dataset
    real = jobs.import_dataset

    def ctrl_c_then_import(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kwargs)

    monkeypatch.setattr(jobs, "import_dataset", ctrl_c_then_import)
    assert main(["import", str(project), "--format", "coco", str(coco)]) == 130
    assert "interrupted; nothing was imported" in capsys.readouterr().err
    assert _objects(project) == 0
