"""``roadmark model``, ``prelabel``, ``queue`` and the predictions export on the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from roadmark.cli import main
from roadmark.io.predictions import predicted_frame_ids
from roadmark.io.stats import project_info
from roadmark.io.store import Project
from tests.helpers import make_image


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "roadmark", *args], capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    images = tmp_path / "images"
    images.mkdir()
    for i in range(3):
        make_image(images / f"f{i}.png", width=64, height=48, seed=i)
    path = tmp_path / "p.roadmark"
    assert main(["new", str(path)]) == 0
    assert main(["add", str(path), str(images)]) == 0
    return path


@pytest.fixture
def model(tmp_path: Path, project: Path, capsys: pytest.CaptureFixture) -> Path:
    out = tmp_path / "tiny.roadmodel"
    args = ["model", "new", str(out), "--arch", "lraspp_mobilenet_v3_large"]
    assert main([*args, "--input-size", "64x64", "--seed", "0", "--schema", str(project)]) == 0
    assert "wrote" in capsys.readouterr().out
    return out


def test_model_new_info_prelabel_queue_export(
    project: Path, model: Path, tmp_path: Path, capsys: pytest.CaptureFixture
):
    assert main(["model", "info", str(model)]) == 0
    info = capsys.readouterr().out
    assert "lraspp_mobilenet_v3_large" in info and "0 road -> road" in info
    assert main(["model", "info", str(model), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["input"]["size"] == [64, 64]

    args = ["prelabel", str(project), "--model", str(model), "--device", "cpu", "--workers", "0"]
    assert main([*args, "--frames", "0-1", "--batch", "2"]) == 0
    captured = capsys.readouterr()
    assert "prelabeled 2 of 2 frames with tiny on cpu" in captured.out
    assert "frames/s" in captured.out
    assert "frame" in captured.err and "2/2" in captured.err  # the progress bar
    second = main_output(args, capsys)
    assert "prelabeled 1 of 3 frames" in second and "2 skipped" in second
    assert "prelabeled 0 of 3 frames" in main_output(args, capsys)
    assert "prelabeled 3 of 3" in main_output([*args, "--force"], capsys)
    with Project.open(project, read_only=True) as opened:
        assert len(predicted_frame_ids(opened, "tiny")) == 3
        assert project_info(opened)["objects"] == 0  # predictions stay apart from the labels

    assert main(["queue", str(project), "--top", "2", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert 1 <= len(rows) <= 2 and rows[0]["score"] >= rows[-1]["score"]
    assert rows[0]["model"] == "tiny" and rows[0]["frame"].startswith("f")
    assert main(["queue", str(project)]) == 0
    assert "rank" in capsys.readouterr().out

    out = tmp_path / "pred"
    assert main(["export", str(project), "--format", "predictions", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert "f0_pred_labelIds.png" in names and "f2_uncertainty.png" in names


def main_output(args: list[str], capsys: pytest.CaptureFixture) -> str:
    assert main(args) == 0
    return capsys.readouterr().out


def test_cuda_on_a_machine_without_it_is_a_clear_error(project: Path, model: Path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = run("prelabel", str(project), "--model", str(model), "--device", "cuda")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no usable CUDA GPU" in lines[0] and "--device" in lines[0]
    result = run("prelabel", str(project), "--model", str(model), "--device", "gpu7")
    assert result.returncode == 2 and "bad device 'gpu7'" in result.stderr


def fails(args: list[str], capsys: pytest.CaptureFixture) -> str:
    """Run in-process; expect exit status 2 and one line on stderr, which is returned."""
    assert main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_bad_model_files_and_class_mappings(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture
):
    junk = tmp_path / "junk.roadmodel"
    junk.write_bytes(b"\x00garbage")
    error = fails(["prelabel", str(project), "--model", str(junk), "--device", "cpu"], capsys)
    assert str(junk) in error and "not a roadmark model" in error
    error = fails(["model", "info", str(tmp_path / "missing.roadmodel")], capsys)
    assert "no such model file" in error

    out = tmp_path / "bad.roadmodel"
    arch = ["model", "new", str(out), "--arch", "lraspp_mobilenet_v3_large"]
    error = fails([*arch, "--classes", "road,spaceship=warp"], capsys)
    assert "'warp'" in error and "classes[1]" in error and not out.exists()
    error = fails(["model", "new", str(out), "--arch", "resnet9000"], capsys)
    assert "unknown architecture" in error
    error = fails(
        ["model", "new", str(out), "--torchscript", str(junk), "--classes", "road"], capsys
    )
    assert "--task" in error


def test_a_model_made_for_another_schema_is_refused(
    tmp_path: Path, project: Path, capsys: pytest.CaptureFixture
):
    schema = tmp_path / "schema.json"
    schema.write_text(
        json.dumps(
            {
                "name": "tiny",
                "labels": [
                    {"name": "unlabeled", "id": 0, "trainId": 255, "category": "void",
                     "ignoreInEval": True, "color": [0, 0, 0]},
                    {"name": "lane", "id": 1, "trainId": 0, "category": "flat",
                     "color": [255, 255, 255]},
                ],
            }
        )
    )  # fmt: skip
    other = tmp_path / "other.roadmodel"
    made = ["model", "new", str(other), "--arch", "lraspp_mobilenet_v3_large"]
    assert main([*made, "--schema", str(schema), "--input-size", "64x64"]) == 0
    capsys.readouterr()
    error = fails(["prelabel", str(project), "--model", str(other), "--device", "cpu"], capsys)
    assert "'lane'" in error and "classes[0]" in error and str(other) in error
