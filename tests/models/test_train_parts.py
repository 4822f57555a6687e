"""Targets, augmentation, class weights and metrics used by training (no model runs)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from roadmark.core.annotation import Frame, Provenance
from roadmark.core.schema import cityscapes_schema
from roadmark.io.training_set import LabeledFrame
from roadmark.models.augment import IGNORE, Augment, crop_boxes
from roadmark.models.manifest import ModelClass, ModelManifest, default_classes
from roadmark.models.metrics import box_metrics, segmentation_metrics
from roadmark.models.train_data import ClassMap, class_weights, target_boxes, target_map
from tests.helpers import box, region

SCHEMA = cityscapes_schema()


def _id(name: str) -> int:
    return SCHEMA.by_name[name].id


def _manifest(task: str, classes: list[ModelClass] | None = None) -> ModelManifest:
    return ModelManifest(
        name="m",
        kind="torchvision",
        task=task,
        classes=tuple(classes or default_classes(SCHEMA, task)),
        input=None,  # type: ignore[arg-type]
        output="dict:out",
    )


def _frame(width: int = 40, height: int = 20) -> Frame:
    return Frame(1, "f.png", None, width, height, "s", 0)


def test_segmentation_target_ignores_what_must_not_teach():
    classes = ClassMap(_manifest("segmentation"), SCHEMA, source="test")
    guess = replace(region(_id("car"), 20, 0, 30, 10), provenance=Provenance.new("model:m", "u"))
    objects = (
        region(_id("road"), 0, 0, 40, 20),
        region(_id("ego vehicle"), 0, 15, 40, 20),  # ignoreInEval
        region(_id("car"), 0, 0, 10, 10),
        guess,  # unverified model label: ignored, still covers the road below
    )
    target = target_map(LabeledFrame(_frame(), objects), classes, (20, 40))
    road, car = SCHEMA.by_name["road"].train_id, SCHEMA.by_name["car"].train_id
    assert target[5, 5] == car
    assert target[5, 15] == road
    assert target[5, 25] == IGNORE
    assert (target[15:] == IGNORE).all()
    half = target_map(LabeledFrame(_frame(), objects), classes, (10, 20))  # scaled geometry
    assert half[2, 2] == car and half[2, 7] == road and half[2, 12] == IGNORE


def test_background_class_fills_unlabeled_pixels():
    manifest = _manifest("segmentation", [ModelClass("bg", None), ModelClass("road", "road")])
    classes = ClassMap(manifest, SCHEMA, source="test")
    objects = (region(_id("road"), 0, 0, 20, 20), region(_id("sky"), 20, 0, 30, 20))
    target = target_map(LabeledFrame(_frame(), objects), classes, (20, 40))
    assert target[0, 0] == 1 and target[0, 25] == IGNORE and target[0, 35] == 0


def test_detection_boxes_from_boxes_and_regions():
    classes = ClassMap(_manifest("detection"), SCHEMA, source="test")
    objects = (
        box(_id("car"), 2, 2, 12, 8),
        region(_id("person"), 20, 4, 24, 16),
        region(_id("road"), 0, 0, 40, 20),  # no detection class
        box(_id("car"), 30, 2, 38, 8, crowd=True),  # crowd: not a training box
    )
    boxes, labels = target_boxes(LabeledFrame(_frame(), objects), classes, (10, 20))
    names = [c.name for c in _manifest("detection").classes]
    assert [names[i] for i in labels] == ["car", "person"]
    np.testing.assert_allclose(boxes, [[1, 1, 6, 4], [10, 2, 12, 8]])


def test_augmentation_never_flips_vertically():
    image = np.zeros((64, 128, 3), np.uint8)
    target = np.zeros((64, 128), np.uint8)
    target[32:] = 1  # "sky" 0 above, "road" 1 below
    image[32:] = 200
    augment = Augment(scale=(0.75, 1.5))
    rng = np.random.default_rng(0)
    for _ in range(40):
        out_image, out_target = augment.segmentation(image, target, (48, 96), rng)
        assert out_image.shape == (48, 96, 3) and out_target.shape == (48, 96)
        rows = [set(np.unique(row)) - {IGNORE} for row in out_target]
        first_road = next((i for i, row in enumerate(rows) if 1 in row), len(rows))
        assert all(0 not in row for row in rows[first_road + 1 :])
    assert set(np.unique(out_target)) <= {0, 1, IGNORE}


def test_detection_augmentation_moves_boxes_with_the_image():
    image = np.zeros((100, 200, 3), np.uint8)
    image[40:60, 20:60] = 255
    boxes = np.array([[20, 40, 60, 60]], np.float32)
    augment = Augment(scale=(1.0, 1.0), flip=1.0, brightness=0, contrast=0, saturation=0, hue=0)
    out, moved, _ = augment.detection(image, boxes, np.array([3]), np.random.default_rng(0))
    np.testing.assert_allclose(moved, [[140, 40, 180, 60]])
    assert out[50, 160].min() == 255 and out[50, 40].max() == 0
    kept, kept_labels = crop_boxes(
        np.array([[0, 0, 10, 10], [95, 0, 105, 10]], np.float32), np.array([1, 2]), (0, 0, 100, 50)
    )
    np.testing.assert_allclose(kept, [[0, 0, 10, 10], [95, 0, 100, 10]])
    assert kept_labels.tolist() == [1, 2]
    dropped, _ = crop_boxes(
        np.array([[98, 0, 110, 10]], np.float32), np.array([1]), (0, 0, 100, 50)
    )
    assert len(dropped) == 0


def test_rare_classes_weigh_more():
    weights = class_weights(np.array([100_000, 20_000, 3_000, 0]))
    assert weights[2] > weights[1] > 1.0 > weights[0]
    assert weights[3] == 1.0  # absent: adds nothing to the loss either way
    assert class_weights(np.array([10**6, 1])).max() == 10.0  # capped


def test_segmentation_metrics_follow_cityscapes():
    matrix = np.array([[8, 2, 0], [0, 10, 0], [0, 0, 0]])  # rows: truth, columns: predicted
    figures = segmentation_metrics(matrix, ["a", "b", "c"])
    assert figures["iou"] == {"a": 0.8, "b": pytest.approx(10 / 12, abs=1e-4), "c": None}
    assert figures["miou"] == pytest.approx((0.8 + 10 / 12) / 2, abs=1e-4)
    assert figures["pixel_accuracy"] == 0.9


def test_box_map_with_pycocotools():
    names = ["__background__", "car", "person"]
    truth = (np.array([[10, 10, 50, 40], [60, 10, 80, 60]], np.float32), np.array([1, 2]))
    perfect = (truth[0], np.array([0.9, 0.8], np.float32), truth[1])
    figures = box_metrics([truth], [perfect], names, [(100, 100)])
    assert figures["map"] == pytest.approx(1.0) and figures["ap"]["person"] == pytest.approx(1.0)
    wrong = (np.array([[0, 70, 20, 90]], np.float32), np.array([0.9], np.float32), np.array([1]))
    figures = box_metrics([truth], [wrong], names, [(100, 100)])
    assert figures["map"] == 0.0
    empty = (np.zeros((0, 4), np.float32), np.zeros(0, np.int64))
    assert box_metrics([empty], [wrong], names, [(100, 100)])["map"] is None
