"""The frame view: image, segmentation overlay and vector layer, with zoom and pan.

A QGraphicsView whose scene units are image pixels. The canvas does two jobs only: it
draws (three items: :class:`~roadmark.app.layers.ImageLayer`,
:class:`~roadmark.app.layers.OverlayLayer` with its vector
:class:`~roadmark.app.outline_layer.OutlineLayer`, :class:`~roadmark.app.edit_layer.EditLayer`)
and it converts Qt mouse and key events into image-pixel
:class:`~roadmark.annotators.base.Pointer` events for the
:class:`~roadmark.annotators.editor.Editor`. It observes the open document and repaints
only the window a change touched.

Zoom: mouse wheel (around the cursor), keys, fit, 1:1. Pan: middle button, or Space held
with the left button, or the scroll bars.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainter, QWheelEvent
from PySide6.QtWidgets import QFrame, QGraphicsScene, QGraphicsView

from roadmark.annotators.base import Button, Pointer
from roadmark.annotators.editor import Editor
from roadmark.app.edit_layer import HANDLE_PX, EditLayer
from roadmark.app.layers import ImageLayer, OverlayLayer
from roadmark.app.outline_layer import OutlineLayer
from roadmark.core.document import DocumentChange, FrameDocument
from roadmark.core.errors import RoadmarkError

ZOOM_STEP = 1.25
MIN_ZOOM = 0.02
MAX_ZOOM = 64.0
TOOL_KEYS = {
    Qt.Key.Key_Return: "Return",
    Qt.Key.Key_Enter: "Enter",
    Qt.Key.Key_Escape: "Escape",
    Qt.Key.Key_Backspace: "Backspace",
    Qt.Key.Key_Tab: "Tab",  # the Smart tool's next candidate mask
}
CURSORS = {
    "arrow": Qt.CursorShape.ArrowCursor,
    "cross": Qt.CursorShape.CrossCursor,
    "move": Qt.CursorShape.SizeAllCursor,
    "size": Qt.CursorShape.SizeFDiagCursor,
    "none": Qt.CursorShape.BlankCursor,
}


class FrameCanvas(QGraphicsView):
    """Shows the open frame and turns mouse and keys into editor events.

    Signals:
        cursor_moved(x, y): The pointer moved to image point ``(x, y)``.
        zoom_changed(zoom): Screen pixels per image pixel changed.
        hint_changed(text): What the gesture in progress wants the user to know.
        error(message): An edit failed (the project could not be written, ...).
    """

    cursor_moved = Signal(float, float)
    zoom_changed = Signal(float)
    hint_changed = Signal(str)
    error = Signal(str)

    def __init__(self, editor: Editor) -> None:
        super().__init__()
        self.editor = editor
        schema = editor.schema
        self.setScene(QGraphicsScene(self))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setBackgroundBrush(QColor(30, 32, 36))
        self.setMouseTracking(True)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontSavePainterState, True)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontAdjustForAntialiasing, True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.image_layer = ImageLayer()
        self.overlay = OverlayLayer(schema)
        self.overlay.setZValue(1)
        self.overlay.setOpacity(0.5)
        self.outline_layer = OutlineLayer(self.overlay, schema)
        self.edit_layer = EditLayer(editor, schema)
        for item in (self.image_layer, self.overlay, self.edit_layer):
            self.scene().addItem(item)
        self.document: FrameDocument | None = None
        self._auto_fit = True
        self._pan_from: QPointF | None = None
        self._space = False
        self._preview_rect: QRectF | None = None
        self._hover: int | None = None
        self._last_cursor = (0.0, 0.0)
        self._update_render_hints()

    # -- content ---------------------------------------------------------------------------

    def show_document(
        self,
        document: FrameDocument,
        image: np.ndarray,
        *,
        argb: np.ndarray | None = None,
        overlay: np.ndarray | None = None,
    ) -> None:
        """Display ``document`` over ``image`` (RGB), keeping the zoom unless fitting.

        ``argb`` and ``overlay`` are the image layer's and the overlay's buffers when they
        were rendered beforehand (see :mod:`roadmark.app.prefetch`).
        """
        if self.document is not None:
            self.document.unsubscribe(self._on_change)
        self.document = document
        document.subscribe(self._on_change)
        height, width = image.shape[:2]
        self.image_layer.set_image(image, argb)
        self.overlay.set_document(document, overlay)
        self.outline_layer.set_document(document, width, height)
        self.edit_layer.set_size(width, height)
        self.scene().setSceneRect(QRectF(0, 0, width, height))
        self._preview_rect = None
        if self._auto_fit:
            self.fit()
        self.viewport().update()

    def _on_change(self, document: FrameDocument, change: DocumentChange) -> None:
        if change.window is not None:
            self.overlay.redraw(change.window)
        if change.selection or change.boxes or change.objects or change.order or change.visibility:
            self.edit_layer.update()

    @property
    def label_map(self) -> np.ndarray | None:
        """The label id drawn at each pixel (0 where no visible region is)."""
        return None if self.document is None else self.document.pixel_map.label_ids()

    def label_at(self, x: float, y: float) -> int | None:
        """The label of the topmost visible region at image point ``(x, y)``."""
        return None if self.document is None else self.document.label_at(x, y)

    # -- overlay settings ------------------------------------------------------------------

    def set_overlay_visible(self, visible: bool) -> None:
        self.overlay.setVisible(visible)

    def set_overlay_opacity(self, opacity: float) -> None:
        self.overlay.setOpacity(min(max(opacity, 0.05), 1.0))

    def set_outline(self, outline: bool) -> None:
        self.overlay.set_outline(outline)

    # -- zoom ------------------------------------------------------------------------------

    @property
    def zoom(self) -> float:
        return float(self.transform().m11())

    def fit(self) -> None:
        """Fit the frame to the view, and keep it fitted when the view resizes."""
        self._auto_fit = True
        rect = self.sceneRect()
        if rect.width() > 0 and rect.height() > 0:
            self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        self._zoomed()

    def actual_size(self) -> None:
        """One image pixel per screen pixel, centered where the view is."""
        center = self.mapToScene(self.viewport().rect().center())
        self._auto_fit = False
        self.resetTransform()
        self.centerOn(center)
        self._zoomed()

    def zoom_to(self, x0: float, y0: float, x1: float, y1: float) -> None:
        """Show the image rectangle ``[x0, x1] x [y0, y1]`` as large as the view allows."""
        if x1 <= x0 or y1 <= y0:
            return
        self._auto_fit = False
        self.fitInView(QRectF(x0, y0, x1 - x0, y1 - y0), Qt.AspectRatioMode.KeepAspectRatio)
        self._zoomed()

    def zoom_by(self, factor: float, *, at_cursor: bool = False) -> None:
        """Multiply the zoom by ``factor`` (around the cursor, or the view's center)."""
        target = min(max(self.zoom * factor, MIN_ZOOM), MAX_ZOOM)
        factor = target / self.zoom
        if factor == 1.0:
            return
        self._auto_fit = False
        anchor = (
            QGraphicsView.ViewportAnchor.AnchorUnderMouse
            if at_cursor
            else QGraphicsView.ViewportAnchor.AnchorViewCenter
        )
        self.setTransformationAnchor(anchor)
        self.scale(factor, factor)
        self._zoomed()

    def _zoomed(self) -> None:
        self.editor.set_tolerance(HANDLE_PX / max(self.zoom, 1e-6))
        self._update_render_hints()
        self.zoom_changed.emit(self.zoom)

    def _update_render_hints(self) -> None:
        # Smooth when zoomed out (no aliasing), exact pixels when zoomed in.
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.zoom < 1.0)
        self.setRenderHint(QPainter.RenderHint.Antialiasing, True)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._auto_fit:
            self.fit()

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if not steps:
            return
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.editor.scale_brush(ZOOM_STEP**steps)
            self._refresh_preview()
            return
        self.zoom_by(ZOOM_STEP**steps, at_cursor=True)

    # -- pointer ---------------------------------------------------------------------------

    def to_image(self, view_pos: QPointF) -> QPointF:
        """A viewport position (float pixels) as an image point (float pixels)."""
        inverse, _ = self.viewportTransform().inverted()
        return inverse.map(view_pos)

    def _pointer(self, event: QMouseEvent, button: Button | None = None) -> Pointer:
        point = self.to_image(event.position())
        x, y = point.x(), point.y()
        modifiers = event.modifiers()
        if button is None:
            buttons = event.buttons()
            button = Button.LEFT if buttons & Qt.MouseButton.LeftButton else Button.NONE
        return Pointer(
            x,
            y,
            button,
            shift=bool(modifiers & Qt.KeyboardModifier.ShiftModifier),
            ctrl=bool(modifiers & Qt.KeyboardModifier.ControlModifier),
            alt=bool(modifiers & Qt.KeyboardModifier.AltModifier),
        )

    def _button(self, event: QMouseEvent) -> Button:
        return {
            Qt.MouseButton.LeftButton: Button.LEFT,
            Qt.MouseButton.RightButton: Button.RIGHT,
            Qt.MouseButton.MiddleButton: Button.MIDDLE,
        }.get(event.button(), Button.NONE)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.setFocus()
        if event.button() == Qt.MouseButton.MiddleButton or (
            self._space and event.button() == Qt.MouseButton.LeftButton
        ):
            self._pan_from = event.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        if self.document is None:
            return
        self._send(self.editor.press, self._pointer(event, self._button(event)))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            delta = event.position() - self._pan_from
            self._pan_from = event.position()
            self.horizontalScrollBar().setValue(
                self.horizontalScrollBar().value() - round(delta.x())
            )
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - round(delta.y()))
            return
        pointer = self._pointer(event)
        self._last_cursor = (pointer.x, pointer.y)
        self.cursor_moved.emit(pointer.x, pointer.y)
        if self.document is None:
            return
        self._send(self.editor.move, pointer)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None and event.button() in (
            Qt.MouseButton.MiddleButton,
            Qt.MouseButton.LeftButton,
        ):
            self._pan_from = None
            self._update_cursor()
            return
        if self.document is None:
            return
        self._send(self.editor.release, self._pointer(event, self._button(event)))

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if self.document is None:
            return
        self._send(self.editor.double_click, self._pointer(event, self._button(event)))

    def _send(self, handler: Callable[[Any], object], argument: Any) -> None:
        try:
            handler(argument)
        except RoadmarkError as error:
            self.editor.tool.cancel()
            self.error.emit(str(error))
        self._refresh_preview()

    def leaveEvent(self, event: QEvent) -> None:
        super().leaveEvent(event)
        self.editor.leave()
        self._refresh_preview()

    def _refresh_preview(self) -> None:
        """Repaint the area the preview covered and covers now, and the hover outline."""
        preview = self.editor.preview()
        rect: QRectF | None = None
        if preview is not None:
            bounds = preview.bounds()
            if preview.crosshair is not None:
                rect = self.sceneRect()
            elif bounds is not None:
                x0, y0, x1, y1 = bounds
                rect = QRectF(x0, y0, x1 - x0, y1 - y0)
        pad = 3 * HANDLE_PX / max(self.zoom, 1e-6) + 30 / max(self.zoom, 1e-6)
        for area in (self._preview_rect, rect):
            if area is not None:
                self.edit_layer.update(area.adjusted(-pad, -pad, pad, pad))
        self._preview_rect = rect
        hover = self.editor.hover_uid
        if hover != self._hover:
            self._hover = hover
            self.edit_layer.update()
        self.hint_changed.emit(preview.hint if preview is not None else "")
        self._update_cursor()

    def _update_cursor(self) -> None:
        if self._space:
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            return
        self.viewport().setCursor(
            CURSORS.get(self.editor.tool.cursor(), Qt.CursorShape.CrossCursor)
        )

    def refresh(self) -> None:
        """Repaint the vector layer (after a tool or setting change)."""
        self._refresh_preview()
        self.edit_layer.update()

    # -- keys ------------------------------------------------------------------------------

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride:
            assert isinstance(event, QKeyEvent)
            name = TOOL_KEYS.get(Qt.Key(event.key()))
            if name is not None and self.editor.wants_key(name):
                event.accept()
                return True
        if (
            event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() == Qt.Key.Key_Tab
            and self.editor.wants_key("Tab")
        ):  # Qt moves the focus on Tab before keyPressEvent sees it
            self._send(self.editor.key, "Tab")
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self._update_cursor()
            return
        name = TOOL_KEYS.get(Qt.Key(event.key()))
        if name is not None and self.editor.wants_key(name):
            self._send(self.editor.key, name)
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self._update_cursor()
            return
        super().keyReleaseEvent(event)

    # -- coordinates for tests and scripts -------------------------------------------------

    def view_point(self, x: float, y: float) -> QPointF:
        """Where image point ``(x, y)`` is in viewport pixels (what a click there uses)."""
        return QPointF(self.mapFromScene(QPointF(x, y)))
