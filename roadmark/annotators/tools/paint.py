"""Painting tools: brush, eraser and fill.

Brush and eraser work on vector regions: a stroke is the path of the pointer buffered by
the brush radius (round caps and joins), clipped to the image. One stroke (press to
release) is one command.

- Brush: when exactly one region is selected and it has the current label, the stroke is
  added to it (shapely union); otherwise it makes a new region of the current label, on
  top of the stack or under it with "paint behind", and that region becomes the
  selection, so the next strokes extend it (until the label changes).
- Eraser: the stroke is cut out (shapely difference) of the selected regions, or of every
  visible region it touches when nothing is selected. A region erased completely is
  deleted.
- Fill: a click on pixels that no visible region covers makes a region of the current
  label from all uncovered pixels connected to that one (4-connected, bounded by the
  regions around and the image edge). Its outline follows pixel edges, so the label map
  gets exactly those pixels.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import shapely

from roadmark.analysis.pixel_outline import traced_region
from roadmark.annotators import geometry as geo
from roadmark.annotators.tools.base import (
    Button,
    Pointer,
    Preview,
    Tool,
    ToolContext,
    points_distance,
)
from roadmark.core.annotation import AnnotationObject, ObjectKind, as_region
from roadmark.core.edits import AddObjects, UpdateObjects, describe
from roadmark.core.errors import GeometryError
from roadmark.core.history import Command

MIN_RADIUS = 0.5
MAX_RADIUS = 500.0


class BrushTool(Tool):
    """Paint regions with a round brush."""

    name = "brush"
    title = "Brush"
    erase = False

    def __init__(self, context: ToolContext) -> None:
        super().__init__(context)
        self.points: list[tuple[float, float]] = []
        self._target: AnnotationObject | None = None

    @property
    def busy(self) -> bool:
        return bool(self.points)

    def press(self, pointer: Pointer) -> Command | None:
        if pointer.button is not Button.LEFT:
            return None
        self.points = [pointer.point]
        selected = [obj for obj in self.context.doc().selected()]
        regions = [obj for obj in selected if obj.kind is ObjectKind.REGION]
        same_label = len(regions) == 1 and regions[0].label_id == self.context.label_id
        self._target = regions[0] if len(selected) == 1 and same_label else None
        return None

    def move(self, pointer: Pointer) -> Command | None:
        self._hover = pointer.point
        if self.points and pointer.button is Button.LEFT:
            spacing = max(self.context.brush_radius / 4.0, 0.5)
            if points_distance(self.points[-1], pointer.point) >= spacing:
                self.points.append(pointer.point)
        return None

    def release(self, pointer: Pointer) -> Command | None:
        if pointer.button is not Button.LEFT or not self.points:
            return None
        if points_distance(self.points[-1], pointer.point) > 0:
            self.points.append(pointer.point)
        points, self.points = self.points, []
        doc = self.context.doc()
        stroke = geo.stroke_region(points, self.context.brush_radius, doc.width, doc.height)
        if stroke is None:
            return None
        return self._erase(stroke) if self.erase else self._paint(stroke)

    def _paint(self, stroke: shapely.Geometry) -> Command | None:
        doc = self.context.doc()
        target = self._target
        if target is not None and target.uid is not None and doc.get(target.uid) is target:
            try:
                region = as_region(shapely.union(target.region, stroke))
            except GeometryError:
                return None
            after = self.context.edited(target, geometry=region)
            return UpdateObjects(doc.frame.id, [target], [after], text="Brush stroke")
        return AddObjects(
            doc.frame.id,
            [self.context.new_object(stroke)],
            at_bottom=self.context.paint_behind,
            text="Brush stroke",
        )

    def _erase(self, stroke: shapely.Geometry) -> Command | None:
        doc = self.context.doc()
        candidates = [obj for obj in doc.selected() if obj.kind is ObjectKind.REGION]
        if not candidates:
            candidates = doc.visible_regions()
        if not candidates:
            return None
        shapes = np.array([obj.region for obj in candidates], dtype=object)
        touched = [candidates[i] for i in np.flatnonzero(shapely.intersects(shapes, stroke))]
        before, after = [], []
        for obj in touched:
            rest = shapely.difference(obj.region, stroke)
            try:
                new = self.context.edited(obj, geometry=as_region(rest))
            except GeometryError:
                new = self.context.edited(obj, deleted=True)
            before.append(obj)
            after.append(new)
        if not before:
            return None
        return UpdateObjects(
            doc.frame.id, before, after, text=f"Erase from {describe(len(before), 'region')}"
        )

    def cancel(self) -> None:
        self.points = []

    def wants_key(self, key: str) -> bool:
        return key == "Escape" and self.busy

    def key(self, key: str) -> Command | None:
        if key == "Escape":
            self.cancel()
        return None

    def preview(self) -> Preview | None:
        radius = self.context.brush_radius
        brush = (*self._hover, radius) if self._hover is not None else None
        if not self.points and brush is None:
            return None
        return Preview(
            label_id=None if self.erase else self.context.label_id,
            stroke=(tuple(self.points), radius) if self.points else None,
            erase=self.erase,
            brush=brush,
            hint=f"{self.title.lower()} radius {radius:g} px",
        )

    def cursor(self) -> str:
        return "none"


class EraserTool(BrushTool):
    """Cut a round brush's path out of regions."""

    name = "eraser"
    title = "Eraser"
    erase = True


class FillTool(Tool):
    """Fill an unlabeled area enclosed by regions with the current label."""

    name = "fill"
    title = "Fill"

    def press(self, pointer: Pointer) -> Command | None:
        if pointer.button is not Button.LEFT:
            return None
        doc = self.context.doc()
        region = enclosed_area(doc.pixel_map.owner, pointer.x, pointer.y)
        if region is None:
            return None
        return AddObjects(
            doc.frame.id,
            [self.context.new_object(region)],
            at_bottom=self.context.paint_behind,
            text="Fill",
        )


def enclosed_area(owner: np.ndarray, x: float, y: float) -> shapely.Geometry | None:
    """The region of pixels with no owner (0) 4-connected to the pixel at ``(x, y)``.

    Returns ``None`` when that pixel is outside the image or already covered.
    """
    row, col = math.floor(y), math.floor(x)
    height, width = owner.shape
    if not (0 <= row < height and 0 <= col < width) or owner[row, col] != 0:
        return None
    free = (owner == 0).view(np.uint8)
    mask = np.zeros((height + 2, width + 2), dtype=np.uint8)
    flags = 4 | cv2.FLOODFILL_MASK_ONLY | (1 << 8)
    _, _, _, (x0, y0, w, h) = cv2.floodFill(
        free.copy(), mask, (col, row), 1, loDiff=0, upDiff=0, flags=flags
    )
    component = mask[1 + y0 : 1 + y0 + h, 1 + x0 : 1 + x0 + w].astype(bool)
    return traced_region(component, offset=(float(x0), float(y0)))


def clamp_radius(radius: float) -> float:
    return min(max(radius, MIN_RADIUS), MAX_RADIUS)
