"""The reviewer's pin tool: click for a point, drag for an area, where a comment goes.

Like every tool it is a Qt-free state machine over image-pixel pointers. It never edits
objects (a comment is not an edit of the labels, so it is not on the undo history): when a
gesture ends it hands the anchor to ``on_pin``, and the window asks for the category and
text and stores the comment (:func:`roadmark.io.workflow.add_comment`). The anchor is
clipped to the frame; a drag shorter than the context's tolerance is a point.

The tool also says which object a pin is about (:attr:`CommentPinTool.pinned_uid`, set
before ``on_pin`` runs): for a point, the topmost visible object under it; for an area,
the largest visible object lying inside it (with the tolerance as margin), if any.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from roadmark.annotators.tools.base import Button, Pointer, Preview, Tool, ToolContext
from roadmark.core.annotation import Box
from roadmark.core.history import Command

PinHandler = Callable[[Box], None]


class CommentPinTool(Tool):
    """Pins review comments: a click gives a point, a drag an area.

    Args:
        context: The tool context (its document gives the frame size).
        on_pin: Called with the anchor when a gesture ends.
    """

    name: ClassVar[str] = "comment"
    title: ClassVar[str] = "Review comment"
    selects_result: ClassVar[bool] = False

    def __init__(self, context: ToolContext, on_pin: PinHandler | None = None) -> None:
        super().__init__(context)
        self.on_pin = on_pin
        self._start: tuple[float, float] | None = None
        self._end: tuple[float, float] | None = None
        self.last_anchor: Box | None = None
        self.pinned_uid: int | None = None

    @property
    def busy(self) -> bool:
        return self._start is not None

    def press(self, pointer: Pointer) -> Command | None:
        if pointer.button is Button.LEFT:
            self._start = self._end = self._clip(pointer)
        return None

    def move(self, pointer: Pointer) -> Command | None:
        if self._start is not None:
            self._end = self._clip(pointer)
        return None

    def release(self, pointer: Pointer) -> Command | None:
        if self._start is None:
            return None
        end = self._clip(pointer)
        (x0, y0), (x1, y1) = self._start, end
        self._start = self._end = None
        tolerance = self.context.tolerance
        if abs(x1 - x0) <= tolerance and abs(y1 - y0) <= tolerance:
            anchor = Box(x0, y0, x0, y0)
        else:
            anchor = Box.from_corners(x0, y0, x1, y1)
        self.last_anchor = anchor
        self.pinned_uid = self._object_of(anchor)
        if self.on_pin is not None:
            self.on_pin(anchor)
        return None

    def cancel(self) -> None:
        self._start = self._end = None

    def _object_of(self, anchor: Box) -> int | None:
        document = self.context.document
        if document is None:
            return None
        if anchor.width == 0 and anchor.height == 0:
            under = document.objects_at(anchor.x0, anchor.y0)
            return under[0].uid if under else None
        margin = self.context.tolerance
        inside = [
            obj
            for obj in document.visible()
            if obj.bounds.x0 >= anchor.x0 - margin
            and obj.bounds.y0 >= anchor.y0 - margin
            and obj.bounds.x1 <= anchor.x1 + margin
            and obj.bounds.y1 <= anchor.y1 + margin
        ]
        return max(inside, key=lambda obj: obj.bounds.area).uid if inside else None

    def preview(self) -> Preview | None:
        if self._start is None or self._end is None:
            return Preview(hint="click to pin a comment to a point, drag to mark an area")
        return Preview(marquee=Box.from_corners(*self._start, *self._end), hint="comment area")

    def _clip(self, pointer: Pointer) -> tuple[float, float]:
        frame = self.context.doc().frame
        return (
            min(max(pointer.x, 0.0), float(frame.width)),
            min(max(pointer.y, 0.0), float(frame.height)),
        )
