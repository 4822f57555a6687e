"""Gold frames and agreement: reference labels kept apart, annotators scored against them.

Marking a frame gold stores its current live objects as the frame's reference (a
``gold`` row in ``frame_versions``) and, unless asked to keep them, removes the objects
and sets the frame back to ``new``: the annotator labels it blind, and the reference stays
hidden from them (:func:`gold_reference` refuses) until they finish. Finishing any frame
stores the annotator's objects as a ``submission``; a gold frame's submissions are scored
against its reference (:func:`gold_scores`), and two annotators' submissions of the same
frame can be compared (:func:`compare_users`). A gold frame is handed to the next
annotator with the workflow's ``reset`` move.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from roadmark.analysis.agreement import Agreement, compare
from roadmark.core.annotation import AnnotationObject, FrameStatus, utc_now
from roadmark.core.workflow import Action, WorkflowError
from roadmark.io import workflow_tables as wt
from roadmark.io.codec import object_from_json, object_to_json
from roadmark.io.roles import Permission
from roadmark.io.store import Project
from roadmark.io.workflow import frame_state, record_event, update_frame_workflow

# While a frame is with its annotator, its gold labels stay hidden from them.
HIDDEN_WHILE = frozenset(
    {FrameStatus.NEW, FrameStatus.PRELABELED, FrameStatus.IN_PROGRESS, FrameStatus.REJECTED}
)


@dataclass(frozen=True)
class FrameVersion:
    """A stored snapshot of a frame's objects.

    Attributes:
        id: Row id.
        frame_id: The frame.
        kind: ``gold`` (the reference) or ``submission`` (an annotator finished it).
        user: Who made it (who marked it gold, or who finished the frame).
        created_at: When.
        objects: The live objects at that moment, in z-order.
    """

    id: int
    frame_id: int
    kind: str
    user: str
    created_at: datetime
    objects: list[AnnotationObject]


def mark_gold(project: Project, frame_ids: Iterable[int], *, keep_labels: bool = False) -> None:
    """Make frames gold: their live objects become the reference.

    Args:
        project: The project.
        frame_ids: Frames to mark; each must have live objects.
        keep_labels: Leave the objects on the frame (by default they are removed and the
            frame goes back to ``new`` so an annotator labels it without seeing them).

    Raises:
        WorkflowError: A frame has no live objects to serve as the reference.
    """
    now = utc_now().isoformat()
    with project.transaction() as conn:
        project.require(Permission.MARK_GOLD)
        for frame_id in frame_ids:
            state = frame_state(project, frame_id)
            live = project.objects(frame_id).live()
            if not live:
                raise WorkflowError(
                    "has no labels to serve as the gold reference",
                    path=project.location,
                    field=f"frame {state.name}",
                )
            conn.execute(
                wt.frame_versions.insert().values(
                    frame_id=frame_id,
                    kind="gold",
                    user_name=project.user,
                    created_at=now,
                    objects=json.dumps([object_to_json(obj) for obj in live]),
                )
            )
            update_frame_workflow(conn, frame_id, gold=True)
            if not keep_labels:
                project.replace_objects(frame_id, [])
                update_frame_workflow(conn, frame_id, annotator=None)
                project.set_frame_status(frame_id, FrameStatus.NEW)
                record_event(
                    conn,
                    frame_id,
                    project.user,
                    Action.RESET,
                    state.status,
                    FrameStatus.NEW,
                    "marked gold",
                )


def unmark_gold(project: Project, frame_ids: Iterable[int]) -> None:
    """Frames are no longer gold (their stored references are kept, unused)."""
    with project.transaction() as conn:
        project.require(Permission.MARK_GOLD)
        for frame_id in frame_ids:
            update_frame_workflow(conn, frame_id, gold=False)


def gold_frame_ids(project: Project) -> list[int]:
    """Ids of the gold frames."""
    w = wt.frame_workflow.c
    with project.reading() as conn:
        return list(
            conn.execute(
                sa.select(w.frame_id).where(w.gold == sa.true()).order_by(w.frame_id)
            ).scalars()
        )


def versions(
    project: Project, frame_id: int | None = None, *, kind: str | None = None
) -> list[FrameVersion]:
    """Stored snapshots (of one frame, of one kind), oldest first."""
    v = wt.frame_versions.c
    query = sa.select(wt.frame_versions).order_by(v.id)
    if frame_id is not None:
        query = query.where(v.frame_id == frame_id)
    if kind is not None:
        query = query.where(v.kind == kind)
    with project.reading() as conn:
        rows = conn.execute(query).all()
    return [
        FrameVersion(
            id=row.id,
            frame_id=row.frame_id,
            kind=row.kind,
            user=row.user_name,
            created_at=datetime.fromisoformat(row.created_at),
            objects=[object_from_json(item) for item in json.loads(row.objects)],
        )
        for row in rows
    ]


def gold_reference(project: Project, frame_id: int) -> FrameVersion | None:
    """The gold frame's reference labels, ``None`` when the frame is not gold.

    Raises:
        WorkflowError: The project's user is the frame's annotator and has not finished it.
    """
    state = frame_state(project, frame_id)
    if not state.gold:
        return None
    if state.assignee == project.user and state.status in HIDDEN_WHILE:
        raise WorkflowError(
            f"gold labels stay hidden from {project.user} until they finish the frame",
            path=project.location,
            field=f"frame {state.name}",
        )
    found = versions(project, frame_id, kind="gold")
    return found[-1] if found else None


def latest_submissions(project: Project, frame_id: int) -> dict[str, FrameVersion]:
    """Each user's latest submission of a frame."""
    return {version.user: version for version in versions(project, frame_id, kind="submission")}


