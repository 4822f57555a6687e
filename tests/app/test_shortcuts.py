"""Shortcuts: defaults, user overrides in the settings file, the cheat sheet, the picker."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtTest import QTest

from roadmark.app.label_picker import LabelPicker
from roadmark.app.main_window import MainWindow
from roadmark.app.shortcuts import (
    EDITOR_ACTIONS,
    SETTINGS_KEY,
    ActionSpec,
    ShortcutMap,
    ShortcutsDialog,
    all_actions,
    register,
)
from roadmark.core.schema import cityscapes_schema
from roadmark.io.settings import Settings
from tests.app.conftest import show


def test_defaults_have_no_conflicts_and_cover_the_frequent_actions():
    specs = all_actions(cityscapes_schema())
    shortcuts = ShortcutMap(specs)
    assert shortcuts.conflicts() == {}
    keyed = {spec.id for spec in specs if spec.keys}
    for action_id in (
        "edit.undo", "edit.redo", "edit.delete", "frame.next", "frame.previous",
        "frame.next_unlabeled", "tool.box", "tool.polygon", "tool.brush", "tool.eraser",
        "tool.fill", "object.raise", "object.lower", "view.overlay", "view.zoom_in",
        "view.fit", "label.7", "label.26", "help.shortcuts",
    ):  # fmt: skip
        assert action_id in keyed, action_id


def test_overrides_are_saved_in_the_settings_and_detect_conflicts():
    specs = all_actions(cityscapes_schema())
    shortcuts = ShortcutMap(specs)
    shortcuts.set_keys("tool.box", ["K"])
    shortcuts.set_keys("tool.polygon", list(ShortcutMap(specs).keys("tool.polygon")))
    assert shortcuts.overrides == {"tool.box": ["K"]}  # setting the default keeps no override
    shortcuts.save()
    assert Settings.load().extra[SETTINGS_KEY] == {"tool.box": ["K"]}
    loaded = ShortcutMap.load(specs)
    assert loaded.keys("tool.box") == ["K"] and loaded.keys("tool.brush") == ["B"]
    loaded.set_keys("tool.fill", ["K"])
    assert loaded.conflicts() == {"K": ["tool.box", "tool.fill"]}


def test_register_refuses_duplicate_ids():
    with pytest.raises(ValueError, match="already registered"):
        register([ActionSpec("edit.undo", "Undo again", "Edit")])


def test_the_window_uses_the_users_keys(qtbot, small_project: Path):
    settings = Settings.load()
    settings.extra[SETTINGS_KEY] = {"tool.box": ["K"], "tool.polygon": []}
    settings.save()
    window = MainWindow.open_project(str(small_project), prefetch=False)
    qtbot.addWidget(window)
    show(qtbot, window)
    assert window.actions["tool.box"].shortcuts() == [QKeySequence("K")]
    assert window.actions["tool.polygon"].shortcuts() == []
    QTest.keyClick(window, Qt.Key.Key_K)
    assert window.editor.tool.name == "box"
    QTest.keyClick(window, Qt.Key.Key_P)
    assert window.editor.tool.name == "box"  # P no longer selects the polygon tool
    window.close()


def test_cheat_sheet_lists_every_action_and_saves_edits(qtbot, small_project: Path):
    window = MainWindow.open_project(str(small_project), prefetch=False)
    qtbot.addWidget(window)
    dialog = ShortcutsDialog(window.actions, window)
    qtbot.addWidget(dialog)
    assert dialog.table.rowCount() == len(window.actions.specs) >= len(EDITOR_ACTIONS)
    names = {dialog.table.item(row, 0).text() for row in range(dialog.table.rowCount())}
    assert "Undo" in names and "Label: car" in names
    dialog.search.setText("brush")
    visible = [r for r in range(dialog.table.rowCount()) if not dialog.table.isRowHidden(r)]
    assert {dialog.table.item(r, 0).text() for r in visible} >= {"Brush", "Smaller brush"}
    fill_key, fill_second = dialog.editors["tool.fill"]
    fill_key.setKeySequence(QKeySequence("B"))  # clashes with the brush
    assert not dialog._check()
    assert "B" in dialog.message.text()
    fill_key.setKeySequence(QKeySequence("Shift+G"))
    fill_second.setKeySequence(QKeySequence("Ctrl+G"))  # the second key is editable too
    _redo_key, redo_second = dialog.editors["edit.redo"]
    assert redo_second.keySequence() == QKeySequence("Ctrl+Y")
    redo_second.clear()  # and can be removed, keeping the first
    dialog.save()
    assert window.actions["tool.fill"].shortcuts() == [
        QKeySequence("Shift+G"),
        QKeySequence("Ctrl+G"),
    ]
    assert window.actions["edit.redo"].shortcuts() == [QKeySequence("Ctrl+Shift+Z")]
    saved = Settings.load().extra[SETTINGS_KEY]
    assert saved["tool.fill"] == ["Shift+G", "Ctrl+G"] and saved["edit.redo"] == ["Ctrl+Shift+Z"]
    again = ShortcutsDialog(window.actions, window)
    qtbot.addWidget(again)
    assert again.editors["tool.fill"][1].keySequence() == QKeySequence("Ctrl+G")
    again.restore_defaults()
    again.save()
    assert window.actions["tool.fill"].shortcuts() == [QKeySequence("G")]
    assert window.actions["edit.redo"].shortcuts()[1] == QKeySequence("Ctrl+Y")
    assert SETTINGS_KEY not in Settings.load().extra or not Settings.load().extra[SETTINGS_KEY]
    window.close()


def test_label_picker_searches_and_chooses(qtbot):
    picker = LabelPicker(cityscapes_schema(), current=7, title="Choose label")
    qtbot.addWidget(picker)
    assert picker.list.currentIndex().data() == "road   [1]"
    QTest.keyClicks(picker.search, "bicy")
    QTest.keyClick(picker.search, Qt.Key.Key_Return)
    assert picker.chosen == 33
