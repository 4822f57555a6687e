"""The status bar: frame, tool and label, gesture hints, cursor position in image pixels,
the label under the cursor and the zoom."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QStatusBar

from roadmark.annotators.editor import Editor, EditorChange
from roadmark.app.canvas.view import FrameCanvas
from roadmark.app.frame_list import STATUS_TEXT
from roadmark.core.annotation import Frame


class EditorStatus:
    """Keeps the permanent status-bar fields up to date."""

    def __init__(self, editor: Editor, canvas: FrameCanvas, bar: QStatusBar) -> None:
        self.editor = editor
        self.canvas = canvas
        self.bar = bar
        self.frame_label = QLabel()
        self.tool_label = QLabel()
        self.hint_label = QLabel()
        self.cursor_label = QLabel()
        self.under_label = QLabel()
        self.zoom_label = QLabel()
        self.cursor_label.setMinimumWidth(150)
        self.under_label.setMinimumWidth(140)
        self.zoom_label.setMinimumWidth(60)
        bar.addWidget(self.frame_label)
        bar.addWidget(self.tool_label)
        bar.addWidget(self.hint_label, 1)
        for label in (self.cursor_label, self.under_label, self.zoom_label):
            bar.addPermanentWidget(label)
        canvas.cursor_moved.connect(self.on_cursor)
        canvas.zoom_changed.connect(lambda zoom: self.zoom_label.setText(f"{zoom:.0%}"))
        canvas.hint_changed.connect(self.hint_label.setText)
        editor.changed.connect(self._on_editor)
        self._on_editor("tool")

    def set_frame(self, row: int, count: int, frame: Frame) -> None:
        self.frame_label.setText(
            f"Frame {row + 1}/{count}  {frame.width}x{frame.height}  {STATUS_TEXT[frame.status]}"
        )

    def _on_editor(self, what: EditorChange) -> None:
        if what not in ("tool", "label", "settings"):
            return
        context = self.editor.context
        label = self.editor.schema.by_id.get(context.label_id)
        color = label.hex_color if label else "#ffffff"
        parts = [
            f"<b>{self.editor.tool.title}</b>",
            f"<span style='color:{color}'>■</span> {label.name if label else context.label_id}",
        ]
        if self.editor.tool.name in ("brush", "eraser"):
            parts.append(f"radius {context.brush_radius:g} px")
        if context.paint_behind:
            parts.append("behind")
        self.tool_label.setText("  ".join(parts))

    def on_cursor(self, x: float, y: float) -> None:
        self.cursor_label.setText(f"x {x:7.1f}  y {y:7.1f}")
        document = self.editor.document
        if document is None:
            self.under_label.setText("")
            return
        obj = document.region_at(x, y)
        if obj is None:
            self.under_label.setText("")
            return
        label = self.editor.schema.by_id.get(obj.label_id)
        name = label.name if label else str(obj.label_id)
        if obj.instance_id is not None:
            name += f" #{obj.instance_id}"
        self.under_label.setText(name)
