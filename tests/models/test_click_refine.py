"""The click decoder's full-resolution refinement head: it starts as a no-op, it learns,
its model files say they have it, and model files without it still load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from roadmark.models.click_model import ClickModel
from roadmark.models.click_net import CROP, FEATURES, ClickNet
from roadmark.models.click_objects import narrow
from roadmark.models.click_training import (
    ClickFrame,
    boundary_weights,
    click_manifest,
    draw_chances,
    save_click_model,
    train_click_net,
)
from roadmark.models.errors import ModelFileError
from roadmark.models.files import (
    compact_state_dict,
    load_model,
    read_manifest,
    save_torchvision,
)
from roadmark.models.promptable import Prompts

CHANNELS = 3 + FEATURES + 3


def _input(batch: int = 3, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, CHANNELS, CROP, CROP, generator=generator)
    x[:, -3:] = (x[:, -3:] > 1.0).float()  # click disks and earlier mask are 0 / 1
    return x


def test_a_new_refinement_head_leaves_the_decoder_s_output_unchanged():
    torch.manual_seed(0)
    plain = ClickNet().eval()
    refined = plain.with_refinement().eval()
    assert not plain.refines and refined.refines
    x = _input()
    with torch.no_grad():
        before, after = plain.decoder(x), refined.decoder(x)
    assert after.shape == (3, 1, CROP, CROP)
    assert torch.equal(before, after)
    # the copy is a copy: training it leaves the original alone
    with torch.no_grad():
        refined.decoder.head.weight.add_(1.0)
    assert not torch.equal(plain.decoder.head.weight, refined.decoder.head.weight)


def test_the_zero_initialised_head_learns_and_then_changes_the_logits_at_full_resolution():
    torch.manual_seed(0)
    net = ClickNet(refine=True)
    head = net.decoder.refine
    assert head is not None
    x = _input(2)
    logits = net.decoder(x)
    logits.sum().backward()
    assert head.out.weight.grad is not None and head.out.weight.grad.abs().sum() > 0
    with torch.no_grad():
        head.out.bias.fill_(0.0)
        head.out.weight.normal_(0, 0.1)
        changed = net.eval().decoder(x)
        coarse = ClickNet.with_refinement(net).decoder(x)  # the same weights
    assert torch.equal(changed, coarse)
    net_plain = ClickNet().eval()
    net_plain.load_state_dict({k: v for k, v in net.state_dict().items()
                               if not k.startswith("decoder.refine.")})
    with torch.no_grad():
        residual = changed - net_plain.decoder(x)
    # a residual that varies from crop pixel to crop pixel, not a cell-sized blur only
    assert residual.abs().max() > 1e-3
    assert (residual[..., 1:, :] - residual[..., :-1, :]).abs().max() > 1e-4


def test_model_files_say_whether_they_refine_and_old_files_load(tmp_path: Path):
    torch.manual_seed(1)
    plain = ClickNet()
    save_click_model(plain, tmp_path / "old.roadmodel", name="old")
    refined = plain.with_refinement()
    with torch.no_grad():
        refined.decoder.refine.out.weight.normal_(0, 0.1)  # type: ignore[union-attr]
    save_click_model(refined, tmp_path / "new.roadmodel", name="new")

    assert "refine" not in read_manifest(tmp_path / "old.roadmodel").arch_options
    assert read_manifest(tmp_path / "new.roadmodel").arch_options == {"refine": True}
    old, new = load_model(tmp_path / "old.roadmodel"), load_model(tmp_path / "new.roadmodel")
    assert not old.module.refines and new.module.refines
    x = _input(1)
    with torch.no_grad():
        expected = refined.eval().decoder(x)
        loaded = new.module.decoder(x)
    assert torch.allclose(loaded, expected, atol=0.05 * float(expected.abs().max()))
    # both decode clicks through the tool's adapter
    image = np.random.default_rng(0).integers(0, 255, (128, 256, 3), dtype=np.uint8)
    for model in (ClickModel(old), ClickModel(new)):
        embedding = model.encode([image])[0]
        found = model.decode(embedding, Prompts(points=((60.0, 40.0, True),)))
        assert found.masks.shape[1:] == (128, 256)


def test_a_file_that_claims_the_head_without_its_weights_is_refused(tmp_path: Path):
    forged = tmp_path / "forged.roadmodel"
    manifest = click_manifest("forged", refine=True)
    save_torchvision(manifest, compact_state_dict(ClickNet().state_dict()), forged)
    with pytest.raises(ModelFileError, match="missing"):
        load_model(forged)


def test_boundary_weights_favour_the_band_around_edges_and_all_of_a_thin_line():
    target = torch.zeros(1, 1, CROP, CROP)
    target[..., 20:80, 20:80] = 1.0  # a large square
    target[..., 90, 5:90] = 1.0  # a line one pixel thick
    weights = boundary_weights(target, 3.0)
    assert weights[0, 0, 50, 50] == 1.0  # deep inside the square
    assert weights[0, 0, 5, 50] == 1.0  # far outside everything
    assert weights[0, 0, 20, 50] == 4.0 and weights[0, 0, 18, 50] == 4.0  # its edge, both sides
    assert bool((weights[0, 0, 90, 5:90] == 4.0).all())  # the whole line
    assert torch.equal(boundary_weights(target, 0.0), torch.ones_like(target))


def _frames() -> list[ClickFrame]:
    rng = np.random.default_rng(0)
    out = []
    for k in range(2):
        image = rng.integers(0, 255, (128, 256, 3), dtype=np.uint8)
        objects = np.zeros((128, 256), np.int32)
        objects[30:90, 40 + 10 * k : 140] = 1
        objects[100:104, 10:250] = 2  # a thin strip
        image[objects == 1] = (200, 30, 30)
        image[objects == 2] = (250, 250, 250)
        out.append(ClickFrame.from_map(image, objects))
    return out


def test_training_gives_the_head_its_own_learning_rate(monkeypatch: pytest.MonkeyPatch):
    torch.manual_seed(2)
    net = ClickNet().with_refinement()
    head = net.decoder.refine
    assert head is not None
    encoder_before = net.encoder.out.weight.detach().clone()
    seen: list[float] = []
    original = torch.optim.AdamW

    class Spy(original):  # type: ignore[misc,valid-type]
        def __init__(self, groups, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(groups, **kwargs)
            seen.extend(group["lr"] for group in self.param_groups)

    monkeypatch.setattr(torch.optim, "AdamW", Spy)
    losses = train_click_net(net, _frames(), steps=3, lr=1e-5, refine_lr=1e-2,
                             boundary_weight=3.0, objects_per_frame=2)
    assert seen == [1e-5, 1e-2]
    assert len(losses) == 1 and np.isfinite(losses[0])
    assert head.out.weight.abs().sum() > 0  # the zero convolution has moved
    assert not torch.equal(net.encoder.out.weight, encoder_before)


def test_narrow_objects_are_poles_and_strips_and_are_drawn_more_often_when_asked():
    gt = np.zeros((128, 256), bool)
    gt[100:104, 10:250] = True  # a strip four pixels thick
    assert narrow(gt)
    gt[60:70, 100:110] = True  # a 10 px block on it
    assert not narrow(gt)
    assert not narrow(np.zeros((8, 8), bool))
    frame = _frames()[0]  # a block (object 1) and a thin strip (object 2)
    assert draw_chances(frame, 1.0) is None  # alike
    chances = draw_chances(frame, 5.0)
    assert chances is not None and chances.tolist() == pytest.approx([1 / 6, 5 / 6])
    losses = train_click_net(ClickNet(), _frames(), steps=2, objects_per_frame=1,
                             narrow_weight=5.0)
    assert len(losses) == 1 and np.isfinite(losses[0])
