"""The frame view: image, segmentation overlay and vector layer, with zoom and pan.

A QGraphicsView whose scene units are image pixels. The canvas does two jobs only: it
draws (three items:
:class:`~roadmark.app.canvas.layers.ImageLayer`,
:class:`~roadmark.app.canvas.layers.OverlayLayer` with its vector
:class:`~roadmark.app.canvas.outline_layer.OutlineLayer`,
:class:`~roadmark.app.canvas.edit_layer.EditLayer`)
and it converts Qt mouse and key events into image-pixel
:class:`~roadmark.annotators.tools.base.Pointer` events for the
:class:`~roadmark.annotators.editor.Editor`. It observes the open document and repaints
only the window a change touched.

Zoom: mouse wheel and the zoom keys keep the image point under the pointer in place (the
view's center when the pointer is elsewhere); Ctrl+wheel sizes the brush while a brush or
the eraser is the tool, and zooms otherwise; fit; 1:1. Pan: middle button, or Space held
with the left button, or the scroll bars.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QColor,
    QCursor,
    QFocusEvent,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPen,
    QPixmap,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QFrame, QGraphicsItem, QGraphicsScene, QGraphicsView

from roadmark.annotators.editor import Editor
from roadmark.annotators.tools.base import Button, Pointer
from roadmark.app.canvas.edit_layer import HANDLE_PX, EditLayer
from roadmark.app.canvas.layers import ImageLayer, OverlayLayer
from roadmark.app.canvas.outline_layer import OutlineLayer
from roadmark.app.errors import error_text
from roadmark.core.document import DocumentChange, FrameDocument

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
BRUSH_TOOLS = ("brush", "eraser")
BEHIND_COLOR = "#ff8c1a"  # paint behind is on: the view's border and the cursor's mark
BEHIND_BORDER = 4
_Hold = tuple[QAction, Callable[[], object], Callable[[], object]]  # action, press, release
CURSORS = {
    "arrow": Qt.CursorShape.ArrowCursor,
    "cross": Qt.CursorShape.CrossCursor,
    "move": Qt.CursorShape.SizeAllCursor,
    "size": Qt.CursorShape.SizeFDiagCursor,
    "none": Qt.CursorShape.BlankCursor,
    "busy": Qt.CursorShape.BusyCursor,
}


@cache
def behind_cursor() -> QCursor:
    """A crosshair with an orange square behind its center: new objects go behind."""
    pixmap = QPixmap(32, 32)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.fillRect(18, 18, 11, 11, QColor(BEHIND_COLOR))
    for color, width in ((QColor(0, 0, 0), 3), (QColor(255, 255, 255), 1)):
        painter.setPen(QPen(color, width))
        painter.drawLine(16, 2, 16, 30)
        painter.drawLine(2, 16, 30, 16)
    painter.end()
    return QCursor(pixmap, 16, 16)


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
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
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
        self._pointer_pos: QPointF | None = None  # where the pointer last was in the viewport
        self._peek_hidden: list[QGraphicsItem] | None = None
        self.presses = 0  # mouse presses so far (a held key tells a tap from a hold by it)
        self.behind = False
        self._hold_keys: list[_Hold] = []
        self._held: dict[int, _Hold] = {}  # key code -> what it holds
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
        were rendered beforehand (see :mod:`roadmark.app.canvas.prefetch`).
        """
        if self.document is not None:
            self.document.changed.disconnect(self._on_change)
        self.document = document
        document.changed.connect(self._on_change)
        height, width = image.shape[:2]
        self.image_layer.set_image(image, argb)
        self.overlay.set_document(document, overlay)
        self.outline_layer.set_document(document, width, height)
        self._set_size(width, height)
        if not self.edit_layer.shown:  # the regions of a frame shown as an image came
            self.edit_layer.shown = True
            self.hint_changed.emit("")

    def show_image(self, image: np.ndarray, *, argb: np.ndarray | None = None) -> None:
        """Display a frame's pixels alone while its regions are still being read: no
        overlay, no outlines, no handles, and the pointer edits nothing until
        :meth:`show_document` brings the document."""
        if self.document is not None:
            self.document.changed.disconnect(self._on_change)
        self.document = None
        # Until the other frame arrives the editor holds none: a key (Delete, Ctrl+A, a
        # label) cannot change the frame left unseen, and the docks list nothing.
        self.editor.close()
        height, width = image.shape[:2]
        self.image_layer.set_image(image, argb)
        self.overlay.set_document(None)
        self.outline_layer.set_document(None, width, height)
        self.edit_layer.shown = False
        self._set_size(width, height)
        self.hint_changed.emit("Reading this frame's regions…")

    def _set_size(self, width: int, height: int) -> None:
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

    def change_outline_width(self, step: float) -> float:
        """Widen (or narrow, ``step`` < 0) the outlines by ``step`` screen pixels."""
        return self.outline_layer.set_width(self.outline_layer.line_px + step)

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

    def zoom_to(
        self, x0: float, y0: float, x1: float, y1: float, *, max_zoom: float | None = None
    ) -> None:
        """Show the image rectangle ``[x0, x1] x [y0, y1]`` as large as the view allows, but
        no larger than ``max_zoom`` (then centered on it, with more context around it; never
        below the zoom that fits the whole frame)."""
        if x1 <= x0 or y1 <= y0:
            return
        self._auto_fit = False
        rect = QRectF(x0, y0, x1 - x0, y1 - y0)
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        if max_zoom is not None:
            cap = max(max_zoom, self.fit_zoom())
            if self.zoom > cap:
                self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
                self.scale(cap / self.zoom, cap / self.zoom)
                self.centerOn(rect.center())
        self._zoomed()

    def fit_zoom(self) -> float:
        """The zoom at which the whole frame fits the view."""
        rect, view = self.sceneRect(), self.viewport().rect()
        if rect.width() <= 0 or rect.height() <= 0:
            return 1.0
        return min(view.width() / rect.width(), view.height() / rect.height())

    def zoom_by(self, factor: float, *, at: QPointF | None = None) -> None:
        """Multiply the zoom by ``factor``, keeping the image point under viewport position
        ``at`` where it is (the view's center when ``None``)."""
        target = min(max(self.zoom * factor, MIN_ZOOM), MAX_ZOOM)
        factor = target / self.zoom
        if factor == 1.0:
            return
        self._auto_fit = False
        anchor = at if at is not None else QPointF(self.viewport().rect().center())
        fixed = self.to_image(anchor)
        # Qt's AnchorUnderMouse reads the position of the last mouse move the *view*
        # handled; the pointer handlers here do not pass moves on, so the view anchors
        # the zoom itself: scale, then scroll the fixed point back under the anchor.
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.scale(factor, factor)
        self.scroll_to(fixed, anchor)
        self._zoomed()

    def scroll_to(self, point: QPointF, view_pos: QPointF) -> None:
        """Scroll so that image ``point`` shows at viewport position ``view_pos`` (as far as
        the scroll bars allow)."""
        delta = self.viewportTransform().map(point) - view_pos
        for bar, amount in (
            (self.horizontalScrollBar(), delta.x()),
            (self.verticalScrollBar(), delta.y()),
        ):
            bar.setValue(bar.value() + round(amount))

    def pointer_in_view(self) -> QPointF | None:
        """Where the mouse pointer is in the viewport, or ``None`` when it is elsewhere."""
        pos = self._pointer_pos
        return pos if pos is not None and self.viewport().rect().contains(pos.toPoint()) else None

    def _zoomed(self) -> None:
        self.editor.set_tolerance(HANDLE_PX / max(self.zoom, 1e-6))
        self._update_render_hints()
        self.zoom_changed.emit(self.zoom)

    def _update_render_hints(self) -> None:
        # Smooth when zoomed out (no aliasing), exact pixels when zoomed in.
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.zoom < 1.0)
        self.setRenderHint(QPainter.RenderHint.Antialiasing, True)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._auto_fit:
            self.fit()

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if not steps:
            return
        self._pointer_pos = event.position()
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier and self.editor.tool.name in (
            BRUSH_TOOLS
        ):
            self.editor.scale_brush(ZOOM_STEP**steps)  # Ctrl+wheel sizes the brush ...
            self._refresh_preview()
            return
        self.zoom_by(ZOOM_STEP**steps, at=event.position())  # ... and zooms elsewhere

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
        self.presses += 1
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
        self._pointer_pos = event.position()
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
        except Exception as error:  # every failure reaches the person, not only stderr
            self.editor.tool.cancel()
            self.error.emit(error_text(error, self.editor.tool.title))
        self._refresh_preview()

    def leaveEvent(self, event: QEvent) -> None:
        super().leaveEvent(event)
        self._pointer_pos = None
        self.editor.leave()
        self._refresh_preview()

    def _refresh_preview(self) -> None:
        """Repaint the area the preview covered and covers now, and the hover outline."""
        self.edit_layer.fit_brush(self.editor.context.brush_radius)
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

    def set_behind_cue(self, on: bool) -> None:
        """Show that new objects go behind the others: an orange border around the view
        and an orange mark on the drawing cursor."""
        self.behind = on
        self.setStyleSheet(
            f"FrameCanvas {{ border: {BEHIND_BORDER}px solid {BEHIND_COLOR}; }}" if on else ""
        )
        self._update_cursor()

    def _update_cursor(self) -> None:
        if self._space:
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            return
        name = self.editor.tool.cursor()
        if self.behind and name == "cross":
            self.viewport().setCursor(behind_cursor())
            return
        self.viewport().setCursor(CURSORS.get(name, Qt.CursorShape.CrossCursor))

    def refresh(self) -> None:
        """Repaint the vector layer (after a tool or setting change)."""
        self._refresh_preview()
        self.edit_layer.update()

    # -- peek ------------------------------------------------------------------------------

    @property
    def peeking(self) -> bool:
        return self._peek_hidden is not None

    def set_peek(self, on: bool) -> None:
        """Show the raw frame only (every layer above the image hidden) while ``on``."""
        if on == self.peeking:
            return
        if on:
            items = [
                item
                for item in self.scene().items()
                if item.parentItem() is None and item is not self.image_layer and item.isVisible()
            ]
            for item in items:
                item.setVisible(False)
            self._peek_hidden = items
        else:
            for item in self._peek_hidden or []:
                item.setVisible(True)
            self._peek_hidden = None
        self.hint_changed.emit("Peek: the raw frame (release to see the layers)" if on else "")

    # -- keys ------------------------------------------------------------------------------

    def add_hold_key(
        self,
        action: QAction,
        press: Callable[[], object],
        release: Callable[[], object],
    ) -> None:
        """Make ``action``'s keys hold keys while the canvas has the focus: ``press`` when
        one goes down, ``release`` when it comes up (the action itself still fires from
        elsewhere, for instance its menu entry)."""
        self._hold_keys.append((action, press, release))

    def _hold(self, event: QKeyEvent) -> _Hold | None:
        pressed = QKeySequence(event.keyCombination())
        for entry in self._hold_keys:
            if entry[0].isEnabled() and pressed in entry[0].shortcuts():
                return entry
        return None

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride:
            assert isinstance(event, QKeyEvent)
            name = TOOL_KEYS.get(Qt.Key(event.key()))
            if (name is not None and self.editor.wants_key(name)) or self._hold(event):
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
        hold = self._hold(event)
        if hold is not None:
            if not event.isAutoRepeat() and event.key() not in self._held:
                self._held[event.key()] = hold
                hold[1]()
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
        held = self._held.pop(event.key(), None)
        if held is not None:
            if not event.isAutoRepeat():
                held[2]()
            else:
                self._held[event.key()] = held  # still down
            return
        super().keyReleaseEvent(event)

    def focusOutEvent(self, event: QFocusEvent) -> None:
        super().focusOutEvent(event)
        while self._held:  # a key let go elsewhere: nothing stays held
            self._held.pop(next(iter(self._held)))[2]()

    # -- coordinates for tests and scripts -------------------------------------------------

    def view_point(self, x: float, y: float) -> QPointF:
        """Where image point ``(x, y)`` is in viewport pixels (what a click there uses)."""
        return QPointF(self.mapFromScene(QPointF(x, y)))
