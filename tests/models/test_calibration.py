"""Calibrated confidence: temperature scaling after training, ``model calibrate``, ECE in
``model info``, the predictor applying the temperature, and test-time flip averaging."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from roadmark.cli import main
from roadmark.io.demo_project import build_demo_project
from roadmark.io.predictions import ranked_regions
from roadmark.io.store import Project
from roadmark.models.calibration import (
    CalibrationError,
    calibration_error,
    collect_pixels,
    fit_temperature,
)
from roadmark.models.errors import ModelFileError
from roadmark.models.files import load_model, read_manifest, rewrite_manifest
from roadmark.models.manifest import ModelManifest
from roadmark.models.predictor import Predictor
from roadmark.models.training import TrainOptions, train


def _overconfident(temperature: float, n: int = 20000, classes: int = 5, seed: int = 0):
    """Logits ``temperature`` times sharper than the probabilities the classes follow."""
    generator = torch.Generator().manual_seed(seed)
    honest = torch.randn((n, classes), generator=generator) * 1.5
    targets = torch.multinomial(F.softmax(honest, dim=1), 1, generator=generator).flatten()
    return honest * temperature, targets


def test_the_fitted_temperature_undoes_over_confidence():
    logits, targets = _overconfident(3.0)
    temperature = fit_temperature(logits, targets)
    assert temperature == pytest.approx(3.0, rel=0.1)
    before = calibration_error(logits, targets)
    after = calibration_error(logits, targets, temperature)
    assert before > 0.1 and after < 0.02
    # An honest model keeps T near 1.
    honest, honest_targets = _overconfident(1.0, seed=1)
    assert fit_temperature(honest, honest_targets) == pytest.approx(1.0, abs=0.1)
    with pytest.raises(CalibrationError, match="no labeled pixels"):
        fit_temperature(torch.zeros((0, 3)), torch.zeros(0, dtype=torch.long))


def test_collect_pixels_skips_ignored_pixels_and_caps_each_frame():
    image = torch.zeros((3, 8, 8), dtype=torch.uint8)
    target = torch.full((8, 8), 255, dtype=torch.uint8)
    target[:2] = 1  # 16 labeled pixels
    logits = torch.randn((1, 3, 4, 4))  # upsampled to the target's size
    found, classes, frames = collect_pixels([(image, target)], lambda _: logits, max_pixels=10)
    assert frames == 1 and found.shape == (10, 3) and set(classes.tolist()) == {1}
    none = collect_pixels([(image, torch.full((8, 8), 255, dtype=torch.uint8))], lambda _: logits)
    assert none[2] == 0


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny project (5 frames, 4 labeled) and a model trained on it for one epoch."""
    folder = tmp_path_factory.mktemp("calib")
    project_path = folder / "tiny.roadmark"
    build_demo_project(project_path, frames=5, labeled=4, width=128, height=64).close()
    out = folder / "seg.roadmodel"
    options = TrainOptions(device="cpu", batch_size=2, min_epoch_samples=4, epochs=1, lr=2e-3)
    with Project.open(project_path) as project:
        result = train(project, out, options)
    assert result.calibration is not None
    return project_path, out


