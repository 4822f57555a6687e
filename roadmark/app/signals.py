"""Emitting Qt signals from Python safely.

PySide6 6.12 on CPython 3.11 returns the boolean result of ``SignalInstance.emit`` without
taking a reference to it, so every ``signal.emit(...)`` made from Python costs one
reference to ``True``; after a few thousand emissions (the cursor position is emitted on
every mouse move) the interpreter aborts with "Fatal Python error: bool_dealloc". On
CPython 3.12 and later ``True`` is immortal and the missing reference is harmless.

:func:`emit` emits and gives the reference back when a probe at import time shows the
bug. Every ``.emit`` in ``roadmark.app`` goes through it.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

from PySide6.QtCore import QObject, Signal, SignalInstance

_PROBES = 16


class _Probe(QObject):
    fired = Signal()


def _emit_drops_a_reference() -> bool:
    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(_PROBES):
        probe.fired.emit()
    return before - sys.getrefcount(True) >= _PROBES // 2


_COMPENSATE = _emit_drops_a_reference()
if _COMPENSATE:
    # The probe took _PROBES references; give them back.
    for _ in range(_PROBES):
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(True))


def emit(signal: SignalInstance, *args: Any) -> None:
    """``signal.emit(*args)``, keeping the interpreter's reference counts right."""
    result = signal.emit(*args)
    if _COMPENSATE and isinstance(result, bool):
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(result))
