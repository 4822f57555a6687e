"""``roadmark audit`` end to end with a tiny random model, and its bad-input errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from roadmark.cli import main
from roadmark.core.schema import cityscapes_schema
from roadmark.io.frames import scan
from roadmark.io.predictions import predicted_frame_ids
from roadmark.io.store import Project
from roadmark.models.create import new_torchvision_model
from tests.helpers import make_image, region


@pytest.fixture
def labeled(tmp_path: Path) -> Path:
    path = tmp_path / "p.roadmark"
    images = [make_image(tmp_path / f"f{i}.png", 64, 48, seed=i) for i in range(3)]
    with Project.create(path) as project:
        ids, _ = project.add_frames(scan(images))
        for frame_id in ids[:2]:
            project.add_objects(frame_id, [region(7, 0, 0, 64, 48), region(26, 8, 8, 30, 30)])
    return path


def test_audit_json_lists_findings_of_labeled_frames(labeled: Path, tmp_path: Path, capsys):
    model = tmp_path / "seg.roadmodel"
    new_torchvision_model(model, "lraspp_mobilenet_v3_large", schema=cityscapes_schema(), seed=0)
    code = main(["audit", str(labeled), "--model", str(model), "--device", "cpu", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    data = json.loads(out)
    assert data["model"] == "seg" and data["frames_compared"] == 2
    for finding in data["findings"]:
        assert set(finding) >= {"frame", "frame_id", "bbox", "labeled_class", "predicted_class"}
        assert 0.0 <= finding["model_confidence"] <= 1.0 and finding["disagreeing_area"] > 0
    with Project.open(labeled) as project:
        frames = project.frames()
        assert predicted_frame_ids(project, "seg") == {frames[0].id, frames[1].id}
    assert main(["audit", str(labeled), "--model", str(model), "--device", "cpu"]) == 0
    assert "2 labeled frames compared with seg" in capsys.readouterr().out


def test_audit_refuses_bad_model_and_detector(labeled: Path, tmp_path: Path, capsys):
    bad = tmp_path / "bad.roadmodel"
    bad.write_bytes(b"not a model")
    assert main(["audit", str(labeled), "--model", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.roadmodel" in err[0]
    det = tmp_path / "det.roadmodel"
    new_torchvision_model(det, "ssdlite320_mobilenet_v3_large", schema=cityscapes_schema(), seed=0)
    assert main(["audit", str(labeled), "--model", str(det), "--device", "cpu"]) == 2
    assert "compares segmentations" in capsys.readouterr().err
