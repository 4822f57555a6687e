"""Propagation and interpolation plans on a stored sequence of image files."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import shapely

from roadmark.annotators.changes import (
    HUMAN,
    PROPAGATED,
    apply_changes,
    is_interpolated,
    is_propagated,
)
from roadmark.annotators.errors import ToolInputError
from roadmark.annotators.sequence.ops import (
    REVIEW_BELOW,
    confirm_command,
    needs_check,
    next_frame,
    plan_interpolation,
    plan_propagation,
    propagated_to_check,
)
from roadmark.core.annotation import Box
from roadmark.io.frames import FrameLoader, scan, write_image
from roadmark.io.store import Project
from tests.annotators.test_propagation import scene
from tests.helpers import box, region

ROAD, CAR = 7, 26
STEP = (6, 2)  # the patch moves this far per frame


@pytest.fixture
def project(tmp_path: Path):
    folder = tmp_path / "seq"
    folder.mkdir()
    for i in range(4):
        write_image(folder / f"f{i}.png", scene(100 + STEP[0] * i, 80 + STEP[1] * i))
    with Project.create(tmp_path / "p.roadmark", user="ann") as project:
        project.add_frames(scan([folder]))
        yield project


def test_propagating_twice_follows_the_object(project: Project):
    loader = FrameLoader(lambda path: project.root / path)
    frames = project.frames()
    project.add_objects(
        frames[0].id,
        [region(ROAD, 0, 0, 320, 240), box(CAR, 100, 80, 180, 140, track_id=1, instance_id=1)],
    )
    plan = plan_propagation(project, loader, frames[0])
    assert plan.target == frames[1] and len(plan.changes) == 2
    apply_changes(project, plan.changes)
    second = plan_propagation(project, loader, frames[1])
    apply_changes(project, second.changes)
    moved = next(o for o in project.objects(frames[2].id).live() if o.track_id == 1)
    assert is_propagated(moved) and isinstance(moved.geometry, Box)
    expected = shapely.box(
        100 + 2 * STEP[0], 80 + 2 * STEP[1], 180 + 2 * STEP[0], 140 + 2 * STEP[1]
    )
    assert shapely.hausdorff_distance(moved.geometry.to_polygon(), expected) < 1.0
    # Propagating onto a frame that has the track already changes nothing of it.
    again = plan_propagation(project, loader, frames[1])
    assert all(c.after.track_id != 1 for c in again.changes)
    loader.close()


def test_last_frame_and_empty_frame_are_refused(project: Project):
    loader = FrameLoader(lambda path: project.root / path)
    frames = project.frames()
    assert next_frame(project, frames[-1]) is None
    with pytest.raises(ToolInputError, match="last of sequence 'seq'"):
        plan_propagation(project, loader, frames[-1])
    with pytest.raises(ToolInputError, match="no objects"):
        plan_propagation(project, loader, frames[0])
    loader.close()


def test_interpolation_plan_for_the_tracks_of_a_sequence(project: Project):
    frames = project.frames()
    project.add_objects(frames[0].id, [box(CAR, 0, 0, 10, 10, track_id=4)])
    project.add_objects(frames[3].id, [box(CAR, 30, 0, 40, 10, track_id=4)])
    changes = plan_interpolation(project, "seq", [4, 4])
    assert [c.frame_id for c in changes] == [frames[1].id, frames[2].id]
    assert all(c.is_add and is_interpolated(c.after) for c in changes)
    assert changes[0].after.geometry == Box(10, 0, 20, 10)


def _propagated(obj, confidence: float, **changes):
    provenance = replace(obj.provenance, source=PROPAGATED, confidence=confidence)
    return replace(obj, provenance=provenance, **changes)


def test_review_queue_of_propagation(project: Project):
    frames = project.frames()
    project.add_objects(frames[1].id, [_propagated(box(CAR, 1, 1, 9, 9), 0.95)])
    stored = project.add_objects(
        frames[2].id,
        [
            _propagated(region(ROAD, 0, 0, 50, 50), 0.4),
            box(CAR, 1, 1, 9, 9),  # a person's: never on the queue
            _propagated(box(CAR, 20, 20, 30, 30), 0.7),
            _propagated(box(CAR, 40, 40, 45, 45), REVIEW_BELOW),  # trusted enough
            _propagated(box(CAR, 50, 50, 55, 55), 0.1, deleted=True),
        ],
    )
    items = propagated_to_check(project)
    assert [(i.frame.id, i.uids, i.confidence) for i in items] == [
        (frames[2].id, (stored[0].uid, stored[2].uid), 0.4)
    ]
    assert [i.frame.id for i in propagated_to_check(project, below=0.96)] == [
        frames[1].id,
        frames[2].id,
    ]


def test_confirming_makes_keyframes_in_one_undo_step(bench):
    stored = bench.seed(
        [
            _propagated(box(CAR, 1, 1, 9, 9), 0.3),
            box(CAR, 20, 20, 30, 30),
            _propagated(box(CAR, 40, 40, 50, 50), 0.5, track_id=3),
        ]
    )
    uids = [o.uid for o in stored]
    assert confirm_command(bench.doc, [uids[1]], "ann") is None  # a person's already
    command = confirm_command(bench.doc, uids, "ann")
    assert command is not None and command.text == "Confirm 2 objects"
    bench.editor.execute(command)
    after = bench.stored()
    assert [o.provenance.source for o in after] == [HUMAN, HUMAN, HUMAN]
    assert [o.provenance.confidence for o in after] == [None, None, None]
    assert after[2].track_id == 3 and after[0].geometry == stored[0].geometry
    assert not any(needs_check(o) for o in after)
    bench.editor.undo()
    assert [o.provenance.source for o in bench.stored()] == [PROPAGATED, HUMAN, PROPAGATED]
