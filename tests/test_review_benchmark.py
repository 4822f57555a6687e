"""The real-frame review benchmark's measures (benchmarks/review_cityscapes.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from review_cityscapes import calibration_error, error_auroc, plant_real_errors

from roadmark.core.raster import label_id_map
from roadmark.core.schema import cityscapes_schema
from tests.helpers import region


def test_error_auroc_counts_ties_half_and_orders_pixels():
    wrong = np.array([True, True, False, False])
    assert error_auroc(np.array([200, 150, 100, 50], np.uint8), wrong) == 1.0
    assert error_auroc(np.array([50, 100, 150, 200], np.uint8), wrong) == 0.0
    assert error_auroc(np.full(4, 90, np.uint8), wrong) == 0.5
    assert error_auroc(np.array([200, 100, 150, 50], np.uint8), wrong) == 0.75
    assert error_auroc(np.full(4, 9, np.uint8), np.zeros(4, bool)) is None


def test_calibration_error_is_the_weighted_gap_per_bin():
    confidence = np.array([255] * 4 + [128] * 4, np.uint8)
    correct = np.array([True] * 4 + [True, False, False, False])
    # Bin of 1.0: right 4/4 (gap 0); bin of 0.502: right 1/4 (gap 0.252); half the pixels.
    assert calibration_error(confidence, correct) == pytest.approx(0.5 * (128 / 255 - 0.25))


def test_planted_errors_relabel_the_largest_car_and_delete_another():
    schema = cityscapes_schema()
    ids = {n: schema.by_name[n].id for n in ("road", "car", "person", "building", "vegetation")}
    objects = [
        region(ids["road"], 0, 0, 200, 100),
        region(ids["car"], 10, 10, 60, 50),  # the largest car
        region(ids["car"], 100, 10, 120, 30),
        region(ids["person"], 150, 20, 170, 80),  # larger than the small car
    ]
    truth = label_id_map(objects, schema, 100, 200).astype(np.int64)
    labels, planted = plant_real_errors(objects, truth, schema, 1, min_changed=50)
    assert [kind for kind, _ in planted] == ["relabel", "delete"]
    assert labels[1].label_id == ids["vegetation"]  # odd frame: vegetation
    assert ids["person"] not in {o.label_id for o in labels}  # the person was deleted
    relabel_box = planted[0][1]
    assert (relabel_box.x0, relabel_box.y0, relabel_box.x1, relabel_box.y1) == (10, 10, 60, 50)
    _, even = plant_real_errors(objects, truth, schema, 0, min_changed=50)
    assert len(even) == 2
