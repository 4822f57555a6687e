"""Keyframe interpolation of boxes and regions."""

from __future__ import annotations

from dataclasses import replace

import pytest
import shapely

from roadmark.annotators.changes import INTERPOLATED, is_interpolated
from roadmark.annotators.errors import TrackError
from roadmark.annotators.sequence.interpolation import (
    fit_region,
    interpolate_box,
    interpolate_object,
    interpolate_track,
)
from roadmark.core.annotation import Box
from tests.helpers import box, region


def test_box_corners_move_linearly():
    a, b = Box(0, 0, 10, 10), Box(30, 20, 60, 40)
    assert interpolate_box(a, b, 0.0) == a
    assert interpolate_box(a, b, 1.0) == b
    assert interpolate_box(a, b, 0.5) == Box(15, 10, 35, 25)


def test_track_fills_only_between_keyframes_as_in_cvat():
    keyframes = {
        10: box(26, 100, 50, 140, 80, track_id=4, instance_id=2),
        40: box(26, 160, 80, 220, 120, track_id=4, instance_id=2),
    }
    made = interpolate_track(keyframes, range(0, 60), user="ann")
    assert sorted(made) == list(range(11, 40))
    middle = made[25]
    assert isinstance(middle.geometry, Box)
    assert middle.geometry == Box(130, 65, 180, 100)
    assert is_interpolated(middle) and middle.provenance.source == INTERPOLATED
    assert middle.provenance.created_by == "ann" and not middle.provenance.verified
    assert (middle.label_id, middle.track_id, middle.instance_id, middle.uid) == (26, 4, 2, None)


def test_time_is_the_sequence_index_so_sparse_frames_get_the_right_weights():
    keyframes = {0: box(26, 0, 0, 10, 10, track_id=1), 30: box(26, 30, 0, 40, 10, track_id=1)}
    made = interpolate_track(keyframes, [0, 5, 10, 30], user="ann")
    assert sorted(made) == [5, 10]
    assert made[5].geometry == Box(5, 0, 15, 10)
    assert made[10].geometry == Box(10, 0, 20, 10)


def test_several_spans_and_a_single_keyframe():
    keyframes = {
        0: box(26, 0, 0, 10, 10, track_id=1),
        4: box(26, 4, 0, 14, 10, track_id=1),
        8: box(26, 4, 8, 14, 18, track_id=1),
    }
    made = interpolate_track(keyframes, range(10), user="ann")
    assert sorted(made) == [1, 2, 3, 5, 6, 7]
    assert made[6].geometry == Box(4, 4, 14, 14)
    assert interpolate_track({3: keyframes[0]}, range(10), user="ann") == {}


def test_region_keeps_its_shape_and_follows_the_interpolated_bounds():
    triangle = shapely.Polygon([(0, 0), (20, 0), (0, 10)])
    moved = shapely.affinity.translate(triangle, 40, 20)
    a = replace(region(26, 0, 0, 1, 1, track_id=3), geometry=triangle)
    b = replace(a, geometry=moved)
    made = interpolate_object(a, b, 0.25, user="ann")
    expected = shapely.affinity.translate(triangle, 10, 5)
    assert made.region.symmetric_difference(expected).area < 1e-9
    scaled = fit_region(triangle, Box(0, 0, 40, 20))
    assert scaled.bounds == (0, 0, 40, 20)
    assert abs(scaled.area - 4 * triangle.area) < 1e-9


def test_nearer_keyframe_gives_label_and_attributes():
    a = box(26, 0, 0, 10, 10, track_id=1, attributes={"occluded": False})
    b = box(26, 10, 0, 20, 10, track_id=1, attributes={"occluded": True})
    assert interpolate_object(a, b, 0.2, user="u").attributes == {"occluded": False}
    assert interpolate_object(a, b, 0.8, user="u").attributes == {"occluded": True}


def test_box_and_region_keyframes_do_not_interpolate():
    with pytest.raises(TrackError, match="cannot interpolate a box into a region"):
        interpolate_object(
            box(26, 0, 0, 10, 10, track_id=1), region(26, 0, 0, 10, 10, track_id=1), 0.5, user="u"
        )
    with pytest.raises(ValueError):
        interpolate_object(box(26, 0, 0, 1, 1), box(26, 0, 0, 1, 1), 1.5, user="u")
