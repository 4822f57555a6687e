"""Workflow and quality commands: assign, status, frames, gold, comments, log, score, timing,
stats.

Frames are named by their 0-based position in project order (as ``roadmark open --frame``);
``--frames`` takes a SPEC such as ``0-9,12`` or ``all``. ``--user`` acts as another user
name than the configured one (names are not authenticated: they are what provenance
records). Every command that writes does so in one transaction: a refused move on one
frame leaves all the frames as they were.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from roadmark.io.store import Project


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    assign = subparsers.add_parser("assign", help="assign frames to an annotator and a reviewer")
    _project(assign, frames=True)
    assign.add_argument("--to", metavar="USER", help="annotator ('-' clears)")
    assign.add_argument("--reviewer", metavar="USER", help="reviewer ('-' clears)")
    assign.set_defaults(handler=cmd_assign)

    status = subparsers.add_parser("status", help="move frames to a workflow status")
    _project(status, frames=True)
    status.add_argument(
        "status", help="new | prelabeled | in_progress | done | in_review | accepted | rejected"
    )
    status.add_argument("--reason", help="why (required to reject)")
    status.set_defaults(handler=cmd_status)

    frames = subparsers.add_parser("frames", help="list frames with their workflow state")
    _project(frames)
    frames.add_argument("--status", help="only frames with this status")
    frames.add_argument("--assignee", metavar="USER", help="only frames assigned to USER")
    frames.add_argument("--reviewer", metavar="USER", help="only frames reviewed by USER")
    frames.add_argument("--next", action="store_true", help="only the next frame for --user")
    frames.add_argument("--review", action="store_true", help="with --next: the next to review")
    frames.add_argument(
        "--claim",
        action="store_true",
        help="with --next: assign the frame to --user atomically (team projects: two people "
        "never get the same frame)",
    )
    frames.add_argument("--json", action="store_true", help="print JSON")
    frames.set_defaults(handler=cmd_frames)

    gold = subparsers.add_parser("gold", help="mark gold frames (their labels become reference)")
    _project(gold, frames=True)
    mode = gold.add_mutually_exclusive_group()
    mode.add_argument("--keep-labels", action="store_true", help="leave the labels on the frame")
    mode.add_argument("--unmark", action="store_true", help="frames are no longer gold")
    mode.add_argument(
        "--reset-for", metavar="USER", help="clear gold frames and assign them to USER"
    )
    gold.set_defaults(handler=cmd_gold)

    comment = subparsers.add_parser("comment", help="pin a review comment to a frame")
    _project(comment)
    comment.add_argument("--frame", type=int, required=True, metavar="N", help="frame position")
    where = comment.add_mutually_exclusive_group(required=True)
    where.add_argument("--at", metavar="X,Y", help="a point in image pixels")
    where.add_argument("--area", metavar="X0,Y0,X1,Y1", help="an area in image pixels")
    comment.add_argument(
        "--category",
        default="other",
        help="wrong_label | missing_object | loose_boundary | other (default)",
    )
    comment.add_argument("--text", default="", help="what is wrong, in words")
    comment.set_defaults(handler=cmd_comment)

    comments = subparsers.add_parser("comments", help="list review comments")
    _project(comments)
    comments.add_argument("--frame", type=int, metavar="N", help="only this frame")
    comments.add_argument("--open", action="store_true", help="only open comments")
    comments.add_argument("--json", action="store_true", help="print JSON")
    comments.set_defaults(handler=cmd_comments)

    resolve = subparsers.add_parser("resolve", help="resolve review comments")
    _project(resolve)
    resolve.add_argument("ids", type=int, nargs="+", metavar="ID")
    resolve.add_argument("--reopen", action="store_true", help="open them again")
    resolve.set_defaults(handler=cmd_resolve)

    log = subparsers.add_parser("log", help="audit log of a frame or an object")
    _project(log)
    which = log.add_mutually_exclusive_group(required=True)
    which.add_argument("--frame", type=int, metavar="N", help="frame position")
    which.add_argument("--object", type=int, metavar="UID", help="object id")
    log.add_argument("--json", action="store_true", help="print JSON (objects before/after)")
    log.set_defaults(handler=cmd_log)

    score = subparsers.add_parser("score", help="gold scores, or agreement of two annotators")
    _project(score)
    score.add_argument("--frame", type=int, metavar="N", help="only this frame")
    score.add_argument("--users", nargs=2, metavar="USER", help="compare two annotators")
    score.add_argument("--json", action="store_true", help="print JSON")
    score.set_defaults(handler=cmd_score)

    timing = subparsers.add_parser("timing", help="show or set the idle cutoff of time tracking")
    timing.add_argument("project")
    timing.add_argument(
        "--idle-after", type=float, metavar="S", help="seconds without input that stop the clock"
    )
    timing.set_defaults(handler=cmd_timing)

    stats = subparsers.add_parser("stats", help="statistics: status, objects, time, review, gold")
    stats.add_argument("project")
    out = stats.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print JSON")
    out.add_argument("--html", type=Path, metavar="OUT", help="write a self-contained report")
    stats.set_defaults(handler=cmd_stats)


def _project(parser: argparse.ArgumentParser, *, frames: bool = False) -> None:
    parser.add_argument("project")
    if frames:
        parser.add_argument(
            "--frames", required=True, metavar="SPEC", help="positions: 0-9,12 or all"
        )
    parser.add_argument("--user", metavar="NAME", help="act as NAME (default: the setting)")


def _open(args: argparse.Namespace, *, read_only: bool = False) -> Project:
    from roadmark.io.store import Project

    return Project.open(args.project, user=args.user, read_only=read_only)


def _frame_at(project: Project, position: int) -> Any:
    from roadmark.io.workflow import select_frames

    return select_frames(project.frames(), str(position))[0]


def _clear(value: str | None) -> Any:
    from roadmark.io.workflow import UNCHANGED

    if value is None:
        return UNCHANGED
    return None if value in ("-", "") else value


def _numbers(text: str, count: int, option: str) -> list[float]:
    from roadmark.core.workflow import WorkflowError

    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != count:
        raise WorkflowError(
            f"expected {count} numbers separated by commas, got '{text}'", field=option
        )
    return values


def cmd_assign(args: argparse.Namespace) -> int:
    from roadmark.core.workflow import WorkflowError
    from roadmark.io.workflow import assign, select_frames

    if args.to is None and args.reviewer is None:
        raise WorkflowError("give --to USER and/or --reviewer USER", field="assign")
    with _open(args) as project:
        frames = select_frames(project.frames(), args.frames)
        assign(
            project,
            [f.id for f in frames],
            annotator=_clear(args.to),
            reviewer=_clear(args.reviewer),
        )
    print(f"assigned {len(frames)} frames")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from roadmark.core.workflow import parse_status, status_text
    from roadmark.io.workflow import select_frames, set_status

    target = parse_status(args.status)
    with _open(args) as project:
        frames = select_frames(project.frames(), args.frames)
        moving = [frame for frame in frames if frame.status is not target]
        with project.transaction():
            for frame in moving:
                set_status(project, frame.id, target, reason=args.reason)
    already = len(frames) - len(moving)
    note = f" ({already} already were)" if already else ""
    print(f"{len(moving)} frames moved to {status_text(target)}{note}")
    return 0


def cmd_frames(args: argparse.Namespace) -> int:
    from roadmark.core.workflow import WorkflowError, parse_status
    from roadmark.io.team import claim_next
    from roadmark.io.workflow import frame_states, next_frame, rejection_reason

    if args.claim and (not args.next or args.review):
        raise WorkflowError("--claim goes with --next (annotation, not --review)", field="--claim")
    with _open(args, read_only=not args.claim) as project:
        positions = {frame.id: index for index, frame in enumerate(project.frames())}
        if args.next:
            if args.claim:
                found = claim_next(project)
            else:
                found = next_frame(project, project.user, review=args.review)
            states = [found] if found else []
        else:
            states = frame_states(
                project,
                status=parse_status(args.status) if args.status else None,
                assignee=args.assignee,
                reviewer=args.reviewer,
            )
        rows = [
            {
                "position": positions[s.frame_id],
                "name": s.name,
                "status": s.status.value,
                "assignee": s.assignee,
                "reviewer": s.reviewer,
                "annotator": s.annotator,
                "gold": s.gold,
                "open_comments": s.open_comments,
                "rejection_reason": rejection_reason(project, s.frame_id),
            }
            for s in states
        ]
    if args.json:
        print(json.dumps(rows, indent=1))
    elif not rows:
        print("no frames" if not args.next else f"nothing to do for {project.user}")
    else:
        for row in rows:
            extra = "  gold" if row["gold"] else ""
            extra += f"  {row['open_comments']} open comments" if row["open_comments"] else ""
            extra += f"  rejected: {row['rejection_reason']}" if row["rejection_reason"] else ""
            print(
                f"{row['position']:>5}  {row['name']}  {row['status']}  "
                f"annotator={row['assignee'] or '-'}  reviewer={row['reviewer'] or '-'}{extra}"
            )
    return 0


def cmd_gold(args: argparse.Namespace) -> int:
    from roadmark.core.workflow import Action
    from roadmark.io.gold import mark_gold, unmark_gold
    from roadmark.io.workflow import assign, move, select_frames

    with _open(args) as project:
        ids = [f.id for f in select_frames(project.frames(), args.frames)]
        with project.transaction():
            if args.unmark:
                unmark_gold(project, ids)
                verb = "unmarked"
            elif args.reset_for:
                for frame_id in ids:
                    move(project, frame_id, Action.RESET)
                assign(project, ids, annotator=args.reset_for)
                verb = f"reset for {args.reset_for}:"
            else:
                mark_gold(project, ids, keep_labels=args.keep_labels)
                verb = "marked gold:"
    print(f"{verb} {len(ids)} frames")
    return 0


def cmd_comment(args: argparse.Namespace) -> int:
    from roadmark.core.annotation import Box
    from roadmark.core.workflow import parse_category
    from roadmark.io.workflow import add_comment

    category = parse_category(args.category)
    if args.at:
        x, y = _numbers(args.at, 2, "--at")
        anchor = Box(x, y, x, y)
    else:
        anchor = Box.from_corners(*_numbers(args.area, 4, "--area"))
    with _open(args) as project:
        frame = _frame_at(project, args.frame)
        made = add_comment(project, frame.id, category, anchor, args.text)
    print(f"comment {made.id} on {frame.name}: {made.summary}")
    return 0


def cmd_comments(args: argparse.Namespace) -> int:
    from roadmark.io.workflow import comments

    with _open(args, read_only=True) as project:
        frame = _frame_at(project, args.frame) if args.frame is not None else None
        names = {f.id: f.name for f in project.frames()}
        found = comments(project, frame.id if frame else None, open_only=args.open)
    rows = [
        {
            "id": c.id,
            "frame": names[c.frame_id],
            "author": c.author,
            "created_at": c.created_at.isoformat(),
            "category": c.category.value,
            "text": c.text,
            "anchor": [c.anchor.x0, c.anchor.y0, c.anchor.x1, c.anchor.y1],
            "object": c.object_uid,
            "resolved_by": c.resolved_by,
        }
        for c in found
    ]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    for c in found:
        state = f"resolved by {c.resolved_by}" if c.resolved_by else "open"
        print(f"{c.id:>5}  {names[c.frame_id]}  {c.author}  {c.summary}  ({state})")
    return 0


def cmd_resolve(args: argparse.Namespace) -> int:
    from roadmark.io.workflow import resolve_comment

    with _open(args) as project, project.transaction():
        for comment_id in args.ids:
            resolve_comment(project, comment_id, resolved=not args.reopen)
    print(f"{'reopened' if args.reopen else 'resolved'} {len(args.ids)} comments")
    return 0


def cmd_log(args: argparse.Namespace) -> int:
    from roadmark.io.changelog import frame_history, object_history

    with _open(args, read_only=True) as project:
        if args.object is not None:
            changes = object_history(project, args.object)
        else:
            changes = frame_history(project, _frame_at(project, args.frame).id)
        schema = project.schema
    if args.json:
        rows = [
            {
                "id": c.id,
                "object": c.object_uid,
                "user": c.user,
                "at": c.at.isoformat(),
                "action": c.action,
                "before": c.before,
                "after": c.after,
            }
            for c in changes
        ]
        print(json.dumps(rows, indent=1))
        return 0
    for c in changes:
        target = f"object {c.object_uid}" if c.object_uid is not None else "frame"
        print(f"{c.at.isoformat(timespec='seconds')}  {c.user}  {target}  {c.describe(schema)}")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from roadmark.core.workflow import WorkflowError
    from roadmark.io.gold import compare_users, gold_scores

    with _open(args, read_only=True) as project:
        frame = _frame_at(project, args.frame) if args.frame is not None else None
        if args.users:
            if frame is None:
                raise WorkflowError("comparing two annotators needs --frame N", field="--users")
            agreement = compare_users(project, frame.id, *args.users)
            rows = [{"frame": frame.name, "users": args.users} | agreement.to_dict()]
        else:
            names = {f.id: f.name for f in project.frames()}
            rows = [
                {"frame": names[s.frame_id], "user": s.user} | s.agreement.to_dict()
                for s in gold_scores(project, frame.id if frame else None)
            ]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    if not rows:
        print("no scores: no gold frame has been finished since it was marked")
    for row in rows:
        who = row.get("user") or " vs ".join(row["users"])
        print(
            f"{row['frame']}  {who}  pixel accuracy {_pct(row['pixel_accuracy'])}  "
            f"mIoU {_pct(row['mean_iou'])}  box F1 {_pct(row['box_f1'])}"
        )
    return 0


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def cmd_timing(args: argparse.Namespace) -> int:
    from roadmark.io.store import Project
    from roadmark.io.worktime import idle_after, set_idle_after

    with Project.open(args.project, read_only=args.idle_after is None) as project:
        if args.idle_after is not None:
            set_idle_after(project, args.idle_after)
        seconds = idle_after(project)
    print(f"time tracking stops after {seconds:g} s without input")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from roadmark.analysis.report import write_html
    from roadmark.io.stats import project_stats
    from roadmark.io.store import Project

    with Project.open(args.project, read_only=True) as project:
        stats = project_stats(project)
    if args.json:
        print(json.dumps(stats, indent=1))
    elif args.html:
        write_html(stats, args.html)
        print(f"wrote {args.html}")
    else:
        print(format_stats(stats))
    return 0


def format_stats(stats: dict[str, Any]) -> str:
    """A short text summary of a stats dict."""
    frames, time, review = stats["frames"], stats["time"], stats["review"]
    per_frame = time["annotation_per_frame"]["overall"]
    estimate = stats["estimate"]
    lines = [
        f"frames     {frames['total']}  "
        + "  ".join(f"{k}={v}" for k, v in frames["by_status"].items() if v),
        f"objects    {stats['objects']['total']}  "
        + "  ".join(f"{k}={v}" for k, v in stats["objects"]["by_source"].items()),
        f"time       {time['active_minutes']} active min; per frame median "
        f"{per_frame['median']} p90 {per_frame['p90']} min",
        f"review     accepted={review['accepted']} rejected={review['rejected']} "
        f"rate={review['rejection_rate']} open comments={review['open_comments']}",
        f"left       {estimate['frames_to_annotate']} to annotate, "
        f"{estimate['frames_to_review']} to review, {estimate['minutes_left']} min",
    ]
    for user, figures in stats["throughput"]["by_user"].items():
        lines.append(
            f"user       {user}: {figures['frames_finished']} frames, "
            f"{figures['frames_per_hour']} per hour"
        )
    for user, figures in stats["gold"]["by_user"].items():
        lines.append(
            f"gold       {user}: pixel accuracy {figures['pixel_accuracy']}, "
            f"mIoU {figures['mean_iou']}, box F1 {figures['box_f1']}"
        )
    for pair, figures in stats["agreement"]["by_pair"].items():
        lines.append(
            f"agreement  {pair} ({figures['frames']} frames): pixel accuracy "
            f"{figures['pixel_accuracy']}, mIoU {figures['mean_iou']}, box F1 {figures['box_f1']}"
        )
    return "\n".join(lines)
