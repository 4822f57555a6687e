"""Drawing tools: boxes and polygons.

Box: press, drag, release; the box snaps to the image bounds and must be at least
``min_box_size`` wide and high (a smaller drag is a click, which selects). Pressing on a
handle of a selected box resizes it instead.

Polygon: click vertices; close by clicking the first vertex, double-clicking, or Return.
Holding the button while moving traces vertices along the path. Backspace removes the
last vertex, Escape drops the polygon. A self-intersecting outline is repaired into valid
polygons; the result is clipped to the image. Before the first vertex, pressing on a
vertex or edge of the selected region edits it as the select tool would.

New objects go on top of the frame's stack, or under it with "paint behind".
"""

from __future__ import annotations

from shapely.geometry import Polygon

from roadmark.annotators import geometry as geo
from roadmark.annotators.tools.base import (
    Button,
    Pointer,
    Preview,
    Tool,
    ToolContext,
    points_distance,
)
from roadmark.annotators.tools.select import SelectTool, pick
from roadmark.core.annotation import Box
from roadmark.core.edits import AddObjects
from roadmark.core.errors import GeometryError
from roadmark.core.history import Command


class _EditsSelection(Tool):
    """A drawing tool that hands presses on the selection's handles to a select tool."""

    def __init__(self, context: ToolContext) -> None:
        super().__init__(context)
        self._select = SelectTool(context)
        self._editing = False

    def _start_edit(self, pointer: Pointer) -> bool:
        plain = not (pointer.shift or pointer.alt or pointer.ctrl)
        if pointer.button is Button.LEFT and plain and self._select.handle_at(pointer) is not None:
            self._select.press(pointer)
            self._editing = self._select.busy
        return self._editing

    def _edit_release(self, pointer: Pointer) -> Command | None:
        self._editing = False
        return self._select.release(pointer)


class BoxTool(_EditsSelection):
    """Draw axis-aligned boxes."""

    name = "box"
    title = "Box"

    def __init__(self, context: ToolContext) -> None:
        super().__init__(context)
        self._start: tuple[float, float] | None = None
        self._end: tuple[float, float] = (0.0, 0.0)

    @property
    def busy(self) -> bool:
        return self._start is not None or self._editing

    def press(self, pointer: Pointer) -> Command | None:
        if pointer.button is not Button.LEFT:
            return None
        if pointer.ctrl and self._select.handle_at(pointer) is not None:
            return self._select.press(pointer)
        if self._start_edit(pointer):
            return None
        doc = self.context.doc()
        self._start = geo.clamp_point(pointer.x, pointer.y, doc.width, doc.height)
        self._end = self._start
        return None

    def move(self, pointer: Pointer) -> Command | None:
        self._hover = pointer.point
        if self._editing:
            return self._select.move(pointer)
        if self._start is not None:
            self._end = pointer.point
        return None

    def release(self, pointer: Pointer) -> Command | None:
        if pointer.button is not Button.LEFT:
            return None
        if self._editing:
            return self._edit_release(pointer)
        if self._start is None:
            return None
        self._end = pointer.point
        box = self._box()
        self._start = None
        doc = self.context.doc()
        if box.width < self.context.min_box_size or box.height < self.context.min_box_size:
            target = pick(doc, pointer.x, pointer.y, self.context.tolerance)
            doc.select([target.uid] if target is not None and target.uid is not None else [])
            return None
        return AddObjects(
            doc.frame.id,
            [self.context.new_object(box)],
            at_bottom=self.context.paint_behind,
            text="Draw box",
        )

    def _box(self) -> Box:
        assert self._start is not None
        doc = self.context.doc()
        return geo.box_from_drag(*self._start, *self._end, doc.width, doc.height)

    def wants_key(self, key: str) -> bool:
        return key == "Escape" and self.busy

    def key(self, key: str) -> Command | None:
        if key == "Escape":
            self.cancel()
        return None

    def cancel(self) -> None:
        self._start = None
        self._editing = False
        self._select.cancel()

    def preview(self) -> Preview | None:
        if self._editing:
            return self._select.preview()
        if self._start is None:
            if self._hover is None:
                return None
            return Preview(label_id=self.context.label_id, crosshair=self._hover)
        box = self._box()
        return Preview(
            label_id=self.context.label_id,
            shapes=(box,),
            crosshair=self._end,
            hint=f"box {box.width:.0f} x {box.height:.0f} px",
        )


