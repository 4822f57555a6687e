"""Audit findings per labeled object and per predicted object, merged, ranked above rims."""

from __future__ import annotations

import numpy as np
import pytest

from roadmark.analysis.label_audit import (
    DISAGREEMENT,
    LABEL_ERRORS,
    MISSING_OBJECT,
    WRONG_LABEL,
    AuditParams,
    compare_frame,
)
from roadmark.analysis.object_audit import predicted_patches
from roadmark.core.prediction import SegmentationMaps
from roadmark.core.schema import cityscapes_schema
from tests.helpers import region

ROAD, SIDEWALK, BUILDING, VEGETATION, POLE, CAR, PERSON = 7, 8, 11, 21, 17, 26, 24


def _maps(labels: np.ndarray, confidence: int = 240) -> SegmentationMaps:
    """Maps at stride 1 (frame = map pixels), the model sure everywhere."""
    h, w = labels.shape
    sure = np.full((h, w), confidence, np.uint8)
    return SegmentationMaps(labels.astype(np.uint8), sure, sure, 255 - sure, w, h)


def _scene() -> np.ndarray:
    """What the model predicts on a 200 x 100 frame: building above a road, a car, a
    person."""
    labels = np.full((100, 200), ROAD, np.uint8)
    labels[:50] = BUILDING
    labels[40:60, 20:50] = CAR  # 30 x 20
    labels[50:80, 150:160] = PERSON  # 10 x 30
    return labels


def _objects(uid_start: int = 1):
    objects = [
        region(BUILDING, 0, 0, 200, 50),
        region(ROAD, 0, 50, 200, 100),
        region(CAR, 20, 40, 50, 60),
        region(PERSON, 150, 50, 160, 80),
    ]
    return [o.__class__(**{**o.__dict__, "uid": uid_start + i}) for i, o in enumerate(objects)]


def test_a_relabeled_object_is_one_wrong_label_finding_ranked_above_a_rim():
    objects = _objects()
    # The car is labeled as vegetation, and the road is drawn 6 pixels too high (a rim
    # of 1200 disagreeing pixels along the building: twice the car's area).
    objects[2] = objects[2].__class__(**{**objects[2].__dict__, "label_id": VEGETATION})
    objects[1] = region(ROAD, 0, 44, 200, 100)
    objects[1] = objects[1].__class__(**{**objects[1].__dict__, "uid": 2})
    findings = compare_frame(1, objects, _maps(_scene()), cityscapes_schema())
    errors = [f for f in findings if f.kind in LABEL_ERRORS]
    first = errors[0]
    assert first.kind == WRONG_LABEL and (first.labeled, first.predicted) == (VEGETATION, CAR)
    assert first.uids == (3,)
    assert first.area == pytest.approx(30 * 20)  # the car lies above the road
    rim = [f for f in errors if f.labeled == ROAD and f.predicted == BUILDING]
    assert rim and all(f.score < first.score / 4 for f in rim)
    # Merged: the car's disagreeing pixels make no second finding.
    assert sum(1 for f in errors if f.predicted == CAR) == 1


def test_a_deleted_object_is_one_missing_object_finding_even_when_split():
    objects = _objects()
    del objects[3]  # the person was never drawn: road there
    objects.append(region(POLE, 154, 40, 156, 90))  # a thin pole drawn across it
    objects[-1] = objects[-1].__class__(**{**objects[-1].__dict__, "uid": 9})
    findings = compare_frame(1, objects, _maps(_scene()), cityscapes_schema(), AuditParams())
    missing = [f for f in findings if f.kind == MISSING_OBJECT]
    assert len(missing) == 1
    (person,) = missing
    assert person.predicted == PERSON and person.labeled == ROAD
    assert person.box.x0 == pytest.approx(150) and person.box.x1 == pytest.approx(160)
    # The model sees no pole at all: the pole is a (small) wrong-label finding of its own,
    # ranked below the missing person.
    errors = [f for f in findings if f.kind in LABEL_ERRORS]
    assert errors[0] == person and [f.uids for f in errors[1:]] == [(9,)]


def test_correct_labels_give_no_label_error_and_stuff_classes_stay_disagreements():
    assert [f for f in compare_frame(1, _objects(), _maps(_scene()), cityscapes_schema())] == []
    objects = _objects()
    objects.append(region(ROAD, 60, 0, 120, 50))  # a road patch drawn over the building
    objects[-1] = objects[-1].__class__(**{**objects[-1].__dict__, "uid": 9})
    findings = compare_frame(1, objects, _maps(_scene()), cityscapes_schema())
    (finding,) = [f for f in findings if f.kind in LABEL_ERRORS]
    assert finding.kind == WRONG_LABEL and finding.uids == (9,)  # the patch, not a blob
    # With the share bar above what the patch reaches, the same pixels are a plain
    # disagreement (building is not a class with instances).
    strict = compare_frame(
        1, objects, _maps(_scene()), cityscapes_schema(), AuditParams(object_share=1.0)
    )
    (blob,) = [f for f in strict if f.kind in LABEL_ERRORS]
    assert blob.kind == DISAGREEMENT and blob.predicted == BUILDING


def test_predicted_patches_are_connected_pieces_of_one_class():
    labels = np.array([[1, 1, 2, 1], [2, 2, 2, 1]], dtype=np.int64)
    patches = predicted_patches(labels)
    assert len(np.unique(patches)) == 3  # 1 (top left), 2, 1 (right column)
    assert patches[0, 0] == patches[0, 1] != patches[0, 3]
