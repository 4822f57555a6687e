"""How a failed GUI action reaches the person using the window.

A :class:`~roadmark.core.errors.RoadmarkError` already says what went wrong in one line.
Anything else is a bug; it must still reach the person (a status message and a box),
never only stderr, and the traceback goes to the log for the bug report.
"""

from __future__ import annotations

import logging

from roadmark.core.errors import RoadmarkError

log = logging.getLogger("roadmark.app")


def error_text(error: Exception, action: str = "") -> str:
    """One line for the user about ``error`` (the traceback of a bug is logged)."""
    if isinstance(error, RoadmarkError):
        return str(error)
    log.error("unexpected error%s", f" in {action}" if action else "", exc_info=error)
    where = f" in {action}" if action else ""
    return f"Unexpected error{where}: {type(error).__name__}: {error} (please report it)"
