"""The filmstrip: every frame with its thumbnail and workflow status.

The model reads only frame rows (no image is decoded to list a project); a thumbnail is
decoded in a background thread the first time the view asks for it, that is when its row
scrolls into sight, and kept in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from roadmark.core.annotation import Frame, FrameStatus
from roadmark.core.errors import RoadmarkError
from roadmark.io.frames import FrameCache, FrameLoader

THUMB_WIDTH = 112
ROW_HEIGHT = 64
FrameIdRole = Qt.ItemDataRole.UserRole + 1
StatusRole = Qt.ItemDataRole.UserRole + 2
FrameRole = Qt.ItemDataRole.UserRole + 3

STATUS_COLORS = {
    FrameStatus.NEW: QColor(140, 140, 140),
    FrameStatus.PRELABELED: QColor(120, 160, 255),
    FrameStatus.IN_PROGRESS: QColor(255, 190, 60),
    FrameStatus.DONE: QColor(90, 200, 120),
    FrameStatus.IN_REVIEW: QColor(190, 120, 255),
    FrameStatus.ACCEPTED: QColor(40, 160, 80),
    FrameStatus.REJECTED: QColor(230, 70, 70),
}
STATUS_TEXT = {
    FrameStatus.NEW: "new",
    FrameStatus.PRELABELED: "pre-labeled",
    FrameStatus.IN_PROGRESS: "in progress",
    FrameStatus.DONE: "done",
    FrameStatus.IN_REVIEW: "in review",
    FrameStatus.ACCEPTED: "accepted",
    FrameStatus.REJECTED: "rejected",
}

Index = QModelIndex | QPersistentModelIndex


class ThumbnailLoader(QObject):
    """Decodes and shrinks frames in one background thread.

    Signals:
        loaded(frame_id, image): A thumbnail is ready (a null image when decoding failed).
    """

    loaded = Signal(int, QImage)

    def __init__(self, resolve: Callable[[str], Path], width: int = THUMB_WIDTH) -> None:
        super().__init__()
        self.width = width
        self._frames = FrameLoader(resolve, cache=FrameCache(max_bytes=0))
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="roadmark-thumbnails")
        self._pending: set[int] = set()

    def request(self, frame: Frame) -> None:
        if frame.id in self._pending:
            return
        self._pending.add(frame.id)
        self._executor.submit(self._load, frame)

    def _load(self, frame: Frame) -> None:
        try:
            rgb = np.ascontiguousarray(self._frames.load(frame.path, frame.video_frame))
            height, width = rgb.shape[:2]
            image = QImage(rgb.data, width, height, width * 3, QImage.Format.Format_RGB888)
            thumb = image.scaledToWidth(self.width, Qt.TransformationMode.SmoothTransformation)
        except (RoadmarkError, OSError, ValueError):
            thumb = QImage()
        self.loaded.emit(frame.id, thumb)

    def wait(self, timeout: float = 5.0) -> None:
        """Wait until the thumbnails requested so far are decoded (for screenshots)."""
        done = self._executor.submit(lambda: None)
        done.result(timeout=timeout)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._frames.close()


class FrameListModel(QAbstractListModel):
    """One row per frame, in project order; thumbnails are requested lazily."""

    def __init__(self, frames: Sequence[Frame] = (), thumbnails: ThumbnailLoader | None = None):
        super().__init__()
        self._frames = list(frames)
        self._rows = {frame.id: row for row, frame in enumerate(self._frames)}
        self._thumbs: dict[int, QPixmap] = {}
        self._thumbnails = thumbnails
        if thumbnails is not None:
            thumbnails.loaded.connect(self._on_thumbnail)

    def set_frames(self, frames: Sequence[Frame]) -> None:
        self.beginResetModel()
        self._frames = list(frames)
        self._rows = {frame.id: row for row, frame in enumerate(self._frames)}
        self.endResetModel()

    def frame(self, row: int) -> Frame:
        return self._frames[row]

    def frames(self) -> list[Frame]:
        return list(self._frames)

    def row_of(self, frame_id: int) -> int | None:
        return self._rows.get(frame_id)

    def update_frames(self, frames: Sequence[Frame]) -> None:
        """Take new versions of listed frames (status, assignee), keeping rows and order."""
        changed = False
        for frame in frames:
            row = self._rows.get(frame.id)
            if row is not None and self._frames[row] != frame:
                self._frames[row] = frame
                changed = True
        if changed and self._frames:
            self.dataChanged.emit(self.index(0), self.index(len(self._frames) - 1))

    def set_status(self, frame_id: int, status: FrameStatus) -> None:
        row = self._rows.get(frame_id)
        if row is None or self._frames[row].status == status:
            return
        self._frames[row] = replace(self._frames[row], status=status)
        index = self.index(row)
        self.dataChanged.emit(index, index)

    def _on_thumbnail(self, frame_id: int, image: QImage) -> None:
        row = self._rows.get(frame_id)
        if row is None:
            return
        self._thumbs[frame_id] = QPixmap.fromImage(image) if not image.isNull() else QPixmap()
        index = self.index(row)
        self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._frames)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        frame = self._frames[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{index.row() + 1}   #{frame.sequence_index}  {frame.sequence}"
        if role == Qt.ItemDataRole.DecorationRole:
            thumb = self._thumbs.get(frame.id)
            if thumb is None and self._thumbnails is not None:
                self._thumbnails.request(frame)
            return thumb
        if role == StatusRole:
            return frame.status
        if role == FrameIdRole:
            return frame.id
        if role == FrameRole:
            return frame
        if role == Qt.ItemDataRole.ToolTipRole:
            return (
                f"{frame.path}\n{frame.width}x{frame.height}  sequence {frame.sequence} "
                f"#{frame.sequence_index}\nstatus: {STATUS_TEXT[frame.status]}"
            )
        return None


class FrameDelegate(QStyledItemDelegate):
    """Thumbnail on the left; on the right the frame's number and place in its sequence,
    the sequence name, and a status chip with the assignee."""

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        return QSize(THUMB_WIDTH + 140, ROW_HEIGHT)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        painter.save()
        rect: QRect = option.rect
        palette = option.palette
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        if selected:
            painter.fillRect(rect, palette.highlight())
        thumb_rect = QRect(rect.left() + 4, rect.top() + 4, THUMB_WIDTH, rect.height() - 8)
        thumb = index.data(Qt.ItemDataRole.DecorationRole)
        if isinstance(thumb, QPixmap) and not thumb.isNull():
            scaled = thumb.scaled(
                thumb_rect.size(),
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
            painter.drawPixmap(thumb_rect.left(), thumb_rect.top(), scaled)
        else:
            painter.fillRect(thumb_rect, QColor(50, 52, 58))
        status = index.data(StatusRole)
        color = STATUS_COLORS.get(status, QColor(140, 140, 140))
        painter.fillRect(QRect(rect.left(), rect.top(), 3, rect.height()), color)
        text_left = thumb_rect.right() + 8
        width = rect.right() - text_left - 4
        text_color = palette.highlightedText().color() if selected else palette.text().color()
        quiet = QColor(text_color)
        quiet.setAlpha(170)
        frame = index.data(FrameRole)
        metrics = painter.fontMetrics()
        line = metrics.height()
        top = rect.top() + 4
        bold = QFont(painter.font())
        bold.setBold(True)
        number = str(index.row() + 1)
        painter.setFont(bold)
        painter.setPen(text_color)
        painter.drawText(QRect(text_left, top, width, line), Qt.AlignmentFlag.AlignLeft, number)
        number_width = QFontMetrics(bold).horizontalAdvance(number + "  ")
        painter.setFont(option.font)
        if isinstance(frame, Frame):
            painter.setPen(quiet)
            place = f"#{frame.sequence_index}"
            painter.drawText(
                QRect(text_left + number_width, top, width - number_width, line),
                Qt.AlignmentFlag.AlignLeft,
                place,
            )
            painter.drawText(
                QRect(text_left, top + line, width, line),
                Qt.AlignmentFlag.AlignLeft,
                metrics.elidedText(frame.sequence, Qt.TextElideMode.ElideMiddle, width),
            )
        chip = STATUS_TEXT.get(status, "")
        chip_rect = QRect(
            text_left, top + 2 * line + 4, metrics.horizontalAdvance(chip) + 12, line + 2
        )
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setBrush(color)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawRoundedRect(chip_rect, 4, 4)
        painter.setPen(QColor(20, 20, 20))
        painter.drawText(chip_rect, Qt.AlignmentFlag.AlignCenter, chip)
        if isinstance(frame, Frame) and frame.assignee:
            after = chip_rect.right() + 6
            painter.setPen(quiet)
            painter.drawText(
                QRect(after, chip_rect.top(), rect.right() - after - 4, chip_rect.height()),
                Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                metrics.elidedText(
                    frame.assignee, Qt.TextElideMode.ElideRight, rect.right() - after - 4
                ),
            )
        painter.restore()


def make_frame_view(model: FrameListModel) -> QListView:
    """The filmstrip list view over ``model``."""
    view = QListView()
    view.setModel(model)
    view.setUniformItemSizes(True)
    view.setItemDelegate(FrameDelegate(view))
    view.setVerticalScrollMode(QListView.ScrollMode.ScrollPerPixel)
    return view
