"""Propagation with a video mask tracker (SAM 2): a fake tracker returns known masks, the
plan carries label, instance, track and attributes, writes ``model:NAME/tracked`` with the
quality as confidence, queues weak masks for review and is undone in one step."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import shapely

from roadmark.annotators.changes import (
    HUMAN,
    apply_changes,
    changes_command,
    is_machine_made,
    is_model_tracked,
    is_propagated,
    tracked_source,
)
from roadmark.annotators.errors import ToolInputError
from roadmark.annotators.sequence.model_propagation import (
    WEAK_QUALITY,
    object_mask,
    tracked_objects,
)
from roadmark.annotators.sequence.ops import (
    REVIEW_BELOW,
    confirm_command,
    needs_check,
    plan_model_propagation,
    propagated_to_check,
)
from roadmark.core.annotation import Box
from roadmark.core.jobs import CancelToken, JobCancelled
from roadmark.core.session import EditSession
from roadmark.io.frames import FrameLoader, scan, write_image
from roadmark.io.store import Project
from tests.annotators.test_propagation import scene
from tests.helpers import box, region

ROAD, CAR = 7, 26
H, W = 240, 320


@dataclass(frozen=True)
class Answer:
    masks: np.ndarray
    quality: np.ndarray


class FakeTracker:
    """Moves every prompt mask right by ``step`` pixels per frame; quality from a list."""

    name = "fake-sam2"

    def __init__(self, qualities: Sequence[float], step: int = 5) -> None:
        self.qualities = np.asarray(qualities, np.float32)
        self.step = step
        self.calls: list[tuple[int, int]] = []

    def track(
        self,
        frames: Sequence[np.ndarray],
        masks: Sequence[np.ndarray],
        *,
        cancel=None,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[Answer]:
        self.calls.append((len(frames), len(masks)))
        out = []
        for k in range(1, len(frames)):
            if cancel is not None:
                cancel.raise_if_cancelled()
            moved = np.zeros((len(masks), *masks[0].shape), bool)
            moved[:, :, self.step * k :] = np.stack(masks)[:, :, : W - self.step * k]
            out.append(Answer(moved, self.qualities.copy()))
            if progress is not None:
                progress(k, len(frames) - 1)
        return out


@pytest.fixture
def project(tmp_path: Path):
    folder = tmp_path / "seq"
    folder.mkdir()
    for i in range(4):
        write_image(folder / f"f{i}.png", scene(100 + 6 * i, 80 + 2 * i))
    with Project.create(tmp_path / "p.roadmark", user="ann") as project:
        project.add_frames(scan([folder]))
        yield project


@pytest.fixture
def loader(project: Project):
    loader = FrameLoader(lambda path: project.root / path)
    yield loader
    loader.close()


def _seed(project: Project) -> list:
    car = region(CAR, 100, 80, 180, 140, track_id=1, instance_id=3)
    car = replace(car, attributes={"occluded": True})
    sign = box(CAR, 200, 20, 240, 60, track_id=2, instance_id=4)
    return project.add_objects(project.frames()[0].id, [car, sign])


def test_tracked_masks_become_objects_like_the_source(project: Project, loader: FrameLoader):
    stored = _seed(project)
    tracker = FakeTracker([0.95, 0.5])
    plan = plan_model_propagation(project, loader, project.frames()[0], tracker)
    frames = project.frames()
    assert plan.targets == [frames[1]] and plan.model == "fake-sam2"
    assert tracker.calls == [(2, 2)]
    assert [c.frame_id for c in plan.changes] == [frames[1].id, frames[1].id]
    car, sign = (c.after for c in plan.changes)
    assert car.provenance.source == tracked_source("fake-sam2") == "model:fake-sam2/tracked"
    assert car.provenance.is_model and is_model_tracked(car) and is_propagated(car)
    assert is_machine_made(car) and not car.provenance.verified
    assert (car.label_id, car.track_id, car.instance_id) == (CAR, 1, 3)
    assert car.attributes == stored[0].attributes
    assert car.provenance.confidence == pytest.approx(0.95)
    # vectorized along pixel edges and simplified: the moved rectangle, exactly
    assert shapely.equals(car.geometry, shapely.box(105, 80, 185, 140))
    assert isinstance(sign.geometry, Box) and sign.geometry == Box(205, 20, 245, 60)
    assert (sign.track_id, sign.instance_id) == (2, 4)
    assert sign.provenance.confidence == pytest.approx(0.5)
    assert plan.weak == 1  # only the sign: 0.5 < WEAK_QUALITY <= 0.95


def test_weak_masks_go_to_the_review_queue_and_confirming_keeps_them(project: Project,
                                                                     loader: FrameLoader):
    _seed(project)
    frames = project.frames()
    plan = plan_model_propagation(project, loader, frames[0], FakeTracker([0.85, 0.3]))
    applied = apply_changes(project, plan.changes)
    car, sign = (c.after for c in applied)
    # The model's quality is judged by its own threshold, not the flow's REVIEW_BELOW.
    assert WEAK_QUALITY < 0.85 < REVIEW_BELOW
    assert not needs_check(car) and needs_check(sign)
    assert needs_check(car, weak_below=0.9)
    items = propagated_to_check(project)
    assert [(i.frame.id, i.uids, i.confidence) for i in items] == [
        (frames[1].id, (sign.uid,), pytest.approx(0.3))
    ]
    session = EditSession(project)
    document = session.open(frames[1].id)
    command = confirm_command(document, [sign.uid], "ann")
    assert command is not None
    session.execute(command)
    confirmed = next(o for o in project.objects(frames[1].id) if o.uid == sign.uid)
    assert confirmed.provenance.source == HUMAN and propagated_to_check(project) == []


def test_several_frames_in_one_undo_step(project: Project, loader: FrameLoader):
    _seed(project)
    frames = project.frames()
    steps: list[tuple[int, int]] = []
    plan = plan_model_propagation(
        project, loader, frames[0], FakeTracker([0.9, 0.9]), frames=3,
        progress=lambda *step: steps.append(step),
    )
    assert plan.targets == frames[1:] and steps == [(1, 3), (2, 3), (3, 3)]
    assert sorted({c.frame_id for c in plan.changes}) == [f.id for f in frames[1:]]
    on_last = [c.after for c in plan.changes if c.frame_id == frames[3].id]
    last = next(o for o in on_last if o.track_id == 1)
    assert shapely.equals(last.geometry, shapely.box(115, 80, 195, 140))
    command = changes_command(plan.changes, "Propagate")
    assert command is not None
    session = EditSession(project)
    session.execute(command)
    assert all(len(project.objects(f.id).live()) == 2 for f in frames[1:])
    session.undo()
    assert all(len(project.objects(f.id).live()) == 0 for f in frames[1:])


def test_only_the_chosen_objects_and_keyframes_are_kept(project: Project, loader: FrameLoader):
    stored = _seed(project)
    frames = project.frames()
    project.add_objects(frames[1].id, [region(CAR, 0, 0, 10, 10, track_id=1)])  # a keyframe
    tracker = FakeTracker([0.9])
    plan = plan_model_propagation(project, loader, frames[0], tracker, uids=[stored[0].uid])
    assert tracker.calls == [(2, 1)] and len(plan.objects[0]) == 1
    assert plan.changes == []  # track 1 has a keyframe on the next frame already


def test_lost_objects_are_left_out_and_bad_input_refused(project: Project, loader: FrameLoader):
    stored = _seed(project)
    gone = Answer(np.zeros((2, H, W), bool), np.array([0.1, 0.1], np.float32))
    made, sources = tracked_objects(stored, gone, model="m", user="ann")
    assert made == [] and sources == []
    with pytest.raises(ValueError, match="1 masks for 2 objects"):
        tracked_objects(stored, Answer(gone.masks[:1], gone.quality[:1]), model="m", user="ann")
    frames = project.frames()
    with pytest.raises(ToolInputError, match="last of sequence"):
        plan_model_propagation(project, loader, frames[-1], FakeTracker([]))
    with pytest.raises(ToolInputError, match="no objects"):
        plan_model_propagation(project, loader, frames[2], FakeTracker([]))
    assert object_mask(stored[1], H, W).sum() == 40 * 40


def test_the_cancel_flag_reaches_the_tracker(project: Project, loader: FrameLoader):
    _seed(project)
    flag = CancelToken()
    flag.cancel()
    with pytest.raises(JobCancelled):
        plan_model_propagation(project, loader, project.frames()[0], FakeTracker([0.9, 0.9]),
                               cancel=flag)
