"""Project statistics for managers and annotators: one plain dict, as ``stats --json`` prints.

The figures, and how each is counted, are :mod:`roadmark.analysis.stats`; here they are read
from the project. :func:`project_info` gives the counts of ``roadmark info``.
"""

from __future__ import annotations

from collections import Counter
from itertools import combinations
from typing import Any

import sqlalchemy as sa

from roadmark.analysis.agreement import Agreement
from roadmark.analysis.stats import (
    METRICS,
    Scores,
    TimeTable,
    agreement_figures,
    estimate,
    frame_figures,
    gold_figures,
    object_figures,
    review_figures,
    rounded,
    throughput,
    time_figures,
    time_tables,
)
from roadmark.core.annotation import FrameStatus, ObjectKind, utc_now
from roadmark.io import tables as t
from roadmark.io import workflow_tables as wt
from roadmark.io.gold import compare_users, gold_frame_ids, gold_scores, latest_submissions
from roadmark.io.store import Project
from roadmark.io.workflow import comments, events


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
                sa.select(t.objects.c.kind, sa.func.count()).where(live).group_by(t.objects.c.kind)
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
    """All the figures of :mod:`roadmark.analysis.stats`, as plain JSON-ready data."""
    frames = _frames(project)
    annotation, review = _time(project)
    moves = events(project)
    return {
        "project": project.location,
        "generated_at": utc_now().isoformat(timespec="seconds"),
        "frames": frames,
        "objects": _objects(project),
        "time": time_figures(annotation, review),
        "throughput": throughput(moves, annotation, _time_by_tool(project)),
        "review": review_figures(moves, comments(project)),
        "gold": _gold(project),
        "agreement": _agreement(project),
        "estimate": estimate(frames["by_status"], annotation, review),
    }


def _frames(project: Project) -> dict[str, Any]:
    with project.reading() as conn:
        counts: dict[Any, int] = dict(
            conn.execute(
                sa.select(t.frames.c.status, sa.func.count()).group_by(t.frames.c.status)
            ).all()
        )
    return frame_figures(counts, len(gold_frame_ids(project)))


def _objects(project: Project) -> dict[str, Any]:
    o = t.objects.c
    with project.reading() as conn:
        rows = conn.execute(
            sa.select(o.label_id, o.source, o.created_at, o.updated_at, sa.func.count())
            .where(o.deleted == sa.false())
            .group_by(o.label_id, o.source, o.created_at, o.updated_at)
        ).all()
    labels = project.schema.by_id
    return object_figures(
        (
            labels[label_id].name if label_id in labels else str(label_id),
            source,
            created_at,
            updated_at,
            count,
        )
        for label_id, source, created_at, updated_at, count in rows
    )


def _time(project: Project) -> tuple[TimeTable, TimeTable]:
    c = wt.time_log.c
    with project.reading() as conn:
        rows = conn.execute(
            sa.select(c.user_name, c.frame_id, c.tool, sa.func.sum(c.seconds)).group_by(
                c.user_name, c.frame_id, c.tool
            )
        ).all()
    return time_tables((user, frame_id, tool, seconds) for user, frame_id, tool, seconds in rows)


def _time_by_tool(project: Project) -> dict[str, float | None]:
    c = wt.time_log.c
    with project.reading() as conn:
        rows = conn.execute(
            sa.select(c.tool, sa.func.sum(c.seconds)).group_by(c.tool).order_by(c.tool)
        ).all()
    return {tool: rounded(float(seconds) / 60) for tool, seconds in rows}


def _gold(project: Project) -> dict[str, Any]:
    scores = gold_scores(project)
    names = {frame.id: frame.name for frame in project.frames()}
    return gold_figures(
        len(gold_frame_ids(project)),
        (
            (
                names.get(score.frame_id, str(score.frame_id)),
                score.user,
                _scores(score.agreement),
            )
            for score in scores
        ),
    )


def _scores(agreement: Agreement) -> Scores:
    return {key: getattr(agreement, key) for key in METRICS}


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
    pairs = []
    for frame_id in frame_ids:
        users = sorted(latest_submissions(project, frame_id))
        for first, second in combinations(users, 2):
            agreement = compare_users(project, frame_id, first, second)
            pairs.append((names[frame_id], first, second, _scores(agreement)))
    return agreement_figures(pairs)
