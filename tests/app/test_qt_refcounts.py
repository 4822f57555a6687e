from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal

from roadmark.app import qt_refcounts


class Source(QObject):
    moved = Signal(float, float)


def test_many_calls_and_emits_do_not_exhaust_none_or_true(qapp):
    source = Source()
    source.moved.connect(lambda x, y: None)
    padded = qt_refcounts.install()
    assert padded == (sys.version_info < (3, 12) and qt_refcounts._installed)
    # Far more calls than None or True have references in a fresh interpreter: without
    # the guard, PySide6 6.12.0 on Python 3.11 aborts the process here.
    for i in range(300_000):
        source.setObjectName("x")
        source.moved.emit(float(i), 1.0)
    if padded:
        assert sys.getrefcount(None) > qt_refcounts.PAD // 2
