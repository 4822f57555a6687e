"""``train --backbone-weights``: a new model's backbone starts from a local ImageNet file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torchvision import models

from roadmark.cli import main
from roadmark.io.demo_project import build_demo_project
from roadmark.models.architectures import architecture
from roadmark.models.backbone import backbone_of, load_backbone
from roadmark.models.errors import ModelFileError
from roadmark.models.files import load_model


@pytest.fixture(scope="module")
def imagenet_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in for torchvision's mobilenet_v3_large ImageNet file (same names and
    shapes, random values: nothing is downloaded)."""
    torch.manual_seed(7)
    classifier = models.mobilenet_v3_large(weights=None)
    path = tmp_path_factory.mktemp("imagenet") / "mobilenet_v3_large-imagenet.pth"
    torch.save(classifier.state_dict(), path)
    return path


def test_the_backbone_takes_every_tensor_and_the_head_stays_random(imagenet_file: Path):
    source = torch.load(imagenet_file, weights_only=True)
    module = architecture("lraspp_mobilenet_v3_large").build(5)
    head_before = {k: v.clone() for k, v in module.classifier.state_dict().items()}
    loaded = load_backbone(module, imagenet_file)
    assert loaded.matched == loaded.total > 100
    for key, tensor in backbone_of(module).state_dict().items():
        assert torch.equal(tensor, source["features." + key])
    for key, tensor in module.classifier.state_dict().items():
        assert torch.equal(tensor, head_before[key])
    detector = architecture("fasterrcnn_mobilenet_v3_large_fpn").build(3)
    assert load_backbone(detector, imagenet_file).matched > 100  # backbone.body


def test_a_file_of_another_network_is_refused_naming_it(tmp_path: Path):
    other = tmp_path / "resnet18.pth"
    torch.save(models.resnet18(weights=None).state_dict(), other)
    module = architecture("lraspp_mobilenet_v3_large").build(5)
    with pytest.raises(ModelFileError, match="fits only") as error:
        load_backbone(module, other)
    assert str(other) in str(error.value)


def test_train_cli_records_the_backbone(imagenet_file: Path, tmp_path: Path, capsys):
    project = tmp_path / "tiny.roadmark"
    build_demo_project(project, frames=3, labeled=3, width=128, height=64).close()
    out = tmp_path / "m.roadmodel"
    code = main(
        [
            "train", str(project), "--out", str(out), "--epochs", "1", "--device", "cpu",
            "--backbone-weights", str(imagenet_file), "--batch", "2",
        ]
    )  # fmt: skip
    assert code == 0
    training = load_model(out).manifest.training
    assert "backbone mobilenet_v3_large-imagenet.pth" in training["started_from"]
    capsys.readouterr()
    code = main(
        [
            "train", str(project), "--out", str(tmp_path / "n.roadmodel"), "--device", "cpu",
            "--init", str(out), "--backbone-weights", str(imagenet_file),
        ]
    )  # fmt: skip
    assert code == 2 and "--backbone-weights" in capsys.readouterr().err
