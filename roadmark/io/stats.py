"""Project statistics for managers and annotators: one plain dict, as ``stats --json`` prints.

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
from collections.abc import Iterable
from itertools import combinations
from typing import Any

import numpy as np
import sqlalchemy as sa

from roadmark.core.annotation import FrameStatus, ObjectKind, utc_now
from roadmark.core.workflow import Action
from roadmark.io import tables as t
from roadmark.io import workflow_tables as wt
from roadmark.io.gold import compare_users, gold_frame_ids, gold_scores, latest_submissions
from roadmark.io.store import Project
from roadmark.io.workflow import comments, events

REVIEW_TOOL = "review"
SOURCES = ("human", "model", "import", "edited")
TO_ANNOTATE = (
    FrameStatus.NEW,
    FrameStatus.PRELABELED,
    FrameStatus.IN_PROGRESS,
    FrameStatus.REJECTED,
)
TO_REVIEW = (*TO_ANNOTATE, FrameStatus.DONE, FrameStatus.IN_REVIEW)


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def distribution(values: Iterable[float]) -> dict[str, Any]:
    """Count, total, mean, median and 90th percentile of ``values`` (``None`` when empty)."""
    data = np.asarray(list(values), dtype=np.float64)
    if not data.size:
        return {"frames": 0, "total": 0.0, "mean": None, "median": None, "p90": None}
    return {
        "frames": int(data.size),
        "total": _round(data.sum()),
        "mean": _round(data.mean()),
        "median": _round(np.median(data)),
        "p90": _round(np.percentile(data, 90)),
    }


def source_category(source: str, created_at: str, updated_at: str) -> str:
    """``human``, ``model``, ``import`` or ``edited`` (see the module notes)."""
    if source.startswith(("model:", "import:")):
        if updated_at != created_at:
            return "edited"
        return "model" if source.startswith("model:") else "import"
    return "human"


def project_info(project: Project) -> dict[str, Any]:
    """Counts for ``roadmark info``: frames, objects by kind/label/source, statuses."""
    with project.reading() as conn:
        live = t.objects.c.deleted == sa.false()
        by_status: dict[Any, int] = dict(
            conn.execute(
                sa.select(t.frames.c.status, sa.func.count()).group_by(t.frames.c.status)
            ).all()
        )
        by_kind: dict[Any, int] = dict(
            conn.execute(
                sa.select(t.objects.c.kind, sa.func.count())
                .where(live)
                .group_by(t.objects.c.kind)
            ).all()
        )
        by_label_id: dict[Any, int] = dict(
            conn.execute(
                sa.select(t.objects.c.label_id, sa.func.count())
                .where(live)
                .group_by(t.objects.c.label_id)
            ).all()
        )
        by_source: dict[Any, int] = dict(
            conn.execute(
                sa.select(t.objects.c.source, sa.func.count())
                .where(live)
                .group_by(t.objects.c.source)
            ).all()
        )
        deleted = conn.execute(
            sa.select(sa.func.count()).select_from(t.objects).where(~live)
        ).scalar()
    schema = project.schema
    frames = sum(by_status.values())
    return {
        "project": project.location,
        "frames": frames,
        "objects": sum(by_kind.values()),
        "deleted_objects": int(deleted or 0),
        "objects_by_kind": {k: by_kind.get(k, 0) for k in (ObjectKind.BOX, ObjectKind.REGION)},
        "objects_by_label": dict(
            Counter({schema.by_id[i].name: n for i, n in by_label_id.items()}).most_common()
        ),
        "objects_by_source": dict(Counter(by_source).most_common()),
        "labels": len(schema),
        "schema": schema.name,
        "statuses": {s.value: by_status.get(s.value, 0) for s in FrameStatus},
    }


def project_stats(project: Project) -> dict[str, Any]:
    """All the figures of the module notes, as plain JSON-ready data."""
    frames = _frames(project)
    annotation, review = _time(project)
    throughput = _throughput(project, annotation)
    return {
        "project": project.location,
        "generated_at": utc_now().isoformat(timespec="seconds"),
        "frames": frames,
        "objects": _objects(project),
        "time": _time_figures(annotation, review),
        "throughput": throughput,
        "review": _review(project),
        "gold": _gold(project),
        "agreement": _agreement(project),
        "estimate": _estimate(frames, annotation, review),
    }


def _frames(project: Project) -> dict[str, Any]:
    with project.reading() as conn:
        counts: dict[Any, int] = dict(
            conn.execute(
                sa.select(t.frames.c.status, sa.func.count()).group_by(t.frames.c.status)
            ).all()
        )
    by_status = {status.value: int(counts.get(status.value, 0)) for status in FrameStatus}
    return {
        "total": sum(by_status.values()),
        "by_status": by_status,
        "gold": len(gold_frame_ids(project)),
    }


def _objects(project: Project) -> dict[str, Any]:
    o = t.objects.c
    with project.reading() as conn:
        rows = conn.execute(
            sa.select(o.label_id, o.source, o.created_at, o.updated_at, sa.func.count())
            .where(o.deleted == sa.false())
            .group_by(o.label_id, o.source, o.created_at, o.updated_at)
        ).all()
    schema = project.schema
    by_label: Counter[str] = Counter()
    by_source: Counter[str] = Counter()
    by_label_source: dict[str, Counter[str]] = defaultdict(Counter)
    for label_id, source, created_at, updated_at, count in rows:
        label = schema.by_id[label_id].name if label_id in schema.by_id else str(label_id)
        category = source_category(source, created_at, updated_at)
        by_label[label] += count
        by_source[category] += count
        by_label_source[label][category] += count
    return {
        "total": sum(by_label.values()),
        "by_source": {category: by_source.get(category, 0) for category in SOURCES},
        "by_label": dict(sorted(by_label.items(), key=lambda kv: (-kv[1], kv[0]))),
        "by_label_source": {
            label: {category: by_label_source[label].get(category, 0) for category in SOURCES}
            for label, _ in sorted(by_label.items(), key=lambda kv: (-kv[1], kv[0]))
        },
    }


TimeTable = dict[tuple[str, int], float]


def _time(project: Project) -> tuple[TimeTable, TimeTable]:
    """Seconds per (user, frame): annotation (all tools but review) and review."""
    c = wt.time_log.c
    with project.reading() as conn:
        rows = conn.execute(
            sa.select(c.user_name, c.frame_id, c.tool, sa.func.sum(c.seconds)).group_by(
                c.user_name, c.frame_id, c.tool
            )
        ).all()
    annotation: TimeTable = defaultdict(float)
    review: TimeTable = defaultdict(float)
    for user, frame_id, tool, seconds in rows:
        (review if tool == REVIEW_TOOL else annotation)[(user, frame_id)] += float(seconds)
    return dict(annotation), dict(review)


def _per_frame_minutes(table: TimeTable) -> tuple[dict[str, Any], dict[str, Any]]:
    per_frame: dict[int, float] = defaultdict(float)
    per_user: dict[str, list[float]] = defaultdict(list)
    for (user, frame_id), seconds in sorted(table.items()):
        per_frame[frame_id] += seconds
        per_user[user].append(seconds / 60)
    overall = distribution(seconds / 60 for seconds in per_frame.values())
    return overall, {user: distribution(values) for user, values in sorted(per_user.items())}


def _time_figures(annotation: TimeTable, review: TimeTable) -> dict[str, Any]:
    overall, by_user = _per_frame_minutes(annotation)
    review_overall, review_by_user = _per_frame_minutes(review)
    return {
        "active_minutes": _round((sum(annotation.values()) + sum(review.values())) / 60),
        "annotation_minutes": _round(sum(annotation.values()) / 60),
        "review_minutes": _round(sum(review.values()) / 60),
        "annotation_per_frame": {"overall": overall, "by_user": by_user},
        "review_per_frame": {"overall": review_overall, "by_user": review_by_user},
    }


def _time_by_tool(project: Project) -> dict[str, float | None]:
    c = wt.time_log.c
    with project.reading() as conn:
        rows = conn.execute(
            sa.select(c.tool, sa.func.sum(c.seconds)).group_by(c.tool).order_by(c.tool)
        ).all()
    return {tool: _round(float(seconds) / 60) for tool, seconds in rows}


def _throughput(project: Project, annotation: TimeTable) -> dict[str, Any]:
    finished: dict[str, set[int]] = defaultdict(set)
    for event in events(project):
        if event.action is Action.FINISH:
            finished[event.user].add(event.frame_id)
    seconds: dict[str, float] = defaultdict(float)
    for (user, _), value in annotation.items():
        seconds[user] += value

    def figures(frames: int, hours: float) -> dict[str, Any]:
        return {
            "frames_finished": frames,
            "active_hours": _round(hours),
            "frames_per_hour": _round(frames / hours) if hours > 0 else None,
        }

    users = sorted(set(finished) | set(seconds))
    all_frames = set().union(*finished.values()) if finished else set()
    return {
        "overall": figures(len(all_frames), sum(seconds.values()) / 3600),
        "by_user": {
            u: figures(len(finished.get(u, ())), seconds.get(u, 0.0) / 3600) for u in users
        },
        "minutes_by_tool": _time_by_tool(project),
    }


def _review(project: Project) -> dict[str, Any]:
    author: dict[int, str] = {}
    decisions: Counter[str] = Counter()
    by_annotator: dict[str, Counter[str]] = defaultdict(Counter)
    reasons: Counter[str] = Counter()
    for event in events(project):
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
            "rejection_rate": _round(counts["rejected"] / total) if total else None,
        }

    all_comments = comments(project)
    categories = Counter(comment.category.value for comment in all_comments)
    return {
        **figures(decisions),
        "by_annotator": {user: figures(c) for user, c in sorted(by_annotator.items())},
        "reasons": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        "comment_categories": dict(sorted(categories.items(), key=lambda kv: (-kv[1], kv[0]))),
        "open_comments": sum(1 for comment in all_comments if comment.is_open),
    }


def _gold(project: Project) -> dict[str, Any]:
    scores = gold_scores(project)
    names = {frame.id: frame.name for frame in project.frames()}
    per_user: dict[str, list[dict[str, float | None]]] = defaultdict(list)
    rows = []
    for score in scores:
        values = {
            "pixel_accuracy": score.agreement.pixel_accuracy,
            "mean_iou": score.agreement.mean_iou,
            "box_f1": score.agreement.box_f1,
        }
        per_user[score.user].append(values)
        rows.append(
            {"frame": names.get(score.frame_id, str(score.frame_id)), "user": score.user}
            | {key: _round(value) for key, value in values.items()}
        )

    return {
        "frames": len(gold_frame_ids(project)),
        "scores": rows,
        "by_user": {
            user: {"frames": len(items)} | {key: _mean(items, key) for key in METRICS}
            for user, items in sorted(per_user.items())
        },
    }


METRICS = ("pixel_accuracy", "mean_iou", "box_f1")


def _mean(items: list[dict[str, float | None]], key: str) -> float | None:
    present = [value for item in items if (value := item[key]) is not None]
    return _round(float(np.mean(present))) if present else None


def _agreement(project: Project) -> dict[str, Any]:
    v = wt.frame_versions.c
    with project.reading() as conn:
        frame_ids = [
            int(row[0])
            for row in conn.execute(
                sa.select(v.frame_id)
                .where(v.kind == "submission")
                .group_by(v.frame_id)
                .having(sa.func.count(sa.distinct(v.user_name)) >= 2)
                .order_by(v.frame_id)
            )
        ]
    names = {frame.id: frame.name for frame in project.frames()} if frame_ids else {}
    rows = []
    per_pair: dict[str, list[dict[str, float | None]]] = defaultdict(list)
    for frame_id in frame_ids:
        users = sorted(latest_submissions(project, frame_id))
        for first, second in combinations(users, 2):
            agreement = compare_users(project, frame_id, first, second)
            values = {key: getattr(agreement, key) for key in METRICS}
            per_pair[f"{first} / {second}"].append(values)
            rows.append(
                {"frame": names[frame_id], "users": [first, second]}
                | {key: _round(value) for key, value in values.items()}
            )
    return {
        "pairs": rows,
        "by_pair": {
            pair: {"frames": len(items)} | {key: _mean(items, key) for key in METRICS}
            for pair, items in sorted(per_pair.items())
        },
    }


def _estimate(frames: dict[str, Any], annotation: TimeTable, review: TimeTable) -> dict[str, Any]:
    by_status = frames["by_status"]
    to_annotate = sum(by_status[s.value] for s in TO_ANNOTATE)
    to_review = sum(by_status[s.value] for s in TO_REVIEW)
    annotate_median = _per_frame_minutes(annotation)[0]["median"]
    review_median = _per_frame_minutes(review)[0]["median"]
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
        "annotation_minutes_left": _round(annotate_left),
        "review_minutes_left": _round(review_left),
        "minutes_left": _round(minutes_left),
        "hours_left": _round(minutes_left / 60) if minutes_left is not None else None,
    }


def _part_left(frames: int, minutes_per_frame: float | None) -> float | None:
    if frames == 0:
        return 0.0
    return None if minutes_per_frame is None else frames * minutes_per_frame
