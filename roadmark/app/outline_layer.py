"""Vector outlines of the segmentation, for outline mode when zoomed in.

The overlay's outline mode draws the boundaries of the derived label map, one image pixel
wide; that is exact and cheap at any load, but once an image pixel covers several screen
pixels the outlines turn into staircases. From :data:`VECTOR_ZOOM` on, this item draws the
regions' polygons instead, with crisp lines of constant screen width. It shows only what
the label map shows: the regions are painted bottom to top into an offscreen image of the
exposed area, each one first erasing (composition mode "clear") what lies under it, then
stroking its boundary, so edges hidden under a region above do not appear.

The item is a child of the :class:`~roadmark.app.layers.OverlayLayer`: it follows the
overlay's visibility and opacity, and the overlay repaints it when a region changes. Only
regions whose bounds meet the exposed area are drawn; paths and bounds are cached per
object version.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPen, QTransform
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from roadmark.app.edit_layer import line_color, region_path
from roadmark.app.layers import VECTOR_ZOOM
from roadmark.core.annotation import AnnotationObject
from roadmark.core.document import FrameDocument
from roadmark.core.schema import LabelSchema

LINE_PX = 1.6


class OutlineLayer(QGraphicsItem):
    """Region boundaries as vectors (see the module docstring)."""

    def __init__(self, overlay: QGraphicsItem, schema: LabelSchema) -> None:
        super().__init__(overlay)
        self.overlay = overlay
        self.schema = schema
        self.document: FrameDocument | None = None
        self._size = QRectF(0, 0, 1, 1)
        self._cache: dict[int, tuple[object, QPainterPath, tuple[float, float, float, float]]]
        self._cache = {}
        self._pens: dict[int, QPen] = {}
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)
        # Drawing thousands of outlines takes tens of milliseconds: Qt keeps what was
        # drawn in device pixels and, when the view pans, draws only the newly exposed strip.
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        # Thin lines at the overlay's fill opacity would be too faint: the lines get their
        # own opacity, rising with the overlay's (see paint).
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresParentOpacity, True)
        self._shadow = QPen(QColor(0, 0, 0, 150))
        self._shadow.setWidthF(LINE_PX + 1.6)
        self._shadow.setCosmetic(True)
        self._shadow.setJoinStyle(Qt.PenJoinStyle.RoundJoin)

    def set_document(self, document: FrameDocument | None, width: int, height: int) -> None:
        self.prepareGeometryChange()
        self.document = document
        self._size = QRectF(0, 0, width, height)
        self._cache.clear()
        self.update()

    def boundingRect(self) -> QRectF:
        return self._size

    @staticmethod
    def active(outline: bool, scale: float) -> bool:
        """Whether outlines are drawn here (else the overlay draws them as pixels)."""
        return outline and scale >= VECTOR_ZOOM

    def _entry(self, obj: AnnotationObject) -> tuple[QPainterPath, tuple[float, ...]]:
        assert obj.uid is not None
        cached = self._cache.get(obj.uid)
        if cached is None or cached[0] is not obj.geometry:
            bounds = tuple(float(v) for v in obj.region.bounds)
            cached = (obj.geometry, region_path(obj.region), bounds)  # type: ignore[assignment]
            self._cache[obj.uid] = cached  # type: ignore[assignment]
        return cached[1], cached[2]

    def _pen(self, label_id: int) -> QPen:
        pen = self._pens.get(label_id)
        if pen is None:
            label = self.schema.by_id.get(label_id)
            pen = QPen(line_color(QColor(*label.color) if label else QColor(255, 220, 0)))
            pen.setWidthF(LINE_PX)
            pen.setCosmetic(True)
            pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
            self._pens[label_id] = pen
        return pen

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        document = self.document
        transform = painter.worldTransform()
        if document is None or not self.active(
            bool(getattr(self.overlay, "outline", False)), transform.m11()
        ):
            return
        exposed = option.exposedRect.intersected(self._size)  # type: ignore[attr-defined]
        if exposed.isEmpty():
            return
        target = transform.mapRect(exposed).toAlignedRect()
        if target.isEmpty():
            return
        image = QImage(target.size(), QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(0)
        offscreen = QPainter(image)
        offscreen.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        offscreen.setTransform(
            transform * QTransform.fromTranslate(-float(target.x()), -float(target.y()))
        )
        x0, y0 = exposed.left() - 2, exposed.top() - 2
        x1, y1 = exposed.right() + 2, exposed.bottom() + 2
        regions = document.visible_regions()
        entries = [self._entry(obj) for obj in regions]
        bounds = np.array([b for _, b in entries], dtype=np.float64).reshape(-1, 4)
        meets = (bounds[:, 0] <= x1) & (bounds[:, 2] >= x0) & (bounds[:, 1] <= y1)
        meets &= bounds[:, 3] >= y0
        clear = QPainter.CompositionMode.CompositionMode_Clear
        over = QPainter.CompositionMode.CompositionMode_SourceOver
        for i in np.flatnonzero(meets):
            path = entries[i][0]
            offscreen.setCompositionMode(clear)
            offscreen.fillPath(path, Qt.GlobalColor.black)
            offscreen.setCompositionMode(over)
            offscreen.strokePath(path, self._shadow)
            offscreen.strokePath(path, self._pen(regions[i].label_id))
        offscreen.end()
        painter.save()
        painter.resetTransform()
        painter.setOpacity(min(1.0, 0.2 + 1.6 * self.overlay.opacity()))
        painter.drawImage(target.topLeft(), image)
        painter.restore()
