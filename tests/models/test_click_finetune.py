"""``roadmark train --task promptable``: the click model fine-tuned on a project's own
labeled objects, scored as NoC on held-out frames."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from roadmark.cli import main
from roadmark.core.annotation import FrameStatus
from roadmark.io.frames import scan
from roadmark.io.store import Project
from roadmark.models.click_net import ClickNet
from roadmark.models.click_training import fine_tune, save_click_model
from roadmark.models.files import read_manifest
from roadmark.models.promptable import load_promptable
from tests.helpers import make_image, region

CAR, ROAD = 26, 7


@pytest.fixture
def labeled(tmp_path: Path) -> tuple[Path, Path]:
    torch.manual_seed(4)
    init = tmp_path / "init.roadmodel"
    save_click_model(ClickNet(), init, name="init")
    project = tmp_path / "p.roadmark"
    images = [make_image(tmp_path / f"f{i}.png", 160, 90, seed=i) for i in range(3)]
    with Project.create(project) as created:
        ids, _ = created.add_frames(scan(images))
        for index, frame_id in enumerate(ids):
            created.add_objects(frame_id, [region(ROAD, 0, 45, 160, 90),
                                           region(CAR, 20 + 10 * index, 20, 90, 60)])
            created.set_frame_status(frame_id, FrameStatus.DONE)
    return project, init


def test_fine_tune_writes_a_scored_click_model(tmp_path: Path, labeled: tuple[Path, Path]):
    project, init = labeled
    out = tmp_path / "tuned.roadmodel"
    with Project.open(project, read_only=True) as opened:
        result = fine_tune(opened, out, init=init, epochs=2, val_fraction=0.3,
                           score_objects=1, max_clicks=2)
    assert result.steps == 2 and result.objects == 1 and len(result.losses) == 1
    assert 1 <= result.noc85 <= 20
    manifest = read_manifest(out)
    assert manifest.task == "promptable" and manifest.arch == "roadmark_click"
    assert manifest.training["frames"] == 2 and manifest.training["val_frames"] == 1
    assert manifest.training["noc85_before"] is not None
    assert load_promptable(out).name == "tuned"


def test_cli_refuses_an_existing_output_and_a_model_that_is_not_a_click_model(
    tmp_path: Path, labeled: tuple[Path, Path], capsys: pytest.CaptureFixture
):
    project, init = labeled
    base = ["train", str(project), "--task", "promptable", "--epochs", "1"]
    assert main([*base, "--init", str(init), "--out", str(init)]) == 2
    assert "exists" in capsys.readouterr().err
    from roadmark.core.schema import cityscapes_schema
    from roadmark.models.create import new_torchvision_model

    seg = tmp_path / "seg.roadmodel"
    new_torchvision_model(seg, "lraspp_mobilenet_v3_large", schema=cityscapes_schema())
    assert main([*base, "--init", str(seg), "--out", str(tmp_path / "x.roadmodel")]) == 2
    assert "not a click model" in capsys.readouterr().err


def test_self_correction_adds_a_click_at_the_network_s_error_and_its_mask():
    """RITM's iterative training: a pass adds a click at the center of the largest error of
    the network's own mask (in crop pixels) and makes that mask the earlier mask; rows that
    are not refinements stay as they were."""
    import numpy as np

    from roadmark.models.click_model import decoder_input
    from roadmark.models.click_net import CROP, crop_pixels
    from roadmark.models.click_training import self_corrected
    from roadmark.models.clicker import next_click

    torch.manual_seed(1)
    net = ClickNet().eval()
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (64, 128, 3), dtype=np.uint8)
    gt = np.zeros((64, 128), dtype=bool)
    gt[20:50, 30:90] = True
    embedding = {"image": image, "frame_size": np.array([64, 128])}
    with torch.no_grad():
        features = net.encoder(torch.zeros(1, 3, 128, 256))
    window = (0.0, 0.0, 128.0, 64.0)
    rows = [decoder_input(embedding, features, window, [(60.5, 35.5, True)], gt[::-1].copy()),
            decoder_input(embedding, features, window, [(60.5, 35.5, True)], None)]
    batch = torch.cat(rows)
    target = torch.from_numpy(crop_pixels(gt.astype(np.float32), window, (64, 128)) > 0.5)
    targets = torch.stack([target[None].float()] * 2)
    with torch.no_grad():
        predicted = (net.decoder(batch[:1])[0, 0] > 0).numpy()
        out = self_corrected(net, batch, targets, [True, False], 1)
    click = next_click(target.numpy(), predicted)
    assert click is not None
    assert torch.equal(out[1], batch[1])  # not a refinement row
    assert torch.equal(out[0, :-3], batch[0, :-3])  # pixels and features untouched
    assert np.array_equal(out[0, -1].numpy() > 0.5, predicted)  # its own mask is the earlier one
    channel = -3 if click[2] else -2
    assert out[0, channel, int(click[1]), int(click[0])] == 1.0
    assert out[0, channel].sum() > batch[0, channel].sum()
    assert out.shape == (2, batch.shape[1], CROP, CROP)
