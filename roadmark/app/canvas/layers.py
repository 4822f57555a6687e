"""The two raster layers of the canvas: the frame image and the segmentation overlay.

Both are QGraphicsItems that paint a QImage wrapping a numpy buffer in Qt's fastest
raster format (32-bit premultiplied ARGB), so an edit rewrites only the bytes of the
window that changed and repaints that rectangle; no QPixmap is rebuilt.

The overlay is the document's pixel map (the topmost visible region per pixel) looked up
in a color table by slot: label colors, fully opaque, with the item's opacity giving the
blend. In outline mode the buffer keeps only pixels on a boundary between different
regions, but a child item draws the boundaries as vectors with a halo instead, at every
zoom (:mod:`roadmark.app.canvas.outline_layer`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from roadmark.core.document import FrameDocument
from roadmark.core.pixelmap import Window
from roadmark.core.schema import LabelSchema

VECTOR_ZOOM = 0.0  # outlines are vectors at every zoom (see roadmark.app.canvas.outline_layer)


def argb_from_rgb(rgb: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """An RGB image as the bytes of a ``QImage.Format_RGB32`` (B, G, R, 255 per pixel)."""
    height, width = rgb.shape[:2]
    out = np.empty((height, width, 4), dtype=np.uint8)
    out[..., 0] = rgb[..., 2]
    out[..., 1] = rgb[..., 1]
    out[..., 2] = rgb[..., 0]
    out[..., 3] = 255
    return out


class BufferItem(QGraphicsItem):
    """Paints a ``(height, width, 4)`` uint8 buffer at scene ``(0, 0)``, one unit a pixel."""

    def __init__(self, fmt: QImage.Format) -> None:
        super().__init__()
        self._format = fmt
        self.buffer: NDArray[np.uint8] = np.zeros((1, 1, 4), dtype=np.uint8)
        self._image = self._wrap()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)

    def _wrap(self) -> QImage:
        height, width = self.buffer.shape[:2]
        return QImage(self.buffer.data, width, height, width * 4, self._format)

    def set_buffer(self, buffer: NDArray[np.uint8]) -> None:
        """Show ``buffer`` (kept by reference; later writes to it show after :meth:`update`)."""
        self.prepareGeometryChange()
        self.buffer = np.ascontiguousarray(buffer)
        self._image = self._wrap()
        self.update()

    def boundingRect(self) -> QRectF:
        height, width = self.buffer.shape[:2]
        return QRectF(0, 0, width, height)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        exposed = option.exposedRect.intersected(self.boundingRect()).toAlignedRect()
        if exposed.isEmpty():
            return
        painter.drawImage(QRectF(exposed), self._image, QRectF(exposed))


class ImageLayer(BufferItem):
    """The frame's pixels."""

    def __init__(self) -> None:
        super().__init__(QImage.Format.Format_RGB32)

    def set_image(self, rgb: NDArray[np.uint8], argb: NDArray[np.uint8] | None = None) -> None:
        """Show RGB pixels (``argb``: the same already converted by :func:`argb_from_rgb`)."""
        self.set_buffer(argb if argb is not None else argb_from_rgb(rgb))


class OverlayColors:
    """Label colors as premultiplied BGRA rows, looked up by a document's slots."""

    def __init__(self, schema: LabelSchema) -> None:
        self._colors = np.zeros((max(1, max(schema.by_id) + 2), 4), dtype=np.uint8)
        for label in schema.labels:
            if label.id >= 0:
                r, g, b = label.color
                self._colors[label.id] = (b, g, r, 255)
        self._negative = {label.id: label.color for label in schema.labels if label.id < 0}

    def lut(self, document: FrameDocument) -> NDArray[np.uint8]:
        """Color by slot of ``document``'s pixel map (slot 0 transparent)."""
        labels = document.pixel_map.slot_labels()
        lut = self._colors[np.clip(labels, 0, len(self._colors) - 1)]
        for label_id, (r, g, b) in self._negative.items():
            lut[labels == label_id] = (b, g, r, 255)
        lut[0] = 0
        return lut

    def paint(
        self,
        document: FrameDocument,
        buffer: NDArray[np.uint8],
        window: Window,
        *,
        outline: bool,
    ) -> None:
        """Write the overlay of ``document`` inside ``window`` into ``buffer``."""
        owner = document.pixel_map.owner
        lut = self.lut(document)
        r0, c0, r1, c1 = window
        if not outline:
            buffer[r0:r1, c0:c1] = lut[owner[r0:r1, c0:c1]]
            return
        # Boundaries: a pixel is drawn when a 4-neighbor has another owner. A one-pixel
        # margin around the window keeps edges at its border right.
        height, width = owner.shape
        r0, c0 = max(0, r0 - 1), max(0, c0 - 1)
        r1, c1 = min(height, r1 + 1), min(width, c1 + 1)
        block = owner[r0:r1, c0:c1]
        edge = np.zeros(block.shape, dtype=bool)
        edge[:, 1:] |= block[:, 1:] != block[:, :-1]
        edge[:, :-1] |= block[:, 1:] != block[:, :-1]
        edge[1:, :] |= block[1:, :] != block[:-1, :]
        edge[:-1, :] |= block[1:, :] != block[:-1, :]
        colors = lut[block]
        colors[~edge] = 0
        buffer[r0:r1, c0:c1] = colors

    def render(self, document: FrameDocument, *, outline: bool) -> NDArray[np.uint8]:
        """The whole overlay of a document as a new buffer."""
        buffer = np.zeros((document.height, document.width, 4), dtype=np.uint8)
        self.paint(document, buffer, (0, 0, document.height, document.width), outline=outline)
        return buffer


class OverlayLayer(BufferItem):
    """The segmentation overlay of a document.

    Attributes:
        outline: Draw only region boundaries.
    """

    def __init__(self, schema: LabelSchema) -> None:
        super().__init__(QImage.Format.Format_ARGB32_Premultiplied)
        self.colors = OverlayColors(schema)
        self.outline = False
        self.document: FrameDocument | None = None

    def set_document(
        self, document: FrameDocument | None, buffer: NDArray[np.uint8] | None = None
    ) -> None:
        """Show a document's regions; ``buffer`` is its overlay rendered beforehand."""
        self.document = document
        if document is None:
            self.set_buffer(np.zeros((1, 1, 4), dtype=np.uint8))
            return
        if buffer is None or buffer.shape[:2] != (document.height, document.width):
            buffer = self.colors.render(document, outline=self.outline)
        self.set_buffer(buffer)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        if self.outline and painter.worldTransform().m11() >= VECTOR_ZOOM:
            return  # the outline layer (a child item) draws the boundaries
        super().paint(painter, option, widget)

    def set_outline(self, outline: bool) -> None:
        if outline != self.outline:
            self.outline = outline
            self.redraw()

    def redraw(self, window: Window | None = None) -> None:
        """Recompute the colors inside ``window`` (the whole frame when ``None``)."""
        document = self.document
        if document is None:
            return
        if window is None:
            window = (0, 0, document.height, document.width)
        self.colors.paint(document, self.buffer, window, outline=self.outline)
        r0, c0, r1, c1 = window
        rect = QRectF(c0 - 1, r0 - 1, c1 - c0 + 2, r1 - r0 + 2)
        self.update(rect)
        for child in self.childItems():
            invalidate = getattr(child, "invalidate", None)
            if invalidate is not None:
                invalidate(rect)  # the outline layer keeps drawn tiles
            else:
                child.update(rect)
