"""The review queue of propagation in the project window.

Propagating to the next frame marks the objects whose optical flow the forward-backward
check does not trust on most of their area (``confidence`` below
:data:`~roadmark.annotators.sequence.ops.REVIEW_BELOW`). Frame > Next propagated object to
check goes to the next frame that has such objects and selects them; correcting one with
any tool, or Objects > Confirm selected propagated objects, makes it a human keyframe and
takes it off the queue. The queue itself is
:func:`~roadmark.annotators.sequence.ops.propagated_to_check` (Qt-free).

Created by :class:`~roadmark.app.features.sequence_tools.SequenceTools`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from roadmark.annotators.sequence.ops import confirm_command, propagated_to_check
from roadmark.app.shortcuts import ActionSpec, register

if TYPE_CHECKING:
    from roadmark.app.window_api import ProjectWindow

REVIEW_ACTIONS = [
    ActionSpec(
        "sequence.next_check", "Next propagated object to chec&k", "Frame", ("Ctrl+Shift+P",)
    ),
    ActionSpec(
        "sequence.confirm",
        "C&onfirm selected propagated objects",
        "Objects",
        ("Ctrl+Shift+K",),
    ),
]
register(REVIEW_ACTIONS)


class PropagationReview:
    """Next-to-check and confirm for propagated objects.

    Args:
        window: The project window.
        guard: Wraps a handler so that a ``RoadmarkError`` is shown, not raised.
    """

    def __init__(
        self, window: ProjectWindow, guard: Callable[[Callable[[], object]], Callable[[], None]]
    ) -> None:
        self.window = window
        self.project = window.project
        self.editor = window.editor
        window.actions.bind("sequence.next_check", guard(self.next_to_check))
        window.actions.bind("sequence.confirm", guard(self.confirm_selection))

    def _say(self, message: str, ms: int = 8000) -> None:
        self.window.statusBar().showMessage(message, ms)

    def next_to_check(self) -> bool:
        """Show the next frame (after the open one, wrapping) with propagated objects to
        check and select them; ``False`` when there are none."""
        items = propagated_to_check(self.project)
        if not items:
            self._say("No propagated object needs checking.")
            return False
        window = self.window
        rows = [window.state.row_of(item.frame.id) for item in items]
        ranked = [(row, item) for row, item in zip(rows, items, strict=True) if row is not None]
        if not ranked:
            return False
        current = window.state.current_row
        current = current if current is not None else -1
        _, item = min(ranked, key=lambda pair: (pair[0] <= current, pair[0]))
        window.show_frame(item.frame.id)  # its document open now, to select the objects
        document = self.editor.document
        if document is not None and document.frame.id == item.frame.id:
            document.select(item.uids)
        objects = sum(len(i.uids) for i in items)
        self._say(
            f"{objects} propagated objects to check on {len(items)} frames; "
            f"{len(item.uids)} here (flow trusted on {item.confidence:.0%} at worst). "
            "Correct them, or confirm with "
            f"{window.actions['sequence.confirm'].shortcut().toString()}."
        )
        return True

    def confirm_selection(self) -> bool:
        """Make the selected propagated (or interpolated) objects human keyframes."""
        document = self.editor.document
        if document is None or not document.selection:
            self._say("Select the propagated objects to confirm first.")
            return False
        command = confirm_command(document, document.selection, self.editor.context.user)
        if command is None:
            self._say("The selection has no propagated or interpolated objects.")
            return False
        self.editor.execute(command)
        self._say(command.text)
        return True
