"""Project statistics computed from plain data (no database): the figures of ``stats``.

:mod:`roadmark.io.stats` reads the project and puts them together in one plain dict.

What is counted, and how:

- **frames** by status, and how many are gold;
- **objects** (live ones) by label and by source: ``human``; ``model`` and ``import`` for
  objects as a model or an import made them; ``edited`` for model or import objects a
  person changed afterwards (their provenance was updated after it was created);
- **time**: active minutes from the time log (only credited interaction time, see
  :mod:`roadmark.core.timetracking`). Annotation time is every tool but ``review``;
  per-frame figures are the median and 90th percentile (linear interpolation) over the
  frames with any annotation time, per user (their own minutes on each frame) and overall
  (everyone's minutes on each frame summed); review minutes per frame likewise;
- **throughput**: distinct frames a user finished per active annotation hour;
- **review**: accept and reject decisions, the rejection rate ``rejected / (accepted +
  rejected)`` overall and per annotator (the user who finished the frame before the
  decision), the reasons given, and comment categories;
- **gold**: each annotator's latest submission of each gold frame scored against the
  reference, and the mean per annotator;
- **agreement**: on every frame that two or more annotators finished, each pair's latest
  submissions scored against each other (pixel accuracy, mIoU, box F1@0.5), and the mean
  per pair;
- **estimate**: minutes left = frames still to annotate x median annotation minutes per
  frame + frames still to review x median review minutes per frame (``None`` until there
  is time logged to base it on). Frames to annotate are new, pre-labeled, in progress or
  rejected; frames to review are those plus done and in review.

Numbers are rounded to 4 decimals.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from roadmark.core.annotation import FrameStatus
from roadmark.core.workflow import Action, ReviewComment, WorkflowEvent

REVIEW_TOOL = "review"
SOURCES = ("human", "model", "import", "edited")
TO_ANNOTATE = (
    FrameStatus.NEW,
    FrameStatus.PRELABELED,
    FrameStatus.IN_PROGRESS,
    FrameStatus.REJECTED,
)
TO_REVIEW = (*TO_ANNOTATE, FrameStatus.DONE, FrameStatus.IN_REVIEW)
METRICS = ("pixel_accuracy", "mean_iou", "box_f1")

# Seconds per (user, frame id).
TimeTable = dict[tuple[str, int], float]
Scores = Mapping[str, float | None]


def rounded(value: float | None) -> float | None:
    """``value`` rounded to 4 decimals (``None`` stays ``None``)."""
    return None if value is None else round(float(value), 4)


def distribution(values: Iterable[float]) -> dict[str, Any]:
    """Count, total, mean, median and 90th percentile of ``values`` (``None`` when empty)."""
    data = np.asarray(list(values), dtype=np.float64)
    if not data.size:
        return {"frames": 0, "total": 0.0, "mean": None, "median": None, "p90": None}
    return {
        "frames": int(data.size),
        "total": rounded(data.sum()),
        "mean": rounded(data.mean()),
        "median": rounded(np.median(data)),
        "p90": rounded(np.percentile(data, 90)),
    }


def source_category(source: str, created_at: str, updated_at: str) -> str:
    """``human``, ``model``, ``import`` or ``edited`` (see the module notes)."""
    if source.startswith(("model:", "import:")):
        if updated_at != created_at:
            return "edited"
        return "model" if source.startswith("model:") else "import"
    return "human"


def frame_figures(counts: Mapping[str, int], gold: int) -> dict[str, Any]:
    """Frames by status (``counts``: status value -> frames) and how many are gold."""
    by_status = {status.value: int(counts.get(status.value, 0)) for status in FrameStatus}
    return {"total": sum(by_status.values()), "by_status": by_status, "gold": gold}


def object_figures(rows: Iterable[tuple[str, str, str, str, int]]) -> dict[str, Any]:
    """Live objects by label and source category.

    Args:
        rows: ``(label name, source, created_at, updated_at, count)``.
    """
    by_label: Counter[str] = Counter()
    by_source: Counter[str] = Counter()
    by_label_source: dict[str, Counter[str]] = defaultdict(Counter)
    for label, source, created_at, updated_at, count in rows:
        category = source_category(source, created_at, updated_at)
        by_label[label] += count
        by_source[category] += count
        by_label_source[label][category] += count
    ranked = sorted(by_label.items(), key=lambda kv: (-kv[1], kv[0]))
    return {
        "total": sum(by_label.values()),
        "by_source": {category: by_source.get(category, 0) for category in SOURCES},
        "by_label": dict(ranked),
        "by_label_source": {
            label: {category: by_label_source[label].get(category, 0) for category in SOURCES}
            for label, _ in ranked
        },
    }


def time_tables(rows: Iterable[tuple[str, int, str, float]]) -> tuple[TimeTable, TimeTable]:
    """Seconds per (user, frame): annotation (all tools but review) and review.

    Args:
        rows: ``(user, frame id, tool, seconds)``.
    """
    annotation: TimeTable = defaultdict(float)
    review: TimeTable = defaultdict(float)
    for user, frame_id, tool, seconds in rows:
        (review if tool == REVIEW_TOOL else annotation)[(user, frame_id)] += float(seconds)
    return dict(annotation), dict(review)


def per_frame_minutes(table: TimeTable) -> tuple[dict[str, Any], dict[str, Any]]:
    """Minutes per frame: overall (everyone's minutes on a frame summed) and per user."""
    per_frame: dict[int, float] = defaultdict(float)
    per_user: dict[str, list[float]] = defaultdict(list)
    for (user, frame_id), seconds in sorted(table.items()):
        per_frame[frame_id] += seconds
        per_user[user].append(seconds / 60)
    overall = distribution(seconds / 60 for seconds in per_frame.values())
    return overall, {user: distribution(values) for user, values in sorted(per_user.items())}


def time_figures(annotation: TimeTable, review: TimeTable) -> dict[str, Any]:
    """Active minutes and their distributions per frame."""
    overall, by_user = per_frame_minutes(annotation)
    review_overall, review_by_user = per_frame_minutes(review)
    return {
        "active_minutes": rounded((sum(annotation.values()) + sum(review.values())) / 60),
        "annotation_minutes": rounded(sum(annotation.values()) / 60),
        "review_minutes": rounded(sum(review.values()) / 60),
        "annotation_per_frame": {"overall": overall, "by_user": by_user},
        "review_per_frame": {"overall": review_overall, "by_user": review_by_user},
    }


def throughput(
    events: Iterable[WorkflowEvent],
    annotation: TimeTable,
    minutes_by_tool: Mapping[str, float | None],
) -> dict[str, Any]:
    """Distinct frames each user finished per active annotation hour."""
    finished: dict[str, set[int]] = defaultdict(set)
    for event in events:
        if event.action is Action.FINISH:
            finished[event.user].add(event.frame_id)
    seconds: dict[str, float] = defaultdict(float)
    for (user, _), value in annotation.items():
        seconds[user] += value

    def figures(frames: int, hours: float) -> dict[str, Any]:
        return {
            "frames_finished": frames,
            "active_hours": rounded(hours),
            "frames_per_hour": rounded(frames / hours) if hours > 0 else None,
        }

    users = sorted(set(finished) | set(seconds))
    all_frames: set[int] = set().union(*finished.values()) if finished else set()
    return {
        "overall": figures(len(all_frames), sum(seconds.values()) / 3600),
        "by_user": {
            u: figures(len(finished.get(u, ())), seconds.get(u, 0.0) / 3600) for u in users
        },
        "minutes_by_tool": dict(minutes_by_tool),
    }


def review_figures(
    events: Iterable[WorkflowEvent], comments: Sequence[ReviewComment]
) -> dict[str, Any]:
    """Review decisions, the rejection rate (overall and per annotator), reasons, comments."""
    author: dict[int, str] = {}
    decisions: Counter[str] = Counter()
    by_annotator: dict[str, Counter[str]] = defaultdict(Counter)
    reasons: Counter[str] = Counter()
    for event in events:
        if event.action is Action.FINISH:
            author[event.frame_id] = event.user
        elif event.action in (Action.ACCEPT, Action.REJECT):
            outcome = "accepted" if event.action is Action.ACCEPT else "rejected"
            decisions[outcome] += 1
            by_annotator[author.get(event.frame_id, "(unknown)")][outcome] += 1
            if event.action is Action.REJECT and event.reason:
                reasons[event.reason] += 1

    def figures(counts: Counter[str]) -> dict[str, Any]:
        total = counts["accepted"] + counts["rejected"]
        return {
            "accepted": counts["accepted"],
            "rejected": counts["rejected"],
            "rejection_rate": rounded(counts["rejected"] / total) if total else None,
        }

    categories = Counter(comment.category.value for comment in comments)
    return {
        **figures(decisions),
        "by_annotator": {user: figures(c) for user, c in sorted(by_annotator.items())},
        "reasons": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        "comment_categories": dict(sorted(categories.items(), key=lambda kv: (-kv[1], kv[0]))),
        "open_comments": sum(1 for comment in comments if comment.is_open),
    }


def mean_scores(items: Sequence[Scores]) -> dict[str, Any]:
    """How many score sets, and the mean of each of :data:`METRICS` over those that have it."""
    out: dict[str, Any] = {"frames": len(items)}
    for key in METRICS:
        present = [value for item in items if (value := item[key]) is not None]
        out[key] = rounded(float(np.mean(present))) if present else None
    return out


def gold_figures(frames: int, scores: Iterable[tuple[str, str, Scores]]) -> dict[str, Any]:
    """Gold scores: one row per (frame name, user, scores), and the means per user."""
    per_user: dict[str, list[Scores]] = defaultdict(list)
    rows = []
    for frame, user, values in scores:
        per_user[user].append(values)
        rows.append({"frame": frame, "user": user} | _rounded_scores(values))
    return {
        "frames": frames,
        "scores": rows,
        "by_user": {user: mean_scores(items) for user, items in sorted(per_user.items())},
    }


def agreement_figures(pairs: Iterable[tuple[str, str, str, Scores]]) -> dict[str, Any]:
    """Agreement of pairs of annotators: one row per (frame name, first, second, scores),
    and the means per pair."""
    per_pair: dict[str, list[Scores]] = defaultdict(list)
    rows = []
    for frame, first, second, values in pairs:
        per_pair[f"{first} / {second}"].append(values)
        rows.append({"frame": frame, "users": [first, second]} | _rounded_scores(values))
    return {
        "pairs": rows,
        "by_pair": {pair: mean_scores(items) for pair, items in sorted(per_pair.items())},
    }


def _rounded_scores(values: Scores) -> dict[str, float | None]:
    return {key: rounded(value) for key, value in values.items()}


def estimate(
    by_status: Mapping[str, int], annotation: TimeTable, review: TimeTable
) -> dict[str, Any]:
    """Minutes left: frames still to annotate and to review times their median minutes."""
    to_annotate = sum(by_status[s.value] for s in TO_ANNOTATE)
    to_review = sum(by_status[s.value] for s in TO_REVIEW)
    annotate_median = per_frame_minutes(annotation)[0]["median"]
    review_median = per_frame_minutes(review)[0]["median"]
    annotate_left = _part_left(to_annotate, annotate_median)
    review_left = _part_left(to_review, review_median)
    minutes_left = (
        None if annotate_left is None or review_left is None else annotate_left + review_left
    )
    return {
        "frames_to_annotate": to_annotate,
        "frames_to_review": to_review,
        "annotation_minutes_per_frame": annotate_median,
        "review_minutes_per_frame": review_median,
        "annotation_minutes_left": rounded(annotate_left),
        "review_minutes_left": rounded(review_left),
        "minutes_left": rounded(minutes_left),
        "hours_left": rounded(minutes_left / 60) if minutes_left is not None else None,
    }


def _part_left(frames: int, minutes_per_frame: float | None) -> float | None:
    if frames == 0:
        return 0.0
    return None if minutes_per_frame is None else frames * minutes_per_frame
