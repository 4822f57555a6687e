"""Edits a project through the real window until killed; prints each completed action.

Run by ``test_autosave.py`` as ``python -m tests.app.autosave_worker PROJECT COUNT``. Each
line printed (and flushed) after an action has returned is a JSON object: the uid of the
object made and its geometry, so the parent can check that it is in the store after
killing this process at an arbitrary moment. It edits the second frame, so that the
parent can also check that reopening the project returns to it.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from roadmark.app.main_window import MainWindow
from roadmark.app.run import application
from roadmark.core.annotation import Box
from tests.app.conftest import click, drag


def main(project: str, count: int) -> None:
    application()
    window = MainWindow.open_project(project, frame=1)  # the second frame, empty
    window.resize(1000, 700)
    window.show()
    canvas = window.canvas
    canvas.fit()
    document = window.editor.document
    assert document is not None
    for i in range(count):
        before = len(document.live())
        window.editor.clear_selection()  # draw new objects, not edit the last one
        x = 4 + (i * 7) % 120
        y = 4 + (i * 5) % 60
        if i % 2 == 0:
            window.editor.set_tool("box")
            drag(canvas, [(x, y), (x + 10, y + 8), (x + 20, y + 16)])
        else:
            window.editor.set_tool("polygon")
            for px, py in [(x, y), (x + 18, y), (x + 18, y + 14)]:
                click(canvas, px, py)
            QTest.keyClick(canvas, Qt.Key.Key_Return)
        assert len(document.live()) == before + 1
        obj = document.live()[-1]
        geometry = (
            list(obj.geometry.__dict__.values())
            if isinstance(obj.geometry, Box)
            else obj.geometry.wkt
        )
        print(json.dumps({"uid": obj.uid, "geometry": geometry}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
