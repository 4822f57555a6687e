"""Statistics on a project with known content: every number worked out by hand."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

from roadmark.core.annotation import AnnotationObject, Box, Provenance
from roadmark.core.timetracking import ActiveSpan
from roadmark.core.workflow import Action, CommentCategory
from roadmark.io import gold
from roadmark.io import workflow as wf
from roadmark.io.stats import project_stats
from roadmark.io.store import Project
from tests.helpers import region
from tests.io.test_workflow import make_project

ROAD, CAR, PERSON = 7, 26, 24
T0 = datetime(2024, 5, 1, 9, tzinfo=UTC)


def _made_by(source: str, obj: AnnotationObject) -> AnnotationObject:
    return dataclasses.replace(obj, provenance=Provenance.new(source, "boss"))


def build_known_project(path: Path) -> list[int]:
    """Six frames through the whole workflow (see the expected figures below)."""
    ids = make_project(path, 6)
    f0, f1, f2, f3 = ids[:4]
    with Project.open(path, user="boss") as boss:
        model_cars = boss.add_objects(
            f1,
            [
                _made_by("model:seg", region(CAR, 1, 1, 5, 5)),
                _made_by("model:seg", region(CAR, 10, 1, 15, 5)),
            ],
        )
        boss.add_objects(f2, [_made_by("import:coco", region(PERSON, 1, 1, 3, 6))])
        boss.add_objects(f3, [region(ROAD, 0, 40, 64, 48), region(CAR, 10, 10, 20, 20)])
        gold.mark_gold(boss, [f3])
        wf.assign(boss, [f0, f1, f3], annotator="alice", reviewer="bob")
        wf.assign(boss, [f2], annotator="carol", reviewer="bob")
    with Project.open(path, user="alice") as alice:
        wf.move(alice, f0, Action.START)
        alice.add_objects(f0, [region(ROAD, 0, 40, 64, 48)])
        wf.move(alice, f0, Action.FINISH)
        wf.move(alice, f1, Action.START)
        edited = model_cars[0]
        alice.update_objects(
            [
                dataclasses.replace(
                    edited,
                    geometry=Box(1, 1, 6, 5).to_polygon(),
                    provenance=edited.provenance.touched("alice"),
                )
            ]
        )
        wf.move(alice, f1, Action.FINISH)
        wf.move(alice, f3, Action.START)
        alice.add_objects(f3, [region(ROAD, 0, 40, 64, 48), region(CAR, 10, 10, 22, 20)])
        wf.move(alice, f3, Action.FINISH)
    with Project.open(path, user="carol") as carol:
        wf.move(carol, f2, Action.START)
        wf.move(carol, f2, Action.FINISH)
    with Project.open(path, user="bob") as bob:
        wf.move(bob, f0, Action.START_REVIEW)
        wf.add_comment(bob, f0, CommentCategory.MISSING_OBJECT, Box(30, 20, 30, 20), "car")
        wf.move(bob, f0, Action.REJECT, reason="car missing")
        wf.move(bob, f1, Action.START_REVIEW)
        wf.move(bob, f1, Action.ACCEPT)
        wf.move(bob, f2, Action.START_REVIEW)
        wf.add_comment(bob, f2, CommentCategory.LOOSE_BOUNDARY, Box(0, 0, 4, 7))
        wf.move(bob, f2, Action.REJECT, reason="loose boundary")
    with Project.open(path, user="alice") as alice:
        wf.move(alice, f0, Action.START)
        alice.add_objects(f0, [region(CAR, 30, 15, 40, 25)])
        (comment,) = wf.comments(alice, f0)
        wf.resolve_comment(alice, comment.id)
        wf.move(alice, f0, Action.FINISH)
    with Project.open(path, user="bob") as bob:
        wf.move(bob, f0, Action.START_REVIEW)
        wf.move(bob, f0, Action.ACCEPT)
        spans = {
            "alice": [
                ActiveSpan(f0, "brush", T0, 120),
                ActiveSpan(f0, "box", T0, 60),
                ActiveSpan(f1, "polygon", T0, 300),
                ActiveSpan(f3, "brush", T0, 240),
            ],
            "carol": [ActiveSpan(f2, "box", T0, 600)],
            "bob": [
                ActiveSpan(f0, "review", T0, 60),
                ActiveSpan(f1, "review", T0, 30),
                ActiveSpan(f2, "review", T0, 90),
            ],
        }
        for user, user_spans in spans.items():
            wf.log_time(bob, user_spans, user=user)
    return ids


EXPECTED = {
    "frames": {
        "total": 6,
        "by_status": {
            "new": 2,
            "prelabeled": 0,
            "in_progress": 0,
            "done": 1,
            "in_review": 0,
            "accepted": 2,
            "rejected": 1,
        },
        "gold": 1,
    },
    "objects": {
        "total": 7,
        "by_source": {"human": 4, "model": 1, "import": 1, "edited": 1},
        "by_label": {"car": 4, "road": 2, "person": 1},
        "by_label_source": {
            "car": {"human": 2, "model": 1, "import": 0, "edited": 1},
            "road": {"human": 2, "model": 0, "import": 0, "edited": 0},
            "person": {"human": 0, "model": 0, "import": 1, "edited": 0},
        },
    },
    "time": {
        "active_minutes": 25.0,
        "annotation_minutes": 22.0,
        "review_minutes": 3.0,
        # per frame: f0 3, f1 5, f2 10, f3 4 minutes; p90 of [3, 4, 5, 10] = 5 + 0.7 * 5
        "annotation_per_frame": {
            "overall": {"frames": 4, "total": 22.0, "mean": 5.5, "median": 4.5, "p90": 8.5},
            "by_user": {
                "alice": {"frames": 3, "total": 12.0, "mean": 4.0, "median": 4.0, "p90": 4.8},
                "carol": {"frames": 1, "total": 10.0, "mean": 10.0, "median": 10.0, "p90": 10.0},
            },
        },
        "review_per_frame": {
            "overall": {"frames": 3, "total": 3.0, "mean": 1.0, "median": 1.0, "p90": 1.4},
            "by_user": {"bob": {"frames": 3, "total": 3.0, "mean": 1.0, "median": 1.0, "p90": 1.4}},
        },
    },
    "throughput": {
        # 4 distinct frames finished in 22 active annotation minutes
        "overall": {"frames_finished": 4, "active_hours": 0.3667, "frames_per_hour": 10.9091},
        "by_user": {
            "alice": {"frames_finished": 3, "active_hours": 0.2, "frames_per_hour": 15.0},
            "carol": {"frames_finished": 1, "active_hours": 0.1667, "frames_per_hour": 6.0},
        },
        "minutes_by_tool": {"box": 11.0, "brush": 6.0, "polygon": 5.0, "review": 3.0},
    },
    "review": {
        "accepted": 2,
        "rejected": 2,
        "rejection_rate": 0.5,
        "by_annotator": {
            "alice": {"accepted": 2, "rejected": 1, "rejection_rate": 0.3333},
            "carol": {"accepted": 0, "rejected": 1, "rejection_rate": 1.0},
        },
        "reasons": {"car missing": 1, "loose boundary": 1},
        "comment_categories": {"loose_boundary": 1, "missing_object": 1},
        "open_comments": 1,
    },
    "gold": {
        "frames": 1,
        # car 2 px too wide: 612 of 632 pixels agree; car IoU 100/120
        "scores": [
            {
                "frame": "img3.png",
                "user": "alice",
                "pixel_accuracy": 0.9684,
                "mean_iou": 0.9167,
                "box_f1": 1.0,
            }
        ],
        "by_user": {
            "alice": {"frames": 1, "pixel_accuracy": 0.9684, "mean_iou": 0.9167, "box_f1": 1.0}
        },
    },
    # nobody else finished a frame alice or carol finished
    "agreement": {"pairs": [], "by_pair": {}},
    "estimate": {
        # to annotate: 2 new + 1 rejected; to review: those + 1 done
        "frames_to_annotate": 3,
        "frames_to_review": 4,
        "annotation_minutes_per_frame": 4.5,
        "review_minutes_per_frame": 1.0,
        "annotation_minutes_left": 13.5,
        "review_minutes_left": 4.0,
        "minutes_left": 17.5,
        "hours_left": 0.2917,
    },
}


def test_stats_of_a_known_project(project_path: Path):
    build_known_project(project_path)
    with Project.open(project_path, read_only=True) as project:
        stats = project_stats(project)
    assert stats["project"] == str(project_path.resolve())
    assert datetime.fromisoformat(stats["generated_at"]).tzinfo is not None
    for key, expected in EXPECTED.items():
        assert stats[key] == expected, key
    assert set(stats) == {"project", "generated_at", *EXPECTED}


def test_stats_of_an_empty_project(project_path: Path):
    make_project(project_path, 2)
    with Project.open(project_path, read_only=True) as project:
        stats = project_stats(project)
    assert stats["frames"]["by_status"]["new"] == 2
    assert stats["time"]["annotation_per_frame"]["overall"]["median"] is None
    assert stats["throughput"]["overall"]["frames_per_hour"] is None
    assert stats["review"]["rejection_rate"] is None
    assert stats["estimate"]["minutes_left"] is None and stats["gold"]["scores"] == []


def build_two_annotators(path: Path) -> None:
    """Alice finishes a frame with a road and a car; Bob reopens it, makes the car 2 px
    wider and finishes it too."""
    (frame, _) = make_project(path, 2)
    with Project.open(path, user="alice") as alice:
        wf.move(alice, frame, Action.START)
        _, car = alice.add_objects(
            frame, [region(ROAD, 0, 40, 64, 48), region(CAR, 10, 10, 20, 20)]
        )
        wf.move(alice, frame, Action.FINISH)
    with Project.open(path, user="bob") as bob:
        wf.move(bob, frame, Action.REOPEN)
        wider = dataclasses.replace(car, geometry=Box(10, 10, 22, 20).to_polygon())
        bob.update_objects([wider])
        wf.move(bob, frame, Action.FINISH)


def test_agreement_of_two_annotators_on_the_same_frame(project_path: Path):
    build_two_annotators(project_path)
    with Project.open(project_path, read_only=True) as project:
        stats = project_stats(project)
    # as the gold test: the car 2 px wider, 612 of 632 pixels alike, car IoU 100/120
    assert stats["agreement"] == {
        "pairs": [
            {
                "frame": "img0.png",
                "users": ["alice", "bob"],
                "pixel_accuracy": 0.9684,
                "mean_iou": 0.9167,
                "box_f1": 1.0,
            }
        ],
        "by_pair": {
            "alice / bob": {
                "frames": 1,
                "pixel_accuracy": 0.9684,
                "mean_iou": 0.9167,
                "box_f1": 1.0,
            }
        },
    }
