"""Paint behind, impossible to miss: while it is on, the canvas has an orange border, the
drawing cursor carries an orange mark and the status bar says so.

It is a toggle (``Q``) and, held on the canvas, a spring-loaded modifier: holding ``Q``
through a gesture (or for longer than :data:`HOLD_S`) switches it back when ``Q`` is let
go; a short tap leaves it switched. When a new region lands on top of others (paint behind
off), the status bar offers the one-key fix: ``J`` sends the selection to the bottom.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import shapely
from PySide6.QtWidgets import QLabel

from roadmark.app.canvas.view import BEHIND_COLOR
from roadmark.core.annotation import ObjectKind
from roadmark.core.edits import AddObjects, describe
from roadmark.core.history import History

if TYPE_CHECKING:
    from roadmark.annotators.editor import EditorChange
    from roadmark.app.window_api import ProjectWindow

HOLD_S = 0.4  # holding Q longer than this makes it a hold, not a tap


class PaintBehindCue:
    """The paint-behind state on the canvas and in the status bar, the hold key, and the
    send-to-bottom hint."""

    def __init__(self, window: ProjectWindow) -> None:
        self.window = window
        self.editor = window.editor
        self.canvas = window.canvas
        self.label = QLabel(f"▼ PAINT BEHIND ({_keys(window, 'tool.paint_behind')})")
        self.label.setStyleSheet(
            f"background:{BEHIND_COLOR}; color:black; font-weight:bold; padding:0 6px"
        )
        self.label.setVisible(False)
        window.statusBar().addPermanentWidget(self.label)
        self._hold: tuple[float, bool, int] | None = None  # start, state before, presses
        self._last_command: object = None
        self.canvas.add_hold_key(window.actions["tool.paint_behind"], self.key_down, self.key_up)
        self.editor.changed.connect(self._on_editor)
        window.session.history.changed.connect(self._on_history)
        self._on_editor("settings")

    @property
    def on(self) -> bool:
        return self.editor.context.paint_behind

    def key_down(self) -> None:
        self._hold = (time.monotonic(), self.on, self.canvas.presses)
        self.editor.set_paint_behind(not self.on)

    def key_up(self) -> None:
        if self._hold is None:
            return
        start, before, presses = self._hold
        self._hold = None
        if time.monotonic() - start > HOLD_S or self.canvas.presses != presses:
            self.editor.set_paint_behind(before)  # it was held: spring back

    def _on_editor(self, what: EditorChange) -> None:
        if what in ("settings", "tool"):
            self.canvas.set_behind_cue(self.on)
            self.label.setVisible(self.on)

    def _on_history(self, history: History) -> None:
        command = history.next_undo()
        if command is self._last_command:
            return
        self._last_command = command
        if not isinstance(command, AddObjects) or command.at_bottom or not command.stored:
            return
        covered = self._covered(command)
        if covered:
            self.window.statusBar().showMessage(
                f"The new region lies over {describe(covered)}: "
                f"{_keys(self.window, 'object.bottom')} sends it to the bottom "
                f"({_keys(self.window, 'tool.paint_behind')}: paint behind)",
                8000,
            )

    def _covered(self, command: AddObjects) -> int:
        """How many visible regions the command's new regions lie over."""
        document = self.editor.document
        if document is None or document.frame.id != command.frame_id:
            return 0
        new = {
            o.uid for o in command.stored or () if o.kind is ObjectKind.REGION and o.uid is not None
        }
        if not new:
            return 0
        shapes = [obj for obj in map(document.get, new) if obj is not None]
        if not shapes:
            return 0
        # Candidates from the document's box index, then the exact test on those only.
        x0, y0, x1, y1 = shapely.bounds(shapely.union_all([s.region for s in shapes]))
        below = [o for o in document.regions_meeting(x0, y0, x1, y1) if o.uid not in new]
        return sum(
            1
            for obj in below
            if any(shapely.intersection(s.region, obj.region).area > 1.0 for s in shapes)
        )


def _keys(window: ProjectWindow, action_id: str) -> str:
    keys = window.actions[action_id].shortcuts()
    return keys[0].toString() if keys else "no key"


def install(window: ProjectWindow) -> PaintBehindCue:
    """Add the paint-behind cues, the hold key and the send-to-bottom hint to ``window``."""
    return PaintBehindCue(window)
