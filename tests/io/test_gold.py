"""Gold frames: blind labeling, hidden reference, scores; agreement between annotators."""

from __future__ import annotations

from pathlib import Path

import pytest

from roadmark.core.annotation import FrameStatus
from roadmark.core.workflow import Action, WorkflowError
from roadmark.io import gold
from roadmark.io import workflow as wf
from roadmark.io.locations import is_url
from roadmark.io.store import Project
from tests.helpers import region
from tests.io.test_workflow import make_project

ROAD, CAR, PERSON = 7, 26, 24


@pytest.fixture
def project_path(store_location: str) -> Path | str:
    """These tests run on both back ends: a project file, then a PostgreSQL database."""
    return store_location if is_url(store_location) else Path(store_location)


def reference():
    # 64 x 48 frame: road 64 x 8 = 512 px at the bottom, a 10 x 10 car above it.
    return [region(ROAD, 0, 40, 64, 48), region(CAR, 10, 10, 20, 20, instance_id=1)]


def annotate(path: Path, user: str, frame_id: int, objects) -> None:
    with Project.open(path, user=user) as project:
        wf.move(project, frame_id, Action.START)
        project.add_objects(frame_id, objects)
        wf.move(project, frame_id, Action.FINISH)


def test_gold_frame_cycle(project_path: Path):
    frame, other = make_project(project_path, 2)
    with Project.open(project_path, user="boss") as boss:
        boss.add_objects(frame, reference())
        wf.move(boss, frame, Action.START)
        with pytest.raises(WorkflowError, match="has no labels to serve as the gold reference"):
            gold.mark_gold(boss, [other])
        gold.mark_gold(boss, [frame])
        # the labels are gone from the frame, which starts over as new
        assert boss.objects(frame).live() == [] and boss.frame(frame).status is FrameStatus.NEW
        assert gold.gold_frame_ids(boss) == [frame]
        wf.assign(boss, [frame], annotator="alice")
        assert [o.label_id for o in gold.gold_reference(boss, frame).objects] == [ROAD, CAR]
    with Project.open(project_path, user="alice") as alice:
        with pytest.raises(WorkflowError, match="hidden from alice until they finish"):
            gold.gold_reference(alice, frame)
    # alice draws the car 2 px too wide and forgets nothing
    annotate(
        project_path, "alice", frame, [region(ROAD, 0, 40, 64, 48), region(CAR, 10, 10, 22, 20)]
    )
    with Project.open(project_path, user="alice") as alice:
        assert gold.gold_reference(alice, frame) is not None  # visible once she has finished
    with Project.open(project_path, user="boss") as boss:
        wf.move(boss, frame, Action.RESET)
        assert boss.objects(frame).live() == [] and boss.frame(frame).status is FrameStatus.NEW
        wf.assign(boss, [frame], annotator="bob")
    # bob misses the car
    annotate(project_path, "bob", frame, [region(ROAD, 0, 40, 64, 48)])
    with Project.open(project_path, user="boss") as boss:
        scores = {s.user: s.agreement for s in gold.gold_scores(boss)}
        assert set(scores) == {"alice", "bob"}
        alice_score, bob_score = scores["alice"], scores["bob"]
        assert alice_score.pixel_accuracy == pytest.approx(612 / 632)
        assert alice_score.mean_iou == pytest.approx((1 + 100 / 120) / 2)
        assert alice_score.box_f1 == 1.0
        assert bob_score.pixel_accuracy == pytest.approx(512 / 612)
        assert bob_score.mean_iou == pytest.approx(0.5)
        assert bob_score.box_f1 == 0.0
        between = gold.compare_users(boss, frame, "alice", "bob")
        assert between.pixel_accuracy == pytest.approx(512 / 632)
        with pytest.raises(WorkflowError, match="carol has not finished this frame"):
            gold.compare_users(boss, frame, "alice", "carol")
        gold.unmark_gold(boss, [frame])
        assert gold.gold_scores(boss) == [] and gold.gold_reference(boss, frame) is None


def test_keep_labels_and_submissions_before_gold_are_not_scored(project_path: Path):
    (frame,) = make_project(project_path, 1)
    annotate(project_path, "alice", frame, reference())
    with Project.open(project_path, user="boss") as boss:
        gold.mark_gold(boss, [frame], keep_labels=True)
        assert len(boss.objects(frame).live()) == 2
        assert boss.frame(frame).status is FrameStatus.DONE
        assert gold.gold_scores(boss) == []  # alice's work predates the reference
        assert [v.kind for v in gold.versions(boss, frame)] == ["submission", "gold"]
        assert list(gold.latest_submissions(boss, frame)) == ["alice"]
