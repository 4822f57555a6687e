"""Pre-labeling on a CPU splits the cores between decoders, torch and writers."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from roadmark.io.frames import scan
from roadmark.io.store import Project
from roadmark.models import runner
from roadmark.models.create import new_torchvision_model
from roadmark.models.device import cpu_torch_threads, torch_threads
from roadmark.models.runner import PrelabelOptions, prelabel
from tests.helpers import make_image


@pytest.mark.parametrize(
    ("cpus", "decoders", "writers", "expected"),
    [(2, 1, 1, 1), (2, 0, 1, 1), (4, 2, 1, 1), (8, 4, 1, 3), (16, 4, 1, 11), (1, 1, 1, 1)],
)
def test_torch_gets_the_cores_decoders_and_writers_leave(
    cpus: int, decoders: int, writers: int, expected: int
):
    assert cpu_torch_threads(cpus, decoders, writers) == expected


def test_the_thread_count_is_restored_after_the_block():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), torch_threads(before + 1):
        assert torch.get_num_threads() == before + 1
        raise RuntimeError("a failed run")
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before


def test_prelabel_runs_torch_on_the_cores_left(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    images = [make_image(tmp_path / f"a{i}.png", 64, 48, seed=i) for i in range(4)]
    project = Project.create(tmp_path / "p.roadmark")
    project.add_frames(scan(images))
    model = new_torchvision_model(
        tmp_path / "m.roadmodel",
        "lraspp_mobilenet_v3_large",
        schema=project.schema,
        input_size=(32, 32),
        seed=0,
    )
    monkeypatch.setattr(runner, "cpu_budget", lambda: 5)
    before = torch.get_num_threads()
    seen: list[int] = []
    real_infer = runner.Predictor.infer

    def infer(self, *args, **kwargs):
        seen.append(torch.get_num_threads())  # in the thread that runs the model
        return real_infer(self, *args, **kwargs)

    monkeypatch.setattr(runner.Predictor, "infer", infer)
    options = PrelabelOptions(device="cpu", batch_size=2, workers=0, writer_threads=1)
    result = prelabel(project, model, options)
    assert result.predicted == 4 and result.threads == (0, 4, 1)
    assert seen == [4, 4] and torch.get_num_threads() == before
    chosen = prelabel(project, model, replace(options, force=True, torch_threads=2))
    assert chosen.threads == (0, 2, 1) and seen[-1] == 2
    own = prelabel(project, model, replace(options, force=True, torch_threads=0))
    assert own.threads == (0, before, 1) and seen[-1] == before
    assert torch.get_num_threads() == before
    project.close()