@dataclass(frozen=True)
class GoldScore:
    """One submission of a gold frame scored against the reference.

    Attributes:
        frame_id: The gold frame.
        user: The annotator.
        submitted_at: When they finished.
        agreement: The scores.
    """

    frame_id: int
    user: str
    submitted_at: datetime
    agreement: Agreement


def gold_scores(project: Project, frame_id: int | None = None) -> list[GoldScore]:
    """Each annotator's latest submission of each gold frame, scored against the reference
    that was current when they submitted (submissions made before the frame became gold
    are not scored)."""
    frame_ids = [frame_id] if frame_id is not None else gold_frame_ids(project)
    schema = project.schema
    out: list[GoldScore] = []
    for fid in frame_ids:
        if not frame_state(project, fid).gold:
            continue
        frame = project.frame(fid)
        history = versions(project, fid)
        latest: dict[str, tuple[FrameVersion, FrameVersion]] = {}
        reference: FrameVersion | None = None
        for version in history:
            if version.kind == "gold":
                reference = version
            elif reference is not None:
                latest[version.user] = (reference, version)
        for user, (gold, submission) in sorted(latest.items()):
            agreement = compare(gold.objects, submission.objects, schema, frame.height, frame.width)
            out.append(GoldScore(fid, user, submission.created_at, agreement))
    return out


def compare_users(project: Project, frame_id: int, user_a: str, user_b: str) -> Agreement:
    """Agreement between two annotators' latest submissions of a frame.

    Raises:
        WorkflowError: One of them has not submitted the frame.
    """
    frame = project.frame(frame_id)
    submissions = latest_submissions(project, frame_id)
    for user in (user_a, user_b):
        if user not in submissions:
            have = ", ".join(sorted(submissions)) or "nobody"
            raise WorkflowError(
                f"{user} has not finished this frame (submitted by: {have})",
                path=project.location,
                field=f"frame {frame.name}",
            )
    return compare(
        submissions[user_a].objects,
        submissions[user_b].objects,
        project.schema,
        frame.height,
        frame.width,
    )
