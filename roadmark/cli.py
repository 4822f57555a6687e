"""The ``roadmark`` command line (the contract in DESIGN.md).

Each command lives in a module of :mod:`roadmark.commands` with a ``register(subparsers)``
function; heavy imports (Qt, torch, the database) happen inside the handlers, so
``roadmark --help`` and the GUI start quickly. Every :class:`RoadmarkError` becomes one
line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from roadmark import __version__
from roadmark.core.errors import RoadmarkError

COMMAND_MODULES = (
    "roadmark.commands.project",
    "roadmark.commands.gui",
    "roadmark.commands.workflow",
    "roadmark.commands.formats",
    "roadmark.commands.audit",
    "roadmark.commands.train",
    "roadmark.commands.model",
    "roadmark.commands.prelabel",
    "roadmark.commands.team",
    "roadmark.commands.smart",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="roadmark",
        description="Model-assisted ground truth for driving perception. "
        "Without a command, opens the start screen.",
    )
    parser.add_argument("--version", action="version", version=f"roadmark {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        from roadmark.commands.gui import run_start_screen

        handler = run_start_screen
    try:
        return int(handler(args) or 0)
    except RoadmarkError as error:
        print(f"roadmark: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("roadmark: interrupted", file=sys.stderr)
        return 130
