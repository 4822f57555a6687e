"""GrabCut from a box or scribbles, on images with a known object."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import shapely

from roadmark.annotators.errors import ToolInputError
from roadmark.annotators.tools.grabcut import grabcut
from roadmark.core.annotation import Box
from roadmark.core.raster import region_mask

H, W = 200, 300


def _image(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A red ellipse with a see-through hole on a noisy gray-green background, and its mask."""
    rng = np.random.default_rng(seed)
    image = np.empty((H, W, 3), np.uint8)
    image[:] = (90, 120, 90)
    truth = np.zeros((H, W), np.uint8)
    cv2.ellipse(truth, (140, 100), (60, 40), 15, 0, 360, 1, -1)
    image[truth.astype(bool)] = (200, 40, 40)
    cv2.circle(image, (140, 100), 8, (90, 120, 90), -1)  # a "window" showing the background
    noisy = image.astype(np.int16) + rng.normal(0, 8, image.shape).astype(np.int16)
    return np.clip(noisy, 0, 255).astype(np.uint8), truth.astype(bool)


def _iou(region, truth: np.ndarray) -> float:
    mask = region_mask(region, H, W)
    return float((mask & truth).sum() / (mask | truth).sum())


def test_box_enlarged_around_the_object_snaps_to_its_edges():
    image, truth = _image()
    rows, cols = np.nonzero(truth)
    rect = Box(cols.min() - 8.0, rows.min() - 6.0, cols.max() + 9.0, rows.max() + 7.0)
    result = grabcut(image, rect)
    assert _iou(result.region, truth) > 0.97
    assert result.region.is_valid and result.region.geom_type == "Polygon"
    assert len(result.region.interiors) == 0  # the dark window was filled
    assert result.mask.shape[0] > rect.height and result.col0 <= rect.x0
    with_hole = grabcut(image, rect, fill_holes=False)
    assert with_hole.region.area < result.region.area


def test_foreground_scribble_chooses_the_part_and_background_scribble_cuts():
    image, _ = _image()
    cv2.rectangle(image, (20, 20), (45, 60), (200, 40, 40), -1)  # a second red thing
    rect = Box(10, 10, 215, 160)
    largest = grabcut(image, rect)
    assert largest.region.contains(shapely.Point(140, 100))
    small = grabcut(image, rect, foreground=shapely.LineString([(25, 30), (40, 50)]))
    assert small.region.contains(shapely.Point(32, 40))
    assert not small.region.contains(shapely.Point(140, 100))
    cut = grabcut(image, rect, background=shapely.box(140, 40, 215, 160))
    assert not cut.region.intersects(shapely.box(141, 41, 214, 159))


def test_scribbles_alone_define_the_box():
    image, truth = _image()
    result = grabcut(
        image,
        foreground=shapely.LineString([(100, 100), (180, 100)]),
        background=shapely.LineString([(70, 40), (215, 40), (215, 160), (70, 160), (70, 40)]),
    )
    assert _iou(result.region, truth) > 0.95


def test_bad_input_is_refused():
    image, _ = _image()
    with pytest.raises(ToolInputError, match="draw a box"):
        grabcut(image)
    with pytest.raises(ToolInputError, match="at least 2x2"):
        grabcut(image, Box(400, 10, 500, 50))
    with pytest.raises(ToolInputError, match="no background"):
        grabcut(image, Box(0, 0, W, H))
    with pytest.raises(ToolInputError, match="color image"):
        grabcut(image[..., 0], Box(10, 10, 50, 50))
