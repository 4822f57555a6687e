"""The vector layer of the canvas: boxes, the selection, the hovered object, handles and
the preview of the gesture in progress.

Regions are not drawn here one by one (the overlay shows them); only the selected and
hovered regions get a vector outline, so a frame with thousands of polygons costs no more
to paint than one with ten. Pens are cosmetic (constant width on screen whatever the zoom)
and handles keep a constant screen size.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import shapely
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget
from shapely.ops import polylabel

from roadmark.annotators.editor import Editor
from roadmark.annotators.geometry import box_handle_points, grabbable, vertices
from roadmark.annotators.tools.base import Preview
from roadmark.core.annotation import AnnotationObject, Box, Region, region_parts
from roadmark.core.schema import LabelSchema

HANDLE_PX = 7.0
MARGIN = 64.0  # image pixels around the frame where the layer may draw
MAX_HANDLES = 4000
MAX_BOX_TAGS = 300
MIN_LINE_LIGHTNESS = 150
SELECTION_COLOR = QColor(255, 255, 255)
SHADOW_COLOR = QColor(0, 0, 0, 200)
BEHIND_RING = QColor(255, 140, 26)
SCRIBBLE_OBJECT = QColor(40, 220, 90)
SCRIBBLE_BACKGROUND = QColor(235, 50, 50)  # the brush ring while paint behind is on


def line_color(color: QColor) -> QColor:
    """``color``, lightened when it is too dark to see as a line on a photo."""
    if color.lightness() < MIN_LINE_LIGHTNESS:
        return QColor.fromHsl(color.hslHue(), max(color.hslSaturation(), 160), MIN_LINE_LIGHTNESS)
    return color


def attribute_text(obj: AnnotationObject) -> str:
    """The attributes an object has set, short: ``occluded, truncated, color=red``."""
    parts = []
    for name, value in sorted(obj.attributes.items()):
        if value is True:
            parts.append(name)
        elif value not in (False, None, ""):
            parts.append(f"{name}={value}")
    return ", ".join(parts)


def _polygon(coords: np.ndarray) -> QPolygonF:
    return QPolygonF([QPointF(float(x), float(y)) for x, y in coords])


def region_path(region: Region) -> QPainterPath:
    """A painter path of a region, holes included (odd-even fill)."""
    path = QPainterPath()
    path.setFillRule(Qt.FillRule.OddEvenFill)
    for part in region_parts(region):
        path.addPolygon(_polygon(shapely.get_coordinates(part.exterior)))
        for interior in part.interiors:
            path.addPolygon(_polygon(shapely.get_coordinates(interior)))
    return path


def shape_path(shape: Box | Region) -> QPainterPath:
    if isinstance(shape, Box):
        path = QPainterPath()
        path.addRect(QRectF(shape.x0, shape.y0, shape.width, shape.height))
        return path
    return region_path(shape)


class EditLayer(QGraphicsItem):
    """Draws what the editor needs on top of the image and the overlay."""

    def __init__(self, editor: Editor, schema: LabelSchema) -> None:
        super().__init__()
        self.editor = editor
        self.schema = schema
        self._size = QRectF(0, 0, 1, 1)
        self._paths: dict[int, tuple[object, QPainterPath]] = {}
        self._anchors: dict[int, tuple[object, tuple[float, float]]] = {}
        self.show_boxes = True
        self.shown = True  # False while the canvas shows a frame whose regions are read
        self._margin = MARGIN
        self.setZValue(10)

    def set_size(self, width: int, height: int) -> None:
        self.prepareGeometryChange()
        self._size = QRectF(0, 0, width, height)
        self._paths.clear()
        self._anchors.clear()

    def boundingRect(self) -> QRectF:
        margin = self._margin
        return self._size.adjusted(-margin, -margin, margin, margin)

    def fit_brush(self, radius: float) -> None:
        """Grow the drawn area to hold the brush ring wherever the pointer is (a ring
        painted outside the item's area would never be erased: a stale arc)."""
        margin = max(MARGIN, radius + 8.0)
        if margin != self._margin:
            self.prepareGeometryChange()
            self._margin = margin

    def color(self, label_id: int | None) -> QColor:
        """A label's color, lightened when it is too dark to see as a line on a photo."""
        label = self.schema.by_id.get(label_id) if label_id is not None else None
        return line_color(QColor(*label.color) if label else QColor(255, 220, 0))

    def _path(self, obj: AnnotationObject) -> QPainterPath:
        assert obj.uid is not None
        cached = self._paths.get(obj.uid)
        if cached is not None and cached[0] is obj.geometry:
            return cached[1]
        path = shape_path(obj.geometry)
        self._paths[obj.uid] = (obj.geometry, path)
        return path

    # -- painting --------------------------------------------------------------------------

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        document = self.editor.document
        if document is None or not self.shown:
            return
        painter.setClipRect(self.boundingRect())  # nothing outside: it would stay there
        scale = painter.worldTransform().m11() or 1.0
        exposed = option.exposedRect
        preview = self.editor.preview()
        editing = set(preview.edited_uids) if preview else set()
        selection = set(document.selection)
        if self.show_boxes:
            self._paint_boxes(
                painter, document.visible_boxes(), selection | editing, exposed, scale
            )
        hover = self.editor.hover_uid
        if hover is not None and hover not in selection:
            obj = document.get(hover)
            if obj is not None and document.is_visible(obj):
                pen = QPen(self.color(obj.label_id).lighter(150), 1.5, Qt.PenStyle.DashLine)
                pen.setCosmetic(True)
                painter.setPen(pen)
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawPath(self._path(obj))
        selected = [obj for obj in document.selected() if obj.uid not in editing]
        for obj in selected:
            self._paint_selected(painter, obj, exposed, scale, handles=len(selected) == 1)
        if preview is not None:
            self._paint_preview(painter, preview, scale)

    def _paint_boxes(
        self,
        painter: QPainter,
        boxes: list[AnnotationObject],
        skip: set[int],
        exposed: QRectF,
        scale: float,
    ) -> None:
        painter.setBrush(Qt.BrushStyle.NoBrush)
        tags = len(boxes) <= MAX_BOX_TAGS
        font = QFont(painter.font())
        font.setPixelSize(11)
        for obj in boxes:
            if obj.uid in skip:
                continue
            box = obj.geometry
            assert isinstance(box, Box)
            rect = QRectF(box.x0, box.y0, box.width, box.height)
            if not rect.adjusted(-20, -20, 20, 20).intersects(exposed):
                continue
            color = self.color(obj.label_id)
            shadow = QPen(SHADOW_COLOR, 4.0)
            shadow.setCosmetic(True)
            painter.setPen(shadow)
            painter.drawRect(rect)
            pen = QPen(color, 2.0)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.drawRect(rect)
            if tags:
                self._tag(painter, obj, QPointF(box.x0, box.y0), color, scale, font)

    def tag_text(self, obj: AnnotationObject) -> str:
        """What an object's tag says: label, instance id and the attributes that are set."""
        label = self.schema.by_id.get(obj.label_id)
        text = label.name if label else str(obj.label_id)
        if obj.instance_id is not None:
            text += f" #{obj.instance_id}"
        flags = attribute_text(obj)
        return f"{text} · {flags}" if flags else text

    def tag_anchor(self, obj: AnnotationObject) -> tuple[float, float]:
        """Where a region's tag is centered: its pole of inaccessibility (a point well
        inside it, not the corner of its box, which may lie on another object)."""
        assert obj.uid is not None
        cached = self._anchors.get(obj.uid)
        if cached is not None and cached[0] is obj.geometry:
            return cached[1]
        parts = region_parts(obj.region)
        largest = max(parts, key=lambda part: part.area)
        size = max(largest.bounds[2] - largest.bounds[0], largest.bounds[3] - largest.bounds[1])
        point = polylabel(largest, tolerance=max(size / 50, 0.5))
        anchor = (float(point.x), float(point.y))
        self._anchors[obj.uid] = (obj.geometry, anchor)
        return anchor

    def _tag(
        self,
        painter: QPainter,
        obj: AnnotationObject,
        at: QPointF,
        color: QColor,
        scale: float,
        font: QFont,
        *,
        centered: bool = False,
    ) -> None:
        text = self.tag_text(obj)
        painter.save()
        painter.translate(at)
        painter.scale(1 / scale, 1 / scale)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        width = metrics.horizontalAdvance(text) + 6
        height = metrics.height() + 2
        x, y = (-width / 2, -height / 2) if centered else (-1.0, -height)
        painter.fillRect(QRectF(x, y, width, height), color)
        painter.setPen(QColor(0, 0, 0) if color.lightness() > 140 else QColor(255, 255, 255))
        painter.drawText(QRectF(x + 3, y, width, height), Qt.AlignmentFlag.AlignVCenter, text)
        painter.restore()

    def _paint_selected(
        self,
        painter: QPainter,
        obj: AnnotationObject,
        exposed: QRectF,
        scale: float,
        *,
        handles: bool,
    ) -> None:
        path = self._path(obj)
        color = self.color(obj.label_id)
        fill = QColor(color)
        fill.setAlpha(60)
        painter.setBrush(QBrush(fill))
        shadow = QPen(SHADOW_COLOR, 3.5)
        shadow.setCosmetic(True)
        painter.setPen(shadow)
        painter.drawPath(path)
        pen = QPen(SELECTION_COLOR, 1.5)
        pen.setCosmetic(True)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(path)
        font = QFont(painter.font())
        font.setPixelSize(11)
        if isinstance(obj.geometry, Box):
            b = obj.bounds
            self._tag(painter, obj, QPointF(b.x0, b.y0), color, scale, font)
        else:
            self._tag(
                painter, obj, QPointF(*self.tag_anchor(obj)), color, scale, font, centered=True
            )
        if not handles:
            return
        if isinstance(obj.geometry, Box):
            points: Iterable[tuple[float, float]] = box_handle_points(obj.geometry).values()
        else:
            coords = vertices(obj.geometry)
            inside = (
                (coords[:, 0] >= exposed.left())
                & (coords[:, 0] <= exposed.right())
                & (coords[:, 1] >= exposed.top())
                & (coords[:, 1] <= exposed.bottom())
            )
            # Level of detail: where vertices lie closer than a handle on screen, one
            # handle per handle-sized cell.
            coords = grabbable(coords[inside], HANDLE_PX / scale)
            if len(coords) > MAX_HANDLES:
                return
            points = coords.tolist()
        self._handles(painter, points, scale, color)

    def _handles(
        self, painter: QPainter, points: Iterable[tuple[float, float]], scale: float, color: QColor
    ) -> None:
        half = HANDLE_PX / 2 / scale
        pen = QPen(QColor(0, 0, 0), 1.0)
        pen.setCosmetic(True)
        painter.setPen(pen)
        painter.setBrush(QBrush(color.lighter(130)))
        painter.drawRects([QRectF(x - half, y - half, 2 * half, 2 * half) for x, y in points])

    def _scribble(
        self,
        painter: QPainter,
        points: tuple[tuple[float, float], ...],
        radius: float,
        erase: bool,
        scale: float,
    ) -> None:
        """A finished scribble: green on the object, red on the background, with a dark
        edge so it shows on any image (at least 3 screen pixels wide)."""
        width = max(2 * radius, 3 / scale)
        line = QPolygonF([QPointF(x, y) for x, y in points])
        color = SCRIBBLE_BACKGROUND if erase else SCRIBBLE_OBJECT
        for pen_color, extra in ((QColor(0, 0, 0, 180), 2 / scale), (color, 0.0)):
            pen = QPen(
                pen_color,
                width + extra,
                Qt.PenStyle.SolidLine,
                Qt.PenCapStyle.RoundCap,
                Qt.PenJoinStyle.RoundJoin,
            )
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawPolyline(line)

    def _paint_preview(self, painter: QPainter, preview: Preview, scale: float) -> None:
        color = (
            self.color(preview.label_id) if preview.label_id is not None else QColor(255, 255, 255)
        )
        if preview.crosshair is not None:
            x, y = preview.crosshair
            pen = QPen(QColor(255, 255, 255, 150), 1.0, Qt.PenStyle.DashLine)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.drawLine(QPointF(0, y), QPointF(self._size.width(), y))
            painter.drawLine(QPointF(x, 0), QPointF(x, self._size.height()))
        for shape in preview.shapes:
            fill = QColor(color)
            fill.setAlpha(70)
            painter.setBrush(QBrush(fill))
            pen = QPen(color.lighter(140), 2.0)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.drawPath(shape_path(shape))
        if preview.path:
            pen = QPen(color.lighter(140), 2.0)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawPolyline(QPolygonF([QPointF(x, y) for x, y in preview.path]))
            self._handles(painter, preview.path[:-1], scale, color)
            if preview.path_closable:
                x, y = preview.path[0]
                r = 2 * HANDLE_PX / scale
                ring = QPen(QColor(255, 255, 255), 2.0)
                ring.setCosmetic(True)
                painter.setPen(ring)
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawEllipse(QPointF(x, y), r, r)
        for points, radius, erase in preview.scribbles:
            self._scribble(painter, points, radius, erase, scale)
        if preview.stroke is not None:
            points, radius = preview.stroke
            stroke_color = QColor(255, 255, 255, 110) if preview.erase else QColor(color)
            if not preview.erase:
                stroke_color.setAlpha(130)
            pen = QPen(
                stroke_color,
                2 * radius,
                Qt.PenStyle.SolidLine,
                Qt.PenCapStyle.RoundCap,
                Qt.PenJoinStyle.RoundJoin,
            )
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            if len(points) == 1:
                painter.drawPoint(QPointF(*points[0]))
            else:
                painter.drawPolyline(QPolygonF([QPointF(x, y) for x, y in points]))
        for x, y, positive in preview.clicks:
            r = 1.5 * HANDLE_PX / scale
            ring = QPen(QColor(255, 255, 255), 1.5)
            ring.setCosmetic(True)
            painter.setPen(ring)
            painter.setBrush(QBrush(QColor(40, 200, 70) if positive else QColor(230, 50, 50)))
            painter.drawEllipse(QPointF(x, y), r, r)
        if preview.brush is not None:
            x, y, r = preview.brush
            rim = BEHIND_RING if self.editor.context.paint_behind else QColor(255, 255, 255)
            for pen_color, width in ((QColor(0, 0, 0, 200), 3.0), (rim, 1.2)):
                pen = QPen(pen_color, width)
                pen.setCosmetic(True)
                painter.setPen(pen)
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawEllipse(QPointF(x, y), r, r)
        if preview.marquee is not None:
            m = preview.marquee
            pen = QPen(QColor(255, 255, 255), 1.0, Qt.PenStyle.DashLine)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.setBrush(QBrush(QColor(255, 255, 255, 30)))
            painter.drawRect(QRectF(m.x0, m.y0, m.width, m.height))
