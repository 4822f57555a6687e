"""Many people on one team project at once; prints JSON figures.

    python benchmarks/team.py [--people 20] [--seconds 30] [--backend postgresql|sqlite]

Starts a throw-away PostgreSQL cluster (or makes a temporary project file), adds frames and
members (a lead, annotators and every fourth person a reviewer), then runs N separate
processes for a bounded time. Each uses the store API the editor uses: annotators claim
their next frame (``team.claim_next``), take its lease, start it, add objects and edit
them, finish; reviewers take done frames, fix a label, pin a comment and reject, or accept.
Every person also keeps a second, stale copy of an object it edited (a second editor
window) and tries to write it back: the store must refuse it. Before each action a person
thinks for ``--think`` seconds on average (0.5x to 1.5x, 1 s by default: a person
commits at most about one action a second).

Each process logs every write the store acknowledged; afterwards the database is checked
against the logs:

- ``lost_writes``: acknowledged object states, comments and workflow moves that are not in
  the database as logged, plus stale writes that were accepted (must be 0);
- ``double_claims``: frames handed to two people by ``claim_next`` (must be 0);
- ``stale_edits_refused``: stale writes the store refused;
- ``commit_p95_ms``: 95th percentile time of one write action, commit included;
- ``notify_p95_ms``: PostgreSQL only, from the change (trigger time) to its arrival at the
  other people's LISTEN connections;
- ``locked_failures``: actions that failed because the database was locked.

Targets (20 people on a 2-core machine, PostgreSQL): commit p95 <= 100 ms, notify p95 <=
2000 ms; with 4 processes on SQLite: no lost writes and no "locked" failures.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing as mp
import os
import random
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET_COMMIT_P95_MS = 100.0
TARGET_NOTIFY_P95_MS = 2000.0


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def build(location: str, root: Path, frames: int, people: list[tuple[str, str]]) -> None:
    from roadmark.io.roles import Role
    from roadmark.io.store import FrameSpec, Project
    from roadmark.io.team import set_member

    specs = [
        FrameSpec(root / f"f{i:05d}.png", None, 1024, 512, f"seq{i // 100}", i % 100)
        for i in range(frames)
    ]
    with Project.create(location, user="lead", root=root) as project:
        project.add_frames(specs)
        set_member(project, "lead", Role.LEAD)
        for name, role in people:
            set_member(project, name, Role(role))


# -- one person ------------------------------------------------------------------------------


def person(
    location: str,
    root: str,
    name: str,
    role: str,
    start_at: float,
    seconds: float,
    think: float,
    seed: int,
    out: str,
    ready: Any,
) -> None:
    """Work as ``name`` until ``start_at + seconds``; write the log to ``out`` (JSON)."""
    from roadmark.core.annotation import Box
    from roadmark.core.workflow import Action, CommentCategory, WorkflowError
    from roadmark.io import team, workflow
    from roadmark.io.errors import ProjectLockedError, StaleEditError
    from roadmark.io.live import ChangeWatcher
    from roadmark.io.store import Project
    from tests.helpers import region

    rng = random.Random(seed)
    log: dict[str, Any] = {
        "name": name,
        "role": role,
        "commit_ms": [],
        "notify_ms": [],
        "claims": [],
        "objects": {},
        "comments": [],
        "moves": [],
        "stale_refused": 0,
        "stale_accepted": 0,
        "locked": 0,
        "errors": [],
    }
    with ExitStack() as stack:
        project = stack.enter_context(Project.open(location, user=name, root=Path(root)))
        second = stack.enter_context(Project.open(location, user=name, root=Path(root)))
        watcher = None
        if project.dialect == "postgresql":

            def heard(changes: list[Any]) -> None:
                now = time.time()
                log["notify_ms"].extend((now - c.at) * 1000 for c in changes if c.at)

            watcher = ChangeWatcher(project, heard)
            stack.callback(watcher.stop)
        ready.set()
        time.sleep(max(0.0, start_at - time.time()))
        end = start_at + seconds

        def act(fn: Any, what: str) -> Any:
            time.sleep(think * rng.uniform(0.5, 1.5))  # a person between two actions
            started = time.perf_counter()
            try:
                value = fn()
            except ProjectLockedError:
                log["locked"] += 1
                raise
            elapsed = (time.perf_counter() - started) * 1000
            log["commit_ms"].append(elapsed)
            log.setdefault("by_action", {}).setdefault(what, []).append(elapsed)
            return value

        def record(obj: Any) -> None:
            b = obj.bounds
            log["objects"][str(obj.uid)] = [time.time(), obj.label_id, [b.x0, b.y0, b.x1, b.y1]]

        while time.time() < end:
            try:
                if role == "annotator":
                    annotate(
                        project,
                        second,
                        name,
                        rng,
                        act,
                        record,
                        log,
                        team,
                        workflow,
                        Action,
                        StaleEditError,
                        region,
                    )
                else:
                    review(
                        project,
                        name,
                        rng,
                        act,
                        record,
                        log,
                        team,
                        workflow,
                        Action,
                        CommentCategory,
                        WorkflowError,
                        Box,
                    )
            except ProjectLockedError:
                pass
            except Exception as error:  # reported in the figures, never hidden
                log["errors"].append(f"{type(error).__name__}: {error}")
        time.sleep(0.5)  # let the last notifications arrive
    Path(out).write_text(json.dumps(log))


def annotate(
    project, second, name, rng, act, record, log, team, workflow, Action, StaleEditError, region
) -> None:
    state = act(lambda: team.claim_next(project), "claim")
    if state is None:
        time.sleep(1.0)  # nothing to do: look again in a moment
        return
    if state.frame_id not in log["claims"]:  # new to this person: claimed just now
        log["claims"].append(state.frame_id)
    frame_id = state.frame_id
    act(lambda: team.acquire(project, frame_id), "lease")
    try:
        if state.status.value != "in_progress":
            act(lambda: workflow.move(project, frame_id, Action.START), "move")
            log["moves"].append([frame_id, "start"])
        for comment in workflow.comments(project, frame_id, open_only=True):  # rework
            act(lambda comment=comment: workflow.resolve_comment(project, comment.id), "comment")
        x = rng.uniform(0, 900)
        added = act(
            lambda: project.add_objects(
                frame_id, [region(26, x, 10, x + 50, 60), region(24, x, 100, x + 20, 160)]
            ),
            "add",
        )
        for obj in added:
            record(obj)
        stale = second.objects(frame_id)  # the second window reads the frame now...
        edited = dataclasses.replace(added[0], label_id=rng.choice([26, 27, 28]))
        act(lambda: project.update_objects([edited]), "edit")
        record(edited)
        # ...and writes back what it read, unaware of the edit since: must be refused
        old = next(o for o in stale if o.uid == edited.uid)
        try:
            second.update_objects([dataclasses.replace(old, label_id=33)])
            log["stale_accepted"] += 1
        except StaleEditError:
            log["stale_refused"] += 1
        act(lambda: workflow.move(project, frame_id, Action.FINISH), "move")
        log["moves"].append([frame_id, "finish"])
    finally:
        act(lambda: team.release(project, frame_id), "lease")


def review(
    project,
    name,
    rng,
    act,
    record,
    log,
    team,
    workflow,
    Action,
    CommentCategory,
    WorkflowError,
    Box,
) -> None:
    queue = [s for s in workflow.review_queue(project, name) if s.status.value == "done"]
    if not queue:
        time.sleep(1.0)
        return
    state = rng.choice(queue[:5])
    frame_id = state.frame_id
    try:
        act(lambda: workflow.move(project, frame_id, Action.START_REVIEW), "move")
    except WorkflowError:  # another reviewer took it a moment ago: refused, not lost
        return
    log["moves"].append([frame_id, "start_review"])
    act(lambda: team.acquire(project, frame_id), "lease")
    try:
        live = project.objects(frame_id).live()
        if live and rng.random() < 0.5:
            fixed = dataclasses.replace(live[-1], label_id=rng.choice([24, 25]))
            act(lambda: project.update_objects([fixed]), "edit")
            record(fixed)
        if rng.random() < 0.3:
            comment = act(
                lambda: workflow.add_comment(
                    project, frame_id, CommentCategory.WRONG_LABEL, Box(10, 10, 40, 40), "check"
                ),
                "comment",
            )
            log["comments"].append(comment.id)
            act(
                lambda: workflow.move(project, frame_id, Action.REJECT, reason="see comment"),
                "move",
            )
            log["moves"].append([frame_id, "reject"])
        else:
            act(lambda: workflow.move(project, frame_id, Action.ACCEPT), "move")
            log["moves"].append([frame_id, "accept"])
    finally:
        act(lambda: team.release(project, frame_id), "lease")


# -- checking ------------------------------------------------------------------------------


def check(location: str, logs: list[dict[str, Any]]) -> dict[str, int]:
    """Compare the database with what each process was told was stored."""
    from collections import Counter

    import sqlalchemy as sa

    from roadmark.io import workflow_tables as wt
    from roadmark.io.store import Project

    with Project.open(location, read_only=True) as project, project.reading() as conn:
        objects = {
            row.id: row
            for row in conn.execute(sa.text("SELECT id, label_id, x0, y0, x1, y1 FROM objects"))
        }
        comment_ids = set(conn.execute(sa.select(wt.review_comments.c.id)).scalars())
        events = Counter(
            (row.frame_id, row.action, row.user_name)
            for row in conn.execute(
                sa.select(
                    wt.frame_events.c.frame_id,
                    wt.frame_events.c.action,
                    wt.frame_events.c.user_name,
                )
            )
        )
    # The last acknowledged state of each object, by time over all processes, must be the
    # one stored.
    last: dict[int, list[Any]] = {}
    for log in logs:
        for uid, (at, label_id, bounds) in log["objects"].items():
            if int(uid) not in last or at > last[int(uid)][0]:
                last[int(uid)] = [at, label_id, bounds]
    lost = 0
    for uid, (_at, label_id, bounds) in last.items():
        row = objects.get(uid)
        if row is None or row.label_id != label_id or [row.x0, row.y0, row.x1, row.y1] != bounds:
            lost += 1
    lost += sum(1 for log in logs for cid in log["comments"] if cid not in comment_ids)
    moves = Counter((f, a, log["name"]) for log in logs for f, a in log["moves"])
    lost += sum(max(0, n - events[key]) for key, n in moves.items())
    lost += sum(log["stale_accepted"] for log in logs)
    claims = Counter(f for log in logs for f in log["claims"])
    return {"lost_writes": lost, "double_claims": sum(1 for n in claims.values() if n > 1)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    people = [(f"p{i:02d}", "reviewer" if i % 4 == 3 else "annotator") for i in range(args.people)]
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="roadmark-team-")))
        if args.backend == "postgresql":
            from tests.pgcluster import cluster

            running = stack.enter_context(cluster(max_connections=4 * args.people + 20))
            location = running.new_database()
        else:
            location = str(tmp / "team.roadmark")
        build(location, tmp, args.frames, people)
        events = [ctx.Event() for _ in people]
        # Processes import roadmark and connect first; the clock starts for all at once.
        start_at = time.time() + args.startup
        processes = [
            ctx.Process(
                target=person,
                args=(
                    location,
                    str(tmp),
                    name,
                    role,
                    start_at,
                    args.seconds,
                    args.think,
                    i,
                    str(tmp / f"{name}.json"),
                    events[i],
                ),
            )
            for i, (name, role) in enumerate(people)
        ]
        for process in processes:
            process.start()
        for process in processes:
            process.join(timeout=args.startup + args.seconds + 120)
        not_ready = sum(1 for e in events if not e.is_set())
        logs = [
            json.loads((tmp / f"{name}.json").read_text())
            for name, _ in people
            if (tmp / f"{name}.json").exists()
        ]
        checked = check(location, logs)
    commit = [v for log in logs for v in log["commit_ms"]]
    notify = [v for log in logs for v in log["notify_ms"]]
    figures = {
        "backend": args.backend,
        "load_average_1min_at_end": round(os.getloadavg()[0], 1),
        "cpus": os.cpu_count(),
        "people": args.people,
        "seconds": args.seconds,
        "think_s": args.think,
        "processes_finished": len(logs),
        "late_starters": not_ready,
        "actions": len(commit),
        "claims": sum(len(log["claims"]) for log in logs),
        "lost_writes": checked["lost_writes"],
        "double_claims": checked["double_claims"],
        "stale_edits_refused": sum(log["stale_refused"] for log in logs),
        "locked_failures": sum(log["locked"] for log in logs),
        "errors": sum(len(log["errors"]) for log in logs),
        "error_examples": sorted({e for log in logs for e in log["errors"]})[:5],
        "commit_p50_ms": _round(percentile(commit, 50)),
        "commit_p95_ms": _round(percentile(commit, 95)),
        "commit_p95_ms_by_action": {
            what: _round(
                percentile([v for log in logs for v in log["by_action"].get(what, [])], 95)
            )
            for what in sorted({w for log in logs for w in log.get("by_action", {})})
        },
        "notify_samples": len(notify),
        "notify_p95_ms": _round(percentile(notify, 95)),
    }
    figures["targets"] = {
        "lost_writes_0": figures["lost_writes"] == 0,
        "double_claims_0": figures["double_claims"] == 0,
        "no_locked_failures": figures["locked_failures"] == 0,
        "commit_p95_le_100ms": (figures["commit_p95_ms"] or 0) <= TARGET_COMMIT_P95_MS,
    }
    if args.backend == "postgresql":
        figures["targets"]["notify_p95_le_2000ms"] = (
            figures["notify_p95_ms"] is not None
            and figures["notify_p95_ms"] <= TARGET_NOTIFY_P95_MS
        )
    return figures


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--frames", type=int, default=400)
    parser.add_argument(
        "--think", type=float, default=1.0, help="mean seconds a person takes between actions"
    )
    parser.add_argument(
        "--startup", type=float, default=30.0, help="seconds the processes get to start"
    )
    print(json.dumps(run(parser.parse_args()), indent=1))


if __name__ == "__main__":
    main()
