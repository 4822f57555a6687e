"""The start screen of a bare ``roadmark``: recent projects, open, new, demo."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from roadmark.io.store import Project


class StartScreen(QWidget):
    """Pick a project: double-click a recent one, or open, create, or try the demo."""

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("roadmark")
        self.windows: list[QWidget] = []
        title = QLabel(
            "<div style='font-size:28px; font-weight:600'>roadmark</div>"
            "<div style='color:#9aa0a8'>Ground truth for driving perception: boxes and "
            "semantic / instance segmentation, model-assisted.</div>"
        )
        self.recent = QListWidget()
        self.recent.setSpacing(2)
        for path in Settings.load().recent_projects:
            location = Path(path)
            missing = "://" not in path and not location.exists()
            if "://" in path:  # a team project: its database name, and the URL
                name = path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or path
                text = f"{name}   (team project)\n{path}"
            else:
                text = f"{location.stem}{'   (missing)' if missing else ''}\n{location.parent}"
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, path)
            item.setToolTip(path)
            if missing:
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
            self.recent.addItem(item)
        self.recent.itemActivated.connect(
            lambda item: self.open_project(item.data(Qt.ItemDataRole.UserRole))
        )
        buttons = QHBoxLayout()
        for text, slot in (
            ("&Open project…", self._choose_project),
            ("Open &team project…", self._choose_team_project),
            ("&New project…", self._new_project),
            ("Open the &demo", self._open_demo),
        ):
            button = QPushButton(text)
            button.setMinimumHeight(34)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        column = QWidget()
        column.setMaximumWidth(760)
        inner = QVBoxLayout(column)
        inner.setSpacing(12)
        inner.addWidget(title)
        heading = QLabel("Recent projects" if self.recent.count() else "No recent projects yet")
        heading.setStyleSheet("color:#9aa0a8; margin-top:12px")
        inner.addWidget(heading)
        inner.addWidget(self.recent, 1)
        inner.addLayout(buttons)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(40, 40, 40, 40)
        layout.addStretch(1)
        layout.addWidget(column, 4)
        layout.addStretch(1)

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

    def _choose_team_project(self) -> None:
        from roadmark.app.features.team_open import TeamProjectDialog

        dialog = TeamProjectDialog(self)
        if dialog.exec() and dialog.url:
            self.open_project(dialog.url)

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
            path = ensure_demo_project(prelabel=_prelabel_demo)
        except RoadmarkError as error:
            QMessageBox.warning(self, "Cannot make the demo", str(error))
            return
        self.open_project(str(path))


def _prelabel_demo(project: Project) -> None:
    """Pre-label a new demo project with the bundled model (torch is imported only here)."""
    from roadmark.models.demo_model import prelabel_demo

    prelabel_demo(project)
