"""What every tool shares: pointer events in image pixels, the context, previews.

A tool is a plain state machine: :meth:`Tool.press`, :meth:`Tool.move` and
:meth:`Tool.release` take a :class:`Pointer` (image coordinates, button, modifier keys)
and return a :class:`~roadmark.core.history.Command` when a gesture completes, or
``None``. While a gesture is in progress :meth:`Tool.preview` says what to draw. The
canvas converts Qt events to pointers and draws previews; no tool knows about Qt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any, ClassVar, Protocol

from roadmark.annotators.changes import as_keyframe, is_machine_made
from roadmark.core.annotation import HUMAN, AnnotationObject, Box, Geometry, Provenance, Region
from roadmark.core.document import FrameDocument
from roadmark.core.errors import RoadmarkError
from roadmark.core.history import Command
from roadmark.core.schema import LabelSchema


class ToolError(RoadmarkError):
    """A tool was used without what it needs (no open frame, unknown tool)."""


class Button(Enum):
    """The mouse button of a pointer event (``NONE`` for a hover)."""

    NONE = "none"
    LEFT = "left"
    RIGHT = "right"
    MIDDLE = "middle"


@dataclass(frozen=True)
class Pointer:
    """A pointer event in image pixels.

    Attributes:
        x: Horizontal position, image pixels from the left edge.
        y: Vertical position, image pixels from the top edge.
        button: The button pressed or held (``NONE`` for a hover).
        shift: Shift held.
        ctrl: Control (Command on macOS) held.
        alt: Alt held.
    """

    x: float
    y: float
    button: Button = Button.LEFT
    shift: bool = False
    ctrl: bool = False
    alt: bool = False

    @property
    def point(self) -> tuple[float, float]:
        return (self.x, self.y)


@dataclass
class ToolContext:
    """Settings and state the tools read.

    Attributes:
        schema: The project's labels.
        user: User name written into provenance.
        label_id: The current label (new objects get it).
        document: The open frame.
        paint_behind: New objects go under the existing ones (Cityscapes-style layering).
        brush_radius: Brush and eraser radius in image pixels.
        tolerance: How close (image pixels) the pointer must be to hit a handle or edge;
            the canvas sets it from the zoom so that it stays a few screen pixels.
        min_box_size: Smallest width and height of a drawn box.
    """

    schema: LabelSchema
    user: str
    label_id: int
    document: FrameDocument | None = None
    paint_behind: bool = False
    brush_radius: float = 12.0
    tolerance: float = 5.0
    min_box_size: float = 2.0

    def doc(self) -> FrameDocument:
        """The open document.

        Raises:
            ToolError: No frame is open.
        """
        if self.document is None:
            raise ToolError("no frame is open")
        return self.document

    def new_object(self, geometry: Geometry, label_id: int | None = None) -> AnnotationObject:
        """A new human-made object of ``label_id`` (the current label by default).

        Objects of a ``hasInstances`` label get an instance id no object of the frame has;
        schema attributes start at their defaults.
        """
        label = self.schema.label(self.label_id if label_id is None else label_id)
        return AnnotationObject(
            label_id=label.id,
            geometry=geometry,
            provenance=Provenance.new(HUMAN, self.user),
            instance_id=self.doc().next_instance_id() if label.has_instances else None,
            attributes=self.schema.attribute_defaults(label.id),
        )

    def edited(self, obj: AnnotationObject, **changes: Any) -> AnnotationObject:
        """``obj`` with ``changes`` applied and the user recorded as its last editor.

        An interpolated or propagated object that a person edits becomes a human label
        (a keyframe of its track, see :mod:`roadmark.annotators.changes`).
        """
        if is_machine_made(obj):
            return replace(as_keyframe(obj, self.user), **changes)
        return replace(obj, provenance=obj.provenance.touched(self.user), **changes)


@dataclass(frozen=True)
class Preview:
    """What to draw while a gesture is in progress (image pixels).

    Attributes:
        label_id: Label whose color to use (``None``: neutral).
        shapes: Geometries to draw filled and outlined (a box being drawn, a moved object).
        path: An open polyline (the polygon being drawn, ending at the pointer).
        path_closable: The pointer is on the first vertex: a click closes the polygon.
        stroke: Brush stroke so far: the points and the radius.
        erase: The stroke erases.
        scribbles: Finished marks that stay shown: ``(points, radius, erase)`` each
            (GrabCut's object and background scribbles).
        brush: Where the brush is: ``(x, y, radius)``.
        marquee: A selection rectangle.
        crosshair: Draw guide lines across the image through this point.
        hint: One line for the status bar.
        edited_uids: Objects the preview shows in a new state (drawn from the preview
            instead of their stored outline).
        clicks: Prompt clicks ``(x, y, positive)`` of the Smart tool.
    """

    label_id: int | None = None
    shapes: tuple[Box | Region, ...] = ()
    path: tuple[tuple[float, float], ...] = ()
    path_closable: bool = False
    stroke: tuple[tuple[tuple[float, float], ...], float] | None = None
    erase: bool = False
    scribbles: tuple[tuple[tuple[tuple[float, float], ...], float, bool], ...] = ()
    brush: tuple[float, float, float] | None = None
    marquee: Box | None = None
    crosshair: tuple[float, float] | None = None
    hint: str = ""
    edited_uids: tuple[int, ...] = ()
    clicks: tuple[tuple[float, float, bool], ...] = ()

    def bounds(self) -> tuple[float, float, float, float] | None:
        """The image area the preview covers, or ``None`` when it draws nothing."""
        xs: list[float] = []
        ys: list[float] = []
        for shape in self.shapes:
            b = shape if isinstance(shape, Box) else Box(*shape.bounds)
            xs += [b.x0, b.x1]
            ys += [b.y0, b.y1]
        for x, y in self.path:
            xs.append(x)
            ys.append(y)
        for x, y, _ in self.clicks:
            xs.append(x)
            ys.append(y)
        pad = 0.0
        if self.stroke is not None:
            for x, y in self.stroke[0]:
                xs.append(x)
                ys.append(y)
            pad = self.stroke[1]
        for points, radius, _erase in self.scribbles:
            xs += [x - radius for x, _ in points] + [x + radius for x, _ in points]
            ys += [y - radius for _, y in points] + [y + radius for _, y in points]
        if self.brush is not None:
            x, y, r = self.brush
            xs += [x - r, x + r]
            ys += [y - r, y + r]
        if self.marquee is not None:
            xs += [self.marquee.x0, self.marquee.x1]
            ys += [self.marquee.y0, self.marquee.y1]
        if not xs:
            return None
        return (min(xs) - pad, min(ys) - pad, max(xs) + pad, max(ys) + pad)


class Tool:
    """Base class: a tool that ignores everything. Subclasses override what they use.

    Attributes:
        name: Stable id (used for shortcuts and settings).
        title: Menu text.
        selects_result: Select the objects a completed gesture created or changed.
    """

    name: ClassVar[str] = "tool"
    title: ClassVar[str] = "Tool"
    selects_result: ClassVar[bool] = True

    def __init__(self, context: ToolContext) -> None:
        self.context = context
        self._hover: tuple[float, float] | None = None  # last pointer position seen

    @property
    def busy(self) -> bool:
        """A gesture is in progress (a frame switch would cancel it)."""
        return False

    def press(self, pointer: Pointer) -> Command | None:
        return None

    def move(self, pointer: Pointer) -> Command | None:
        return None

    def release(self, pointer: Pointer) -> Command | None:
        return None

    def double_click(self, pointer: Pointer) -> Command | None:
        return None

    def wants_key(self, key: str) -> bool:
        """Whether :meth:`key` would use ``key`` now (it then wins over shortcuts)."""
        return False

    def key(self, key: str) -> Command | None:
        """A key (``Return``, ``Escape``, ``Backspace``) while the tool is active."""
        return None

    def cancel(self) -> None:
        """Drop the gesture in progress."""

    def leave(self) -> None:
        """The pointer left the image view: forget where it hovered."""
        if not self.busy:
            self._hover = None

    def preview(self) -> Preview | None:
        return None

    def cursor(self) -> str:
        """The pointer shape to show: ``arrow``, ``cross``, ``move``, ``size``, ``busy`` or
        ``none``."""
        return "cross"



class Request(Protocol):
    """A request a tool hands to a worker (GrabCut, Smart): numbered, for one frame."""

    @property
    def serial(self) -> int: ...

    @property
    def frame_id(self) -> int: ...


def answers_pending(
    pending: Request | None, request: Request, document: FrameDocument | None
) -> bool:
    """Whether an answer to ``request`` is still wanted: it is the tool's pending request
    (not an outdated one) and its frame is still the open one."""
    return (
        pending is not None
        and request.serial == pending.serial
        and document is not None
        and document.frame.id == request.frame_id
    )


def points_distance(a: Sequence[float], b: Sequence[float]) -> float:
    return float(((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5)
