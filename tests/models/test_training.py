"""Training end to end on tiny generated frames (CPU, a few steps)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from roadmark.cli import main
from roadmark.core.jobs import CancelToken
from roadmark.io.demo_project import build_demo_project
from roadmark.io.store import Project
from roadmark.models.errors import ModelFileError
from roadmark.models.files import load_model
from roadmark.models.predictor import Predictor
from roadmark.models.training import TrainingError, TrainOptions, TrainUpdate, train
from tests.helpers import make_image


@pytest.fixture(scope="module")
def tiny_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five 128x64 frames of the synthetic drive, the first four labeled (done)."""
    path = tmp_path_factory.mktemp("tiny") / "tiny.roadmark"
    build_demo_project(path, frames=5, labeled=4, width=128, height=64).close()
    return path


def _fast(**kw) -> TrainOptions:
    defaults = dict(device="cpu", batch_size=2, min_epoch_samples=8, epochs=3, lr=2e-3)
    return TrainOptions(**(defaults | kw))


def test_segmentation_loss_falls_and_the_checkpoint_is_a_model(tiny_project: Path, tmp_path):
    out = tmp_path / "seg.roadmodel"
    updates: list[TrainUpdate] = []
    with Project.open(tiny_project) as project:
        result = train(project, out, _fast(), progress=updates.append)
        schema = project.schema
    assert (result.train_frames, result.val_frames) == (3, 1)
    assert len(result.losses) == 12 and result.epochs == 3
    assert np.mean(result.losses[-3:]) < np.mean(result.losses[:3])
    assert [u.epoch for u in updates if u.kind == "epoch"] == [1, 2, 3]
    assert any(u.saved for u in updates if u.kind == "epoch")
    model = load_model(out)
    training = model.manifest.training
    assert training["train_frames"] == 3 and training["epoch"] == result.best_epoch
    validation = training["validation"]
    assert 0.0 <= validation["miou"] <= 1.0
    assert set(validation["iou"]) == {c.name for c in model.manifest.classes}
    assert validation["iou"]["road"] is not None  # road is in every frame
    assert model.manifest.arch == "lraspp_mobilenet_v3_large"
    frames = torch.zeros((1, 64, 128, 3), dtype=torch.uint8)
    predictor = Predictor(model, schema, device="cpu")
    maps = predictor.infer(frames).maps
    assert maps is not None and maps["label_ids"].shape == (1, 32, 64)


def test_detection_trains_and_reports_box_map(tiny_project: Path, tmp_path):
    out = tmp_path / "det.roadmodel"
    options = _fast(
        task="detection", epochs=2, min_epoch_samples=4, lr=1e-4,
        arch_options={"min_size": 64, "max_size": 128},
    )  # fmt: skip
    with Project.open(tiny_project) as project:
        result = train(project, out, options)
    assert result.task == "detection" and len(result.losses) == 4
    assert result.losses[-1] < result.losses[0]
    manifest = load_model(out).manifest
    assert manifest.arch == "fasterrcnn_mobilenet_v3_large_fpn"
    assert manifest.classes[0].label is None  # background
    validation = manifest.training["validation"]
    assert validation["boxes"] > 0 and 0.0 <= validation["map"] <= 1.0


def test_fine_tuning_starts_from_a_model_and_cancel_keeps_the_best(tiny_project: Path, tmp_path):
    first = tmp_path / "first.roadmodel"
    with Project.open(tiny_project) as project:
        train(project, first, _fast(epochs=1, input_size=(32, 64)))
        cancel = CancelToken()

        def stop_after_first_epoch(update: TrainUpdate) -> None:
            if update.kind == "epoch":
                cancel.cancel()

        out = tmp_path / "tuned.roadmodel"
        result = train(
            project, out, _fast(init=first, epochs=5), progress=stop_after_first_epoch,
            cancel=cancel,
        )  # fmt: skip
    assert result.cancelled and result.epochs == 1 and result.out == out
    manifest = load_model(out).manifest
    assert manifest.input.size == (32, 64)  # taken from the starting model
    assert manifest.training["epoch"] == 1 and manifest.training["started_from"] == str(first)
    assert not list(tmp_path.glob(".*saving"))


def test_training_refuses_a_project_without_labeled_frames(tmp_path: Path, capsys):
    with Project.create(tmp_path / "empty.roadmark") as project:
        from roadmark.io.frames import scan

        project.add_frames(scan([make_image(tmp_path / "a.png"), make_image(tmp_path / "b.png")]))
        with pytest.raises(TrainingError, match="no labeled frames"):
            train(project, tmp_path / "m.roadmodel", _fast())
    assert main(["train", str(tmp_path / "empty.roadmark"), "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no labeled frames" in err[0] and "empty.roadmark" in err[0]
    assert not (tmp_path / "m").exists()


def test_a_corrupted_init_checkpoint_is_refused(tiny_project: Path, tmp_path: Path, capsys):
    garbage = tmp_path / "garbage.roadmodel"
    garbage.write_bytes(b"PK\x03\x04 not really a model")
    good = tmp_path / "good.roadmodel"
    with Project.open(tiny_project) as project:
        train(project, good, _fast(epochs=1, min_epoch_samples=2, input_size=(32, 64)))
    truncated = tmp_path / "truncated.roadmodel"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    for bad in (garbage, truncated, tmp_path / "missing.roadmodel"):
        out = tmp_path / f"out-{bad.stem}.roadmodel"
        code = main(["train", str(tiny_project), "--out", str(out), "--init", str(bad)])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and str(bad) in err[0], err
        assert not out.exists()
    with Project.open(tiny_project) as project, pytest.raises(ModelFileError, match="exists"):
        train(project, good, _fast())


def test_train_command_prints_progress_and_json(tiny_project: Path, tmp_path: Path, capsys):
    out = tmp_path / "cli.roadmodel"
    args = ["train", str(tiny_project), "--out", str(out), "--epochs", "1", "--device", "cpu"]
    assert main([*args, "--input-size", "32x64", "--batch", "2", "--json"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["model"] == str(out) and summary["train_frames"] == 3
    assert "validation" in summary and "miou" in summary["validation"]
    assert "epoch 1/1" in captured.err
    assert main([*args, "--input-size", "big"]) == 2
    assert "--input-size" in capsys.readouterr().err
    if torch.cuda.device_count() < 8:
        other = ["train", str(tiny_project), "--out", str(tmp_path / "gpu.roadmodel")]
        assert main([*other, "--device", "cuda:7"]) == 2
        assert "--device" in capsys.readouterr().err
