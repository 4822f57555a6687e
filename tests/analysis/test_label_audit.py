"""The label-audit comparison without a project: one frame's labels against its maps."""

from __future__ import annotations

from dataclasses import replace

import pytest

from roadmark.analysis.label_audit import (
    DISAGREEMENT,
    HARD_CASE,
    WRONG_LABEL,
    AuditFinding,
    AuditParams,
    AuditReport,
    compare_frame,
)
from roadmark.core.annotation import Box
from roadmark.core.errors import RoadmarkError
from roadmark.core.schema import cityscapes_schema
from tests.helpers import region
from tests.io.test_label_audit import CAR, PERSON, ROAD, SKY, _maps, _truth


def test_boundary_jitter_is_not_an_error():
    labels, confidence = _truth()
    maps = _maps(labels, confidence)
    # Labels drawn one frame pixel off along every boundary: no finding.
    objects = [
        region(ROAD, 0, 21, 120, 80),
        region(SKY, 0, 0, 120, 21),
        region(CAR, 21, 31, 50, 51),
        region(PERSON, 81, 40, 97, 70),
    ]
    findings = compare_frame(1, objects, maps, cityscapes_schema())
    assert [f for f in findings if f.kind == DISAGREEMENT] == []


def test_a_relabeled_car_is_a_wrong_label_with_its_object():
    labels, confidence = _truth()
    objects = [
        region(ROAD, 0, 20, 120, 80),
        region(SKY, 0, 0, 120, 20),
        region(PERSON, 20, 30, 50, 50),  # the model sees a car here
        region(PERSON, 80, 40, 96, 70),
    ]
    objects = [replace(obj, uid=uid) for uid, obj in enumerate(objects, start=1)]
    findings = compare_frame(5, objects, _maps(labels, confidence), cityscapes_schema())
    wrong = [f for f in findings if f.kind == WRONG_LABEL]
    assert [(f.frame_id, f.labeled, f.predicted, f.uids) for f in wrong] == [(5, PERSON, CAR, (3,))]
    assert wrong[0].area == pytest.approx(30 * 20)


def test_report_orders_and_names_findings():
    def finding(frame_id: int, kind: str, score: float) -> AuditFinding:
        return AuditFinding(frame_id, kind, Box(0, 0, 4, 4), ROAD, CAR, 0.9, 16.0, score)

    found = (
        finding(1, WRONG_LABEL, 5.0),
        finding(2, DISAGREEMENT, 9.0),
        finding(1, DISAGREEMENT, 6.0),
        finding(2, HARD_CASE, 30.0),
    )
    report = AuditReport("m", (1, 2), found)
    assert report.disagreements() == list(found[:3])
    assert report.hard_cases() == [found[3]]
    assert report.frame_scores() == [(1, 11.0), (2, 9.0)]  # hard cases do not count
    data = report.to_json(cityscapes_schema())
    assert data["likely_label_errors"] == 3 and data["hard_cases"] == 1
    assert data["findings"][0]["labeled_class"] == "road"
    assert data["findings"][0]["predicted_class"] == "car"
    assert found[0].key == "1:wrong_label:0,0,4,4"


def test_thresholds_are_checked():
    with pytest.raises(RoadmarkError, match="unsure <= confident"):
        AuditParams(confident=0.3, unsure=0.5)
    with pytest.raises(RoadmarkError, match="object_share"):
        AuditParams(object_share=0.0)
    with pytest.raises(RoadmarkError, match="min_area"):
        AuditParams(min_area=0)
