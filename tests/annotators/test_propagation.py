"""Propagation along optical flow, on images with known motion."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
import shapely

from roadmark.annotators.changes import PROPAGATED, is_propagated
from roadmark.annotators.errors import ToolInputError
from roadmark.annotators.sequence.propagation import (
    estimate_flow,
    propagate_objects,
    propagation_changes,
)
from roadmark.core.annotation import Box
from roadmark.core.raster import label_id_map, region_mask
from roadmark.core.schema import cityscapes_schema
from roadmark.demo.drive import render_frame
from tests.helpers import box, region

H, W = 240, 320
ROAD, CAR, PERSON = 7, 26, 24


def texture(height: int, width: int, seed: int) -> np.ndarray:
    """Smooth random color texture (trackable by optical flow)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 255, (height // 4 + 1, width // 4 + 1, 3)).astype(np.uint8)
    return cv2.GaussianBlur(cv2.resize(coarse, (width, height), cv2.INTER_CUBIC), (0, 0), 1.0)


BACKGROUND = texture(H, W, 1)
PATCH = texture(60, 80, 2)


def scene(x: int, y: int) -> np.ndarray:
    image = BACKGROUND.copy()
    image[y : y + 60, x : x + 80] = PATCH
    return image


def hausdorff(a, b) -> float:
    return float(shapely.hausdorff_distance(a, b))


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_translated_object_lands_within_a_pixel(method: str):
    dx, dy = 7, -4
    flow = estimate_flow(scene(100, 80), scene(100 + dx, 80 + dy), method=method)
    objects = [
        region(ROAD, 0, 0, W, H),
        region(CAR, 100, 80, 180, 140, track_id=3, instance_id=1, attributes={"occluded": True}),
        box(CAR, 100, 80, 180, 140, track_id=3),
    ]
    result = propagate_objects(objects, flow, user="ann")
    assert result.sources == [0, 1, 2]
    moved_region, moved_box = result.objects[1], result.objects[2]
    expected = shapely.box(100 + dx, 80 + dy, 180 + dx, 140 + dy)
    assert hausdorff(moved_region.region, expected) < 1.0
    assert isinstance(moved_box.geometry, Box)
    assert hausdorff(moved_box.geometry.to_polygon(), expected) < 1.0
    assert result.motions[1] == "affine"
    assert is_propagated(moved_region) and moved_region.provenance.source == PROPAGATED
    assert moved_region.provenance.created_by == "ann" and moved_region.uid is None
    assert (moved_region.track_id, moved_region.instance_id) == (3, 1)
    assert moved_region.attributes == {"occluded": True}
    assert 0.5 < moved_region.provenance.confidence <= 1.0
    assert hausdorff(result.objects[0].region, shapely.box(0, 0, W, H)) < 1.0


def test_disocclusion_behind_a_moving_object_is_reported_unreliable():
    flow = estimate_flow(scene(100, 80), scene(110, 80))
    objects = [region(ROAD, 0, 0, W, H), region(CAR, 100, 80, 180, 140, track_id=3)]
    result = propagate_objects(objects, flow, user="ann", min_unreliable_area=32)
    uncovered = shapely.box(100, 80, 110, 140)  # background seen again behind the object
    hits = [a for a in result.unreliable if a.region.intersection(uncovered).area > 0.5 * 600]
    assert hits, result.unreliable
    assert hits[0].score > 1.0 and hits[0].area >= 32 and 0 in hits[0].objects
    far = shapely.box(0, 0, 60, 60)  # static textured background: no complaint there
    assert not any(a.region.intersects(far) for a in result.unreliable)


def test_a_region_moving_in_two_directions_is_warped_per_pixel():
    left, right = texture(60, 60, 5), texture(60, 60, 6)
    first, second = BACKGROUND.copy(), BACKGROUND.copy()
    first[80:140, 60:120], first[80:140, 180:240] = left, right
    second[80:140, 66:126], second[80:140, 174:234] = left, right
    halves = shapely.union_all([shapely.box(60, 80, 120, 140), shapely.box(180, 80, 240, 140)])
    person = replace(region(PERSON, 0, 0, 1, 1, instance_id=1), geometry=halves)
    result = propagate_objects([person], estimate_flow(first, second), user="ann")
    assert result.motions == ["warp"]
    expected = region_mask(
        shapely.union_all([shapely.box(66, 80, 126, 140), shapely.box(174, 80, 234, 140)]), H, W
    )
    got = region_mask(result.objects[0].region, H, W)
    assert (got & expected).sum() / (got | expected).sum() > 0.93
    copied = region_mask(halves, H, W)
    assert (copied & expected).sum() / (copied | expected).sum() < 0.85


def test_objects_that_leave_the_frame_and_deleted_objects_are_dropped():
    flow = estimate_flow(scene(100, 80), scene(107, 80))
    gone = region(CAR, -50, -50, -10, -10)
    deleted = replace(region(CAR, 100, 80, 180, 140), deleted=True)
    result = propagate_objects([gone, deleted, region(CAR, 100, 80, 180, 140)], flow, user="a")
    assert result.sources == [2]


def test_flow_input_errors():
    with pytest.raises(ToolInputError, match="differ in size"):
        estimate_flow(np.zeros((10, 20, 3), np.uint8), np.zeros((20, 10, 3), np.uint8))
    with pytest.raises(ToolInputError, match="method"):
        estimate_flow(BACKGROUND, BACKGROUND, method="lk")  # type: ignore[arg-type]
    half = estimate_flow(scene(100, 80), scene(106, 80), scale=0.5)
    assert half.forward.shape == (H, W, 2)
    assert abs(float(np.median(half.forward[90:130, 115:165, 0])) - 6) < 1.0


def test_changes_respect_keyframes_and_replace_interpolated_objects():
    keyframe = replace(box(CAR, 0, 0, 10, 10, track_id=1), uid=11)
    interpolated = replace(box(CAR, 0, 0, 10, 10, track_id=2), uid=12)
    interpolated = replace(
        interpolated, provenance=replace(interpolated.provenance, source="interpolated")
    )
    propagated = [
        replace(
            box(CAR, 1, 1, 11, 11, track_id=t),
            provenance=replace(box(CAR, 0, 0, 1, 1).provenance, source=PROPAGATED),
        )
        for t in (1, 2, None)
    ]
    changes = propagation_changes(7, [keyframe, interpolated], propagated, user="ann")
    assert len(changes) == 2
    update, add = changes
    assert update.before is interpolated and update.after.uid == 12
    assert update.after.provenance.source == PROPAGATED
    assert add.is_add and add.after.track_id is None and add.frame_id == 7


def test_synthetic_drive_propagation_beats_copying():
    a = render_frame(6, frames=12, width=512, height=256)
    b = render_frame(7, frames=12, width=512, height=256)
    schema = cityscapes_schema()
    truth = label_id_map(b.objects, schema, 256, 512)
    result = propagate_objects(a.objects, estimate_flow(a.image, b.image), user="ann")
    flow_accuracy = (label_id_map(result.objects, schema, 256, 512) == truth).mean()
    copy_accuracy = (label_id_map(a.objects, schema, 256, 512) == truth).mean()
    assert flow_accuracy > 0.98
    assert 1 - flow_accuracy < 0.5 * (1 - copy_accuracy)
