"""Model files: torchvision wrap, TorchScript and torch.export programs, manifests, safety."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from roadmark.core.schema import LabelSchema
from roadmark.io.schema_files import load_schema
from roadmark.models.create import new_torchvision_model, wrap_program
from roadmark.models.errors import ClassMappingError, ModelFileError, UnsafeModelFileError
from roadmark.models.files import (
    INT8_SCALE_SUFFIX,
    compact_state_dict,
    load_model,
    load_state_dict_file,
    read_manifest,
    save_torchvision,
)
from roadmark.models.manifest import ModelClass, ModelManifest, parse_class_list
from roadmark.models.predictor import Predictor

CLASSES = parse_class_list("__background__=,road,car,sky")


@pytest.fixture(scope="module")
def schema() -> LabelSchema:
    return load_schema("cityscapes")


class TinySegmenter(nn.Module):
    """Logits (B, 4, H/2, W/2): class 1 (road) in the lower half, 3 (sky) above."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.conv(x) * 0.0
        h = logits.shape[-2]
        rows = torch.arange(h, device=x.device).view(1, 1, h, 1)
        lower = (rows >= h // 2).float()
        bias = torch.cat([0 * lower, 5 * lower, 0 * lower, 5 * (1 - lower)], dim=1)
        return logits + bias


class TinyDetector(nn.Module):
    """One fixed box per image: (boxes (B, 1, 4), scores (B, 1), labels (B, 1))."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b = x.shape[0]
        boxes = torch.tensor([[4.0, 4.0, 20.0, 30.0]]).expand(b, 1, 4) + 0 * x.mean()
        return boxes, torch.full((b, 1), 0.9), torch.full((b, 1), 2, dtype=torch.int64)


def _frames(n: int = 2, h: int = 32, w: int = 48) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(0).integers(0, 255, (n, h, w, 3), np.uint8))


def _run(path: Path, schema: LabelSchema):
    model = load_model(path)
    predictor = Predictor(model, schema, device="cpu")
    return predictor.unpack(predictor.to_host(predictor.infer(_frames())), [1, 2])


def test_torchscript_program_loads_and_runs(tmp_path: Path, schema: LabelSchema):
    source = tmp_path / "seg.torchscript.pt"
    torch.jit.save(torch.jit.script(TinySegmenter()), str(source))
    out = tmp_path / "seg.roadmodel"
    made = wrap_program(
        out, source, kind="torchscript", task="segmentation", classes=CLASSES, schema=schema
    )
    assert made.manifest.output == "logits" and made.manifest.kind == "torchscript"
    first, _ = _run(out, schema)
    road, sky = schema.by_name["road"].id, schema.by_name["sky"].id
    assert first.maps is not None and first.maps.shape == (16, 24)
    assert (first.maps.label_ids[12:] == road).all() and (first.maps.label_ids[:6] == sky).all()
    assert read_manifest(out).classes[2] == ModelClass("car", "car")


def test_exported_program_loads_and_runs(tmp_path: Path, schema: LabelSchema):
    source = tmp_path / "det.pt2"
    program = torch.export.export(TinyDetector(), (torch.zeros(2, 3, 32, 48),))
    torch.export.save(program, str(source))
    out = tmp_path / "det"
    made = wrap_program(
        out,
        source,
        kind="export",
        task="detection",
        classes=CLASSES,
        schema=schema,
        input_size=(32, 48),
        batch=2,
        folder=True,
    )
    assert made.manifest.output == "tensors" and (out / "manifest.json").is_file()
    first, second = _run(out, schema)
    car = schema.by_name["car"].id
    assert [(b.label_id, round(b.score, 3)) for b in first.boxes if not b.flip_only] == [(car, 0.9)]
    assert second.boxes[0].box.x1 == pytest.approx(20.0)


def test_program_with_wrong_class_count_is_refused(tmp_path: Path, schema: LabelSchema):
    source = tmp_path / "seg.pt"
    torch.jit.save(torch.jit.script(TinySegmenter()), str(source))
    with pytest.raises(ClassMappingError, match="outputs 4 classes but 2 are given"):
        wrap_program(
            tmp_path / "x.roadmodel",
            source,
            kind="torchscript",
            task="segmentation",
            classes=parse_class_list("road,sky"),
            schema=schema,
        )
    assert not (tmp_path / "x.roadmodel").exists()


def test_torchvision_model_round_trip_and_weights_file(tmp_path: Path, schema: LabelSchema):
    out = tmp_path / "lr.roadmodel"
    made = new_torchvision_model(out, "lraspp_mobilenet_v3_large", schema=schema, seed=1)
    assert len(made.manifest.classes) == 19 and made.manifest.classes[0].label == "road"
    weights = tmp_path / "weights.pth"
    torch.save(made.module.state_dict(), weights)  # a bare state dict, like torch's cache
    again = new_torchvision_model(
        tmp_path / "again", "lraspp_mobilenet_v3_large", schema=schema, weights=weights, folder=True
    )
    a = made.module.state_dict()["classifier.low_classifier.weight"]
    assert torch.equal(a, again.module.state_dict()["classifier.low_classifier.weight"])
    with pytest.raises(ClassMappingError, match="the weights have 19 classes but 2"):
        new_torchvision_model(
            tmp_path / "bad.roadmodel",
            "lraspp_mobilenet_v3_large",
            schema=schema,
            weights=weights,
            classes=parse_class_list("road,sky"),
        )
    with pytest.raises(ModelFileError, match="exists already"):
        new_torchvision_model(out, "lraspp_mobilenet_v3_large", schema=schema)
    with pytest.raises(ModelFileError, match="not fasterrcnn"):
        new_torchvision_model(
            tmp_path / "det.roadmodel",
            "fasterrcnn_mobilenet_v3_large_fpn",
            schema=schema,
            weights=weights,
        )


def test_compact_weights_load_close_to_the_original(tmp_path: Path, schema: LabelSchema):
    made = new_torchvision_model(
        tmp_path / "full.roadmodel", "lraspp_mobilenet_v3_large", schema=schema, seed=2
    )
    state = made.module.state_dict()
    compact = compact_state_dict(state)
    key = "classifier.high_classifier.weight"
    assert compact[key].dtype == torch.int8 and compact[key + INT8_SCALE_SUFFIX].shape == (19,)
    saved = save_torchvision(made.manifest, compact, tmp_path / "compact.roadmodel")
    assert saved.stat().st_size < 0.3 * (tmp_path / "full.roadmodel").stat().st_size
    loaded = load_model(saved).module.state_dict()
    for name, value in state.items():
        if value.is_floating_point():
            assert torch.allclose(loaded[name], value, atol=value.abs().max().item() / 120 + 1e-3)
        else:
            assert torch.equal(loaded[name], value)
    x = torch.rand(1, 3, 64, 128)
    full_out = made.module(x)["out"].argmax(1)
    compact_out = load_model(saved).module(x)["out"].argmax(1)
    assert (full_out == compact_out).float().mean() > 0.95

    compact[key + INT8_SCALE_SUFFIX] = torch.ones(3)
    with pytest.raises(ModelFileError, match="do not fit their scale") as caught:
        save_torchvision(made.manifest, compact, tmp_path / "bad.roadmodel")
        load_model(tmp_path / "bad.roadmodel")
    assert caught.value.field == key


class Boom:
    """Unpickling this runs code (it creates a marker file)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_would_run_code_is_refused(tmp_path: Path, schema: LabelSchema):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    torch.save({"conv.weight": torch.zeros(1), "payload": Boom(marker)}, evil)
    with pytest.raises(UnsafeModelFileError, match="refused to load") as error:
        load_state_dict_file(evil)
    assert error.value.path == str(evil)
    with pytest.raises(UnsafeModelFileError):
        new_torchvision_model(
            tmp_path / "m.roadmodel", "lraspp_mobilenet_v3_large", schema=schema, weights=evil
        )
    # The same inside a model file's archive.
    disguised = tmp_path / "evil.roadmodel"
    torch.save({"roadmark_manifest": "{}", "state_dict": Boom(marker)}, disguised)
    with pytest.raises(UnsafeModelFileError):
        load_model(disguised)
    assert not marker.exists()


def test_bad_model_files_are_reported_with_file_and_field(tmp_path: Path):
    garbage = tmp_path / "junk.roadmodel"
    garbage.write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="not a roadmark model") as error:
        load_model(garbage)
    assert error.value.path == str(garbage)
    with pytest.raises(ModelFileError, match="no such model"):
        load_model(tmp_path / "missing.roadmodel")
    folder = tmp_path / "m"
    folder.mkdir()
    with pytest.raises(ModelFileError, match=r"no manifest\.json"):
        load_model(folder)
    (folder / "manifest.json").write_text("{nope")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load_model(folder)
    truncated = tmp_path / "cut.roadmodel"
    torch.save({"state_dict": {"a": torch.zeros(3)}}, truncated)
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError):
        load_model(truncated)
    assert zipfile.is_zipfile(tmp_path / "cut.roadmodel") is False


