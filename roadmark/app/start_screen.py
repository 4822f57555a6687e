"""The start screen of a bare ``roadmark``: recent projects, open, new, demo."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from roadmark.core.errors import RoadmarkError
from roadmark.io.settings import Settings


class StartScreen(QWidget):
    """Pick a project: double-click a recent one, or open, create, or try the demo."""

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("roadmark")
        self.windows: list[QWidget] = []
        title = QLabel("<h1>roadmark</h1><p>Ground truth for driving perception.</p>")
        self.recent = QListWidget()
        for path in Settings.load().recent_projects:
            item = QListWidgetItem(path)
            if not Path(path).exists():
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
                item.setToolTip("missing")
            self.recent.addItem(item)
        self.recent.itemActivated.connect(lambda item: self.open_project(item.text()))
        buttons = QHBoxLayout()
        for text, slot in (
            ("&Open project…", self._choose_project),
            ("&New project…", self._new_project),
            ("Open the &demo", self._open_demo),
        ):
            button = QPushButton(text)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(QLabel("Recent projects"))
        layout.addWidget(self.recent)
        layout.addLayout(buttons)

    def open_project(self, location: str) -> None:
        from roadmark.app.main_window import MainWindow

        try:
            window = MainWindow.open_project(location)
        except RoadmarkError as error:
            QMessageBox.warning(self, "Cannot open project", str(error))
            return
        self.windows.append(window)
        window.resize(self.size().expandedTo(window.sizeHint()))
        window.show()
        self.close()

    def _choose_project(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open project", "", "roadmark (*.roadmark)")
        if path:
            self.open_project(path)

    def _new_project(self) -> None:
        from roadmark.io.store import Project

        path, _ = QFileDialog.getSaveFileName(self, "New project", "", "roadmark (*.roadmark)")
        if not path:
            return
        try:
            Project.create(path).close()
        except RoadmarkError as error:
            QMessageBox.warning(self, "Cannot create project", str(error))
            return
        self.open_project(path)

    def _open_demo(self) -> None:
        from roadmark.io.demo_project import ensure_demo_project

        try:
            path = ensure_demo_project()
        except RoadmarkError as error:
            QMessageBox.warning(self, "Cannot make the demo", str(error))
            return
        self.open_project(str(path))
