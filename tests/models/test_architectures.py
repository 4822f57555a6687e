"""Every registered architecture builds offline and runs through the predictor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from roadmark.core.schema import LabelSchema
from roadmark.io.schema_files import load_schema
from roadmark.models.architectures import architecture, architectures
from roadmark.models.errors import ModelFileError
from roadmark.models.files import LoadedModel
from roadmark.models.manifest import InputSpec, ModelManifest, default_classes
from roadmark.models.predictor import Predictor

LISTED = {
    "lraspp_mobilenet_v3_large",
    "deeplabv3_mobilenet_v3_large",
    "deeplabv3_resnet50",
    "deeplabv3_resnet101",
    "fcn_resnet50",
    "fcn_resnet101",
    "fasterrcnn_mobilenet_v3_large_fpn",
    "fasterrcnn_resnet50_fpn",
    "fasterrcnn_resnet50_fpn_v2",
    "retinanet_resnet50_fpn",
    "retinanet_resnet50_fpn_v2",
    "fcos_resnet50_fpn",
    "ssdlite320_mobilenet_v3_large",
}
SMALL = {"min_size": 64, "max_size": 64}


@pytest.fixture(scope="module")
def schema() -> LabelSchema:
    return load_schema("cityscapes")


def _loaded(name: str, schema: LabelSchema) -> LoadedModel:
    arch = architecture(name)
    classes = default_classes(schema, arch.task)
    options = {k: v for k, v in SMALL.items() if k in arch.options}
    manifest = ModelManifest(
        name=name,
        kind="torchvision",
        task=arch.task,
        classes=tuple(classes),
        input=InputSpec(arch.mean, arch.std, None, None),
        output=arch.output,
        arch=name,
        arch_options=options,
    )
    torch.manual_seed(0)
    module = arch.build(len(classes), options)
    return LoadedModel(manifest, module, Path(f"{name}.roadmodel"), "0" * 64)


def test_every_listed_architecture_is_registered():
    assert LISTED <= set(architectures())
    assert set(architectures("segmentation")) & set(architectures("detection")) == set()


@pytest.mark.parametrize("name", sorted(LISTED))
def test_builds_offline_and_runs_on_a_tiny_frame(name: str, schema: LabelSchema, monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("tried to download weights")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    model = _loaded(name, schema)
    # the mirrored pass (tested with the mobile detector) doubles the cost of the big ones
    predictor = Predictor(model, schema, device="cpu", flip="mobilenet" in name)
    frames = torch.from_numpy(np.random.default_rng(0).integers(0, 255, (1, 64, 64, 3), np.uint8))
    (prediction,) = predictor.unpack(predictor.to_host(predictor.infer(frames)), [1])
    if model.manifest.task == "segmentation":
        maps = prediction.maps
        assert maps is not None and maps.shape == (32, 32)
        assert set(np.unique(maps.label_ids)) <= {label.id for label in schema}
        assert maps.confidence.max() <= 255 and (maps.margin <= maps.confidence).all()
    else:
        assert prediction.maps is None
        for box in prediction.boxes:
            assert 0 <= box.box.x0 <= box.box.x1 <= 64 and 0.0 <= box.score <= 1.0


def test_options_are_checked():
    arch = architecture("fasterrcnn_mobilenet_v3_large_fpn")
    with pytest.raises(ModelFileError, match="weights") as error:
        arch.build(3, {"weights": "DEFAULT"})
    assert error.value.field == "arch_options.weights"
    with pytest.raises(ModelFileError, match="must be int"):
        arch.build(3, {"min_size": "big"})
    with pytest.raises(ModelFileError, match="unknown architecture 'resnet9'"):
        architecture("resnet9")
