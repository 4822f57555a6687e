"""Typed signals (psygnal) for the editing model, in napari's evented-model style.

Objects that others watch (the history, a frame document, the editing session, the
editor) declare a class-level :class:`psygnal.Signal`; watchers ``connect`` to it and
``disconnect`` from it. A bound method is held by a weak reference, so a watcher that is
deleted is not kept alive by what it watched and stops hearing from it.

psygnal wraps an exception raised in a watcher in its own ``EmitLoopError``; :func:`emit`
hands the watcher's own exception to the code that made the change instead, as a plain
call of the watcher would.
"""

from __future__ import annotations

from typing import Any

from psygnal import EmitLoopError, SignalInstance

__all__ = ["emit"]


def emit(signal: SignalInstance, *args: Any) -> None:
    """Call every watcher of ``signal`` with ``args``, in the order they connected.

    Raises:
        Exception: Whatever a watcher raised (the later watchers are not called).
    """
    try:
        signal.emit(*args)
    except EmitLoopError as error:
        cause = error.__cause__
        if not isinstance(cause, Exception):
            raise
        raise cause.with_traceback(cause.__traceback__) from None
