"""``roadmark`` (start screen), ``roadmark open`` and ``roadmark demo``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from roadmark.io.store import Project


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    open_ = subparsers.add_parser("open", help="open a project in the GUI")
    open_.add_argument("project")
    _add_view_options(open_)
    open_.set_defaults(handler=cmd_open)

    demo = subparsers.add_parser("demo", help="open the bundled demo project (made on first run)")
    _add_view_options(demo)
    demo.add_argument("--rebuild", action="store_true", help="make the demo project anew")
    demo.set_defaults(handler=cmd_demo)


def _add_view_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frame", type=int, metavar="N", help="show frame N (0-based position)")
    parser.add_argument(
        "--screenshot", type=Path, metavar="PNG", help="render the window to PNG and exit"
    )


def cmd_open(args: argparse.Namespace) -> int:
    from roadmark.app.run import run_gui
    from roadmark.io.store import Project

    # Open once here so a bad project fails with one line before Qt starts.
    Project.open(args.project).close()
    return run_gui(args.project, frame=args.frame, screenshot=args.screenshot)


def cmd_demo(args: argparse.Namespace) -> int:
    from roadmark.app.run import run_gui
    from roadmark.io.demo_project import DEMO_LABELED, demo_folder, ensure_demo_project

    fresh = args.rebuild or not (demo_folder() / "demo.roadmark").is_file()
    path = ensure_demo_project(rebuild=args.rebuild, log=print, prelabel=prelabel_demo_project)
    # A first look opens on the first pre-labeled frame, where the model's layers and the
    # review queue show; later runs return to the frame the user left.
    frame = DEMO_LABELED if args.frame is None and fresh else args.frame
    return run_gui(str(path), frame=frame, screenshot=args.screenshot)


def prelabel_demo_project(project: Project) -> None:
    """Pre-label the new demo project's unlabeled frames with the bundled demo model."""
    from roadmark.models.demo_model import prelabel_demo

    result = prelabel_demo(project)
    print(f"pre-labeled {result.predicted} frames on {result.device}")


def run_start_screen(args: argparse.Namespace) -> int:
    from roadmark.app.run import run_gui

    return run_gui(None)
