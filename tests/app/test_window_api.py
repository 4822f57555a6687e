"""What features may use of the window (roadmark.app.window_api.ProjectWindow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtGui import QAction

from roadmark.app.main_window import MainWindow
from roadmark.app.window_api import ProjectWindow
from tests.app.conftest import show


def _window(qtbot, path: Path, frame: int = 0) -> MainWindow:
    window = MainWindow.open_project(str(path), frame=frame, prefetch=False)
    qtbot.addWidget(window)
    show(qtbot, window)
    return window


def test_open_frames_by_id_and_read_the_shown_image(qtbot, small_project: Path):
    window = _window(qtbot, small_project)
    assert isinstance(window, ProjectWindow)
    ids = [f.id for f in window.state.frames]
    assert window.show_frame(ids[2]) is True
    assert window.current_row == 2 and window.state.current_frame_id == ids[2]
    assert window.show_frame(max(ids) + 100) is False and window.current_row == 2
    image = window.shown_image(ids[2])
    assert isinstance(image, np.ndarray) and image.shape[:2] == (90, 160)
    assert window.shown_image(ids[0]) is None  # not the frame shown


def test_tool_actions_go_after_the_built_in_tools(qtbot, small_project: Path):
    window = _window(qtbot, small_project)
    action = QAction("Mine", window)
    window.add_tool_action(action)
    actions = window.toolbar.actions()
    first_separator = next(i for i, a in enumerate(actions) if a.isSeparator())
    assert actions.index(action) == first_separator - 1


def test_closing_calls_the_stops_newest_first(qtbot, small_project: Path):
    window = _window(qtbot, small_project)
    calls: list[str] = []
    window.on_close(lambda: calls.append("first"))
    window.on_close(lambda: calls.append("second"))
    window.close()
    assert calls[-2:] == ["second", "first"]


def test_reread_frames_shows_the_open_frame_afresh(qtbot, small_project: Path):
    window = _window(qtbot, small_project, frame=1)
    frame_id = window.state.current_frame_id
    before = window.editor.document
    window.reread_frames()
    assert window.state.current_frame_id == frame_id and window.current_row == 1
    assert window.editor.document is not before  # read again from the store
    assert window.editor.document.frame.id == frame_id


def test_guard_shows_errors_instead_of_raising(qtbot, small_project: Path):
    window = _window(qtbot, small_project)

    def fail() -> None:
        raise ValueError("broken")

    window.guard(fail)()
    assert window.last_error is not None and "broken" in window.last_error
