"""Accepting predictions: proposals, one command, one undo step, nothing stored before."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from roadmark.annotators.review.prelabels import (
    AcceptOptions,
    accept_command,
    model_source,
    proposals,
    select_proposals,
)
from roadmark.core.annotation import Box, FrameStatus, ObjectKind
from roadmark.core.edits import AddObjects, EditError
from roadmark.core.prediction import FramePrediction, PredictedBox, SegmentationMaps
from roadmark.core.session import EditSession
from roadmark.io.predictions import ranked_regions, read_prediction, write_predictions
from roadmark.io.store import FrameSpec, Project
from tests.helpers import region

ROAD, CAR, PERSON = 7, 26, 24


@pytest.fixture
def project(tmp_path: Path) -> Project:
    project = Project.create(tmp_path / "p.roadmark")
    project.add_frames([FrameSpec(tmp_path / "f.png", None, 80, 40, "s", 0)])
    yield project
    project.close()


def _prediction(frame_id: int) -> FramePrediction:
    # Maps at stride 2: 40x20 map pixels for an 80x40 frame.
    labels = np.full((20, 40), ROAD, np.uint8)
    labels[2:8, 2:10] = CAR  # two cars (instances) ...
    labels[10:16, 20:30] = CAR
    labels[0:1, 39:40] = CAR  # ... and a one-pixel speck left out
    confidence = np.full((20, 40), 230, np.uint8)
    confidence[10:16, 20:30] = 60
    margin = confidence.copy()
    entropy = (255 - confidence).astype(np.uint8)
    maps = SegmentationMaps(labels, confidence, margin, entropy, 80, 40)
    boxes = (
        PredictedBox(PERSON, 0.9, Box(50, 2, 60, 30)),
        PredictedBox(PERSON, 0.6, Box(62, 2, 70, 30)),
        PredictedBox(PERSON, 0.2, Box(70, 2, 75, 30)),  # below the score threshold
        PredictedBox(PERSON, 0.8, Box(1, 1, 5, 5), flip_only=True),  # never accepted
    )
    return FramePrediction(frame_id, "tiny", "d" * 64, "segmentation", maps, boxes)


def test_predictions_stay_apart_until_accepted_and_accept_is_one_undo_step(project: Project):
    (frame,) = project.frames()
    write_predictions(project, [_prediction(frame.id)])
    assert project.objects(frame.id).live() == []  # nothing in the labels yet
    assert project.frame(frame.id).status is FrameStatus.PRELABELED

    session = EditSession(project)
    document = session.open(frame.id)
    human = session.execute(AddObjects(frame.id, [region(PERSON, 0, 0, 10, 10)], text="draw"))
    stored = read_prediction(project, frame.id)
    assert stored is not None and stored.maps is not None
    found = proposals(stored, project.schema, user="ann")
    keys = [p.key for p in found]
    assert keys == ["region:7", "region:26:0", "region:26:1", "box:0", "box:1"]
    assert all(p.object.provenance.source == model_source("tiny") for p in found)
    _road, car0, car1, _box0, box1 = found
    assert car1.confidence == pytest.approx(60 / 255, abs=1e-3)
    assert box1.confidence == pytest.approx(0.6)
    assert car0.object.region.bounds == (4.0, 4.0, 20.0, 16.0)  # scaled to frame pixels

    command = accept_command(document, found)
    assert isinstance(command, AddObjects) and command.text == "Accept 5 objects from tiny"
    session.execute(command)
    live = project.objects(frame.id).live()
    assert len(live) == 6
    assert [o.uid for o in live][-1] == human.uids[0]  # accepted objects go under
    accepted = live[:-1]
    assert {o.provenance.source for o in accepted} == {"model:tiny"}
    assert sorted(o.instance_id for o in accepted if o.instance_id) == [1, 2, 3, 4]
    assert [o.provenance.confidence for o in accepted][3] == pytest.approx(0.9)
    assert len(document.live()) == 6 and document.label_at(50, 25) == CAR

    assert len(session.history) == 2
    assert session.undo() is command  # one step removes all five
    assert [o.uid for o in project.objects(frame.id).live()] == human.uids
    assert [o.uid for o in document.live()] == human.uids
    session.redo()
    assert len(project.objects(frame.id).live()) == 6
    # Accepting again adds nothing twice.
    assert accept_command(document, found) is None


def test_accept_above_a_confidence_or_one_proposal(project: Project):
    (frame,) = project.frames()
    write_predictions(project, [_prediction(frame.id)])
    session = EditSession(project)
    document = session.open(frame.id)
    found = proposals(
        read_prediction(project, frame.id), project.schema, user="ann", options=AcceptOptions()
    )
    confident = accept_command(document, found, min_confidence=0.8)
    assert confident is not None
    session.execute(confident)
    assert sorted(o.label_id for o in document.live()) == [ROAD, PERSON, CAR]

    one = accept_command(document, found, keys=["box:1"])
    session.execute(one)
    boxes = [o for o in document.live() if o.kind is ObjectKind.BOX]
    assert sorted(b.provenance.confidence for b in boxes) == pytest.approx([0.6, 0.9])
    session.undo()
    assert len(document.live()) == 3
    with pytest.raises(EditError, match="box:9"):
        accept_command(document, found, keys=["box:9"])
    assert select_proposals(found, kinds=[ObjectKind.BOX]) == found[3:]


def test_regions_are_ranked_across_the_project(project: Project, tmp_path: Path):
    from roadmark.analysis.uncertainty import RegionParams
    from roadmark.io.prediction_writer import prepare
    from roadmark.io.predictions import write_packed

    (frame,) = project.frames()
    params = RegionParams(min_area=4, threshold=0.5, sigma=1.5)  # a tight rim: only the car
    write_packed(project, [prepare(_prediction(frame.id), params)])
    regions = ranked_regions(project)
    assert [r.score for r in regions] == sorted((r.score for r in regions), reverse=True)
    assert {r.kind for r in regions} == {"pixels", "box_score", "box_flip"}
    # the unsure car (confidence 60/255) is the one pixel region, at frame x 40..60
    (car,) = [r for r in regions if r.kind == "pixels"]
    assert 38 <= car.box.x0 <= 44 and 56 <= car.box.x1 <= 62 and car.classes == (CAR,)
    assert ranked_regions(project, top=1) == regions[:1]
