from __future__ import annotations

import gc
import sys

from PySide6.QtCore import QObject, Signal

from roadmark.app.signals import emit


class Source(QObject):
    moved = Signal(float, float)


def test_emitting_many_times_keeps_reference_counts(qapp):
    source = Source()
    heard = []
    source.moved.connect(lambda x, y: heard.append((x, y)))
    gc.collect()
    before = sys.getrefcount(True)
    for i in range(5000):
        emit(source.moved, float(i), 1.0)
    assert len(heard) == 5000
    gc.collect()
    assert sys.getrefcount(True) >= before - 50  # without the fix: before - 5000, then abort
