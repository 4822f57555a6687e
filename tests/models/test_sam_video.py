"""SAM 2 video tracking: a tiny random Sam2Video config saved in the test, wrapped as a
roadmark model folder, tracks masks through frames; cancel stops it; unsafe folders and
image-only checkpoints are refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

from roadmark.core.jobs import CancelToken, JobCancelled
from roadmark.models.errors import ModelFileError, UnsafeModelFileError
from roadmark.models.promptable import PromptError, Prompts, load_promptable
from roadmark.models.sam import check_folder, wrap_transformers
from roadmark.models.sam_video import (
    is_video_model,
    load_tracker,
)
from tests.models.test_sam_adapter import tiny_sam2_config

H, W = 90, 150
HIDDEN = 128  # the memory attention reads 64-channel memories: the hidden size must be a multiple


def tiny_sam2_video_config() -> transformers.Sam2VideoConfig:
    backbone = transformers.Sam2HieraDetConfig(
        hidden_size=8, embed_dim_per_stage=[8, 16, 32, 64], blocks_per_stage=[1, 1, 2, 1],
        num_attention_heads_per_stage=[1, 1, 1, 1], global_attention_blocks=[3],
        image_size=[256, 256], window_size_per_stage=[4, 4, 4, 4],
        window_positional_embedding_background_size=[4, 4],
    )
    vision = transformers.Sam2VisionConfig(
        backbone_config=backbone, backbone_channel_list=[64, 32, 16, 8],
        backbone_feature_sizes=[[64, 64], [32, 32], [16, 16]], fpn_hidden_size=HIDDEN,
    )
    return transformers.Sam2VideoConfig(
        vision_config=vision,
        prompt_encoder_config={"hidden_size": HIDDEN, "image_size": 256, "patch_size": 16,
                               "mask_input_channels": 4},
        mask_decoder_config={"hidden_size": HIDDEN, "num_hidden_layers": 2,
                             "num_attention_heads": 2, "mlp_dim": 64, "iou_head_hidden_dim": 32},
        image_size=256, memory_attention_hidden_size=HIDDEN, memory_attention_num_layers=1,
        memory_attention_feed_forward_hidden_size=64, memory_attention_rope_feat_sizes=[16, 16],
        memory_encoder_hidden_size=HIDDEN, mask_downsampler_embed_dim=HIDDEN,
        memory_fuser_embed_dim=HIDDEN, memory_fuser_intermediate_dim=64,
    )


def save_tiny_video_checkpoint(folder: Path) -> Path:
    torch.manual_seed(0)
    transformers.Sam2VideoModel(tiny_sam2_video_config()).save_pretrained(
        str(folder), safe_serialization=True
    )
    return folder


def make_video_model(folder: Path, name: str = "tiny-video") -> Path:
    """A roadmark model folder (``model new --transformers``) of a tiny SAM 2 video model."""
    source = save_tiny_video_checkpoint(folder.parent / f"{folder.name}-hf")
    wrap_transformers(folder, source, name=name)
    return folder


@pytest.fixture(scope="module")
def video_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video_model(tmp_path_factory.mktemp("video") / "video.roadmodel")


def _frames(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.integers(0, 255, (H, W, 3), dtype=np.uint8) for _ in range(count)]


def _masks() -> list[np.ndarray]:
    a = np.zeros((H, W), bool)
    a[10:50, 20:70] = True
    b = np.zeros((H, W), bool)
    b[40:85, 90:140] = True
    return [a, b]


def test_a_video_checkpoint_tracks_masks_with_a_quality_each(video_model: Path):
    assert is_video_model(video_model)
    tracker = load_tracker(video_model, device="cpu")
    assert tracker.family == "sam2_video" and tracker.name == "tiny-video"
    assert tracker.device == "cpu"
    seen: list[tuple[int, int]] = []
    out = tracker.track(_frames(4), _masks(), progress=lambda *step: seen.append(step))
    assert len(out) == 3 and seen == [(1, 3), (2, 3), (3, 3)]
    for tracked in out:
        assert tracked.masks.shape == (2, H, W) and tracked.masks.dtype == np.bool_
        assert tracked.quality.shape == (2,) and tracked.quality.dtype == np.float32
        assert np.all((tracked.quality >= 0) & (tracked.quality <= 1))
    # the same inputs give the same answer (nothing random at inference)
    again = tracker.track(_frames(4), _masks())
    np.testing.assert_array_equal(again[2].masks, out[2].masks)
    np.testing.assert_allclose(again[2].quality, out[2].quality, atol=1e-6)


def test_the_same_folder_is_the_smart_tools_image_model(video_model: Path):
    model = load_promptable(video_model)
    assert model.family == "sam2_video" and model.supports_video
    manifest = json.loads((video_model / "manifest.json").read_text())
    assert manifest["description"].startswith("Sam2Model (video: Sam2VideoModel) from ")
    (embedding,) = model.encode([_frames(1)[0]])
    candidates = model.decode(embedding, Prompts(points=((40, 30, True),)))
    assert candidates.masks.shape[1:] == (H, W)


def test_cancel_stops_between_frames(video_model: Path):
    tracker = load_tracker(video_model, device="cpu")
    flag = CancelToken()

    def cancel_after_first(done: int, _total: int, _message: str = "") -> None:
        if done == 1:
            flag.cancel()

    with pytest.raises(JobCancelled, match="after 1 of 4"):
        tracker.track(_frames(5), _masks(), cancel=flag, progress=cancel_after_first)


def test_bad_prompts_are_refused(video_model: Path):
    tracker = load_tracker(video_model, device="cpu")
    with pytest.raises(PromptError):
        tracker.track(_frames(1), _masks())
    with pytest.raises(PromptError, match="empty"):
        tracker.track(_frames(2), [np.zeros((H, W), bool)])
    with pytest.raises(PromptError):
        tracker.track(_frames(2), [np.ones((H + 1, W), bool)])


def test_an_image_checkpoint_is_no_tracker(tmp_path: Path):
    source = tmp_path / "hf"
    torch.manual_seed(0)
    transformers.Sam2Model(tiny_sam2_config()).save_pretrained(str(source), safe_serialization=True)
    out = tmp_path / "image.roadmodel"
    wrap_transformers(out, source)
    assert not is_video_model(out)
    assert not load_promptable(out).supports_video
    with pytest.raises(ModelFileError, match="sam2_video") as caught:
        load_tracker(out, device="cpu")
    assert caught.value.field == "model_type"
    assert not is_video_model(tmp_path)  # no manifest
    assert not is_video_model(tmp_path / "missing")


def test_a_video_folder_with_a_pickle_or_without_safetensors_is_refused(
    tmp_path: Path, video_model: Path
):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for file in video_model.iterdir():
        (folder / file.name).write_bytes(file.read_bytes())
    torch.save({"w": torch.zeros(2)}, folder / "pytorch_model.bin")
    with pytest.raises(UnsafeModelFileError, match=r"pytorch_model\.bin"):
        load_tracker(folder, device="cpu")
    (folder / "pytorch_model.bin").unlink()
    (folder / "model.safetensors").unlink()
    with pytest.raises(ModelFileError, match="safetensors"):
        load_tracker(folder, device="cpu")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text(json.dumps({"model_type": "sam2_video"}))
    with pytest.raises(ModelFileError, match="safetensors"):
        check_folder(empty)
