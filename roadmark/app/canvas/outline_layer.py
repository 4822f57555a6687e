"""Vector outlines of the segmentation: outline mode (Shift+O) at every zoom.

The regions' polygons are drawn with lines of constant screen width (adjustable,
:meth:`OutlineLayer.set_width`), each in its label's color over a dark halo, so that they
read on any photo and at the fit zoom (a one-image-pixel outline vanishes when the frame
is shown at half size, and a navy line disappears on a dark car). Every edge of a visible
region is drawn, also where it borders unlabeled pixels. It shows only what the label map
shows: the regions are painted bottom to top into an offscreen image, each
one first erasing (composition mode "clear") what lies under it, then stroking its
boundary, so edges hidden under a region above do not appear.

The offscreen images are tiles of :data:`TILE` device pixels over the zoomed frame, kept
until the zoom changes: a pan draws only the tiles coming into view, an edit redraws the
tiles it touches (:meth:`OutlineLayer.invalidate`, called by the overlay). A tile draws
only the regions whose bounds meet it; paths and bounds are cached per object version.
Level of detail: zoomed out, a region's path is its outline simplified to about half a
screen pixel, never a whole one (one level per halving of the zoom, each cached), so a
frame of thousands of regions and hundreds of thousands of vertices draws its fit view
from far fewer.
The item is a child of the :class:`~roadmark.app.canvas.layers.OverlayLayer`: it follows the
overlay's visibility, and draws with an opacity that rises with the overlay's.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPen, QTransform
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from roadmark.app.canvas.edit_layer import line_color, region_path
from roadmark.core.annotation import AnnotationObject
from roadmark.core.document import FrameDocument
from roadmark.core.schema import LabelSchema

LINE_PX = 2.0  # default line width, screen pixels
HALO_PX = 1.5  # dark halo on each side of the line
MIN_LINE_PX, MAX_LINE_PX = 1.0, 8.0
TILE = 256  # device pixels
MAX_TILES = 240  # about 60 MB of tiles at most
KEPT_ZOOMS = 4
SIMPLIFY_SCREEN_PX = 0.5  # zoomed out, outlines are simplified to this on screen


def detail_level(scale: float) -> int:
    """0 at zoom 1 and above, then one more per halving of the zoom."""
    return max(0, math.floor(-math.log2(max(scale, 1e-6))))


def simplified(region: shapely.Geometry, level: int) -> shapely.Geometry:
    """``region`` for drawing at detail ``level``: simplified to about
    :data:`SIMPLIFY_SCREEN_PX` screen pixels (image pixels ``0.5 * 2**level``), the
    original where simplifying would leave nothing."""
    if level == 0:
        return region
    thinner = shapely.simplify(region, SIMPLIFY_SCREEN_PX * 2**level, preserve_topology=True)
    return region if thinner.is_empty else thinner


_Shapes = tuple[list[QPainterPath], list[QPen], np.ndarray]


class OutlineLayer(QGraphicsItem):
    """Region boundaries as vectors (see the module docstring)."""

    def __init__(self, overlay: QGraphicsItem, schema: LabelSchema) -> None:
        super().__init__(overlay)
        self.overlay = overlay
        self.schema = schema
        self.document: FrameDocument | None = None
        self._size = QRectF(0, 0, 1, 1)
        # (uid, detail level) -> (geometry drawn, its path, its bounds)
        self._cache: dict[
            tuple[int, int], tuple[object, QPainterPath, tuple[float, float, float, float]]
        ] = {}
        self._pens: dict[int, QPen] = {}
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)
        # Drawn outlines are kept as tiles of the zoomed frame (see paint).
        # zoom -> (column, row) -> tile; the last few zooms are kept (zooming back and
        # forth finds its tiles drawn)
        self._tiles: dict[float, dict[tuple[int, int], QImage]] = {}
        # Thin lines at the overlay's fill opacity would be too faint: the lines get their
        # own opacity, rising with the overlay's (see paint).
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresParentOpacity, True)
        self.line_px = LINE_PX
        self._shadow = QPen(QColor(0, 0, 0, 220))
        self._shadow.setCosmetic(True)
        self._shadow.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        self.set_width(LINE_PX)

    def set_width(self, pixels: float) -> float:
        """Draw the lines ``pixels`` screen pixels wide (clamped), with the halo around
        them; returns the width used."""
        self.line_px = min(max(pixels, MIN_LINE_PX), MAX_LINE_PX)
        self._shadow.setWidthF(self.line_px + 2 * HALO_PX)
        self._pens.clear()
        self._tiles.clear()
        self.update()
        return self.line_px

    def set_document(self, document: FrameDocument | None, width: int, height: int) -> None:
        self.prepareGeometryChange()
        self.document = document
        self._size = QRectF(0, 0, width, height)
        self._cache.clear()
        self._tiles.clear()
        self.update()

    def invalidate(self, rect: QRectF | None = None) -> None:
        """Draw the outlines inside ``rect`` (image pixels; all when ``None``) again."""
        if rect is None:
            self._tiles.clear()
        else:
            for scale, tiles in self._tiles.items():
                x0 = math.floor((rect.left() - 3 / scale) * scale / TILE)
                y0 = math.floor((rect.top() - 3 / scale) * scale / TILE)
                x1 = math.floor((rect.right() + 3 / scale) * scale / TILE)
                y1 = math.floor((rect.bottom() + 3 / scale) * scale / TILE)
                for key in [k for k in tiles if x0 <= k[0] <= x1 and y0 <= k[1] <= y1]:
                    del tiles[key]
        self.update(rect if rect is not None else self._size)

    def boundingRect(self) -> QRectF:
        return self._size

    @staticmethod
    def active(outline: bool, scale: float) -> bool:
        """Whether outlines are drawn here: in outline mode, at every zoom (``scale`` is
        kept for callers that ask per zoom)."""
        return outline

    def _entry(
        self, obj: AnnotationObject, level: int = 0
    ) -> tuple[QPainterPath, tuple[float, ...]]:
        assert obj.uid is not None
        cached = self._cache.get((obj.uid, level))
        if cached is None or cached[0] is not obj.geometry:
            x0, y0, x1, y1 = (float(v) for v in obj.region.bounds)
            path = region_path(simplified(obj.region, level))
            cached = (obj.geometry, path, (x0, y0, x1, y1))
            self._cache[obj.uid, level] = cached
        return cached[1], cached[2]

    def _pen(self, label_id: int) -> QPen:
        pen = self._pens.get(label_id)
        if pen is None:
            label = self.schema.by_id.get(label_id)
            pen = QPen(line_color(QColor(*label.color) if label else QColor(255, 220, 0)))
            pen.setWidthF(self.line_px)
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
        exposed = option.exposedRect.intersected(self._size)
        if exposed.isEmpty():
            return
        # Tiles of TILE x TILE device pixels over the frame at this zoom: a pan draws only
        # the tiles that come into view, a zoom back to an earlier zoom finds them drawn;
        # an edit redraws the tiles it touches (invalidate), another frame starts afresh.
        scale = transform.m11()
        cached = self._tiles.pop(scale, None)
        if cached is None or len(cached) > MAX_TILES:
            cached = {}
        self._tiles[scale] = cached  # the most recent zoom last
        while len(self._tiles) > KEPT_ZOOMS or (
            len(self._tiles) > 1 and sum(len(t) for t in self._tiles.values()) > MAX_TILES
        ):
            del self._tiles[next(iter(self._tiles))]
        columns = range(
            math.floor(exposed.left() * scale / TILE), math.ceil(exposed.right() * scale / TILE)
        )
        rows = range(
            math.floor(exposed.top() * scale / TILE), math.ceil(exposed.bottom() * scale / TILE)
        )
        tiles = []
        shapes: _Shapes | None = None
        for row in rows:
            for column in columns:
                tile = cached.get((column, row))
                if tile is None:
                    shapes = shapes or self._shapes(document, detail_level(scale))
                    tile = cached[column, row] = self._draw_tile(shapes, scale, column, row)
                tiles.append((column, row, tile))
        # Device position of the zoomed frame's origin, in whole pixels so that tiles meet.
        dx, dy = round(transform.dx()), round(transform.dy())
        painter.save()
        painter.resetTransform()
        painter.setOpacity(min(1.0, 0.5 + 1.6 * self.overlay.opacity()))
        for column, row, tile in tiles:
            painter.drawImage(QPointF(column * TILE + dx, row * TILE + dy), tile)
        painter.restore()

    def _shapes(self, document: FrameDocument, level: int = 0) -> _Shapes:
        """The visible regions' paths at detail ``level``, pens and bounds (an array),
        bottom first."""
        regions = document.visible_regions()
        entries = [self._entry(obj, level) for obj in regions]
        bounds = np.array([b for _, b in entries], dtype=np.float64).reshape(-1, 4)
        pens = [self._pen(obj.label_id) for obj in regions]
        return [path for path, _ in entries], pens, bounds

    def _draw_tile(self, shapes: _Shapes, scale: float, column: int, row: int) -> QImage:
        image = QImage(TILE, TILE, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(0)
        offscreen = QPainter(image)
        offscreen.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        offscreen.setTransform(
            QTransform(scale, 0, 0, scale, -float(column * TILE), -float(row * TILE))
        )
        margin = 3 / scale  # line width beyond the tile
        x0, y0 = column * TILE / scale - margin, row * TILE / scale - margin
        x1, y1 = (column + 1) * TILE / scale + margin, (row + 1) * TILE / scale + margin
        paths, pens, bounds = shapes
        meets = (bounds[:, 0] <= x1) & (bounds[:, 2] >= x0) & (bounds[:, 1] <= y1)
        meets &= bounds[:, 3] >= y0
        clear = QPainter.CompositionMode.CompositionMode_Clear
        over = QPainter.CompositionMode.CompositionMode_SourceOver
        for i in np.flatnonzero(meets):
            path = paths[i]
            offscreen.setCompositionMode(clear)
            offscreen.fillPath(path, Qt.GlobalColor.black)
            offscreen.setCompositionMode(over)
            offscreen.strokePath(path, self._shadow)
            offscreen.strokePath(path, pens[i])
        offscreen.end()
        return image
