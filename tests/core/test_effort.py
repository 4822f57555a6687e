"""The effort cost model: regions, boxes, frames, from-scratch labeling."""

from __future__ import annotations

import pytest

from roadmark.core.annotation import Box
from roadmark.core.effort import CostModel, estimate, scratch_seconds
from roadmark.core.errors import RoadmarkError
from roadmark.core.prediction import RegionKind, UncertainRegion
from tests.helpers import box, region


def _region(frame_id, kind=RegionKind.PIXELS, size=24.0, uncertainty=0.5, resolved=False):
    return UncertainRegion(
        kind,
        Box(0, 0, size, size),
        size * size,
        uncertainty,
        (7,),
        10.0,
        frame_id=frame_id,
        resolved=resolved,
    )


def test_region_and_box_costs_follow_the_documented_model():
    model = CostModel(
        region_fix_s=8,
        vertex_s=2,
        vertex_spacing_px=24,
        min_vertices=4,
        box_check_s=4,
        frame_overhead_s=20,
    )
    # A 240 px square: perimeter 960 px = 40 vertices; half of them wrong: 8 + 0.5*40*2.
    assert model.region_seconds(_region(1, size=240)) == pytest.approx(48.0)
    assert model.region_seconds(_region(1, size=4)) == pytest.approx(8 + 0.5 * 4 * 2)
    assert model.region_seconds(_region(1, kind=RegionKind.BOX_SCORE)) == 4.0
    effort = estimate(
        [_region(1, size=240), _region(1, kind=RegionKind.BOX_FLIP), _region(2, resolved=True)],
        model=model,
        frame_ids=[2, 3],
    )
    assert effort.frames[1].seconds == pytest.approx(48 + 4 + 20)
    assert (effort.frames[1].regions, effort.frames[1].boxes) == (1, 1)
    assert effort.frame_minutes(2) == 0.0 and effort.frame_minutes(3) == 0.0
    assert effort.minutes == pytest.approx(72 / 60)
    assert effort.regions_left == 2
    data = effort.to_json()
    assert data["regions_left"] == 2 and [f["frame_id"] for f in data["frames"]] == [1]


def test_scratch_cost_counts_vertices_and_boxes():
    model = CostModel(vertex_s=2, box_draw_s=6, frame_overhead_s=20)
    objects = [region(7, 0, 0, 10, 10), box(26, 0, 0, 5, 5)]
    assert scratch_seconds(objects, model) == pytest.approx(20 + 4 * 2 + 6)
    assert scratch_seconds([], model) == 0.0


def test_bad_cost_model_is_refused():
    with pytest.raises(RoadmarkError, match="vertex_s"):
        CostModel(vertex_s=-1)
