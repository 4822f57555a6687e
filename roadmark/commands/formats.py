"""``roadmark import`` and ``roadmark export``: datasets in and out (COCO, Cityscapes, ...)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from roadmark.core.jobs import CancelToken

MAX_WARNINGS = 20


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    imp = subparsers.add_parser(
        "import",
        help="import a dataset (labels, and its images as frames when they are new)",
        description="Import a dataset into a project in one transaction: nothing is written "
        "unless the whole import succeeds.",
    )
    imp.add_argument("project", help="the .roadmark file")
    imp.add_argument("source", type=Path, metavar="SRC", help="dataset file or folder")
    imp.add_argument("--format", required=True, metavar="FMT", help="coco, cityscapes, ...")
    imp.add_argument(
        "--images", type=Path, metavar="DIR", help="where the images are (default: next to SRC)"
    )
    imp.add_argument(
        "--masks",
        type=Path,
        metavar="DIR",
        help="coco-panoptic: the folder of segment PNGs (default: beside SRC, named like it)",
    )
    imp.add_argument(
        "--add-labels", action="store_true", help="add labels the project's schema lacks"
    )
    imp.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="FROM=TO",
        help="import dataset label FROM as schema label TO (repeatable)",
    )
    imp.add_argument(
        "--replace",
        action="store_true",
        help="replace the objects of frames that have some (default: add on top)",
    )
    imp.set_defaults(handler=cmd_import)

    exp = subparsers.add_parser(
        "export",
        help="export frames to a dataset",
        description="Export to a new file or folder; nothing is left behind if it fails.",
    )
    exp.add_argument("project", help="the .roadmark file")
    exp.add_argument(
        "out", type=Path, metavar="OUT", help="folder (or .json file for coco, coco-panoptic)"
    )
    exp.add_argument("--format", required=True, metavar="FMT", help="coco, cityscapes, ...")
    exp.add_argument("--frames", metavar="SPEC", help="frame positions, like 0-9,15 (default: all)")
    exp.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    exp.add_argument(
        "--link-images",
        action="store_true",
        help="hard-link source images that need no conversion instead of copying them (fast, "
        "but the export then shares those files with the project's sources)",
    )
    exp.set_defaults(handler=cmd_export)


@contextmanager
def _progress_job() -> Iterator[Any]:
    from tqdm import tqdm

    from roadmark.io.formats.common import Job

    with tqdm(unit="frame", leave=False, disable=None, file=sys.stderr) as bar:

        shown = {"stage": ""}

        def progress(done: int, total: int, stage: str = "") -> None:
            if stage != shown["stage"]:
                shown["stage"] = stage
                bar.set_description(stage)
            if bar.total != total:
                bar.reset(total=total)
            bar.update(done - bar.n)

        yield Job(progress=progress)


@contextmanager
def _interrupt_requests() -> Iterator[CancelToken]:
    """A cancel token that the first Ctrl+C cancels (a second one interrupts at once).

    Only the main thread receives signals; elsewhere the token is never cancelled.
    """
    from roadmark.core.jobs import CancelToken

    stop = CancelToken()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def on_interrupt(signum: int, frame: object) -> None:
        if stop.cancelled:
            raise KeyboardInterrupt
        stop.cancel()

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def _print_warnings(warnings: Sequence[object]) -> None:
    for warning in warnings[:MAX_WARNINGS]:
        print(f"roadmark: warning: {warning}", file=sys.stderr)
    if len(warnings) > MAX_WARNINGS:
        print(
            f"roadmark: warning: ... and {len(warnings) - MAX_WARNINGS} more warnings",
            file=sys.stderr,
        )


def cmd_import(args: argparse.Namespace) -> int:
    from roadmark.core.jobs import JobCancelled
    from roadmark.io.formats.common import parse_mapping
    from roadmark.io.formats.jobs import import_dataset
    from roadmark.io.store import Project

    mapping = parse_mapping(args.map)
    with (
        Project.open(args.project) as project,
        _progress_job() as job,
        _interrupt_requests() as stop,
    ):
        # Ctrl+C stops the import at its next check, before it commits; one that comes
        # after the commit changes nothing, so the import is reported as done.
        job.cancel = stop
        try:
            report = import_dataset(
                project,
                args.format,
                args.source,
                images=args.images,
                add_labels=args.add_labels,
                mapping=mapping,
                replace=args.replace,
                masks=args.masks,
                job=job,
            )
        except JobCancelled:
            if not stop.cancelled:
                raise
            print("roadmark: interrupted; nothing was imported", file=sys.stderr)
            return 130
    _print_warnings(report.warnings)
    added = f"; labels added: {', '.join(report.labels_added)}" if report.labels_added else ""
    print(
        f"imported {report.objects} objects on {report.frames} frames "
        f"({report.frames_added} new) from {report.source}{added}"
    )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from roadmark.io.formats.jobs import export_dataset
    from roadmark.io.store import Project

    with Project.open(args.project, read_only=True) as project, _progress_job() as job:
        report = export_dataset(
            project,
            args.format,
            args.out,
            frames=args.frames,
            overwrite=args.overwrite,
            link_images=args.link_images,
            job=job,
        )
    _print_warnings(report.warnings)
    print(
        f"exported {report.objects} objects on {report.frames} frames to {report.target} "
        f"({report.format})"
    )
    return 0
