"""Project statistics from plain data: distributions, categories, time, review, estimate."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from roadmark.analysis.stats import (
    agreement_figures,
    distribution,
    estimate,
    frame_figures,
    gold_figures,
    object_figures,
    review_figures,
    source_category,
    throughput,
    time_figures,
    time_tables,
)
from roadmark.core.annotation import Box, FrameStatus
from roadmark.core.workflow import Action, CommentCategory, ReviewComment, WorkflowEvent

WHEN = datetime(2024, 1, 1, tzinfo=UTC)


def _event(frame_id: int, user: str, action: Action, reason: str | None = None) -> WorkflowEvent:
    return WorkflowEvent(
        frame_id, user, WHEN, action, FrameStatus.NEW, FrameStatus.NEW, reason=reason
    )


def test_helpers():
    assert distribution([]) == {
        "frames": 0,
        "total": 0.0,
        "mean": None,
        "median": None,
        "p90": None,
    }
    assert distribution([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])["p90"] == pytest.approx(9.1)
    stamp = "2024-01-01T00:00:00+00:00"
    assert source_category("human", stamp, "2024-02-01T00:00:00+00:00") == "human"
    assert source_category("model:m", stamp, stamp) == "model"
    assert source_category("import:coco", stamp, stamp) == "import"
    assert source_category("model:m", stamp, "2024-02-01T00:00:00+00:00") == "edited"


def test_frames_and_objects_are_counted_by_status_label_and_source():
    frames = frame_figures({"new": 3, "done": 1}, gold=1)
    assert frames["total"] == 4 and frames["by_status"]["accepted"] == 0 and frames["gold"] == 1
    t0, t1 = "2024-01-01T00:00:00+00:00", "2024-01-02T00:00:00+00:00"
    objects = object_figures(
        [
            ("car", "human", t0, t0, 2),
            ("road", "model:m", t0, t0, 3),
            ("car", "model:m", t0, t1, 1),
            ("car", "import:coco", t0, t0, 1),
        ]
    )
    assert objects["total"] == 7
    assert objects["by_label"] == {"car": 4, "road": 3}
    assert objects["by_source"] == {"human": 2, "model": 3, "import": 1, "edited": 1}
    assert objects["by_label_source"]["car"] == {"human": 2, "model": 0, "import": 1, "edited": 1}


def test_time_throughput_and_estimate():
    annotation, review = time_tables(
        [
            ("ana", 1, "brush", 600.0),
            ("ana", 1, "box", 60.0),
            ("bo", 2, "brush", 1200.0),
            ("cy", 1, "review", 120.0),
        ]
    )
    assert annotation == {("ana", 1): 660.0, ("bo", 2): 1200.0}
    assert review == {("cy", 1): 120.0}
    figures = time_figures(annotation, review)
    assert figures["annotation_minutes"] == 31.0 and figures["review_minutes"] == 2.0
    assert figures["annotation_per_frame"]["overall"]["median"] == 15.5
    assert figures["annotation_per_frame"]["by_user"]["ana"]["total"] == 11.0
    moves = [_event(1, "ana", Action.FINISH), _event(1, "ana", Action.FINISH)]
    done = throughput(moves, annotation, {"brush": 30.0})
    assert done["by_user"]["ana"]["frames_finished"] == 1
    assert done["by_user"]["ana"]["frames_per_hour"] == pytest.approx(round(1 / (660 / 3600), 4))
    assert done["by_user"]["bo"]["frames_finished"] == 0
    assert done["minutes_by_tool"] == {"brush": 30.0}
    left = estimate(frame_figures({"new": 2, "done": 1}, 0)["by_status"], annotation, review)
    assert (left["frames_to_annotate"], left["frames_to_review"]) == (2, 3)
    assert left["minutes_left"] == pytest.approx(2 * 15.5 + 3 * 2.0)
    assert estimate({s.value: 0 for s in FrameStatus}, {}, {})["minutes_left"] == 0.0
    assert estimate(frame_figures({"new": 1}, 0)["by_status"], {}, {})["minutes_left"] is None


def test_review_figures_count_decisions_per_annotator():
    moves = [
        _event(1, "ana", Action.FINISH),
        _event(1, "rev", Action.REJECT, "missed a car"),
        _event(1, "ana", Action.FINISH),
        _event(1, "rev", Action.ACCEPT),
        _event(2, "bo", Action.FINISH),
        _event(2, "rev", Action.REJECT, "missed a car"),
    ]
    comment = ReviewComment(
        1, 1, "rev", WHEN, CommentCategory.MISSING_OBJECT, "here", Box(0, 0, 1, 1), None
    )
    figures = review_figures(moves, [comment])
    assert (figures["accepted"], figures["rejected"]) == (1, 2)
    assert figures["rejection_rate"] == pytest.approx(0.6667)
    assert figures["by_annotator"]["ana"]["rejection_rate"] == 0.5
    assert figures["reasons"] == {"missed a car": 2}
    assert figures["comment_categories"] == {CommentCategory.MISSING_OBJECT.value: 1}
    assert comment.is_open and figures["open_comments"] == 1


def test_gold_and_agreement_rows_and_means():
    full = {"pixel_accuracy": 0.9, "mean_iou": 0.8, "box_f1": None}
    half = {"pixel_accuracy": 0.5, "mean_iou": 0.6, "box_f1": 1.0}
    gold = gold_figures(2, [("f1", "ana", full), ("f2", "ana", half)])
    assert gold["frames"] == 2 and gold["scores"][0] == {"frame": "f1", "user": "ana"} | full
    assert gold["by_user"]["ana"] == {
        "frames": 2,
        "pixel_accuracy": 0.7,
        "mean_iou": 0.7,
        "box_f1": 1.0,
    }
    agreement = agreement_figures([("f1", "ana", "bo", half)])
    assert agreement["pairs"] == [{"frame": "f1", "users": ["ana", "bo"]} | half]
    assert agreement["by_pair"]["ana / bo"]["frames"] == 1