def test_training_fits_a_temperature_on_the_held_out_frames(trained, capsys):
    _, out = trained
    manifest = read_manifest(out)
    calibration = manifest.calibration
    assert calibration["fitted_on"] == "validation" and calibration["frames"] == 1
    assert calibration["pixels"] > 0
    assert manifest.temperature == calibration["temperature"] != 1.0
    assert calibration["ece_after"] <= calibration["ece_before"] + 1e-6
    assert calibration["nll_after"] <= calibration["nll_before"] + 1e-6
    record = manifest.training["calibration"]
    assert record == {k: calibration[k] for k in ("temperature", "ece_before", "ece_after")}
    assert main(["model", "info", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"temperature {calibration['temperature']:.3f}" in text
    assert f"ECE {calibration['ece_before']:.4f} before -> {calibration['ece_after']:.4f}" in text


def test_model_calibrate_on_a_project_rewrites_the_manifest(trained, tmp_path, capsys):
    project_path, out = trained
    copy = tmp_path / "copy.roadmodel"
    copy.write_bytes(out.read_bytes())
    rewrite_manifest(copy, replace(read_manifest(copy), calibration={}))
    assert read_manifest(copy).temperature == 1.0
    assert main(["model", "info", str(copy)]) == 0
    assert "calibration  none" in capsys.readouterr().out
    code = main(["model", "calibrate", str(copy), str(project_path), "--device", "cpu", "--json"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    manifest = read_manifest(copy)
    assert manifest.calibration["temperature"] == printed["temperature"]
    assert printed["frames"] == 4 and printed["fitted_on"] == "labeled frames of tiny.roadmark"
    assert printed["ece_after"] <= printed["ece_before"] + 1e-6
    # The weights are untouched: both files predict the same labels.
    original, calibrated = load_model(out), load_model(copy)
    for a, b in zip(
        original.module.state_dict().values(), calibrated.module.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)


def test_the_predictor_applies_the_temperature(trained):
    project_path, out = trained
    with Project.open(project_path, read_only=True) as project:
        schema = project.schema
    model = load_model(out)
    frames = torch.randint(0, 255, (1, 64, 128, 3), dtype=torch.uint8)
    hot = replace(model, manifest=model.manifest.with_calibration({"temperature": 4.0}))
    cold = replace(model, manifest=model.manifest.with_calibration({}))
    sharp = Predictor(cold, schema, device="cpu").infer(frames).maps
    soft = Predictor(hot, schema, device="cpu").infer(frames).maps
    assert sharp is not None and soft is not None
    assert torch.equal(sharp["label_ids"], soft["label_ids"])  # the winner never changes
    assert soft["confidence"].float().mean() < sharp["confidence"].float().mean()


def test_flip_averaging_is_the_mean_of_both_passes(trained):
    project_path, out = trained
    with Project.open(project_path, read_only=True) as project:
        schema = project.schema
    model = load_model(out)
    frames = torch.randint(0, 255, (1, 64, 128, 3), dtype=torch.uint8)
    plain = Predictor(model, schema, device="cpu")
    flipped = Predictor(model, schema, device="cpu", tta_flip=True)
    x = plain.prepare(frames)
    t = model.manifest.temperature
    with torch.inference_mode():
        a = F.softmax(plain.forward(x)["out"].float() / t, dim=1)
        b = F.softmax(plain.forward(x.flip(-1))["out"].float().flip(-1) / t, dim=1)
        expected = plain.summarize(((a + b) / 2).log(), (64, 128), temperature=1.0)
    maps = flipped.infer(frames).maps
    assert maps is not None
    assert (maps["confidence"].int() - expected["confidence"].int()).abs().max() <= 1
    assert not torch.equal(maps["confidence"], plain.infer(frames).maps["confidence"])


def test_a_temperature_out_of_range_is_refused(trained):
    _, out = trained
    data = read_manifest(out).to_dict()
    for bad in (0.0, -1.0, math.inf, "2", True):
        data["calibration"] = {"temperature": bad}
        with pytest.raises(ModelFileError, match=r"calibration\.temperature"):
            ModelManifest.from_dict(data, source="m.roadmodel")


def test_model_calibrate_refuses_a_project_without_labeled_frames(trained, tmp_path, capsys):
    _, out = trained
    empty = tmp_path / "empty.roadmark"
    Project.create(empty).close()
    assert main(["model", "calibrate", str(out), str(empty), "--device", "cpu"]) == 2
    error = capsys.readouterr().err
    assert "empty.roadmark" in error and "no labeled frames" in error


def test_prelabel_cli_takes_tta_flip_and_a_region_cap(trained, tmp_path, capsys):
    copy, out = trained  # the last test of the module: pre-labeling its unlabeled frame
    base = ["prelabel", str(copy), "--model", str(out), "--device", "cpu", "--workers", "0"]
    assert main([*base, "--tta", "flip", "--max-extent", "32", "--frames", "4"]) == 0
    assert "prelabeled 1 of 1 frames" in capsys.readouterr().out
    with Project.open(copy, read_only=True) as project:
        regions = ranked_regions(project)
    assert regions and all(max(r.box.width, r.box.height) <= 32 for r in regions)
    assert main([*base, "--max-extent", "5"]) == 2
    assert "max_extent must be >= 16" in capsys.readouterr().err