def _manifest(**changes) -> dict:
    data = {
        "format": "roadmark-model",
        "version": 1,
        "name": "m",
        "kind": "torchvision",
        "task": "segmentation",
        "arch": "lraspp_mobilenet_v3_large",
        "classes": [{"name": "road", "label": "road"}, {"name": "thing", "label": None}],
        "output": "dict:out",
    }
    data.update(changes)
    return data


def test_manifest_maps_classes_to_schema_labels(schema: LabelSchema):
    manifest = ModelManifest.from_dict(_manifest())
    assert manifest.label_ids(schema) == [schema.by_name["road"].id, None]
    assert ModelManifest.from_json(manifest.to_json()) == manifest
    wrong = ModelManifest.from_dict(_manifest(classes=[{"name": "x", "label": "spaceship"}]))
    with pytest.raises(ClassMappingError, match="'spaceship'") as error:
        wrong.label_ids(schema, source="m.roadmodel")
    assert error.value.field == "classes[0]" and error.value.path == "m.roadmodel"
    for changes, field in (
        ({"version": 7}, "version"),
        ({"task": "depth"}, "task"),
        ({"output": "logits!"}, "output"),
        ({"weights": "../x.pt"}, "weights"),
        ({"classes": []}, "classes"),
        ({"input": {"std": [1, 0, 1]}}, "input.std"),
    ):
        with pytest.raises(ModelFileError) as error:
            ModelManifest.from_dict(_manifest(**changes), source="m.json")
        assert error.value.field == field, changes
    assert json.loads(manifest.to_json())["classes"][1] == {"name": "thing", "label": None}
