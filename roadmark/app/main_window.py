"""The project window. It only wires: the logic lives in ``core`` (session, document,
history) and ``annotators`` (tools, editor); the widgets live in their own modules.

Layout: the filmstrip on the left, the canvas in the middle, labels, objects and
attributes on the right, tools on top, zoom, cursor and label under the cursor in the
status bar. Every edit is committed to the project at once; reopening a project returns
to the frame last shown.

Features are installed from their own modules and see the window only as a
:class:`~roadmark.app.window_api.ProjectWindow`: ``window.add_dock(dock, area)`` and
``shortcuts.register([...])`` then ``window.actions.bind(id, handler)``; what several of
them show (frames, statuses, the open frame, predictions) lives in ``window.state``
(:class:`~roadmark.app.state.ProjectState`), which the filmstrip and the status bar follow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QActionGroup, QCloseEvent, QShowEvent
from PySide6.QtWidgets import QDockWidget, QFrame, QScrollArea, QToolBar, QWidget

from roadmark.annotators.editor import Editor, EditorChange
from roadmark.app.canvas import paint_behind
from roadmark.app.canvas.opening import FrameOpener
from roadmark.app.canvas.prefetch import FramePreparer, PreparedFrame
from roadmark.app.canvas.view import ZOOM_STEP, FrameCanvas
from roadmark.app.docks.attributes import AttributesDock
from roadmark.app.docks.labels import LabelsDock
from roadmark.app.docks.objects import ObjectsDock
from roadmark.app.features import (
    dataset_io,
    guided_review,
    prelabel_action,
    quality,
    sequence_tools,
    smart_tool,
    team_mode,
    training_panel,
)
from roadmark.app.frame_filter import FrameFilterBar, wrap_with_filter
from roadmark.app.frame_list import FrameListModel, ThumbnailLoader, make_frame_view
from roadmark.app.label_picker import pick_label
from roadmark.app.shortcuts import ActionRegistry, ShortcutsDialog, all_actions
from roadmark.app.status import EditorStatus
from roadmark.app.window_api import ProjectWindow
from roadmark.core.annotation import FrameStatus
from roadmark.core.errors import RoadmarkError
from roadmark.core.history import History
from roadmark.core.session import UNSTARTED, EditSession, SessionEvent
from roadmark.core.workflow import Action
from roadmark.io import workflow
from roadmark.io.frames import FrameLoader
from roadmark.io.settings import Settings
from roadmark.io.store import Project

LAST_FRAME_KEY = "gui.last_frame"
UNFINISHED = (
    FrameStatus.NEW,
    FrameStatus.PRELABELED,
    FrameStatus.IN_PROGRESS,
    FrameStatus.REJECTED,
)
TOOL_ACTIONS = ("select", "box", "polygon", "brush", "eraser", "fill")
OPACITY_STEP = 0.1
PEEK_MS = 1200
RIGHT_DOCK_SHARES = (40, 24, 36)  # labels, objects, attributes: parts of the right column


def _scrollable(dock: QDockWidget) -> None:
    """Put a dock's panel in a scroll area (once), so that its height does not set the
    height of the docks stacked with it."""
    body = dock.widget()
    if body is None or isinstance(body, QScrollArea):
        return
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setWidget(body)
    dock.setWidget(scroll)


class MainWindow(ProjectWindow):
    """Shows and edits one project.

    Args:
        project: The open project (the window closes it when it closes).
        prefetch: Prepare neighboring frames in the background.
    """

    def __init__(self, project: Project, *, prefetch: bool = True) -> None:
        super().__init__(project)
        self.setWindowTitle(f"roadmark — {project.location}")
        self.loader = FrameLoader(lambda path: project.root / path)
        self.session = EditSession(
            project,
            start_work=lambda frame_id: workflow.move(project, frame_id, Action.START),
            stop_work=lambda frame_id, status: workflow.move(
                project, frame_id, Action.UNSTART, back_to=status
            ),
        )
        self.editor = Editor(self.session, project.schema)
        self.preparer = FramePreparer(project, self.loader, enabled=prefetch)
        self.prepared: PreparedFrame | None = None
        self._prefetch_timer = QTimer(self)
        self._prefetch_timer.setSingleShot(True)
        self._prefetch_timer.setInterval(150)
        self._prefetch_timer.timeout.connect(self._prefetch_neighbors)

        self.canvas = FrameCanvas(self.editor)
        self.setCentralWidget(self.canvas)
        self.opener = FrameOpener(
            project,
            self.preparer,
            self.editor,
            self.canvas.overlay,
            show=self._show_prepared,
            fail=lambda frame, error: self.show_error(f"Cannot show {frame.name}: {error}"),
        )
        self.preparer.render = self.opener.render_ahead
        self.actions = ActionRegistry(self, all_actions(project.schema))
        self.thumbnails = ThumbnailLoader(lambda path: project.root / path)
        self.frames = FrameListModel(self.state.frames, self.thumbnails)
        self.frame_view = make_frame_view(self.frames)
        self.frame_view.selectionModel().currentRowChanged.connect(
            lambda current, _previous: self.show_row(current.row())
        )
        self.frame_filter = FrameFilterBar(self.frames, self.frame_view, project.user)
        self.frames_dock = self.add_dock(
            self._dock("Frames", "frames", wrap_with_filter(self.frame_view, self.frame_filter)),
            Qt.DockWidgetArea.LeftDockWidgetArea,
        )
        self.labels_dock = self.add_dock(
            LabelsDock(self.editor, self), Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.objects_dock = self.add_dock(
            ObjectsDock(self.editor, self), Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.attributes_dock = self.add_dock(
            AttributesDock(self.editor, self), Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.resizeDocks([self.frames_dock], [270], Qt.Orientation.Horizontal)
        self.resizeDocks([self.labels_dock], [380], Qt.Orientation.Horizontal)

        self.status = EditorStatus(self.editor, self.canvas, self.statusBar())
        self._bind_actions()
        self.paint_behind = paint_behind.install(self)
        self._make_toolbar()
        self.session.committed.connect(self._on_session)
        self.session.history.changed.connect(self._on_history)
        self.editor.changed.connect(self._on_editor)
        self.canvas.error.connect(self.show_error)
        self._on_history(self.session.history)
        self._on_editor("tool")
        self.state.framesChanged.connect(self._on_frames)
        self.state.statusesChanged.connect(self._on_statuses)
        self.state.assignmentChanged.connect(self._on_assignment)
        self._shown = False
        self.sequence_tools = sequence_tools.install(self)
        self.quality = quality.install(self, effort=lambda: self.guided_review.regions.effort)
        self.dataset_io = dataset_io.install(self)
        self.guided_review = guided_review.install(self)
        self.training = training_panel.install(self)
        self.prelabeler = prelabel_action.install(self)
        self.team = team_mode.install(self)
        self.smart = smart_tool.install(self)
        self._tab_extra_docks()

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def open_project(
        cls, location: str, *, frame: int | None = None, prefetch: bool = True
    ) -> MainWindow:
        """Open a project file and show ``frame`` (0-based position) or the last one shown."""
        project = Project.open(location)
        settings = Settings.load()
        settings.add_recent(str(project.location))
        settings.save()
        window = cls(project, prefetch=prefetch)
        if frame is None:
            last = project.get_meta(LAST_FRAME_KEY)
            row = window.frames.row_of(int(last)) if last and last.isdigit() else None
            frame = row if row is not None else 0
        window.select_row(frame)
        if window.guided_review.prediction is not None:  # a pre-labeled frame: show the queue
            window.guided_review.dock.raise_()
        return window

    def _dock(self, title: str, name: str, widget: QWidget) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        return dock

    def _tab_extra_docks(self) -> None:
        """Stack the docks features added on the right as tabs beside Attributes, so that
        the labels and objects lists keep their height; Attributes stays in front."""
        right = Qt.DockWidgetArea.RightDockWidgetArea
        base = (self.labels_dock, self.objects_dock, self.attributes_dock)
        for dock in self.findChildren(QDockWidget):
            if dock not in base and self.dockWidgetArea(dock) == right:
                if dock not in self.tabifiedDockWidgets(self.attributes_dock):
                    self.tabifyDockWidget(self.attributes_dock, dock)
                _scrollable(dock)  # a tall panel scrolls instead of squeezing the lists
        self.attributes_dock.raise_()
        self._size_right_docks()

    def _size_right_docks(self) -> None:
        """Most of the right column for the labels list (a dozen rows and more), then the
        objects, then the attributes and the tabs beside them."""
        self.resizeDocks(
            [self.labels_dock, self.objects_dock, self.attributes_dock],
            list(RIGHT_DOCK_SHARES),
            Qt.Orientation.Vertical,
        )

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._shown:  # the docks have their real heights only now
            self._shown = True
            self._size_right_docks()

    def _bind_actions(self) -> None:
        editor, canvas, bind = self.editor, self.canvas, self.actions.bind
        guarded: dict[str, Callable[[], object]] = {
            "file.close": self.close,
            "edit.undo": self.undo,
            "edit.redo": self.redo,
            "edit.delete": editor.delete_selection,
            "edit.copy": self.copy_selection,
            "edit.paste": self.paste,
            "edit.select_all": editor.select_all,
            "edit.deselect": editor.clear_selection,
            "edit.relabel": self.relabel_selection,
            "edit.new_instance": editor.new_instance_ids,
            "view.zoom_in": lambda: canvas.zoom_by(ZOOM_STEP, at=canvas.pointer_in_view()),
            "view.zoom_out": lambda: canvas.zoom_by(1 / ZOOM_STEP, at=canvas.pointer_in_view()),
            "view.fit": canvas.fit,
            "view.actual": canvas.actual_size,
            "view.outline_wider": lambda: self._outline_width(0.5),
            "view.outline_thinner": lambda: self._outline_width(-0.5),
            "view.opacity_up": lambda: canvas.set_overlay_opacity(
                canvas.overlay.opacity() + OPACITY_STEP
            ),
            "view.opacity_down": lambda: canvas.set_overlay_opacity(
                canvas.overlay.opacity() - OPACITY_STEP
            ),
            "frame.next": lambda: self.step(1),
            "frame.previous": lambda: self.step(-1),
            "frame.next_unlabeled": lambda: self.step_unfinished(1),
            "frame.previous_unlabeled": lambda: self.step_unfinished(-1),
            "frame.first": lambda: self.select_row(0),
            "frame.last": lambda: self.select_row(self.frames.rowCount() - 1),
            "frame.done": self.mark_done,
            "tool.brush_smaller": lambda: editor.scale_brush(1 / 1.25),
            "tool.brush_larger": lambda: editor.scale_brush(1.25),
            "label.choose": self.choose_label,
            "object.raise": editor.raise_selection,
            "object.lower": editor.lower_selection,
            "object.top": editor.selection_to_top,
            "object.bottom": editor.selection_to_bottom,
            "object.hide": editor.hide_selection,
            "object.show_all": editor.show_all,
            "help.shortcuts": self.show_shortcuts,
        }
        directions = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
        for direction, (dx, dy) in directions.items():
            for suffix, step in (("", 1), ("_far", 10)):
                action_id = f"edit.nudge_{direction}{suffix}"
                guarded[action_id] = partial(editor.nudge, dx * step, dy * step)
                # Arrow keys move objects only while the canvas has the focus; in the
                # docks they keep moving through the lists.
                action = self.actions[action_id]
                self.removeAction(action)
                canvas.addAction(action)
                action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        for name in TOOL_ACTIONS:
            guarded[f"tool.{name}"] = partial(editor.set_tool, name)
        for label in self.project.schema.labels:
            guarded[f"label.{label.id}"] = partial(editor.set_label, label.id)
        for name, spec in self.project.schema.attributes.items():
            if spec.type == "bool":
                guarded[f"attribute.{name}"] = partial(editor.toggle_attribute, name)
        for action_id, handler in guarded.items():
            bind(action_id, self.guard(handler))
        # Held on the canvas, W shows the raw frame until it is let go; fired from the menu
        # (or with the focus elsewhere) it peeks for a moment.
        canvas.add_hold_key(
            self.actions["view.peek"], lambda: canvas.set_peek(True), lambda: canvas.set_peek(False)
        )
        bind("view.peek", self.peek_briefly)
        for action_id, switch in {
            "view.overlay": canvas.set_overlay_visible,
            "view.outline": canvas.set_outline,
            "view.boxes": self._show_boxes,
            "tool.paint_behind": editor.set_paint_behind,
        }.items():
            bind(action_id, switch)
        self.actions["view.overlay"].setChecked(True)
        self.actions["view.boxes"].setChecked(True)
        group = QActionGroup(self)
        for name in TOOL_ACTIONS:
            action = self.actions[f"tool.{name}"]
            action.setCheckable(True)
            group.addAction(action)

    def _make_toolbar(self) -> None:
        bar = QToolBar("Tools", self)
        bar.setObjectName("tools")
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for name in TOOL_ACTIONS:
            bar.addAction(self.actions[f"tool.{name}"])
        bar.addSeparator()
        bar.addAction(self.actions["tool.paint_behind"])
        bar.addSeparator()
        for action_id in ("edit.undo", "edit.redo"):
            bar.addAction(self.actions[action_id])
        bar.addSeparator()
        for action_id in ("view.overlay", "view.outline", "view.fit"):
            bar.addAction(self.actions[action_id])
        short = {
            "tool.select": "Select",
            "tool.paint_behind": "Paint behind",
            "view.overlay": "Overlay",
            "view.outline": "Outlines",
            "view.fit": "Fit",
            "edit.undo": "Undo",
            "edit.redo": "Redo",
        }
        for action_id, text in short.items():
            self.actions[action_id].setIconText(text)
        for action in bar.actions():
            keys = ", ".join(k.toString() for k in action.shortcuts())
            text = action.text().replace("&", "")
            action.setToolTip(f"{text} ({keys})" if keys else text)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
        self.toolbar = bar

    def _outline_width(self, step: float) -> None:
        width = self.canvas.change_outline_width(step)
        self.statusBar().showMessage(f"Outlines {width:g} px wide", 3000)

    def peek_briefly(self) -> None:
        """Show the raw frame for :data:`PEEK_MS` (the peek key held on the canvas shows it
        for as long as it is held)."""
        self.canvas.set_peek(True)
        QTimer.singleShot(PEEK_MS, lambda: self.canvas.set_peek(False))

    def _show_boxes(self, on: bool) -> None:
        self.canvas.edit_layer.show_boxes = on
        self.canvas.refresh()

    # -- frames ----------------------------------------------------------------------------

    @property
    def current_row(self) -> int | None:
        """The open frame's filmstrip position (``None``: none open)."""
        return self.state.current_row

    def select_row(self, row: int) -> None:
        """Show the frame at position ``row`` (clamped to the list)."""
        if len(self.state) == 0:
            self.statusBar().showMessage(
                "This project has no frames yet: roadmark add PROJECT PATH"
            )
            return
        row = max(0, min(row, len(self.state) - 1))
        self.frame_view.setCurrentIndex(self.frames.index(row))

    def step(self, delta: int) -> None:
        row = self.opener.pending_row if self.opener.pending else self.current_row
        if row is not None:
            self.select_row(row + delta)

    def step_unfinished(self, direction: int) -> None:
        """Go to the next (or previous) frame that is not done, wrapping around."""
        count = len(self.state)
        start = self.current_row if self.current_row is not None else -direction
        for offset in range(1, count + 1):
            row = (start + direction * offset) % count
            if self.state.frame(row).status in UNFINISHED:
                self.select_row(row)
                return
        self.statusBar().showMessage("Every frame is done.", 5000)

    def show_row(self, row: int) -> None:
        """Make the frame at ``row`` the open one."""
        if row < 0:
            return
        frame = self.state.frame(row)
        shown = self.prepared
        if shown is not None and shown.frame.id == frame.id:
            if self.opener.pending is not None:  # back to the open frame before the other came
                self.opener.forget()
                self._show_prepared(shown)
            return
        try:
            if not self.wait_for_regions and self.opener.shows_later(frame):  # image first
                image = self.loader.load(frame.path, frame.video_frame)
                if shown is not None and self.canvas.document is not None:
                    shown.views = self._views()
                self.canvas.show_image(image)
                self.opener.wait_for(frame, row)
                self.status.set_frame(row, len(self.state), frame)
                return
            self.opener.forget()
            prepared = self.preparer.take(frame.id, sorted(self.editor.hidden_labels))
        except RoadmarkError as error:
            self.show_error(f"Cannot show {frame.name}: {error}")
            return
        self._show_prepared(prepared)

    def _show_prepared(self, prepared: PreparedFrame) -> None:
        """Make a read frame the open one (the frame left is kept to come back to)."""
        left = self.prepared
        if left is not None and left is not prepared:
            if self.canvas.document is not None:
                left.views = self._views()
            self.preparer.keep(left)
        self.prepared = prepared
        self.editor.open(prepared.document)
        overlay = self.opener.overlay_of(prepared)
        self.canvas.show_document(
            prepared.document, prepared.image, argb=prepared.views.get("argb"), overlay=overlay
        )
        frame = prepared.document.frame
        if not self.project.read_only:
            self.project.set_meta(LAST_FRAME_KEY, str(frame.id))
        row = self.state.row_of(frame.id)
        if row is not None:
            self.status.set_frame(row, len(self.state), frame)
        self.state.set_current(frame.id)
        self._prefetch_timer.start()

    def shown_image(self, frame_id: int) -> np.ndarray | None:
        prepared = self.prepared
        return prepared.image if prepared is not None and prepared.frame.id == frame_id else None

    def reread_frames(self) -> None:
        current = self.state.current_frame_id
        self.prepared = None
        self.opener.forget()
        self.state.set_current(None)
        self.state.reload()
        self.preparer.invalidate(frame.id for frame in self.state.frames)
        row = self.state.row_of(current) if current is not None else None
        self.select_row(row if row is not None else 0)
        if row is not None:
            self.show_row(row)  # the selection did not move, so read the frame again

    def open_window(self, location: str, *, frame: int | None = None) -> MainWindow:
        return type(self).open_project(location, frame=frame, prefetch=self.preparer.enabled)

    def _views(self) -> dict[str, object]:
        """The canvas buffers of the open frame, to show it again without redrawing."""
        return {
            "argb": self.canvas.image_layer.buffer,
            "overlay": self.canvas.overlay.buffer,
            "overlay_key": self.opener.overlay_key(),
        }

    def _prefetch_neighbors(self) -> None:
        if self.current_row is None:
            return
        rows = [self.current_row + 1, self.current_row - 1]
        ids = [self.state.frame(r).id for r in rows if 0 <= r < len(self.state)]
        self.preparer.request(ids, sorted(self.editor.hidden_labels))

    def mark_done(self) -> None:
        """Finish the open frame (a checked, recorded workflow move; a frame nobody started
        is started first) and go to the next unfinished one."""
        document = self.editor.document
        if document is None:
            return
        frame_id = document.frame.id
        with self.project.transaction():
            if document.frame.status in UNSTARTED:
                workflow.move(self.project, frame_id, Action.START)
            status = workflow.move(self.project, frame_id, Action.FINISH)
        self.session.forget_start(frame_id)  # undo after finishing leaves the status alone
        self.state.set_status(frame_id, status)
        self.step_unfinished(1)

    # -- editing ---------------------------------------------------------------------------

    def undo(self) -> None:
        """Undo the last edit, first showing its frame when it is another one."""
        self._show_frame_of(self.editor.frame_of_next("undo"))
        command = self.editor.undo()
        if command is not None:
            self.statusBar().showMessage(f"Undid: {command.text}", 4000)

    def redo(self) -> None:
        self._show_frame_of(self.editor.frame_of_next("redo"))
        command = self.editor.redo()
        if command is not None:
            self.statusBar().showMessage(f"Redid: {command.text}", 4000)

    def _show_frame_of(self, frame_id: int | None) -> None:
        if frame_id is not None:
            self.show_frame(frame_id)

    def copy_selection(self) -> None:
        clipboard = self.editor.copy_selection()
        message = f"Copied {len(clipboard)} object(s)." if clipboard else "Select objects first."
        self.statusBar().showMessage(message, 3000)

    def paste(self) -> None:
        if self.editor.clipboard is None:
            self.statusBar().showMessage("Nothing copied yet: select objects, Ctrl+C.", 3000)
        elif self.editor.paste() is None:
            self.statusBar().showMessage("The copied objects lie outside this frame.", 3000)

    def choose_label(self) -> None:
        label_id = pick_label(
            self.project.schema, self.editor.context.label_id, "Choose label", self
        )
        if label_id is not None:
            self.editor.set_label(label_id)

    def relabel_selection(self) -> None:
        document = self.editor.document
        if document is None or not document.selection:
            self.statusBar().showMessage("Select objects first.", 3000)
            return
        label_id = pick_label(
            self.project.schema, self.editor.context.label_id, "Change label to", self
        )
        if label_id is not None:
            self.editor.set_label(label_id)
            self.editor.relabel_selection(label_id)

    def show_shortcuts(self) -> None:
        ShortcutsDialog(self.actions, self).exec()

    # -- observing -------------------------------------------------------------------------

    def _on_session(self, event: SessionEvent) -> None:
        current = self.editor.document.frame.id if self.editor.document else None
        self.preparer.invalidate(f for f in event.frame_ids if f != current)
        if self.opener.pending is not None and self.prepared is not None:
            self.prepared.views = {}  # the buffers kept of the frame left are out of date
        self.state.set_statuses(event.statuses)

    def _on_statuses(self, statuses: Mapping[int, FrameStatus]) -> None:
        """The one place a status change fans out: the filmstrip, the open document and
        the status bar."""
        for frame_id, status in statuses.items():
            self.frames.set_status(frame_id, status)
        document = self.prepared.document if self.prepared is not None else None  # or left
        if document is None or document.frame.id not in statuses:
            return
        status = statuses[document.frame.id]
        if document.frame.status != status:
            document.set_frame_status(status)
        if self.current_row is not None:
            self.status.set_frame(self.current_row, len(self.state), document.frame)

    def _on_frames(self) -> None:
        """The frame list was read again or reordered: the filmstrip follows, keeping the
        open frame selected."""
        self.frames.set_frames(self.state.frames)
        row = self.current_row
        if row is not None:
            self.frame_view.setCurrentIndex(self.frames.index(row))

    def _on_assignment(self) -> None:
        self.frames.update_frames(self.state.frames)
        self.frame_filter.refresh_assignees()

    def _on_history(self, history: History) -> None:
        undo, redo = self.actions["edit.undo"], self.actions["edit.redo"]
        undo.setText(f"&Undo {history.undo_text}" if history.undo_text else "&Undo")
        redo.setText(f"&Redo {history.redo_text}" if history.redo_text else "&Redo")
        undo.setEnabled(history.can_undo)
        redo.setEnabled(history.can_redo)

    def _on_editor(self, what: EditorChange) -> None:
        if what == "tool":
            self.actions[f"tool.{self.editor.tool.name}"].setChecked(True)
            self.canvas.refresh()
        elif what == "settings":
            self.actions["tool.paint_behind"].setChecked(self.editor.context.paint_behind)
            self.canvas.refresh()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.run_closing()
        self._prefetch_timer.stop()
        self.opener.forget()  # a frame still being read is not shown
        self.editor.tool.cancel()
        self.preparer.close()
        self.thumbnails.close()
        self.loader.close()
        self.project.close()
        super().closeEvent(event)
