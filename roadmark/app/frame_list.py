"""The frame list: a lazy Qt model over the project's frames (no image is decoded)."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from roadmark.core.annotation import Frame, FrameStatus

STATUS_COLORS = {
    FrameStatus.NEW: QColor(140, 140, 140),
    FrameStatus.PRELABELED: QColor(120, 160, 255),
    FrameStatus.IN_PROGRESS: QColor(255, 190, 60),
    FrameStatus.DONE: QColor(90, 200, 120),
    FrameStatus.IN_REVIEW: QColor(190, 120, 255),
    FrameStatus.ACCEPTED: QColor(40, 160, 80),
    FrameStatus.REJECTED: QColor(230, 70, 70),
}

Index = QModelIndex | QPersistentModelIndex


class FrameListModel(QAbstractListModel):
    """One row per frame: ``sequence #index  name`` with the status as color and tooltip."""

    def __init__(self, frames: Sequence[Frame] = ()) -> None:
        super().__init__()
        self._frames = list(frames)

    def set_frames(self, frames: Sequence[Frame]) -> None:
        self.beginResetModel()
        self._frames = list(frames)
        self.endResetModel()

    def frame(self, row: int) -> Frame:
        return self._frames[row]

    def row_of(self, frame_id: int) -> int | None:
        for row, frame in enumerate(self._frames):
            if frame.id == frame_id:
                return row
        return None

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._frames)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        frame = self._frames[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{index.row() + 1:>4}  {frame.name}"
        if role == Qt.ItemDataRole.DecorationRole:
            return STATUS_COLORS[frame.status]
        if role == Qt.ItemDataRole.ToolTipRole:
            return (
                f"{frame.path}\n{frame.width}x{frame.height}  sequence {frame.sequence} "
                f"#{frame.sequence_index}\nstatus: {frame.status.value}"
            )
        return None
