"""Agreement scores on frames with known differences (numbers worked out by hand)."""

from __future__ import annotations

import pytest

from roadmark.analysis.agreement import BoxMatch, box_iou_matrix, compare, match_boxes
from roadmark.core.annotation import Box
from roadmark.core.schema import cityscapes_schema
from tests.helpers import box, region

SCHEMA = cityscapes_schema()
ROAD, CAR, TRUCK, PERSON, EGO = 7, 26, 27, 24, 1
H, W = 10, 20


def score(reference, candidate):
    return compare(reference, candidate, SCHEMA, H, W)


def reference():
    # road: 20 x 4 = 80 px; car: 4 x 4 = 16 px, apart from the road.
    return [region(ROAD, 0, 6, 20, 10), region(CAR, 2, 1, 6, 5, instance_id=1)]


def test_identical_versions_agree_fully():
    result = score(reference(), reference())
    assert result.pixel_accuracy == 1.0 and result.mean_iou == 1.0 and result.box_f1 == 1.0
    assert result.evaluated_pixels == 96
    assert result.label_iou == {ROAD: 1.0, CAR: 1.0}


def test_loose_boundary():
    candidate = [region(ROAD, 0, 6, 20, 10), region(CAR, 2, 1, 8, 5)]  # 2 columns too wide
    result = score(reference(), candidate)
    assert result.evaluated_pixels == 104
    assert result.pixel_accuracy == pytest.approx(96 / 104)
    assert result.label_iou == {ROAD: 1.0, CAR: pytest.approx(16 / 24)}
    assert result.mean_iou == pytest.approx((1 + 16 / 24) / 2)
    assert result.boxes == BoxMatch(1, 0, 0)  # box IoU 16/24 >= 0.5


def test_missing_object_and_invented_object():
    candidate = [region(ROAD, 0, 6, 20, 10), region(PERSON, 10, 1, 12, 3)]  # 4 px person
    result = score(reference(), candidate)
    assert result.evaluated_pixels == 100
    assert result.pixel_accuracy == pytest.approx(0.8)
    assert result.label_iou == {ROAD: 1.0, CAR: 0.0, PERSON: 0.0}
    assert result.mean_iou == pytest.approx(1 / 3)
    assert result.boxes == BoxMatch(0, 1, 1)
    assert result.box_f1 == 0.0 and result.boxes.precision == 0.0 and result.boxes.recall == 0.0


def test_wrong_label():
    candidate = [region(ROAD, 0, 6, 20, 10), region(TRUCK, 2, 1, 6, 5)]
    result = score(reference(), candidate)
    assert result.pixel_accuracy == pytest.approx(80 / 96)
    assert result.label_iou == {ROAD: 1.0, CAR: 0.0, TRUCK: 0.0}
    assert result.box_f1 == 0.0  # same place, different label: no match


def test_z_order_decides_the_pixels():
    # A car drawn under the road is hidden where they overlap.
    covered = [region(CAR, 0, 4, 4, 8), region(ROAD, 0, 6, 20, 10)]
    on_top = [region(ROAD, 0, 6, 20, 10), region(CAR, 0, 4, 4, 8)]
    result = score(on_top, covered)
    # evaluated: road 80 + car rows 4-5 (8 px) = 88 (+ car rows 6-7 in on_top, which are
    # road in covered: counted, 8 px disagree)
    assert result.evaluated_pixels == 88
    assert result.pixel_accuracy == pytest.approx(80 / 88)
    assert result.label_iou[ROAD] == pytest.approx(72 / 80)
    assert result.label_iou[CAR] == pytest.approx(8 / 16)


def test_ignored_labels_do_not_count_and_empty_frames_give_none():
    ego_only = [region(EGO, 0, 0, 20, 10)]
    result = score(ego_only, [])
    assert result.pixel_accuracy is None and result.mean_iou is None and result.box_f1 is None
    assert result.evaluated_pixels == 0
    # ego vehicle under a road candidate: the road pixels count and disagree
    result = score(ego_only, [region(ROAD, 0, 6, 20, 10)])
    assert result.pixel_accuracy == 0.0 and result.label_iou == {ROAD: 0.0}


def test_scores_are_symmetric():
    a = reference()
    b = [region(ROAD, 0, 5, 20, 10), region(CAR, 3, 1, 7, 5), region(PERSON, 10, 1, 12, 3)]
    ab, ba = score(a, b), score(b, a)
    assert ab.pixel_accuracy == ba.pixel_accuracy and ab.mean_iou == ba.mean_iou
    assert ab.box_f1 == ba.box_f1
    assert (ab.boxes.false_positives, ab.boxes.false_negatives) == (
        ba.boxes.false_negatives,
        ba.boxes.false_positives,
    )


def test_box_objects_and_greedy_matching():
    ref = [box(CAR, 0, 0, 10, 10), box(CAR, 20, 20, 30, 30), box(PERSON, 0, 0, 2, 2)]
    cand = [
        box(CAR, 1, 1, 11, 11),  # IoU 81/119 with the first car
        box(CAR, 0, 0, 10, 9),  # IoU 0.9 with the first car: wins it
        box(CAR, 40, 40, 50, 50),  # matches nothing
        box(PERSON, 0, 0, 2, 2, deleted=True),  # deleted: ignored
    ]
    result = score(ref, cand)
    assert result.boxes == BoxMatch(1, 2, 2)
    assert result.box_f1 == pytest.approx(2 / (2 + 2 + 2))
    assert result.pixel_accuracy is None  # boxes are not painted into label maps


def test_crowd_regions_and_labels_without_instances_are_not_boxes():
    ref = [region(CAR, 0, 0, 4, 4, crowd=True), region(ROAD, 0, 6, 20, 10)]
    result = score(ref, ref)
    assert result.boxes == BoxMatch(0, 0, 0) and result.box_f1 is None


def test_iou_threshold_boundary():
    a = [(CAR, Box(0, 0, 10, 10))]
    exactly_half = [(CAR, Box(0, 0, 5, 10))]  # IoU 50 / 100
    assert match_boxes(a, exactly_half).true_positives == 1
    just_below = [(CAR, Box(0, 0, 4.99, 10))]
    assert match_boxes(a, just_below).true_positives == 0


def test_box_iou_matrix():
    import numpy as np

    iou = box_iou_matrix(
        np.array([[0, 0, 10, 10], [0, 0, 0, 0]], dtype=float),
        np.array([[5, 0, 15, 10]], dtype=float),
    )
    assert iou[0, 0] == pytest.approx(50 / 150) and iou[1, 0] == 0.0
