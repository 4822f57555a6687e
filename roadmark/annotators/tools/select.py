"""The select tool: pick, move, resize boxes, edit polygon vertices, rubber-band selection.

Gestures (left button):

- click an object: select it (the topmost one under the pointer; Alt cycles to the one
  below the current selection, Shift adds or removes it);
- drag a selected object: move the selection (kept on the image);
- drag a box handle of a selected box: resize it (the opposite side stays, minimum size);
- drag a vertex of the selected region: move it; click or drag a point on its outline:
  insert a vertex there (and move it); Ctrl+click a vertex: delete it;
- drag anywhere else (on empty image or on an object that is not selected): select the
  objects inside the rectangle. Only a selected object moves, so a slip of the mouse on a
  fully labeled frame never drags the sky or the road away.

A drag starts after the pointer has traveled a few screen pixels (a third of the handle
tolerance); each completed drag is one command; a click changes only the selection.
"""

from __future__ import annotations

from dataclasses import dataclass

import shapely

from roadmark.annotators import geometry as geo
from roadmark.annotators.tools.base import Button, Pointer, Preview, Tool, ToolContext
from roadmark.core.annotation import AnnotationObject, Box, ObjectKind
from roadmark.core.document import FrameDocument
from roadmark.core.edits import UpdateObjects, describe
from roadmark.core.errors import GeometryError
from roadmark.core.history import Command


def pick_order(doc: FrameDocument, x: float, y: float, tolerance: float) -> list[AnnotationObject]:
    """Visible objects under ``(x, y)``, topmost first (boxes count when the point is inside
    or near their outline, regions when it is inside)."""
    found = []
    for obj in reversed(doc.objects):
        if not doc.is_visible(obj):
            continue
        if isinstance(obj.geometry, Box):
            box = obj.geometry
            inside = box.x0 <= x <= box.x1 and box.y0 <= y <= box.y1
            if inside or geo.near_box_edge(box, x, y, tolerance):
                found.append(obj)
            continue
        b = obj.bounds
        if b.x0 <= x <= b.x1 and b.y0 <= y <= b.y1 and shapely.contains_xy(obj.region, x, y):
            found.append(obj)
    return found


def pick(doc: FrameDocument, x: float, y: float, tolerance: float) -> AnnotationObject | None:
    """The topmost visible object under ``(x, y)``."""
    top_region = doc.region_at(x, y)
    top_index = doc.index_of(top_region.uid) if top_region and top_region.uid else -1
    # Only the visible boxes above the top region (the pixel map answered for regions):
    # no pass over a frame's thousands of regions on every pointer move.
    for obj in reversed(doc.visible_boxes()):
        if obj.uid is None or doc.index_of(obj.uid) <= top_index:
            continue
        box = obj.geometry
        assert isinstance(box, Box)
        inside = box.x0 <= x <= box.x1 and box.y0 <= y <= box.y1
        if inside or geo.near_box_edge(box, x, y, tolerance):
            return obj
    return top_region


@dataclass
class _Move:
    start: tuple[float, float]
    originals: list[AnnotationObject]
    shift: tuple[float, float] = (0.0, 0.0)


@dataclass
class _Vertex:
    original: AnnotationObject
    key: geo.VertexKey
    inserted: bool
    geometry: object


@dataclass
class _Resize:
    original: AnnotationObject
    handle: str
    box: Box


@dataclass
class _Marquee:
    start: tuple[float, float]
    end: tuple[float, float]
    additive: bool
    clicked: int | None = None  # the object a press without drag selects


