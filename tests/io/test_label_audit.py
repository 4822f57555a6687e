"""Label audit: planted label errors are found and ranked first; decisions are kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from roadmark.analysis.label_audit import (
    HARD_CASE,
    MISSING_OBJECT,
    WRONG_LABEL,
    AuditParams,
)
from roadmark.core.errors import RoadmarkError
from roadmark.core.prediction import FramePrediction, SegmentationMaps
from roadmark.io.label_audit import AuditState, audit_project
from roadmark.io.predictions import write_predictions
from roadmark.io.store import FrameSpec, Project
from tests.helpers import region

ROAD, CAR, PERSON, SKY = 7, 26, 24, 23


def _maps(labels: np.ndarray, confidence: np.ndarray) -> SegmentationMaps:
    h, w = labels.shape
    return SegmentationMaps(
        labels.astype(np.uint8),
        confidence.astype(np.uint8),
        confidence.astype(np.uint8),
        (255 - confidence).astype(np.uint8),
        w * 2,
        h * 2,
    )


def _truth() -> tuple[np.ndarray, np.ndarray]:
    """Map-resolution truth (60 x 40 maps of a 120 x 80 frame): road, a car, a person."""
    labels = np.full((40, 60), ROAD, np.uint8)
    labels[:10] = SKY
    labels[15:25, 10:25] = CAR
    labels[20:35, 40:48] = PERSON
    confidence = np.full((40, 60), 240, np.uint8)
    confidence[28:38, 2:10] = 60  # the model is unsure here (a labeled road patch)
    return labels, confidence


@pytest.fixture
def project(tmp_path: Path):
    project = Project.create(tmp_path / "p.roadmark")
    ids, _ = project.add_frames(
        [FrameSpec(tmp_path / f"f{i}.png", None, 120, 80, "s", i) for i in range(2)]
    )
    good = [
        region(ROAD, 0, 20, 120, 80),
        region(SKY, 0, 0, 120, 20),
        region(CAR, 20, 30, 50, 50),
        region(PERSON, 80, 40, 96, 70),
    ]
    project.add_objects(ids[0], good)
    # Frame 2: the car is labeled as a person (relabel) and the person was never drawn.
    bad = [
        region(ROAD, 0, 20, 120, 80),
        region(SKY, 0, 0, 120, 20),
        region(PERSON, 20, 30, 50, 50),
    ]
    project.add_objects(ids[1], bad)
    labels, confidence = _truth()
    write_predictions(
        project,
        [
            FramePrediction(fid, "m", "d" * 64, "segmentation", _maps(labels, confidence))
            for fid in ids
        ],
    )
    yield project
    project.close()


def test_planted_errors_rank_first_with_classes_confidence_and_area(project: Project):
    good, bad = (frame.id for frame in project.frames())
    report = audit_project(project, "m")
    assert report.frames == (good, bad)
    errors = report.disagreements()
    assert {(f.frame_id, f.labeled, f.predicted) for f in errors} == {
        (bad, PERSON, CAR),
        (bad, ROAD, PERSON),
    }
    assert report.findings[: len(errors)] == tuple(errors)  # errors before hard cases
    relabel = next(f for f in errors if f.predicted == CAR)
    assert relabel.box.x0 == pytest.approx(20) and relabel.box.x1 == pytest.approx(50)
    assert relabel.area == pytest.approx(30 * 20)
    assert relabel.confidence == pytest.approx(240 / 255, abs=1e-3)
    assert len(relabel.uids) == 1  # the mislabeled person region
    assert report.frame_scores()[0][0] == bad
    hard = report.hard_cases()
    assert {f.frame_id for f in hard} == {good, bad}
    assert all(f.labeled == ROAD and f.confidence < 0.3 for f in hard)
    data = report.to_json(project.schema)
    first = data["findings"][0]
    assert set(first) >= {
        "frame_id",
        "bbox",
        "labeled_class",
        "predicted_class",
        "model_confidence",
        "disagreeing_area",
    }
    assert first["kind"] == WRONG_LABEL and data["hard_cases"] == len(hard)
    assert {f.kind for f in errors} == {WRONG_LABEL, MISSING_OBJECT}
    assert {f["labeled_class"] for f in data["findings"] if f["kind"] == HARD_CASE} == {"road"}


def test_decisions_are_kept_and_bad_thresholds_refused(project: Project):
    report = audit_project(project, "m")
    state = AuditState.load(project)
    state.confirmed.add(report.findings[0].key)
    state.flagged.add(report.findings[0].frame_id)
    state.save(project)
    again = AuditState.load(project)
    assert again.flagged == {report.findings[0].frame_id}
    assert len(again.open_findings(report.findings)) == len(report.findings) - 1
    with pytest.raises(RoadmarkError, match="unsure <= confident"):
        AuditParams(confident=0.3, unsure=0.5)
    project.set_meta("label_audit", "{not json")
    with pytest.raises(RoadmarkError, match="label_audit"):
        AuditState.load(project)
