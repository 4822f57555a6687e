"""Guided review without Qt: the queue, region accept (clipped), reject and verify."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from roadmark.annotators.review.guided import (
    ReviewQueue,
    accept_region_above,
    accept_region_command,
    accepted_text,
    focus_rect,
    objects_in,
    region_proposals,
    reject_command,
    verify_command,
)
from roadmark.annotators.review.prelabels import proposals
from roadmark.core.annotation import Box, ObjectKind
from roadmark.core.edits import AddObjects, EditError
from roadmark.core.prediction import (
    FramePrediction,
    PredictedBox,
    RegionKind,
    SegmentationMaps,
    UncertainRegion,
)
from roadmark.core.provenance import DRAWN, MODEL, VERIFIED, provenance_kind
from roadmark.core.session import EditSession
from roadmark.io.predictions import ranked_regions, read_prediction, write_predictions
from roadmark.io.store import FrameSpec, Project
from tests.helpers import region

ROAD, CAR, PERSON = 7, 26, 24


def _regions(scores):
    return tuple(
        UncertainRegion(RegionKind.PIXELS, Box(4 * i, 0, 4 * i + 20, 20), 400.0, 0.5, (ROAD,), s)
        for i, s in enumerate(scores)
    )


@pytest.fixture
def project(tmp_path: Path):
    project = Project.create(tmp_path / "p.roadmark")
    ids, _ = project.add_frames(
        [FrameSpec(tmp_path / f"f{i}.png", None, 80, 40, "s", i) for i in range(2)]
    )
    labels = np.full((20, 40), ROAD, np.uint8)
    labels[5:15, 10:30] = CAR
    confidence = np.full((20, 40), 230, np.uint8)
    maps = SegmentationMaps(labels, confidence, confidence, 255 - confidence, 80, 40)
    boxes = (PredictedBox(PERSON, 0.9, Box(60, 2, 70, 30)),)
    write_predictions(
        project,
        [
            FramePrediction(ids[0], "m", "d" * 64, "segmentation", maps, boxes, _regions([5, 50])),
            FramePrediction(ids[1], "m", "d" * 64, "segmentation", maps, (), _regions([20])),
        ],
    )
    yield project
    project.close()


def test_queue_walks_by_score_wraps_and_resolves(project: Project):
    queue = ReviewQueue(project)
    queue.reload()
    assert [r.score for r in queue.regions] == [50, 20, 5]
    assert queue.next().score == 50 and queue.next().score == 20
    assert queue.previous().score == 50 and queue.previous().score == 5  # wraps
    queue.go(1)
    resolved = queue.resolve()
    assert resolved.score == 20 and [r.score for r in queue.regions] == [50, 5]
    assert queue.next().score == 5  # the region that took its place
    assert [r.score for r in ranked_regions(project)] == [50, 5]  # stored at once
    frame_id = project.frames()[0].id
    queue.reload(frame_id)
    assert [r.score for r in queue.regions] == [50, 5] and queue.current.score == 5
    queue.unresolve(resolved)
    queue.reload()
    assert len(queue) == 3
    assert ReviewQueue(project).next() is None  # not loaded: empty


def test_focus_rect_adds_context_inside_the_frame():
    rect = focus_rect(Box(10, 10, 20, 20), 200, 100)
    assert rect.x0 == 0 and rect.width >= 60 and rect.height >= 60
    big = focus_rect(Box(50, 20, 150, 80), 200, 100)
    assert big.width == pytest.approx(150) and (big.y0, big.y1) == (2, 98)  # 96 px at least


def test_region_accept_is_clipped_and_one_step_reject_and_verify(project: Project):
    frame_id = project.frames()[0].id
    session = EditSession(project)
    document = session.open(frame_id)
    found = proposals(read_prediction(project, frame_id), project.schema, user="ann")
    pixel = UncertainRegion(RegionKind.PIXELS, Box(0, 0, 30, 20), 600.0, 0.5, (ROAD,), 9.0, uid=7)
    clipped = region_proposals(found, pixel)
    assert {p.label_id for p in clipped} == {ROAD, CAR}
    assert all(p.kind is ObjectKind.REGION for p in clipped)
    for p in clipped:
        x0, y0, x1, y1 = p.object.region.bounds
        assert x0 >= 0 and y0 >= 0 and x1 <= 30 and y1 <= 20
    box_region = UncertainRegion(
        RegionKind.BOX_SCORE, Box(60, 2, 70, 30), 280.0, 0.2, (PERSON,), 9.0, uid=8
    )
    assert [p.key for p in region_proposals(found, box_region)] == ["box:0"]

    command = accept_region_command(document, found, pixel)
    session.execute(command)
    added = document.live()
    assert len(added) == 2 and {provenance_kind(o) for o in added} == {MODEL}
    road = next(o for o in added if o.label_id == ROAD)
    assert objects_in(document, Box(0, 0, 5, 5)) == [road.uid]  # the car is not there
    session.undo()
    assert document.live() == []
    session.redo()

    human = session.execute(AddObjects(frame_id, [region(PERSON, 40, 0, 50, 10)], text="draw"))
    uids = [o.uid for o in document.live()]
    reject = reject_command(document, uids, "ann")  # only the model labels
    assert len(reject.before) == 2
    session.execute(reject)
    assert [o.uid for o in document.live()] == human.uids
    assert provenance_kind(document.live()[0]) == DRAWN
    with pytest.raises(EditError, match="model labels"):
        reject_command(document, human.uids, "ann")
    session.execute(verify_command(document, human.uids, "rev"))
    assert provenance_kind(document.get(human.uids[0])) == VERIFIED
    assert verify_command(document, human.uids, "rev") is None


def test_region_accept_above_a_threshold_says_what_it_did(project: Project):
    frame_id = project.frames()[0].id
    session = EditSession(project)
    document = session.open(frame_id)
    found = proposals(read_prediction(project, frame_id), project.schema, user="ann")
    pixel = UncertainRegion(RegionKind.PIXELS, Box(0, 0, 30, 20), 600.0, 0.5, (ROAD,), 9.0, uid=7)
    command, below = accept_region_above(document, found, pixel, 0.95)  # all are at 0.90
    assert command is None and len(below) == 2
    text = accepted_text(project.schema, command, below, 0.95)
    assert text == "Nothing accepted here; 2 labels below the 0.95 threshold left out"
    command, below = accept_region_above(document, found, pixel, 0.5)
    assert command is not None and below == []
    session.execute(command)
    text = accepted_text(project.schema, command, below, 0.5)
    assert text.startswith("Accepted 2 labels: ") and "road 0.90" in text and "car 0.90" in text
    again, _ = accept_region_above(document, found, pixel, 0.5)
    assert again is None
    assert accepted_text(project.schema, again, [], 0.5).endswith("already on it")
