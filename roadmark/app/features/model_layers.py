"""What the model thinks, drawn over the frame apart from the human labels.

Four layers, all above the human overlay and below the vector edit layer:

- :class:`ModelLabelsLayer`: the model's segmentation, *hatched* (diagonal stripes of the
  label colors with gaps between them), so it never looks like the solid human overlay;
- :class:`HeatLayer`: the uncertainty map, transparent where the model is sure, through
  yellow to red where it is not; its opacity is adjustable;
- :class:`CompareLayer`: magenta where the model's label differs from the human labels
  (both sampled at the prediction maps' resolution);
- :class:`ModelBoxesItem`: the model's boxes, dashed, with label and score; boxes under
  the confidence threshold are hidden;
- :class:`FocusItem`: the queue's current region (its outline, and a dotted frame).

The raster layers are painted at map resolution (half the frame size by default) and
scaled by the item transform, so building them costs a quarter of a full-size overlay.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPainterPath, QPen, QTransform
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from roadmark.app.canvas.edit_layer import region_path
from roadmark.app.canvas.layers import BufferItem
from roadmark.core.annotation import Box, Region
from roadmark.core.prediction import NO_LABEL, PredictedBox, SegmentationMaps
from roadmark.core.schema import LabelSchema

HATCH_PERIOD = 6  # map pixels per stripe pair
HATCH_ALPHA = 215
HEAT_FLOOR = 0.15  # uncertainty below this is not drawn
DIFF_COLOR = (255, 0, 255)
Z_MODEL = 2.0  # above the human overlay (1), below the edit layer (10)


def label_colors(schema: LabelSchema) -> NDArray[np.uint8]:
    """``(max id + 1, 3)`` RGB table of the schema's label colors (negative ids left out)."""
    table = np.zeros((max(1, max(schema.by_id) + 1), 3), dtype=np.uint8)
    for label in schema.labels:
        if label.id >= 0:
            table[label.id] = label.color
    return table