class PolygonTool(_EditsSelection):
    """Draw polygon regions vertex by vertex (or by tracing)."""

    name = "polygon"
    title = "Polygon"

    def __init__(self, context: ToolContext) -> None:
        super().__init__(context)
        self.points: list[tuple[float, float]] = []
        self._tracing = False

    @property
    def busy(self) -> bool:
        return bool(self.points) or self._editing

    def _closes(self, point: tuple[float, float]) -> bool:
        return len(self.points) >= 3 and (
            points_distance(self.points[0], point) <= self.context.tolerance
        )

    def press(self, pointer: Pointer) -> Command | None:
        if pointer.button is not Button.LEFT:
            return None
        if not self.points:
            if pointer.ctrl and self._select.handle_at(pointer) is not None:
                return self._select.press(pointer)
            if self._start_edit(pointer):
                return None
        doc = self.context.doc()
        point = geo.clamp_point(pointer.x, pointer.y, doc.width, doc.height)
        if self._closes(point):
            return self.close()
        if not self.points or points_distance(self.points[-1], point) > 1e-9:
            self.points.append(point)
        self._tracing = True
        return None

    def move(self, pointer: Pointer) -> Command | None:
        if self._editing:
            return self._select.move(pointer)
        doc = self.context.doc()
        point = geo.clamp_point(pointer.x, pointer.y, doc.width, doc.height)
        self._hover = point
        spacing = max(2.0 * self.context.tolerance, 2.0)
        if (
            self._tracing
            and pointer.button is Button.LEFT
            and self.points
            and points_distance(self.points[-1], point) >= spacing
            and not self._closes(point)
        ):
            self.points.append(point)
        return None

    def release(self, pointer: Pointer) -> Command | None:
        if self._editing:
            return self._edit_release(pointer)
        self._tracing = False
        return None

    def double_click(self, pointer: Pointer) -> Command | None:
        if pointer.button is Button.LEFT and len(self.points) >= 3:
            return self.close()
        return None

    def close(self) -> Command | None:
        """Finish the polygon; ``None`` (and the outline dropped) when it has no area."""
        points, self.points = self.points, []
        self._tracing = False
        if len(points) < 3:
            return None
        doc = self.context.doc()
        try:
            region = geo.clip_to_image(Polygon(points), doc.width, doc.height)
        except GeometryError:
            return None
        return AddObjects(
            doc.frame.id,
            [self.context.new_object(region)],
            at_bottom=self.context.paint_behind,
            text="Draw polygon",
        )

    def wants_key(self, key: str) -> bool:
        return bool(self.points) and key in ("Return", "Enter", "Escape", "Backspace")

    def key(self, key: str) -> Command | None:
        if key in ("Return", "Enter"):
            return self.close()
        if key == "Escape":
            self.cancel()
        elif key == "Backspace" and self.points:
            self.points.pop()
        return None

    def cancel(self) -> None:
        self.points = []
        self._tracing = False
        self._editing = False
        self._select.cancel()

    def preview(self) -> Preview | None:
        if self._editing:
            return self._select.preview()
        if not self.points:
            return None
        path = list(self.points)
        closable = False
        if self._hover is not None:
            closable = self._closes(self._hover)
            path.append(self.points[0] if closable else self._hover)
        return Preview(
            label_id=self.context.label_id,
            path=tuple(path),
            path_closable=closable,
            hint=f"{len(self.points)} vertices — click the first vertex, double-click or "
            "Return to close; Backspace removes the last vertex; Escape cancels",
        )

    def cursor(self) -> str:
        return "cross"
