"""The project window: frame list, frame view and status bar. It only wires parts together."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QLabel, QListView, QMainWindow, QMessageBox

from roadmark.app.canvas import FrameCanvas
from roadmark.app.frame_list import FrameListModel
from roadmark.core.errors import RoadmarkError
from roadmark.io.frames import FrameLoader
from roadmark.io.settings import Settings
from roadmark.io.store import Project

LAST_FRAME_KEY = "gui.last_frame"


class MainWindow(QMainWindow):
    """Shows one project. Reopening a project returns to the frame last shown."""

    def __init__(self, project: Project) -> None:
        super().__init__()
        self.project = project
        self.loader = FrameLoader(lambda path: project.root / path)
        self.current_row: int | None = None
        self.setWindowTitle(f"roadmark — {project.location}")

        self.canvas = FrameCanvas()
        self.setCentralWidget(self.canvas)

        self.frames = FrameListModel(project.frames())
        self.frame_view = QListView()
        self.frame_view.setModel(self.frames)
        self.frame_view.setUniformItemSizes(True)
        self.frame_view.selectionModel().currentRowChanged.connect(
            lambda current, _previous: self.show_row(current.row())
        )
        dock = QDockWidget("Frames", self)
        dock.setObjectName("frames")
        dock.setWidget(self.frame_view)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)

        self.zoom_label = QLabel()
        self.cursor_label = QLabel()
        self.under_label = QLabel()
        for label in (self.cursor_label, self.under_label, self.zoom_label):
            self.statusBar().addPermanentWidget(label)
        self.canvas.cursor_moved.connect(self._on_cursor)
        self.canvas.zoom_changed.connect(lambda zoom: self.zoom_label.setText(f"{zoom:.0%}"))
        self._make_actions()

    @classmethod
    def open_project(cls, location: str, *, frame: int | None = None) -> MainWindow:
        project = Project.open(location)
        settings = Settings.load()
        settings.add_recent(str(project.location))
        settings.save()
        window = cls(project)
        if frame is None:
            last = project.get_meta(LAST_FRAME_KEY)
            row = window.frames.row_of(int(last)) if last else None
            frame = row if row is not None else 0
        window.select_row(frame)
        return window

    def _make_actions(self) -> None:
        view = self.menuBar().addMenu("&View")
        navigate = self.menuBar().addMenu("&Frame")
        for menu, text, keys, slot in (
            (navigate, "&Next frame", ["D", "PgDown"], lambda: self.step(1)),
            (navigate, "&Previous frame", ["A", "PgUp"], lambda: self.step(-1)),
            (view, "Zoom &in", ["+", "="], lambda: self.canvas.zoom_by(1.25)),
            (view, "Zoom &out", ["-"], lambda: self.canvas.zoom_by(0.8)),
            (view, "&Fit frame", ["F"], self.canvas.fit),
            (view, "&Actual size", ["Ctrl+1"], self.canvas.actual_size),
        ):
            action = QAction(text, self)
            action.setShortcuts([QKeySequence(k) for k in keys])
            action.triggered.connect(slot)
            menu.addAction(action)

    def select_row(self, row: int) -> None:
        if self.frames.rowCount() == 0:
            self.statusBar().showMessage(
                "This project has no frames yet: roadmark add PROJECT PATH"
            )
            return
        row = max(0, min(row, self.frames.rowCount() - 1))
        self.frame_view.setCurrentIndex(self.frames.index(row))

    def step(self, delta: int) -> None:
        if self.current_row is not None:
            self.select_row(self.current_row + delta)

    def show_row(self, row: int) -> None:
        if row < 0:
            return
        frame = self.frames.frame(row)
        try:
            image = self.loader.load(frame.path, frame.video_frame)
            objects = self.project.objects(frame.id).live()
        except RoadmarkError as error:
            QMessageBox.warning(self, "Cannot show frame", str(error))
            return
        first = self.current_row is None
        self.current_row = row
        self.canvas.show_frame(image, objects, self.project.schema)
        if first:
            self.canvas.fit()
        if not self.project.read_only:
            self.project.set_meta(LAST_FRAME_KEY, str(frame.id))
        self.statusBar().showMessage(
            f"{frame.name}  {frame.width}x{frame.height}  {frame.status.value}  "
            f"{len(objects)} objects"
        )

    def _on_cursor(self, x: float, y: float) -> None:
        self.cursor_label.setText(f"x {x:7.1f}  y {y:7.1f}")
        label_id = self.canvas.label_at(x, y)
        label = self.project.schema.by_id.get(label_id) if label_id is not None else None
        self.under_label.setText(label.name if label else "")

    def closeEvent(self, event) -> None:
        self.loader.close()
        self.project.close()
        super().closeEvent(event)
