"""The CPU summary of a segmentation model's logits (roadmark.models.cpu_summary): the
compiled one-pass kernel against the same maps computed in float64 from PyTorch's own
interpolation, the PyTorch stripes it falls back to, and what the kernel refuses."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from roadmark.io.schema_files import load_schema
from roadmark.models import cpu_summary
from roadmark.models.errors import ModelError
from roadmark.models.files import LoadedModel
from roadmark.models.manifest import InputSpec, ModelManifest, parse_class_list
from roadmark.models.predictor import Predictor
from tests.compiled import compiled_module, skip_without

fast_summary = compiled_module("roadmark.models.fast_summary")
needs_kernel = skip_without(fast_summary)

CLASSES = parse_class_list("__background__=,road,car,sky")


def _reference(logits: torch.Tensor, target: tuple[int, int], lut: torch.Tensor):
    """The maps from PyTorch's interpolation, the statistics in float64, and each pixel's
    gap between its two largest logits (where a tie may go either way)."""
    if tuple(logits.shape[-2:]) != target:
        logits = F.interpolate(logits, size=target, mode="bilinear", align_corners=False)
    values = logits.double()
    probabilities = values.softmax(dim=1)
    top = values.topk(min(2, values.shape[1]), dim=1).values
    p = probabilities.topk(min(2, values.shape[1]), dim=1).values
    p1 = p[:, 0]
    p2 = p[:, 1] if values.shape[1] > 1 else torch.zeros_like(p1)
    classes = values.shape[1]
    entropy = (
        -(probabilities * probabilities.clamp_min(1e-300).log()).sum(dim=1) / math.log(classes)
        if classes > 1 else torch.zeros_like(p1)
    )

    def quantized(v: torch.Tensor) -> np.ndarray:
        return (v * 255).round().clamp(0, 255).to(torch.uint8).numpy()

    gap = (top[:, 0] - top[:, 1]).numpy() if classes > 1 else np.full(p1.shape, np.inf)
    return {
        "label_ids": lut[values.argmax(dim=1)].numpy(),
        "confidence": quantized(p1),
        "margin": quantized(p1 - p2),
        "entropy": quantized(entropy),
    }, gap


CASES = [  # (classes, in_h, in_w, out_h, out_w)
    (19, 32, 64, 64, 128),  # 2x up: the usual CPU run
    (19, 64, 128, 32, 64),  # 2x down: a GPU run at full size averages 2x2 blocks
    (7, 37, 53, 100, 77),  # uneven scales, up one way and down the other
    (5, 20, 30, 20, 30),  # the same size: no interpolation
    (2, 9, 1, 5, 13),  # one input column
    (3, 6, 1, 12, 2),  # one input column made two (the exact-2x widening at its edges)
    (1, 8, 8, 16, 16),  # one class: certain everywhere
]


@needs_kernel
@pytest.mark.parametrize(("classes", "in_h", "in_w", "out_h", "out_w"), CASES)
@pytest.mark.parametrize("wide_labels", [False, True])
def test_the_kernel_gives_the_maps_of_pytorchs_interpolation_within_one_level(
    classes: int, in_h: int, in_w: int, out_h: int, out_w: int, wide_labels: bool
) -> None:
    generator = torch.Generator().manual_seed(classes * 1000 + in_w)
    logits = torch.randn(3, classes, in_h, in_w, generator=generator) * 4
    ids = torch.arange(classes) * (300 if wide_labels else 7) % (70000 if wide_labels else 256)
    lut = ids.to(torch.int32 if wide_labels else torch.uint8)
    fused = cpu_summary.fused_summary(logits, (out_h, out_w), lut)
    assert fused is not None
    expected, gap = _reference(logits, (out_h, out_w), lut)
    for key, want in expected.items():
        got = fused[key].numpy()
        assert got.dtype == want.dtype and got.shape == (3, out_h, out_w), key
        if key == "label_ids":  # the same class unless two tie to within float rounding
            assert np.all((got == want) | (gap < 1e-5)), key
        else:
            assert np.abs(got.astype(int) - want.astype(int)).max() <= 1, key
    if classes == 1:
        assert (fused["confidence"] == 255).all() and (fused["entropy"] == 0).all()


@needs_kernel
def test_the_kernel_reads_any_layout_and_leaves_the_logits_alone() -> None:
    logits = torch.randn(2, 6, 12, 20) * 2
    kept = logits.clone()
    lut = torch.arange(6, dtype=torch.uint8)
    plain = cpu_summary.fused_summary(logits, (24, 40), lut)
    channels_last = cpu_summary.fused_summary(
        logits.to(memory_format=torch.channels_last), (24, 40), lut)
    as_half = cpu_summary.fused_summary(logits.half(), (24, 40), lut)
    assert plain is not None and channels_last is not None and as_half is not None
    assert torch.equal(logits, kept)
    for key in plain:
        assert torch.equal(plain[key], channels_last[key]), key
        assert as_half[key].shape == plain[key].shape


@needs_kernel
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf"), 3e38])
def test_non_finite_and_huge_logits_give_bytes_not_a_crash(bad: float) -> None:
    logits = torch.randn(1, 4, 6, 6)
    logits[0, 1, 2, 2] = bad
    logits[0, 2, 4, 1] = -bad
    fused = cpu_summary.fused_summary(logits, (12, 12), torch.arange(4, dtype=torch.uint8))
    assert fused is not None
    assert all(m.dtype in (torch.uint8,) and m.shape == (1, 12, 12) for m in fused.values())
    assert int(fused["label_ids"].max()) < 4


@needs_kernel
def test_the_kernel_refuses_outputs_and_sizes_that_do_not_match() -> None:
    assert fast_summary is not None
    logits = np.zeros((1, 3, 4, 4), np.float32)
    lut = np.arange(3, dtype=np.uint8)
    out = [np.empty((1, 8, 8), np.uint8) for _ in range(4)]
    fast_summary.summarize(logits, 8, 8, lut, *out)
    fast_summary.summarize(logits.transpose(0, 1, 3, 2), 8, 8, lut, *out)  # any strides
    with pytest.raises(ValueError, match="output's size"):
        fast_summary.summarize(logits, 9, 8, lut, *out)
    with pytest.raises(ValueError, match="float32"):
        fast_summary.summarize(logits.astype(np.float64), 8, 8, lut, *out)
    with pytest.raises(ValueError, match="float32"):
        fast_summary.summarize(logits[0], 8, 8, lut, *out)
    with pytest.raises(ValueError, match="strides"):
        fast_summary.summarize(logits[:, :, ::-1], 8, 8, lut, *out)
    with pytest.raises(ValueError, match="label table"):
        fast_summary.summarize(logits, 8, 8, np.arange(2, dtype=np.uint8), *out)
    with pytest.raises(ValueError, match="too many values"):  # claims 2**60 pixels
        fast_summary.summarize(logits, 1 << 30, 1 << 30, lut, *out)
    with pytest.raises(ValueError, match="1 or more"):
        fast_summary.summarize(logits, 0, 8, lut, *out)
    with pytest.raises(ValueError, match="1 or more"):
        fast_summary.summarize(np.zeros((1, 3, 0, 4), np.float32), 8, 8, lut, *out)
    labels32 = np.empty((1, 8, 8), np.int32)
    with pytest.raises(ValueError, match="output's size"):  # int32 labels, uint8 table
        fast_summary.summarize(logits, 8, 8, lut, labels32, *out[1:])
    with pytest.raises(TypeError):  # read-only outputs
        fast_summary.summarize(logits, 8, 8, lut, bytes(64), *out[1:])


def test_without_the_kernel_the_stripes_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu_summary, "fast_summary", None)
    lut = torch.arange(4, dtype=torch.uint8)
    assert cpu_summary.fused_summary(torch.randn(1, 4, 4, 4), (8, 8), lut) is None


class Follows(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.arange(x.shape[-1], device=x.device).float()


def _predictor(module: nn.Module | None = None) -> Predictor:
    manifest = ModelManifest(
        name="tiny", kind="torchscript", task="segmentation", classes=tuple(CLASSES),
        input=InputSpec((0.5, 0.5, 0.5), (0.25, 0.25, 0.25), None, None), output="logits",
    )
    model = LoadedModel(manifest, (module or Follows()).eval(), Path("m.roadmodel"), "0" * 64)
    return Predictor(model, load_schema("cityscapes"), device="cpu")


def test_the_predictors_cpu_summary_agrees_with_the_stripes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    predictor = _predictor()
    logits = torch.randn(2, len(CLASSES), 37, 50) * 3
    kept = logits.clone()
    summary = predictor.summarize(logits, (148, 200), temperature=1.7)
    with monkeypatch.context() as patch:
        patch.setattr(cpu_summary, "fast_summary", None)
        striped = predictor.summarize(logits, (148, 200), temperature=1.7)
    assert torch.equal(logits, kept)
    assert summary.keys() == striped.keys()
    for key in striped:
        assert summary[key].dtype == striped[key].dtype, key
        difference = (summary[key].int() - striped[key].int()).abs()
        limit = 0 if key == "label_ids" else 1
        assert int(difference.max()) <= limit, key


def test_the_cpu_summary_in_row_stripes_equals_one_pass_over_the_map(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cpu_summary, "fast_summary", None)
    predictor = _predictor()
    logits = torch.randn(2, len(CLASSES), 37, 50) * 3  # rows not a multiple of the stripe
    kept = logits.clone()
    striped = predictor.summarize(logits, (74, 100), temperature=1.0)
    whole = predictor._stats(logits)
    assert torch.equal(logits, kept)  # the caller's logits are not used as scratch
    assert striped.keys() == whole.keys()
    for key in whole:
        assert torch.equal(striped[key], whole[key]), key


def test_nan_logits_still_fail_the_batch_with_the_kernel() -> None:
    class Poisoned(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = x[:, :1].repeat(1, len(CLASSES), 1, 1).clone()
            out[0, 1, 2, 2] = float("nan")
            return out

    predictor = _predictor(Poisoned())
    frames = torch.zeros((1, 8, 8, 3), dtype=torch.uint8)
    with pytest.raises(ModelError, match="NaN or infinite"):
        predictor.unpack(predictor.to_host(predictor.infer(frames)), [1])


@needs_kernel
@pytest.mark.parametrize(("shape", "middle", "target"), [
    ((2, 19, 8, 16), (64, 128), (128, 256)),  # LRASPP's 8x, then the map's 2x
    ((1, 5, 7, 9), (20, 13), (11, 30)),  # uneven, up and down
    ((1, 3, 4, 4), (4, 4), (8, 8)),  # a middle of the logits' own size
])
def test_the_kernel_does_the_models_upsampling_too(shape, middle, target) -> None:
    generator = torch.Generator().manual_seed(sum(shape))
    logits = torch.randn(*shape, generator=generator) * 3
    lut = torch.arange(shape[1], dtype=torch.uint8)
    both = cpu_summary.fused_summary(logits.to(memory_format=torch.channels_last), target, lut,
                                     middle)
    upsampled = F.interpolate(logits, size=middle, mode="bilinear", align_corners=False)
    expected, gap = _reference(upsampled, target, lut)
    assert both is not None
    for key, want in expected.items():
        got = both[key].numpy()
        if key == "label_ids":
            assert np.all((got == want) | (gap < 1e-5)), key
        else:
            assert np.abs(got.astype(int) - want.astype(int)).max() <= 1, key


@needs_kernel
def test_the_kernel_refuses_a_middle_size_of_nothing() -> None:
    assert fast_summary is not None
    out = [np.empty((1, 8, 8), np.uint8) for _ in range(4)]
    logits = np.zeros((1, 3, 4, 4), np.float32)
    with pytest.raises(ValueError, match="middle size"):
        fast_summary.summarize(logits, 8, 8, np.arange(3, dtype=np.uint8), *out, 0, 5)
    with pytest.raises(ValueError, match="middle size"):
        fast_summary.summarize(logits, 8, 8, np.arange(3, dtype=np.uint8), *out, 4, 1 << 40)


def _torchvision_predictor(net: nn.Module) -> Predictor:
    manifest = ModelManifest(
        name="tv", kind="torchvision", task="segmentation", classes=tuple(CLASSES),
        input=InputSpec((0.5, 0.5, 0.5), (0.25, 0.25, 0.25), None, None), output="dict:out",
    )
    model = LoadedModel(manifest, net.eval(), Path("tv.roadmodel"), "0" * 64)
    return Predictor(model, load_schema("cityscapes"), device="cpu")


@pytest.mark.parametrize("arch", ["lraspp", "deeplabv3"])
def test_a_torchvision_segmenters_upsampling_is_left_to_the_summary(
    arch: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from torchvision.models.segmentation import (
        deeplabv3_mobilenet_v3_large,
        lraspp_mobilenet_v3_large,
    )

    torch.manual_seed(0)
    build = lraspp_mobilenet_v3_large if arch == "lraspp" else deeplabv3_mobilenet_v3_large
    options = {} if arch == "lraspp" else {"aux_loss": True}
    net = build(weights=None, weights_backbone=None, num_classes=len(CLASSES), **options)
    predictor = _torchvision_predictor(net)
    frames = torch.from_numpy(np.random.default_rng(1).integers(0, 255, (2, 64, 96, 3), np.uint8))
    if fast_summary is None:
        assert predictor._head is None
        return
    assert predictor._head is not None
    split = predictor.unpack(predictor.to_host(predictor.infer(frames, frame_size=(128, 192))),
                             [1, 2])
    monkeypatch.setattr(predictor, "_head", None)  # the model's own forward and upsampling
    whole = predictor.unpack(predictor.to_host(predictor.infer(frames, frame_size=(128, 192))),
                             [1, 2])
    for a, b in zip(split, whole, strict=True):
        assert a.maps is not None and b.maps is not None
        assert np.mean(a.maps.label_ids != b.maps.label_ids) < 0.001
        for key in ("confidence", "margin", "entropy"):
            difference = np.abs(getattr(a.maps, key).astype(int) - getattr(b.maps, key).astype(int))
            assert difference.max() <= 1, key


@needs_kernel
def test_non_finite_logits_before_the_upsampling_fail_the_batch() -> None:
    from torchvision.models.segmentation import lraspp_mobilenet_v3_large

    net = lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=len(CLASSES))
    predictor = _torchvision_predictor(net)
    head = predictor._head
    assert head is not None

    def poisoned(x: torch.Tensor) -> torch.Tensor:
        low = head(x).clone()
        low[0, 1, 0, 0] = float("inf")
        return low

    predictor._head = poisoned
    frames = torch.zeros((1, 64, 96, 3), dtype=torch.uint8)
    with pytest.raises(ModelError, match="NaN or infinite"):
        predictor.unpack(predictor.to_host(predictor.infer(frames)), [1])


def test_only_torchvisions_own_segmenters_read_at_out_are_split() -> None:
    from torchvision.models.segmentation import LRASPP, lraspp_mobilenet_v3_large

    net = lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=3)

    class Mine(LRASPP):  # its own forward may do anything
        pass

    mine = Mine.__new__(Mine)
    mine.__dict__.update(net.__dict__)
    assert (cpu_summary.head_logits(net, "out") is None) is (fast_summary is None)
    assert cpu_summary.head_logits(net, "aux") is None
    assert cpu_summary.head_logits(net, None) is None
    assert cpu_summary.head_logits(mine, "out") is None
    assert cpu_summary.head_logits(Follows(), "out") is None
