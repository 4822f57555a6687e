"""The frame view: the image with its objects drawn over it, zoom and pan.

A QGraphicsView with one pixmap item for the image and one overlay pixmap for the regions
(rasterized from the objects in z-order, so it shows exactly what an export writes); boxes
are drawn as rectangle items. Item coordinates are image pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap, QWheelEvent
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsRectItem, QGraphicsScene, QGraphicsView

from roadmark.core.annotation import AnnotationObject, Box
from roadmark.core.raster import color_map, label_id_map
from roadmark.core.schema import LabelSchema

ZOOM_STEP = 1.25


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """A deep copy of an RGB or RGBA ``uint8`` array as a QImage."""
    rgb = np.ascontiguousarray(rgb)
    height, width = rgb.shape[:2]
    fmt = QImage.Format.Format_RGBA8888 if rgb.shape[2] == 4 else QImage.Format.Format_RGB888
    return QImage(rgb.data, width, height, rgb.strides[0], fmt).copy()


class FrameCanvas(QGraphicsView):
    """Shows one frame and its objects; reports the cursor position in image pixels."""

    cursor_moved = Signal(float, float)
    zoom_changed = Signal(float)

    def __init__(self) -> None:
        super().__init__()
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setBackgroundBrush(QColor(30, 32, 36))
        self.setMouseTracking(True)
        self._image_item = QGraphicsPixmapItem()
        self._overlay_item = QGraphicsPixmapItem()
        self._overlay_item.setZValue(1)
        self.scene().addItem(self._image_item)
        self.scene().addItem(self._overlay_item)
        self._box_items: list[QGraphicsRectItem] = []
        self.overlay_opacity = 0.5
        self.label_map: np.ndarray | None = None
        self._auto_fit = True  # keep fitting the frame to the view until the user zooms

    def show_frame(
        self, image: np.ndarray, objects: Sequence[AnnotationObject], schema: LabelSchema
    ) -> None:
        """Display ``image`` (RGB) with ``objects`` (z-ordered) in the schema's colors."""
        height, width = image.shape[:2]
        self._image_item.setPixmap(QPixmap.fromImage(rgb_to_qimage(image)))
        self.label_map = label_id_map(objects, schema, height, width)
        colors = color_map(self.label_map, schema)
        alpha = np.where(self.label_map > 0, int(255 * self.overlay_opacity), 0).astype(np.uint8)
        overlay = np.dstack([colors, alpha])
        self._overlay_item.setPixmap(QPixmap.fromImage(rgb_to_qimage(overlay)))
        for item in self._box_items:
            self.scene().removeItem(item)
        self._box_items = []
        for obj in objects:
            if obj.deleted or not isinstance(obj.geometry, Box):
                continue
            box = obj.geometry
            item = QGraphicsRectItem(QRectF(box.x0, box.y0, box.width, box.height))
            label = schema.by_id.get(obj.label_id)
            pen = QPen(QColor(*(label.color if label else (255, 255, 0))), 2)
            pen.setCosmetic(True)
            item.setPen(pen)
            item.setZValue(2)
            self.scene().addItem(item)
            self._box_items.append(item)
        self.scene().setSceneRect(QRectF(0, 0, width, height))

    def fit(self) -> None:
        """Fit the frame to the view, and keep it fitted when the view resizes."""
        self._auto_fit = True
        self.fitInView(self.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
        self.zoom_changed.emit(self.zoom)

    def zoom_by(self, factor: float) -> None:
        self._auto_fit = False
        self.scale(factor, factor)
        self.zoom_changed.emit(self.zoom)

    def actual_size(self) -> None:
        """One image pixel per screen pixel."""
        self._auto_fit = False
        self.resetTransform()
        self.zoom_changed.emit(self.zoom)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._auto_fit:
            self.fit()

    @property
    def zoom(self) -> float:
        return float(self.transform().m11())

    def wheelEvent(self, event: QWheelEvent) -> None:
        self.zoom_by(ZOOM_STEP if event.angleDelta().y() > 0 else 1 / ZOOM_STEP)

    def mouseMoveEvent(self, event) -> None:
        point: QPointF = self.mapToScene(event.position().toPoint())
        self.cursor_moved.emit(point.x(), point.y())
        super().mouseMoveEvent(event)

    def label_at(self, x: float, y: float) -> int | None:
        """The label id drawn at image point ``(x, y)``, or None outside the image."""
        if self.label_map is None:
            return None
        row, col = int(y), int(x)
        if 0 <= row < self.label_map.shape[0] and 0 <= col < self.label_map.shape[1]:
            return int(self.label_map[row, col])
        return None
