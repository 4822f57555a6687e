"""Box-to-mask pre-labels: boxes (human or predicted) become mask predictions, kept apart
from the labels, proposed as regions with the decoder's quality as confidence."""

from __future__ import annotations

from pathlib import Path

import pytest
import shapely
import torch

from roadmark.annotators.review.prelabels import proposals
from roadmark.annotators.tools.smart import mask_region
from roadmark.cli import main
from roadmark.core.annotation import Box
from roadmark.core.jobs import CancelToken, JobCancelled
from roadmark.core.prediction import FramePrediction, PredictedBox
from roadmark.io.frames import scan
from roadmark.io.predictions import read_prediction, write_predictions
from roadmark.io.store import Project
from roadmark.models.click_net import ClickNet
from roadmark.models.click_training import save_click_model
from roadmark.models.promptable import load_promptable
from roadmark.models.refine import refine_boxes
from tests.helpers import box, make_image, region

CAR, PERSON, ROAD = 26, 24, 7


@pytest.fixture(scope="module")
def always_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(3)
    net = ClickNet()
    torch.nn.init.zeros_(net.decoder.head.weight)
    torch.nn.init.constant_(net.decoder.head.bias, 5.0)
    path = tmp_path_factory.mktemp("refine") / "always.roadmodel"
    save_click_model(net, path, name="always")
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "p.roadmark"
    images = [make_image(tmp_path / f"f{i}.png", 160, 90, seed=i) for i in range(2)]
    with Project.create(path) as created:
        ids, _ = created.add_frames(scan(images))
        created.add_objects(ids[0], [region(ROAD, 0, 45, 160, 90), box(CAR, 40, 20, 100, 60)])
        created.add_objects(ids[1], [box(PERSON, 10, 10, 30, 70)])
    return path


def test_predicted_box_keeps_its_mask_through_json():
    mask = shapely.Polygon([(0, 0), (4, 0), (4, 3), (0, 3)])
    predicted = PredictedBox(CAR, 0.7, Box(0, 0, 4, 3), mask=mask)
    again = PredictedBox.from_json(predicted.to_json())
    assert again.mask is not None and again.mask.equals(mask) and again == predicted
    assert PredictedBox.from_json(PredictedBox(CAR, 0.5, Box(0, 0, 1, 1)).to_json()).mask is None


def test_human_boxes_become_mask_predictions_apart_from_the_labels(
    project: Path, always_model: Path
):
    model = load_promptable(always_model)
    with Project.open(project) as opened:
        frames = opened.frames()
        result = refine_boxes(opened, model, frames, vectorize=mask_region)
        assert (result.frames, result.boxes, result.masks) == (2, 2, 2)
        prediction = read_prediction(opened, frames[0].id, "always")
        assert prediction is not None and prediction.task == "detection"
        (car,) = prediction.boxes
        assert car.label_id == CAR and car.mask is not None
        assert car.box == Box(40, 20, 100, 60)
        # the decoder answers "object" over the box and its margin
        assert car.mask.contains(shapely.box(41, 21, 99, 59))
        assert 0.0 <= car.score <= 1.0
        # the labels did not change: one road and one box
        assert [o.kind.value for o in opened.objects(frames[0].id).live()] == ["region", "box"]
        (proposal,) = proposals(prediction, opened.schema, user="me")
        assert proposal.object.kind.value == "region" and proposal.object.region.equals(car.mask)
        assert proposal.object.provenance.source == "model:always"
        assert proposal.confidence == pytest.approx(car.score, abs=1e-4)


def test_a_detectors_boxes_are_refined_flip_only_ones_are_not(project: Path, always_model: Path):
    model = load_promptable(always_model)
    with Project.open(project) as opened:
        frame = opened.frames()[1]
        write_predictions(opened, [FramePrediction(
            frame_id=frame.id, model="det", model_digest="d" * 64, task="detection",
            boxes=(PredictedBox(CAR, 0.9, Box(60, 20, 120, 70)),
                   PredictedBox(CAR, 0.4, Box(0, 0, 20, 20), flip_only=True)),
        )])
        result = refine_boxes(opened, model, [frame], vectorize=mask_region, detector="det")
        assert (result.boxes, result.masks) == (1, 1)
        (refined,) = read_prediction(opened, frame.id, "always").boxes
        assert refined.box == Box(60, 20, 120, 70) and refined.mask is not None


def test_cli_prelabel_refine(project: Path, always_model: Path, capsys: pytest.CaptureFixture):
    assert main(["prelabel", str(project), "--refine", str(always_model), "--device", "cpu"]) == 0
    assert "refined 2 of 2 human boxes" in capsys.readouterr().out
    assert main(["prelabel", str(project)]) == 2
    assert "--model" in capsys.readouterr().err


def test_a_cancelled_refine_raises_the_one_error_and_keeps_the_frames_done(
    project: Path, always_model: Path
):
    model = load_promptable(always_model)
    stop = CancelToken()

    def progress(done: int, total: int, message: str = "") -> None:
        stop.cancel()  # after the first frame

    with Project.open(project) as opened:
        frames = opened.frames()
        with pytest.raises(JobCancelled, match="refined so far are stored"):
            refine_boxes(opened, model, frames, vectorize=mask_region, progress=progress,
                         cancel=stop)  # fmt: skip
        assert read_prediction(opened, frames[0].id, "always") is not None
        assert read_prediction(opened, frames[1].id, "always") is None
