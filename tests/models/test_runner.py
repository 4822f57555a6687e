"""The batched runner: decoding processes, batching by size, skip/force, cancel, devices."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from roadmark.core.jobs import CancelToken
from roadmark.io.frames import scan
from roadmark.io.predictions import predicted_frame_ids, ranked_regions, read_prediction
from roadmark.io.store import Project
from roadmark.models import runner
from roadmark.models.create import new_torchvision_model
from roadmark.models.errors import DeviceError
from roadmark.models.runner import PrelabelOptions, prelabel, resolve_device, size_batches
from tests.helpers import make_image


@pytest.fixture
def project(tmp_path: Path) -> Project:
    images = [make_image(tmp_path / f"a{i}.png", 64, 48, seed=i) for i in range(9)]
    images += [make_image(tmp_path / f"b{i}.png", 40, 40, seed=i) for i in range(3)]
    project = Project.create(tmp_path / "p.roadmark")
    project.add_frames(scan(images))
    yield project
    project.close()


def test_decoding_processes_batches_of_one_size_skip_and_cancel(project: Project, tmp_path: Path):
    model = new_torchvision_model(
        tmp_path / "m.roadmodel",
        "lraspp_mobilenet_v3_large",
        schema=project.schema,
        input_size=(32, 32),
        seed=0,
    )
    seen: list[tuple[int, int]] = []
    result = prelabel(
        project,
        model,
        PrelabelOptions(device="cpu", batch_size=4, workers=1),  # a spawned decoder
        progress=lambda done, total: seen.append((done, total)),
    )
    assert (result.predicted, result.skipped, result.cancelled) == (12, 0, False)
    assert seen[-1] == (12, 12) and result.frames_per_second > 0
    small = next(f for f in project.frames() if f.width == 40)
    prediction = read_prediction(project, small.id)
    assert prediction is not None and prediction.maps.shape == (20, 20)
    assert prediction.model_digest == model.digest
    assert ranked_regions(project)  # a random model is unsure everywhere

    again = prelabel(project, model, PrelabelOptions(device="cpu", workers=0))
    assert (again.predicted, again.skipped) == (0, 12)

    stop = CancelToken()
    real_infer = runner.Predictor.infer

    def cancel_after_first(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        stop.cancel()  # as the Cancel button does while the first frame runs
        return real_infer(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner.Predictor, "infer", cancel_after_first)
        cancelled = prelabel(
            project,
            model,
            PrelabelOptions(device="cpu", batch_size=1, workers=0, force=True),
            cancel=stop,
        )
    assert cancelled.cancelled and 1 <= cancelled.predicted < 12
    assert len(predicted_frame_ids(project, "m")) == 12


def test_size_batches_group_frames_of_one_size(project: Project):
    frames = project.frames()
    batches = size_batches(frames, 4)
    for batch in batches:
        assert len({(frames[p].width, frames[p].height) for p in batch}) == 1
    assert sorted(p for batch in batches for p in batch) == list(range(len(frames)))


def test_devices():
    assert resolve_device("auto").type in ("cpu", "cuda")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(DeviceError, match="bad device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="no usable CUDA GPU") as error:
            resolve_device("cuda:1")
        assert error.value.field == "--device"
