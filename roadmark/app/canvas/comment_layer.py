"""Review comments on the canvas: a numbered pin for a point, a dashed frame for an area.

Open comments are drawn in their category's color; resolved ones only while selected in
the review dock (in grey). Pins and numbers keep their size on screen at any zoom.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from roadmark.core.workflow import CommentCategory, ReviewComment

PIN_PX = 9.0
CATEGORY_COLORS = {
    CommentCategory.WRONG_LABEL: QColor(235, 70, 70),
    CommentCategory.MISSING_OBJECT: QColor(255, 150, 30),
    CommentCategory.LOOSE_BOUNDARY: QColor(250, 220, 40),
    CommentCategory.OTHER: QColor(80, 170, 255),
}
RESOLVED_COLOR = QColor(170, 170, 170)


class CommentLayer(QGraphicsItem):
    """Draws the open frame's review comments above everything else."""

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(20)
        self.comments: list[ReviewComment] = []
        self.selected: int | None = None
        self._size = (0.0, 0.0)

    def set_size(self, width: float, height: float) -> None:
        self.prepareGeometryChange()
        self._size = (float(width), float(height))

    def set_comments(self, comments: Sequence[ReviewComment], selected: int | None = None) -> None:
        """Show ``comments`` (numbered in list order); ``selected`` is highlighted."""
        self.comments = list(comments)
        self.selected = selected
        self.update()

    def visible(self) -> list[tuple[int, ReviewComment]]:
        """``(number, comment)`` of the comments drawn: open ones and the selected one."""
        return [
            (number, comment)
            for number, comment in enumerate(self.comments, start=1)
            if comment.is_open or comment.id == self.selected
        ]

    def boundingRect(self) -> QRectF:
        width, height = self._size
        pad = 200.0  # pins near the border reach outside the frame on screen
        return QRectF(-pad, -pad, width + 2 * pad, height + 2 * pad)

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionGraphicsItem,
        widget: QWidget | None = None,
    ) -> None:
        scale = max(painter.worldTransform().m11(), 1e-6)
        radius = PIN_PX / scale
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        font = QFont()
        font.setPixelSize(11)
        font.setBold(True)
        for number, comment in self.visible():
            color = CATEGORY_COLORS[comment.category] if comment.is_open else RESOLVED_COLOR
            selected = comment.id == self.selected
            anchor = comment.anchor
            if not comment.is_point:
                pen = QPen(color, 3.0 if selected else 2.0, Qt.PenStyle.DashLine)
                pen.setCosmetic(True)
                painter.setPen(pen)
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRect(QRectF(anchor.x0, anchor.y0, anchor.width, anchor.height))
            center = QPointF(anchor.x0, anchor.y0)
            outline = QPen(QColor(255, 255, 255) if selected else QColor(0, 0, 0), 2.0)
            outline.setCosmetic(True)
            painter.setPen(outline)
            painter.setBrush(QBrush(color))
            painter.drawEllipse(center, radius, radius)
            painter.save()
            painter.translate(center)
            painter.scale(1 / scale, 1 / scale)
            painter.setFont(font)
            painter.setPen(QColor(0, 0, 0))
            box = QRectF(-PIN_PX, -PIN_PX, 2 * PIN_PX, 2 * PIN_PX)
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, str(number))
            painter.restore()
