"""The project window as features see it.

A feature module (``roadmark.app.features``) receives a :class:`ProjectWindow` in its
``install(window)`` and uses only what is declared here: the project and its observable
:class:`~roadmark.app.state.ProjectState`, the editor, session, canvas, action registry and
frame loader, and the methods below (open a frame, add a dock or a tool, show an error,
stop a job on close, open another window). The concrete window
(:class:`~roadmark.app.main_window.MainWindow`) builds these and installs the features;
no feature imports it, and none reaches into another feature's widgets.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMessageBox, QToolBar

from roadmark.annotators.editor import Editor
from roadmark.app.canvas.view import FrameCanvas
from roadmark.app.errors import error_text
from roadmark.app.frame_filter import FrameFilterBar
from roadmark.app.shortcuts import ActionRegistry
from roadmark.app.state import ProjectState
from roadmark.core.session import EditSession
from roadmark.io.frames import FrameLoader
from roadmark.io.store import Project


class ProjectWindow(QMainWindow):
    """A window showing one project, with the members features may use.

    Attributes:
        project: The open project.
        state: Frames, statuses, assignees, the open frame and the predictions revision;
            features read it and write through it (never through the frame list).
        editor: The editor of the open frame.
        session: The edit session (history, change events).
        canvas: The frame canvas (features add scene items and redraw it).
        actions: The action registry (bind handlers to registered action ids).
        loader: Reads frame images.
        frame_filter: The status and assignee filter above the filmstrip.
        last_error: The last error shown (tests read it).
    """

    editor: Editor
    session: EditSession
    canvas: FrameCanvas
    # The registry shadows QWidget.actions(), which nothing calls on a project window.
    actions: ActionRegistry  # type: ignore[assignment]
    loader: FrameLoader
    toolbar: QToolBar
    frame_filter: FrameFilterBar

    def __init__(self, project: Project) -> None:
        super().__init__()
        self.project = project
        self.state = ProjectState(project, self)
        self.last_error: str | None = None
        self._error_box: QMessageBox | None = None
        self._closing: list[Callable[[], object]] = []
        # While set, a frame shown waits for its regions instead of showing its image
        # first (see roadmark.app.canvas.opening): set by show_frame.
        self.wait_for_regions = False

    # -- what the concrete window provides -------------------------------------------------

    @abstractmethod
    def select_row(self, row: int) -> None:
        """Show the frame at filmstrip position ``row`` (clamped to the list)."""

    @abstractmethod
    def shown_image(self, frame_id: int) -> np.ndarray | None:
        """The decoded image of frame ``frame_id`` while it is the one shown, else ``None``."""

    @abstractmethod
    def reread_frames(self) -> None:
        """The store's frames changed underneath (an import): forget what was prepared,
        read the frame list again and show the open frame (or the first) afresh."""

    @abstractmethod
    def open_window(self, location: str, *, frame: int | None = None) -> ProjectWindow:
        """Open the project at ``location`` in a new window of this kind (not shown yet),
        at filmstrip position ``frame`` or the frame last shown there."""

    # -- shared by every window --------------------------------------------------------------

    def show_frame(self, frame_id: int) -> bool:
        """Show frame ``frame_id`` with its document open on return (features zoom to and
        select objects right after); ``False`` when it is not in the filmstrip."""
        row = self.state.row_of(frame_id)
        if row is None:
            return False
        self.wait_for_regions = True
        try:
            self.select_row(row)
        finally:
            self.wait_for_regions = False
        return True

    def add_dock(self, dock: QDockWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        """Add a dock and a View-menu toggle for it (docks on the right become tabs beside
        Attributes)."""
        self.addDockWidget(area, dock)
        self.actions.menu("View").addAction(dock.toggleViewAction())
        return dock

    def add_tool_action(self, action: QAction) -> None:
        """Put a tool's action on the tool bar, after the built-in tools."""
        separator = next((a for a in self.toolbar.actions() if a.isSeparator()), None)
        if separator is None:
            self.toolbar.addAction(action)
        else:
            self.toolbar.insertAction(separator, action)

    def on_close(self, stop: Callable[[], object]) -> None:
        """Call ``stop`` when the window closes, before the project is closed (features stop
        their background jobs with it)."""
        self._closing.append(stop)

    def run_closing(self) -> None:
        """Call what :meth:`on_close` collected, newest first (the window is closing)."""
        for stop in reversed(self._closing):
            stop()

    def guard(self, handler: Callable[[], object]) -> Callable[[], None]:
        """``handler`` as an action callback: an error is shown, not raised into Qt (a bug's
        traceback is logged as well)."""

        def run() -> None:
            try:
                handler()
            except Exception as error:  # every failure reaches the person
                self.show_error(error_text(error))

        return run

    def show_error(self, message: str) -> None:
        """Tell the user an action failed: in the status bar and a (non-blocking) box."""
        self.statusBar().showMessage(message, 8000)
        self.last_error = message
        if self._error_box is None:
            self._error_box = QMessageBox(QMessageBox.Icon.Warning, "roadmark", "", parent=self)
            self._error_box.setModal(False)
        self._error_box.setText(message)
        self._error_box.show()
