"""The objects list follows edits row by row (issue #21): a new object on top inserts one
row, deletions remove rows, and the list's rows, places and selection stay consistent."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import shapely

from roadmark.app.main_window import MainWindow
from roadmark.core.annotation import AnnotationObject, Provenance
from tests.app.conftest import show


def rows_consistent(window: MainWindow) -> None:
    dock, document = window.objects_dock, window.editor.document
    assert document is not None
    model = dock.model
    assert [o.uid for o in model.rows] == [o.uid for o in reversed(document.live())]
    for row, obj in enumerate(model.rows):
        assert obj.uid is not None and model.row_of(obj.uid) == row
        assert obj is document.get(obj.uid)
    selected = sorted(i.row() for i in dock.view.selectionModel().selectedRows())
    assert selected == sorted(model.row_of(uid) for uid in document.selection)


def test_rows_follow_objects_added_on_top_deleted_and_selected(qtbot, small_project: Path):
    window = MainWindow.open_project(str(small_project), frame=0)
    qtbot.addWidget(window)
    show(qtbot, window)
    document = window.editor.document
    assert document is not None
    model = window.objects_dock.model
    resets: list[int] = []
    model.modelReset.connect(lambda: resets.append(1))
    provenance = Provenance.new("human", "t")
    added = []
    for k in range(5):  # as the session mirrors new strokes: objects added on top
        obj = AnnotationObject(7, shapely.box(5 + k, 5, 20 + k, 20), provenance, uid=10_000 + k)
        document.apply_added([obj])
        added.append(obj)
        document.select([obj.uid])
        rows_consistent(window)
        assert model.row_of(obj.uid) == 0
    moved = replace(added[2], geometry=shapely.box(30, 30, 40, 40))
    document.apply_updated([moved])
    assert model.rows[model.row_of(moved.uid)] is moved
    document.select([added[0].uid, added[3].uid])
    rows_consistent(window)
    document.apply_updated([replace(added[3], deleted=True)])
    rows_consistent(window)
    assert model.row_of(added[3].uid) is None
    assert resets == []  # every change went row by row
    window.close()
