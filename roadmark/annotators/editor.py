"""The editor: the active tool, the current label and brush, and the actions on the
selection, wired to an :class:`~roadmark.core.session.EditSession`.

This is everything the main window does when the user edits, without Qt: the canvas
hands it pointer events in image pixels and keys, menus call its actions, and each
completed gesture or action is run through the session (one committed transaction, one
undo step). Tests and scripts drive it exactly as the GUI does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from psygnal import Signal

from roadmark.annotators import actions
from roadmark.annotators.clipboard import Clipboard, copy_objects, paste_command
from roadmark.annotators.tools.base import Pointer, Preview, Tool, ToolContext, ToolError
from roadmark.annotators.tools.draw import BoxTool, PolygonTool
from roadmark.annotators.tools.paint import BrushTool, EraserTool, FillTool, clamp_radius
from roadmark.annotators.tools.select import SelectTool
from roadmark.core.document import FrameDocument
from roadmark.core.edits import AddObjects, CommandGroup, UpdateObjects
from roadmark.core.history import Command
from roadmark.core.schema import LabelSchema
from roadmark.core.session import EditSession
from roadmark.core.signals import emit

TOOL_CLASSES: tuple[type[Tool], ...] = (
    SelectTool,
    BoxTool,
    PolygonTool,
    BrushTool,
    EraserTool,
    FillTool,
)

EditorChange = Literal["document", "tool", "label", "settings", "visibility"]


def default_label(schema: LabelSchema) -> int:
    """The label a new session starts with: the one on key ``1``, else the first drawable
    label after ``unlabeled``."""
    if "1" in schema.by_shortcut:
        return schema.by_shortcut["1"].id
    drawable = [label.id for label in schema.labels if label.drawable and label.id > 0]
    return drawable[0] if drawable else schema.labels[0].id


def touched_uids(command: Command) -> list[int]:
    """The objects a command created or changed."""
    if isinstance(command, AddObjects | UpdateObjects):
        return command.uids
    if isinstance(command, CommandGroup):
        return [uid for part in command.commands for uid in touched_uids(part)]
    return []


class Editor:
    """Tools, current label and selection actions over one editing session.

    Args:
        session: The session that commits commands.
        schema: The project's labels.
        label_id: The label to start with (the one on key ``1`` by default).

    Signals:
        changed: ``(what)``, an :data:`EditorChange`, when the document, tool, label or a
            setting changes.
    """

    changed = Signal(str)

    def __init__(
        self, session: EditSession, schema: LabelSchema, *, label_id: int | None = None
    ) -> None:
        self.session = session
        self.context = ToolContext(
            schema=schema,
            user=session.user,
            label_id=default_label(schema) if label_id is None else schema.label(label_id).id,
        )
        self.tools: dict[str, Tool] = {cls.name: cls(self.context) for cls in TOOL_CLASSES}
        self.tool: Tool = self.tools[SelectTool.name]
        self.hidden_labels: set[int] = set()
        self.clipboard: Clipboard | None = None
        self._pastes_on_source = 0

    # -- state -----------------------------------------------------------------------------

    def _changed(self, what: EditorChange) -> None:
        emit(self.changed, what)

    @property
    def document(self) -> FrameDocument | None:
        return self.context.document

    @property
    def schema(self) -> LabelSchema:
        return self.context.schema

    def open(self, frame: int | FrameDocument) -> FrameDocument:
        """Open a frame (its id, or a document prepared beforehand); cancels any gesture."""
        self.tool.cancel()
        if isinstance(frame, FrameDocument):
            frame.set_hidden_labels(self.hidden_labels)
        document = self.session.open(frame, hidden_labels=sorted(self.hidden_labels))
        self.context.document = document
        self._changed("document")
        return document

    def close(self) -> None:
        """Hold no frame (while the next one is read): keys and actions change nothing,
        and the docks show no objects. :meth:`open` ends it."""
        self.tool.cancel()
        if self.context.document is not None:
            self.context.document = None
            self._changed("document")

    def set_tool(self, name: str) -> None:
        """Make tool ``name`` active (``select``, ``box``, ``polygon``, ``brush``, ...)."""
        if name not in self.tools:
            raise ToolError(f"unknown tool {name!r}; tools: {', '.join(self.tools)}")
        if self.tool.name != name:
            self.tool.cancel()
            self.tool = self.tools[name]
            self._changed("tool")

    def set_label(self, label_id: int) -> None:
        """Make ``label_id`` the current label (new objects get it)."""
        self.context.label_id = self.schema.label(label_id).id
        self._changed("label")

    def set_paint_behind(self, on: bool) -> None:
        self.context.paint_behind = on
        self._changed("settings")

    def set_brush_radius(self, radius: float) -> None:
        self.context.brush_radius = clamp_radius(radius)
        self._changed("settings")

    def scale_brush(self, factor: float) -> None:
        self.set_brush_radius(round(self.context.brush_radius * factor * 2) / 2)

    def set_tolerance(self, pixels: float) -> None:
        """How close to a handle a press must be, in image pixels (follows the zoom)."""
        self.context.tolerance = pixels

    # -- pointer and keys ------------------------------------------------------------------

    def press(self, pointer: Pointer) -> Command | None:
        return self._run(self.tool.press(pointer))

    def move(self, pointer: Pointer) -> Command | None:
        return self._run(self.tool.move(pointer))

    def release(self, pointer: Pointer) -> Command | None:
        return self._run(self.tool.release(pointer))

    def double_click(self, pointer: Pointer) -> Command | None:
        return self._run(self.tool.double_click(pointer))

    def leave(self) -> None:
        """The pointer left the canvas (brush outline and guides go with it)."""
        self.tool.leave()

    def wants_key(self, key: str) -> bool:
        return self.tool.wants_key(key)

    def key(self, key: str) -> Command | None:
        return self._run(self.tool.key(key))

    def preview(self) -> Preview | None:
        return self.tool.preview() if self.document is not None else None

    @property
    def hover_uid(self) -> int | None:
        return getattr(self.tool, "hover_uid", None)

    def execute(self, command: Command | None) -> Command | None:
        """Run a command built elsewhere (a batch from a dock or a dialog)."""
        return self._run(command, select=False)

    def _run(self, command: Command | None, *, select: bool = True) -> Command | None:
        if command is None:
            return None
        self.session.execute(command)
        document = self.document
        if (
            select
            and document is not None
            and isinstance(command, AddObjects)
            and self.tool.selects_result
        ):
            document.select(command.uids)
        return command

    # -- selection actions -----------------------------------------------------------------

    def _selection(self) -> list[int]:
        return list(self.document.selection) if self.document is not None else []

    def delete_selection(self) -> Command | None:
        return self._run(actions.delete(self.context, self._selection()), select=False)

    def copy_selection(self) -> Clipboard | None:
        """Put the selected objects on the clipboard (it keeps what was there when nothing
        is selected)."""
        if self.document is None:
            return None
        clipboard = copy_objects(self.document, self._selection())
        if clipboard is not None:
            self.clipboard = clipboard
            self._pastes_on_source = 0
        return clipboard

    def paste(self) -> Command | None:
        """Add copies of the clipboard's objects on top of the open frame (one undo step)
        and select them."""
        if self.clipboard is None or self.document is None:
            return None
        same_frame = self.document.frame.id == self.clipboard.frame_id
        times = self._pastes_on_source + 1
        command = paste_command(self.context, self.clipboard, times=times)
        if command is None:
            return None
        self._run(command, select=False)
        if same_frame:
            self._pastes_on_source = times
        if self.document is not None:
            self.document.select(command.uids)
        return command

    def relabel_selection(self, label_id: int) -> Command | None:
        return self._run(actions.relabel(self.context, self._selection(), label_id), select=False)

    def set_attribute(
        self, name: str, value: Any, uids: Sequence[int] | None = None
    ) -> Command | None:
        chosen = self._selection() if uids is None else list(uids)
        return self._run(actions.set_attribute(self.context, chosen, name, value), select=False)

    def toggle_attribute(self, name: str) -> Command | None:
        """Switch a yes/no attribute of the selection (see :func:`actions.toggle_attribute`)."""
        command = actions.toggle_attribute(self.context, self._selection(), name)
        return self._run(command, select=False)

    def set_fields(
        self, text: str, uids: Sequence[int] | None = None, **changes: Any
    ) -> Command | None:
        chosen = self._selection() if uids is None else list(uids)
        return self._run(actions.set_fields(self.context, chosen, text, **changes), select=False)

    def new_instance_ids(self) -> Command | None:
        return self._run(actions.new_instance_ids(self.context, self._selection()), select=False)

    def nudge(self, dx: float, dy: float) -> Command | None:
        return self._run(actions.nudge(self.context, self._selection(), dx, dy), select=False)

    def raise_selection(self) -> Command | None:
        return self._zorder(actions.raise_objects)

    def lower_selection(self) -> Command | None:
        return self._zorder(actions.lower_objects)

    def selection_to_top(self) -> Command | None:
        return self._zorder(actions.to_top)

    def selection_to_bottom(self) -> Command | None:
        return self._zorder(actions.to_bottom)

    def _zorder(
        self, build: Callable[[FrameDocument, Sequence[int]], Command | None]
    ) -> Command | None:
        document = self.document
        if document is None:
            return None
        return self._run(build(document, self._selection()), select=False)

    def place(self, uids: Sequence[int], above: int | None) -> Command | None:
        """Move ``uids`` directly above object ``above`` in the stack (bottom if ``None``)."""
        document = self.document
        if document is None:
            return None
        return self._run(actions.place(document, uids, above), select=False)

    def select_all(self) -> None:
        if self.document is not None:
            self.document.select(obj.uid for obj in self.document.visible() if obj.uid is not None)

    def clear_selection(self) -> None:
        if self.document is not None:
            self.document.clear_selection()

    def hide_selection(self) -> None:
        document = self.document
        if document is not None and document.selection:
            uids = list(document.selection)
            document.clear_selection()
            document.set_hidden(uids, True)

    def show_all(self) -> None:
        self.hidden_labels.clear()
        if self.document is not None:
            self.document.show_all()
        self._changed("visibility")

    def set_label_hidden(self, label_id: int, hidden: bool) -> None:
        """Hide or show a label's objects on this and every later frame."""
        if hidden:
            self.hidden_labels.add(label_id)
        else:
            self.hidden_labels.discard(label_id)
        if self.document is not None:
            self.document.set_label_hidden(label_id, hidden)
        self._changed("visibility")

    # -- history ---------------------------------------------------------------------------

    def frame_of_next(self, which: Literal["undo", "redo"]) -> int | None:
        """The frame the next undo (or redo) changes, when it is not the open one."""
        history = self.session.history
        command = history.next_undo() if which == "undo" else history.next_redo()
        if command is None or not command.frame_ids:
            return None
        current = self.document.frame.id if self.document is not None else None
        return None if current in command.frame_ids else command.frame_ids[0]

    def undo(self) -> Command | None:
        """Undo the last command and select what it touched (when still there)."""
        self.tool.cancel()
        command = self.session.undo()
        self._select_touched(command)
        return command

    def redo(self) -> Command | None:
        self.tool.cancel()
        command = self.session.redo()
        self._select_touched(command)
        return command

    def _select_touched(self, command: Command | None) -> None:
        if command is not None and self.document is not None:
            self.document.select(touched_uids(command))
