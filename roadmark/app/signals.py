"""Emitting Qt signals from Python.

``emit(signal, *args)`` is ``signal.emit(*args)``. It exists because PySide6 6.12.0 on
CPython 3.11 returns the result of ``emit`` without a reference; the process-wide guard in
:mod:`roadmark.app.qt_refcounts` (installed when :mod:`roadmark.app` is imported) makes
plain ``signal.emit(...)`` safe as well, so new code may use either.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import SignalInstance


def emit(signal: SignalInstance, *args: Any) -> None:
    """Emit ``signal`` with ``args``."""
    signal.emit(*args)
