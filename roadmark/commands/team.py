"""Team project commands: ``copy``, ``config image-root``, ``members`` and ``leases``.

PROJECT is a ``.roadmark`` file or a PostgreSQL URL (``postgresql://HOST/DATABASE``); the
password comes from ``PGPASSWORD``, ``~/.pgpass`` or a service file and is never printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    copy = subparsers.add_parser(
        "copy",
        help="copy a whole project between SQLite and PostgreSQL",
        description="Copy every table of SRC (frames, labels, predictions, history, "
        "workflow, comments, time records, members) into DST, a new .roadmark file or an "
        "empty PostgreSQL database, in one transaction; row counts are checked before it "
        "commits.",
    )
    copy.add_argument("source", metavar="SRC", help="project file or database URL")
    copy.add_argument("target", metavar="DST", help="new project file or empty database URL")
    copy.set_defaults(handler=cmd_copy)

    config = subparsers.add_parser("config", help="per-machine settings of a project")
    config_sub = config.add_subparsers(dest="setting", metavar="SETTING", required=True)
    root = config_sub.add_parser(
        "image-root",
        help="where this machine finds the project's images (show, set or --clear)",
    )
    root.add_argument("project", help="project file or database URL")
    root.add_argument("path", nargs="?", type=Path, help="local folder the images are under")
    root.add_argument("--clear", action="store_true", help="forget this machine's mapping")
    root.set_defaults(handler=cmd_image_root)

    members = subparsers.add_parser(
        "members", help="list, add or remove members and their roles (leads only)"
    )
    members.add_argument("project")
    change = members.add_mutually_exclusive_group()
    change.add_argument("--add", metavar="USER", help="add USER (or change their role)")
    change.add_argument("--remove", metavar="USER", help="remove USER")
    members.add_argument("--role", help="annotator | reviewer | lead (with --add)")
    members.add_argument("--user", metavar="NAME", help="act as NAME (default: the setting)")
    members.add_argument("--json", action="store_true", help="print JSON")
    members.set_defaults(handler=cmd_members)

    leases = subparsers.add_parser(
        "leases", help="who is editing which frame; --break N frees a frame (leads only)"
    )
    leases.add_argument("project")
    leases.add_argument("--break", dest="break_at", type=int, metavar="N", help="frame position")
    leases.add_argument("--user", metavar="NAME", help="act as NAME (default: the setting)")
    leases.add_argument("--json", action="store_true", help="print JSON")
    leases.set_defaults(handler=cmd_leases)


def cmd_copy(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from roadmark.io.copy import copy_project

    with tqdm(unit="row", desc="copying", file=sys.stderr, disable=None, leave=False) as bar:
        last: dict[str, int] = {}

        def progress(table: str, done: int) -> None:
            bar.set_postfix_str(table, refresh=False)
            bar.update(done - last.get(table, 0))
            last[table] = done

        result = copy_project(args.source, args.target, progress=progress)
    rows = result.rows
    print(
        f"copied {result.source} to {result.target}: {rows['frames']} frames, "
        f"{rows['objects']} objects, {rows['predictions']} predictions, "
        f"{sum(rows.values())} rows in {len(rows)} tables (counts checked)"
    )
    print(f"image root on this machine: {result.image_root}")
    return 0


def cmd_image_root(args: argparse.Namespace) -> int:
    from roadmark.core.errors import RoadmarkError
    from roadmark.io.locations import canonical, image_root, set_image_root

    key = canonical(args.project)
    if args.clear and args.path is not None:
        raise RoadmarkError("give a PATH or --clear, not both", field="image-root")
    if args.clear:
        set_image_root(key, None)
        print(f"{key}: image root mapping removed")
    elif args.path is not None:
        set_image_root(key, args.path)
        print(f"{key}: images are under {image_root(key)} on this machine")
    else:
        found = image_root(key)
        print(f"{key}: {found if found else 'no image root set on this machine'}")
    return 0


def cmd_members(args: argparse.Namespace) -> int:
    from roadmark.core.errors import RoadmarkError
    from roadmark.io.roles import parse_role
    from roadmark.io.store import Project
    from roadmark.io.team import members, set_member

    if args.role and not args.add:
        raise RoadmarkError("--role goes with --add USER", field="--role")
    if args.add and not args.role:
        raise RoadmarkError("give the role of the new member", field="--role")
    writing = bool(args.add or args.remove)
    with Project.open(args.project, user=args.user, read_only=not writing) as project:
        if args.add:
            set_member(project, args.add, parse_role(args.role))
        elif args.remove:
            set_member(project, args.remove, None)
        found = members(project)
    if args.json:
        print(json.dumps({name: role.value for name, role in found.items()}, indent=1))
    elif not found:
        print("no members: everyone may do everything (add a lead to make it a team project)")
    else:
        for name, role in sorted(found.items()):
            print(f"{name}  {role.value}")
    return 0


def cmd_leases(args: argparse.Namespace) -> int:
    from roadmark.io.store import Project
    from roadmark.io.team import break_lease, leases
    from roadmark.io.workflow import select_frames

    writing = args.break_at is not None
    with Project.open(args.project, user=args.user, read_only=not writing) as project:
        frames = project.frames()
        positions = {frame.id: index for index, frame in enumerate(frames)}
        if writing:
            frame = select_frames(frames, str(args.break_at))[0]
            broken = break_lease(project, frame.id)
            print(
                f"frame {args.break_at}: "
                + (f"broke the lease of {broken.user} ({broken.machine})" if broken else "no lease")
            )
            return 0
        found = leases(project)
    rows = [
        {
            "position": positions[lease.frame_id],
            "user": lease.user,
            "machine": lease.machine,
            "since": lease.since.isoformat(),
            "expires": lease.expires,
        }
        for lease in found
    ]
    if args.json:
        print(json.dumps(rows, indent=1))
    elif not rows:
        print("nobody is editing a frame")
    else:
        for lease, row in zip(found, rows, strict=True):
            print(f"{row['position']:>5}  {lease.describe}")
    return 0
