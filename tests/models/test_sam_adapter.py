"""SAM-family checkpoints through transformers: tiny configs with random weights saved in
the test (no checkpoint needed to test the plumbing), and refusal of unsafe folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

from roadmark.cli import main
from roadmark.models.errors import ModelFileError, UnsafeModelFileError
from roadmark.models.files import load_model
from roadmark.models.promptable import Prompts, load_promptable
from roadmark.models.sam import TransformersModel, check_folder, wrap_transformers

H, W = 90, 150
_DECODER = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "mlp_dim": 64,
            "iou_head_hidden_dim": 32}


def tiny_sam_config(config_class: type = transformers.SamConfig) -> transformers.PretrainedConfig:
    hq = {"vit_dim": 32} if config_class is transformers.SamHQConfig else {}
    return config_class(
        vision_config={"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
                       "intermediate_size": 64, "image_size": 128, "patch_size": 16,
                       "output_channels": 32, "window_size": 4, "global_attn_indexes": [1],
                       "mlp_dim": 64, "num_pos_feats": 16},
        prompt_encoder_config={"hidden_size": 32, "image_size": 128, "patch_size": 16,
                               "mask_input_channels": 4},
        mask_decoder_config=_DECODER | hq,
    )


def tiny_sam2_config(config_class: type = transformers.Sam2Config) -> transformers.PretrainedConfig:
    backbone = transformers.Sam2HieraDetConfig(
        hidden_size=8, embed_dim_per_stage=[8, 16, 32, 64], blocks_per_stage=[1, 1, 2, 1],
        num_attention_heads_per_stage=[1, 1, 1, 1], global_attention_blocks=[3],
        image_size=[256, 256], window_size_per_stage=[4, 4, 4, 4],
        window_positional_embedding_background_size=[4, 4],
    )
    vision = transformers.Sam2VisionConfig(
        backbone_config=backbone, backbone_channel_list=[64, 32, 16, 8],
        backbone_feature_sizes=[[64, 64], [32, 32], [16, 16]], fpn_hidden_size=32,
    )
    return config_class(
        vision_config=vision,
        prompt_encoder_config={"hidden_size": 32, "image_size": 256, "patch_size": 16,
                               "mask_input_channels": 4},
        mask_decoder_config=_DECODER,
    )


def _save(folder: Path, model_class: type, config: transformers.PretrainedConfig) -> Path:
    torch.manual_seed(0)
    model_class(config).save_pretrained(str(folder), safe_serialization=True)
    return folder


@pytest.fixture(scope="module")
def sam_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save(tmp_path_factory.mktemp("hf") / "sam", transformers.SamModel, tiny_sam_config())


def _image() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (H, W, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    ("model_type", "model_class", "config"),
    [
        ("sam", transformers.SamModel, tiny_sam_config),
        ("sam_hq", transformers.SamHQModel, lambda: tiny_sam_config(transformers.SamHQConfig)),
        ("sam2", transformers.Sam2Model, tiny_sam2_config),
        ("edgetam", transformers.EdgeTamModel,
         lambda: tiny_sam2_config(transformers.EdgeTamConfig)),
    ],
)
def test_wrapped_checkpoint_encodes_and_decodes(
    tmp_path: Path, model_type: str, model_class: type, config
):
    source = _save(tmp_path / "hf", model_class, config())
    out = tmp_path / f"{model_type}.roadmodel"
    manifest = wrap_transformers(out, source, name=f"tiny-{model_type}")
    assert manifest.kind == "transformers" and manifest.task == "promptable"
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "manifest.json",
                                                    "model.safetensors"]
    model = load_promptable(out)
    assert isinstance(model, TransformersModel)
    assert model.family == model_type and model.name == f"tiny-{model_type}"
    (embedding,) = model.encode([_image()])
    assert all(v.dtype == np.float16 for k, v in embedding.items() if k != "frame_size")
    assert tuple(embedding["frame_size"]) == (H, W)
    one = model.decode(embedding, Prompts(points=((40, 30, True),)))
    assert one.masks.shape == (3, H, W) and one.scores.shape == (3,)  # multimask
    assert np.all(np.diff(one.scores) <= 0)
    several = model.decode(
        embedding, Prompts(points=((40, 30, True), (100, 60, False)), box=(20, 10, 120, 80))
    )
    assert several.masks.shape == (1, H, W)
    from_mask = np.zeros((H, W), bool)
    from_mask[20:40, 30:60] = True
    assert model.decode(embedding, Prompts(mask=from_mask)).masks.shape == (1, H, W)
    # the digest follows the files: a changed weight file is another model
    digest = model.digest
    (out / "config.json").write_text((out / "config.json").read_text() + "\n")
    assert load_promptable(out).digest != digest


def test_the_embedding_does_not_depend_on_the_batch(tmp_path: Path, sam_dir: Path):
    out = tmp_path / "sam.roadmodel"
    wrap_transformers(out, sam_dir)
    model = load_promptable(out)
    image = _image()
    alone = model.encode([image])[0]
    batched = model.encode([image[::-1].copy(), image])[1]
    np.testing.assert_allclose(alone["emb0"].astype(np.float32),
                               batched["emb0"].astype(np.float32), atol=2e-3)


def test_a_folder_with_a_pickle_is_refused(tmp_path: Path, sam_dir: Path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for file in sam_dir.iterdir():
        (folder / file.name).write_bytes(file.read_bytes())
    torch.save({"w": torch.zeros(2)}, folder / "pytorch_model.bin")
    with pytest.raises(UnsafeModelFileError) as caught:
        check_folder(folder)
    assert "pytorch_model.bin" in str(caught.value)
    assert not (tmp_path / "out.roadmodel").exists()


def test_a_folder_without_safetensors_or_config_is_refused(tmp_path: Path, sam_dir: Path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text(json.dumps({"model_type": "sam"}))
    with pytest.raises(ModelFileError, match="safetensors"):
        check_folder(empty)
    other = tmp_path / "other"
    other.mkdir()
    (other / "model.safetensors").write_bytes((sam_dir / "model.safetensors").read_bytes())
    with pytest.raises(ModelFileError, match=r"config\.json"):
        check_folder(other)
    (other / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ModelFileError) as caught:
        check_folder(other)
    assert caught.value.field == "model_type" and "sam2" in str(caught.value)


def test_cli_wraps_a_folder_and_refuses_a_pickle_in_one_line(
    tmp_path: Path, sam_dir: Path, capsys: pytest.CaptureFixture[str]
):
    out = tmp_path / "sam.roadmodel"
    assert main(["model", "new", str(out), "--transformers", str(sam_dir)]) == 0
    assert "promptable" in capsys.readouterr().out
    assert main(["model", "info", str(out)]) == 0
    assert "transformers" in capsys.readouterr().out
    with pytest.raises(ModelFileError, match="promptable"):
        load_model(out)  # not something prelabel can run
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text(json.dumps({"model_type": "sam"}))
    (bad / "model.ckpt").write_bytes(b"\x80\x04K\x01.")
    assert main(["model", "new", str(tmp_path / "x.roadmodel"), "--transformers", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pickle" in err[0] and str(bad) in err[0]
    assert not (tmp_path / "x.roadmodel").exists()


@pytest.mark.parametrize(
    "prompt",
    [
        {"points": ((30.0, 40.0, True),)},
        {"points": ((30.0, 40.0, True), (100.0, 20.0, False), (60.0, 70.0, True))},
        {"box": (10.0, 20.0, 90.0, 80.0)},
        {"points": ((50.0, 50.0, True),), "box": (10.0, 20.0, 90.0, 80.0)},
    ],
)
def test_the_prepared_decoder_gives_the_module_s_masks_and_scores(
    tmp_path: Path, sam_dir: Path, prompt: dict
):
    out = tmp_path / "sam.roadmodel"
    wrap_transformers(out, sam_dir)
    model = load_promptable(out)
    assert isinstance(model, TransformersModel) and model.fast is not None
    embedding = model.encode([_image()])[0]
    fast = model.decode(embedding, Prompts(**prompt))
    again = model.decode(embedding, Prompts(**prompt))  # from the prepared parts
    model.fast = None  # the module's own forward
    plain = model.decode(embedding, Prompts(**prompt))
    np.testing.assert_allclose(fast.scores, plain.scores, atol=1e-5)
    assert fast.masks.shape == plain.masks.shape == (len(plain), H, W)
    # equal but for pixels whose logit is within float rounding of 0
    assert np.mean(fast.masks != plain.masks) < 1e-3
    assert np.array_equal(fast.masks, again.masks)


def test_the_prepared_parts_follow_the_embedding(tmp_path: Path, sam_dir: Path):
    out = tmp_path / "sam.roadmodel"
    wrap_transformers(out, sam_dir)
    model = load_promptable(out)
    assert isinstance(model, TransformersModel) and model.fast is not None
    first = model.encode([_image()])[0]
    # another frame's embedding (the tiny random encoder gives every image nearly the same)
    noise = np.random.default_rng(5).normal(0.0, 1.0, first["emb0"].shape)
    second = {**first, "emb0": (first["emb0"] + noise).astype(np.float16)}
    fast = model.fast
    a1 = fast.prepare(first["emb0"], "cpu", torch.float32)
    assert fast.prepare(first["emb0"], "cpu", torch.float32) is a1  # reused
    b = fast.prepare(second["emb0"], "cpu", torch.float32)
    assert b is not a1 and not torch.equal(a1.keys, b.keys)
    torch.testing.assert_close(b.keys, (torch.from_numpy(second["emb0"]).float().flatten(1).T
                                        + model.module.prompt_encoder.no_mask_embed.weight))
    points, labels = torch.tensor([[[[20.0, 30.0]]]]), torch.tensor([[[1]]])
    with torch.inference_mode():
        logits, _ = fast(b, input_points=points, input_labels=labels, input_boxes=None,
                         multimask_output=True)
        image = torch.from_numpy(second["emb0"]).float()[None]
        expected = model.module(image_embeddings=image, input_points=points,
                                input_labels=labels).pred_masks[0, 0]
    torch.testing.assert_close(logits, expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("multimask", [True, False])
def test_the_prepared_decoder_s_logits_and_ious_are_the_module_s(
    tmp_path: Path, sam_dir: Path, multimask: bool
):
    out = tmp_path / "sam.roadmodel"
    wrap_transformers(out, sam_dir)
    model = load_promptable(out)
    assert isinstance(model, TransformersModel) and model.fast is not None
    embedding = model.encode([_image()])[0]
    points = torch.tensor([[[[20.0, 30.0], [90.0, 60.0]]]])
    labels = torch.tensor([[[1, 0]]])
    boxes = torch.tensor([[[5.0, 10.0, 100.0, 90.0]]])
    image = torch.from_numpy(embedding["emb0"]).float()[None]
    with torch.inference_mode():
        expected = model.module(image_embeddings=image, input_points=points, input_labels=labels,
                                input_boxes=boxes, multimask_output=multimask)
        prepared = model.fast.prepare(embedding["emb0"], "cpu", torch.float32)
        logits, iou = model.fast(prepared, input_points=points, input_labels=labels,
                                 input_boxes=boxes, multimask_output=multimask)
    assert logits.shape == expected.pred_masks[0, 0].shape
    torch.testing.assert_close(logits, expected.pred_masks[0, 0], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(iou, expected.iou_scores[0, 0], atol=1e-4, rtol=1e-4)
