"""A guard against a reference-counting bug of PySide6 6.12.0 on CPython 3.11.

With that combination every call of a C++ method that returns nothing (``widget.update()``,
``painter.setPen(...)``) hands ``None`` back to Python without a reference, and
``signal.emit(...)`` does the same with ``True``. Each such call lowers the reference count
of ``None`` (or ``True``) by one; an editor session makes thousands of them a second
(painting alone does), and after a few minutes the count reaches zero and the interpreter
aborts with "Fatal Python error: none_dealloc". PySide6 6.11 does not have the bug, and on
CPython 3.12 and later ``None``, ``True`` and ``False`` are immortal, so it is harmless
there.

The guard probes for the bug once, when :mod:`roadmark.app` is imported, and if it is
present raises the reference counts of ``None``, ``True`` and ``False`` by 2**40: these
objects are never freed anyway, so extra references cost nothing, and no session can make
2**40 calls. It changes nothing where the bug is absent. The lasting fix is a PySide6
without the bug: 6.11.3 is clean on Python 3.11 (measured: no reference lost in 2,000 void
calls or emits, where 6.12.0 aborts with "bool_dealloc" within 2,000 emits), and so is any
version on Python 3.12+. ``pyproject.toml`` therefore excludes 6.12.0 on Python < 3.12; the
guard stays for environments that already have it installed.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject

PAD = 1 << 40
PROBES = 64

_installed = False


def void_calls_drop_none() -> bool:
    """Whether calling a C++ method that returns nothing costs a reference to ``None``."""
    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(PROBES):
        probe.setObjectName("probe")
    return before - sys.getrefcount(None) >= PROBES // 2


def install() -> bool:
    """Pad the reference counts of ``None``, ``True`` and ``False`` if the bug is present.

    Returns:
        Whether the counts were padded (now or by an earlier call).
    """
    global _installed
    if _installed:
        return True
    if sys.version_info >= (3, 12) or not void_calls_drop_none():
        return False
    for obj in (None, True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += PAD
    _installed = True
    return True


install()