def _premultiplied(rgb: NDArray[np.uint8], alpha: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """BGRA premultiplied bytes (QImage ``Format_ARGB32_Premultiplied``)."""
    out = np.empty((*alpha.shape, 4), dtype=np.uint8)
    scale = alpha.astype(np.uint16)
    for channel, source in ((0, 2), (1, 1), (2, 0)):
        out[..., channel] = (rgb[..., source].astype(np.uint16) * scale // 255).astype(np.uint8)
    out[..., 3] = alpha
    return out


def render_model_labels(maps: SegmentationMaps, colors: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """The model's label map as hatched label colors (map resolution, premultiplied)."""
    labels = maps.label_ids.astype(np.int64)
    rgb = colors[np.clip(labels, 0, len(colors) - 1)]
    height, width = labels.shape
    rows, cols = np.indices((height, width))
    stripes = ((rows + cols) % HATCH_PERIOD) < (HATCH_PERIOD // 2)
    alpha = np.where(stripes & (labels != NO_LABEL), HATCH_ALPHA, 0).astype(np.uint8)
    return _premultiplied(rgb, alpha)


def render_heat(uncertainty: NDArray[np.floating]) -> NDArray[np.uint8]:
    """Uncertainty in ``[0, 1]`` as a heat map: clear, yellow, then red (premultiplied)."""
    u = np.clip(uncertainty.astype(np.float32), 0.0, 1.0)
    rgb = np.empty((*u.shape, 3), dtype=np.uint8)
    rgb[..., 0] = 255
    rgb[..., 1] = (255 * np.clip(1.6 - 1.6 * u, 0.0, 1.0)).astype(np.uint8)
    rgb[..., 2] = 0
    strength = np.clip((u - HEAT_FLOOR) / (1.0 - HEAT_FLOOR), 0.0, 1.0)
    alpha = (255 * np.sqrt(strength)).astype(np.uint8)
    return _premultiplied(rgb, alpha)


def sample_at_maps(full: NDArray[Any], maps: SegmentationMaps) -> NDArray[Any]:
    """A frame-size array sampled at the centers of the maps' pixels."""
    height, width = maps.shape
    sx, sy = maps.scale
    frame_h, frame_w = full.shape[:2]
    rows = np.minimum(((np.arange(height) + 0.5) * sy).astype(np.int64), frame_h - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * sx).astype(np.int64), frame_w - 1)
    return full[np.ix_(rows, cols)]


def difference_mask(maps: SegmentationMaps, human_labels: NDArray[Any]) -> NDArray[np.bool_]:
    """Map pixels where the model's label differs from the human one (frame-size labels,
    0 where nothing is drawn); pixels the model maps to no label are left out."""
    human = sample_at_maps(human_labels, maps).astype(np.int64)
    model = maps.label_ids.astype(np.int64)
    mask: NDArray[np.bool_] = (model != NO_LABEL) & (model != human)
    return mask


def render_difference(mask: NDArray[np.bool_]) -> NDArray[np.uint8]:
    rgb = np.empty((*mask.shape, 3), dtype=np.uint8)
    rgb[...] = DIFF_COLOR
    return _premultiplied(rgb, np.where(mask, 200, 0).astype(np.uint8))


class MapLayer(BufferItem):
    """A premultiplied buffer at map resolution, scaled onto the frame."""

    def __init__(self, z: float) -> None:
        super().__init__(QImage.Format.Format_ARGB32_Premultiplied)
        self.setZValue(z)
        self.setVisible(False)

    def show_buffer(self, buffer: NDArray[np.uint8] | None, maps: SegmentationMaps | None) -> None:
        """Show ``buffer`` (map resolution) scaled to the frame of ``maps``; clear on None."""
        if buffer is None or maps is None:
            self.set_buffer(np.zeros((1, 1, 4), dtype=np.uint8))
            self.setTransform(QTransform())
            return
        sx, sy = maps.scale
        self.set_buffer(buffer)
        self.setTransform(QTransform.fromScale(sx, sy))


class ModelLabelsLayer(MapLayer):
    def __init__(self, schema: LabelSchema) -> None:
        super().__init__(Z_MODEL)
        self.colors = label_colors(schema)

    def show_maps(self, maps: SegmentationMaps | None) -> None:
        self.show_buffer(None if maps is None else render_model_labels(maps, self.colors), maps)


class HeatLayer(MapLayer):
    def __init__(self) -> None:
        super().__init__(Z_MODEL + 0.1)
        self.setOpacity(0.6)

    def show_maps(self, maps: SegmentationMaps | None) -> None:
        self.show_buffer(None if maps is None else render_heat(maps.uncertainty()), maps)


class CompareLayer(MapLayer):
    def __init__(self) -> None:
        super().__init__(Z_MODEL + 0.2)
        self.different_pixels = 0

    def show_difference(
        self, maps: SegmentationMaps | None, human_labels: NDArray[Any] | None
    ) -> None:
        if maps is None or human_labels is None:
            self.different_pixels = 0
            self.show_buffer(None, None)
            return
        mask = difference_mask(maps, human_labels)
        self.different_pixels = int(mask.sum())
        self.show_buffer(render_difference(mask), maps)


class ModelBoxesItem(QGraphicsItem):
    """The model's boxes, dashed, with ``label score``; those under ``threshold`` hidden."""

    def __init__(self, schema: LabelSchema) -> None:
        super().__init__()
        self.setZValue(Z_MODEL + 0.3)
        self.schema = schema
        self.boxes: tuple[PredictedBox, ...] = ()
        self.threshold = 0.5
        self._rect = QRectF()

    def set_boxes(self, boxes: Sequence[PredictedBox], width: int, height: int) -> None:
        self.prepareGeometryChange()
        self.boxes = tuple(b for b in boxes if not b.flip_only)
        self._rect = QRectF(0, 0, width, height)
        self.update()

    def set_threshold(self, threshold: float) -> None:
        self.threshold = threshold
        self.update()

    def shown(self) -> list[PredictedBox]:
        """The boxes drawn now (score at or above the threshold)."""
        return [b for b in self.boxes if b.score >= self.threshold]

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        font = QFont(painter.font())
        font.setPointSizeF(8.5)
        for predicted in self.shown():
            label = self.schema.by_id.get(predicted.label_id)
            r, g, b = label.color if label else (255, 255, 255)
            color = QColor(r, g, b)
            pen = QPen(color, 2.0, Qt.PenStyle.DashLine)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            box = predicted.box
            painter.drawRect(QRectF(box.x0, box.y0, box.width, box.height))
            # The caption in screen pixels, so it stays readable at any zoom.
            corner = painter.transform().map(QPointF(box.x0, box.y0))
            painter.save()
            painter.resetTransform()
            painter.setFont(font)
            text = f"{label.name if label else predicted.label_id} {predicted.score:.2f}"
            metrics = painter.fontMetrics()
            rect = QRectF(
                corner.x(),
                corner.y() - metrics.height() - 2,
                metrics.horizontalAdvance(text) + 6,
                metrics.height() + 2,
            )
            painter.fillRect(rect, QColor(20, 20, 24, 190))
            painter.setPen(color)
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
            painter.restore()


class FocusItem(QGraphicsItem):
    """The queue's current region: its outline, lightly filled, and a dotted frame around
    it (the frame alone for a region stored without an outline)."""

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(Z_MODEL + 0.4)
        self.box: Box | None = None
        self.outline: Region | None = None
        self._path: QPainterPath | None = None

    def set_box(self, box: Box | None, outline: Region | None = None) -> None:
        """Show ``box`` (``None``: nothing) and, when given, the region's ``outline``."""
        self.prepareGeometryChange()
        self.box = box
        self.outline = outline if box is not None else None
        self._path = None if self.outline is None else region_path(self.outline)
        self.update()

    def boundingRect(self) -> QRectF:
        if self.box is None:
            return QRectF()
        b = self.box
        return QRectF(b.x0, b.y0, b.width, b.height).adjusted(-4, -4, 4, 4)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        if self.box is None:
            return
        b = self.box
        if self._path is not None:
            for color, width in ((QColor(0, 0, 0, 220), 3.0), (QColor(0, 255, 255), 1.5)):
                pen = QPen(color, width)
                pen.setCosmetic(True)
                painter.setPen(pen)
                painter.setBrush(QColor(0, 255, 255, 60) if width < 2 else Qt.BrushStyle.NoBrush)
                painter.drawPath(self._path)
        for color, width, style in (
            (QColor(0, 0, 0, 200), 4.0 if self._path is None else 2.0, Qt.PenStyle.SolidLine),
            (QColor(0, 255, 255), 2.0 if self._path is None else 1.0, Qt.PenStyle.DotLine),
        ):
            pen = QPen(color, width, style)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(QRectF(b.x0, b.y0, b.width, b.height))
