"""Starting the GUI: the application object, the window, and ``--screenshot``."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QWidget

from roadmark.app.platform_check import check_window_system
from roadmark.app.theme import apply_dark_theme
from roadmark.core.errors import RoadmarkError


def application() -> QApplication:
    app = QApplication.instance()
    if app is None:
        check_window_system()
        app = QApplication(sys.argv[:1])
        app.setApplicationName("roadmark")
        app.setOrganizationName("roadmark")
        apply_dark_theme(app)
    return app  # type: ignore[return-value]


def save_screenshot(widget: QWidget, path: Path) -> None:
    """Render ``widget`` (offscreen works) to a PNG file.

    Raises:
        RoadmarkError: The file cannot be written.
    """
    app = application()
    app.processEvents()
    thumbnails = getattr(widget, "thumbnails", None)
    if thumbnails is not None:
        thumbnails.wait()
    for _ in range(5):
        app.processEvents()
    if not widget.grab().save(str(path)):
        raise RoadmarkError("cannot write the screenshot", path=str(path))


def run_gui(
    project: str | None, *, frame: int | None = None, screenshot: Path | None = None
) -> int:
    """Show the start screen (``project`` None) or a project; returns the exit status."""
    from roadmark.app.main_window import MainWindow
    from roadmark.app.start_screen import StartScreen

    app = application()
    window: QWidget
    if project is None:
        window = StartScreen()
    else:
        window = MainWindow.open_project(project, frame=frame)
    window.resize(1440, 860)
    window.show()
    if screenshot is not None:
        if isinstance(window, MainWindow):
            window.opener.finish()  # the picture with the frame's regions, not its image alone
        save_screenshot(window, screenshot)
        window.close()
        return 0
    QTimer.singleShot(0, window.raise_)
    return app.exec()