class SelectTool(Tool):
    """Select and edit existing objects."""

    name = "select"
    title = "Select and edit"
    selects_result = False

    def __init__(self, context: ToolContext) -> None:
        super().__init__(context)
        self._gesture: _Move | _Vertex | _Resize | _Marquee | None = None
        self._press: tuple[float, float] = (0.0, 0.0)
        self._dragging = False
        self.hover_uid: int | None = None
        self._cursor = "arrow"

    @property
    def busy(self) -> bool:
        return self._gesture is not None

    # -- hit testing -----------------------------------------------------------------------

    def handle_at(self, pointer: Pointer) -> _Vertex | _Resize | None:
        """The edit gesture a press at ``pointer`` would start on the selection, if any."""
        doc = self.context.doc()
        tol = self.context.tolerance
        selected = doc.selected()
        for obj in reversed(selected):
            if isinstance(obj.geometry, Box):
                handle = geo.box_handle_at(obj.geometry, pointer.x, pointer.y, tol)
                if handle is not None:
                    return _Resize(obj, handle, obj.geometry)
        if len(selected) == 1 and selected[0].kind is ObjectKind.REGION:
            obj = selected[0]
            region = obj.region
            key = geo.nearest_vertex(region, pointer.x, pointer.y, tol)
            if key is not None:
                return _Vertex(obj, key, inserted=False, geometry=region)
            edge = geo.nearest_edge(region, pointer.x, pointer.y, tol)
            if edge is not None:
                key, (x, y) = edge
                return _Vertex(
                    obj, key, inserted=True, geometry=geo.insert_vertex(region, key, x, y)
                )
        return None

    # -- events ----------------------------------------------------------------------------

    def press(self, pointer: Pointer) -> Command | None:
        if pointer.button is not Button.LEFT:
            return None
        doc = self.context.doc()
        self._press = pointer.point
        self._dragging = False
        handle = self.handle_at(pointer)
        if isinstance(handle, _Vertex) and pointer.ctrl:
            return self._delete_vertex(handle) if not handle.inserted else None
        if handle is not None and not pointer.shift and not pointer.alt:
            self._gesture = handle
            return None
        target = self._target(pointer)
        if target is None:
            if not pointer.shift:
                doc.clear_selection()
            self._gesture = _Marquee(pointer.point, pointer.point, additive=pointer.shift)
            return None
        assert target.uid is not None
        if pointer.shift:
            doc.toggle_selected(target.uid)
            return None
        if pointer.alt:
            doc.select([target.uid])
        elif target.uid not in doc.selection:
            doc.select([target.uid])
            self._gesture = _Marquee(pointer.point, pointer.point, False, clicked=target.uid)
            return None
        self._gesture = _Move(pointer.point, doc.selected())
        return None

    def _target(self, pointer: Pointer) -> AnnotationObject | None:
        doc = self.context.doc()
        if not pointer.alt:
            return pick(doc, pointer.x, pointer.y, self.context.tolerance)
        stack = pick_order(doc, pointer.x, pointer.y, self.context.tolerance)
        if not stack:
            return None
        selected = [i for i, obj in enumerate(stack) if obj.uid in doc.selection]
        return stack[(selected[-1] + 1) % len(stack)] if selected else stack[0]

    def move(self, pointer: Pointer) -> Command | None:
        gesture = self._gesture
        doc = self.context.doc()
        if gesture is None:
            self._update_hover(pointer)
            return None
        if not self._dragging:
            threshold = self.context.tolerance / 3
            moved = abs(pointer.x - self._press[0]) + abs(pointer.y - self._press[1])
            if moved < threshold:
                return None
            self._dragging = True
        if isinstance(gesture, _Move):
            bounds = _union_bounds(gesture.originals)
            gesture.shift = geo.clamp_shift(
                bounds,
                pointer.x - gesture.start[0],
                pointer.y - gesture.start[1],
                doc.width,
                doc.height,
            )
        elif isinstance(gesture, _Vertex):
            x, y = geo.clamp_point(pointer.x, pointer.y, doc.width, doc.height)
            base = gesture.original.region
            if gesture.inserted:
                gesture.geometry = geo.insert_vertex(base, gesture.key, x, y)
            else:
                gesture.geometry = geo.move_vertex(base, gesture.key, x, y)
        elif isinstance(gesture, _Resize):
            original = gesture.original.geometry
            assert isinstance(original, Box)
            gesture.box = geo.resize_box(
                original,
                gesture.handle,
                pointer.x,
                pointer.y,
                doc.width,
                doc.height,
                self.context.min_box_size,
            )
        else:
            gesture.end = pointer.point
        return None

    def release(self, pointer: Pointer) -> Command | None:
        if pointer.button is not Button.LEFT or self._gesture is None:
            return None
        self.move(pointer)
        gesture, self._gesture = self._gesture, None
        doc = self.context.doc()
        frame_id = doc.frame.id
        if isinstance(gesture, _Move):
            dx, dy = gesture.shift
            if dx == 0 and dy == 0:
                return None
            after = [
                self.context.edited(obj, geometry=geo.translate(obj.geometry, dx, dy))
                for obj in gesture.originals
            ]
            return UpdateObjects(
                frame_id, gesture.originals, after, text=f"Move {describe(len(after))}"
            )
        if isinstance(gesture, _Vertex):
            if not gesture.inserted and (
                not self._dragging or gesture.geometry is gesture.original.region
            ):
                return None
            try:
                region = geo.finish(gesture.geometry)
            except GeometryError:
                return None
            edited = self.context.edited(gesture.original, geometry=region)
            text = "Insert vertex" if gesture.inserted else "Move vertex"
            return UpdateObjects(frame_id, [gesture.original], [edited], text=text)
        if isinstance(gesture, _Resize):
            if gesture.box == gesture.original.geometry:
                return None
            resized = self.context.edited(gesture.original, geometry=gesture.box)
            return UpdateObjects(frame_id, [gesture.original], [resized], text="Resize box")
        if not self._dragging:
            return None  # a click: the press chose the selection
        rect = Box.from_corners(*gesture.start, *gesture.end)
        inside = [
            obj.uid
            for obj in doc.visible()
            if obj.uid is not None
            and rect.x0 <= obj.bounds.x0
            and obj.bounds.x1 <= rect.x1
            and rect.y0 <= obj.bounds.y0
            and obj.bounds.y1 <= rect.y1
        ]
        if rect.width > 0 or rect.height > 0:
            doc.select([*doc.selection, *inside] if gesture.additive else inside)
        return None

    def _delete_vertex(self, handle: _Vertex) -> Command | None:
        obj = handle.original
        region = geo.delete_vertex(obj.region, handle.key)
        if region is None:
            return None
        after = self.context.edited(obj, geometry=region)
        return UpdateObjects(self.context.doc().frame.id, [obj], [after], text="Delete vertex")

    def _update_hover(self, pointer: Pointer) -> None:
        doc = self.context.doc()
        handle = self.handle_at(pointer)
        if handle is not None:
            self._cursor = "size" if isinstance(handle, _Resize) else "cross"
            return
        target = pick(doc, pointer.x, pointer.y, self.context.tolerance)
        self.hover_uid = target.uid if target is not None else None
        self._cursor = "move" if target is not None and target.uid in doc.selection else "arrow"

    def cancel(self) -> None:
        self._gesture = None

    def wants_key(self, key: str) -> bool:
        return key == "Escape" and self._gesture is not None

    def key(self, key: str) -> Command | None:
        if key == "Escape":
            self._gesture = None
        return None

    def cursor(self) -> str:
        return self._cursor

    def preview(self) -> Preview | None:
        gesture = self._gesture
        if gesture is None:
            return None
        if isinstance(gesture, _Move):
            dx, dy = gesture.shift
            if dx == 0 and dy == 0:
                return None
            return Preview(
                shapes=tuple(geo.translate(obj.geometry, dx, dy) for obj in gesture.originals),
                label_id=gesture.originals[0].label_id if gesture.originals else None,
                edited_uids=tuple(o.uid for o in gesture.originals if o.uid is not None),
                hint=f"move by {dx:+.1f}, {dy:+.1f} px",
            )
        if isinstance(gesture, _Vertex):
            return Preview(
                shapes=(gesture.geometry,),
                label_id=gesture.original.label_id,
                edited_uids=(gesture.original.uid,) if gesture.original.uid else (),
            )
        if isinstance(gesture, _Resize):
            return Preview(
                shapes=(gesture.box,),
                label_id=gesture.original.label_id,
                edited_uids=(gesture.original.uid,) if gesture.original.uid else (),
                hint=f"{gesture.box.width:.0f} x {gesture.box.height:.0f} px",
            )
        return Preview(marquee=Box.from_corners(*gesture.start, *gesture.end))


def _union_bounds(objects: list[AnnotationObject]) -> tuple[float, float, float, float]:
    boxes = [obj.bounds for obj in objects]
    return (
        min(b.x0 for b in boxes),
        min(b.y0 for b in boxes),
        max(b.x1 for b in boxes),
        max(b.y1 for b in boxes),
    )
