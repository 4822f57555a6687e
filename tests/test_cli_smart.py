"""``roadmark embed`` and ``roadmark segment`` (both outputs), ``info``'s cache line, and
bad input as one line with exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from roadmark.cli import main
from roadmark.io.changelog import frame_history
from roadmark.io.frames import scan
from roadmark.io.store import Project
from roadmark.models.click_net import ClickNet
from roadmark.models.click_training import save_click_model
from tests.helpers import make_image


@pytest.fixture(scope="module")
def always_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A click model whose decoder says "object" everywhere in its crop."""
    torch.manual_seed(2)
    net = ClickNet()
    torch.nn.init.zeros_(net.decoder.head.weight)
    torch.nn.init.constant_(net.decoder.head.bias, 5.0)
    path = tmp_path_factory.mktemp("cli-smart") / "always.roadmodel"
    save_click_model(net, path, name="always")
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "p.roadmark"
    images = [make_image(tmp_path / f"f{i}.png", 160, 90, seed=i) for i in range(3)]
    with Project.create(path) as created:
        created.add_frames(scan(images))
    return path


def _one_line(capsys: pytest.CaptureFixture[str], *needles: str) -> None:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_segment_mask_out_writes_the_mask_and_changes_nothing(
    project: Path, always_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    out = tmp_path / "mask.png"
    code = main(["segment", str(project), "--frame", "1", "--model", str(always_model),
                 "--box", "40,20,100,60", "--mask-out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert "quality" in capsys.readouterr().out
    mask = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (90, 160) and mask.dtype == np.uint8
    assert set(np.unique(mask)) == {0, 255}
    rows, cols = np.nonzero(mask)
    # the box widened by the model's 10% margin
    assert 30 <= cols.min() <= 40 and 100 <= cols.max() <= 112 and rows.min() >= 14
    with Project.open(project, read_only=True) as opened:
        frames = opened.frames()
        assert all(opened.objects(f.id).live() == [] for f in frames)
        assert frame_history(opened, frames[1].id) == []


def test_segment_label_adds_one_audited_model_region(
    project: Path, always_model: Path, capsys: pytest.CaptureFixture[str]
):
    code = main(["segment", str(project), "--frame", "0", "--model", str(always_model),
                 "--point", "80,45", "--point", "10,10:neg", "--label", "car"])
    assert code == 0, capsys.readouterr().err
    assert "added region" in capsys.readouterr().out
    with Project.open(project, read_only=True) as opened:
        frame = opened.frames()[0]
        (obj,) = opened.objects(frame.id).live()
        assert opened.schema.label(obj.label_id).name == "car" and obj.instance_id == 1
        assert obj.provenance.source == "model:always"
        assert 0.0 <= (obj.provenance.confidence or 0.0) <= 1.0
        assert obj.region.contains(obj.region.representative_point())
        (change,) = frame_history(opened, frame.id)
        assert change.action == "add"


def test_embed_computes_once_and_info_shows_the_cache(
    project: Path, always_model: Path, capsys: pytest.CaptureFixture[str]
):
    assert main(["embed", str(project), "--model", str(always_model), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert (first["computed"], first["reused"], first["frames"]) == (3, 0, 3)
    assert first["cache_bytes"] > 0 and first["seconds_per_frame"] > 0
    assert main(["embed", str(project), "--model", str(always_model), "--frames", "0-1",
                 "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["computed"], again["reused"]) == (0, 2)
    assert main(["info", str(project)]) == 0
    assert "embeddings; safe to delete" in capsys.readouterr().out
    assert main(["info", str(project), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["cache_bytes"] == first["cache_bytes"]


def test_bad_input_is_one_line_and_exit_2(
    project: Path, always_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    base = ["segment", str(project), "--frame", "0", "--model", str(always_model)]
    assert main([*base, "--point", "a,b", "--label", "car"]) == 2
    _one_line(capsys, "--point[0]")
    assert main([*base, "--point", "500,10", "--label", "car"]) == 2
    _one_line(capsys, "points[0]", "outside")
    assert main([*base, "--box", "50,50,10,10", "--label", "car"]) == 2
    _one_line(capsys, "box")
    assert main([*base, "--point", "5,5", "--label", "no-such-label"]) == 2
    _one_line(capsys, "--label")
    assert main([*base, "--label", "car"]) == 2
    _one_line(capsys, "--point")
    assert main([*base, "--point", "5,5", "--mask-out", str(tmp_path / "no" / "m.png")]) == 2
    _one_line(capsys, "does not exist")
    assert main(["segment", str(project), "--frame", "9", "--model", str(always_model),
                 "--point", "5,5", "--label", "car"]) == 2
    _one_line(capsys, "--frames")
    not_a_model = tmp_path / "x.roadmodel"
    not_a_model.write_bytes(b"nothing")
    assert main(["embed", str(project), "--model", str(not_a_model)]) == 2
    _one_line(capsys, str(not_a_model))
    with Project.open(project, read_only=True) as opened:
        assert all(opened.objects(f.id).live() == [] for f in opened.frames())


def test_segment_uses_the_bundled_click_model_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    from roadmark.demo.drive import render_frame
    from roadmark.io.frames import write_image
    from roadmark.models.promptable import bundled_click_model

    assert bundled_click_model().is_file()
    frame = render_frame(24, frames=40, seed=0)
    write_image(tmp_path / "f.png", frame.image)
    project = tmp_path / "demo.roadmark"
    with Project.create(project) as created:
        created.add_frames(scan([tmp_path / "f.png"]))
    car = max((o for o in frame.objects if o.label_id == 26), key=lambda o: o.region.area)
    x, y = car.region.representative_point().coords[0]
    out = tmp_path / "car.png"
    assert main(["segment", str(project), "--frame", "0", "--point", f"{x},{y}",
                 "--mask-out", str(out)]) == 0
    assert "(click)" in capsys.readouterr().out
    mask = cv2.imread(str(out), cv2.IMREAD_UNCHANGED) > 0
    assert mask[int(y), int(x)] and mask.sum() < mask.size / 4
