"""The audit log in the window: the changes of the selected objects, or of the whole frame.

Each row is one logged change (:mod:`roadmark.io.changelog`): when, who, which object and
what changed ("label car -> truck; geometry changed"), newest first; the tooltip of a row
holds the object before and after. The dialog only reads the log.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from roadmark.io.changelog import ObjectChange, frame_history, object_history
from roadmark.io.store import Project

COLUMNS = ("When", "Who", "Object", "Change")


def _brief(data: object) -> str:
    if not isinstance(data, dict):
        return json.dumps(data)
    shown = {k: v for k, v in data.items() if k not in ("geometry",)}
    return json.dumps(shown, indent=1, default=str)


class HistoryDialog(QDialog):
    """The logged changes of objects ``uids`` of a frame (all of the frame's when empty).

    Args:
        project: The open project.
        frame_id: The frame.
        uids: Objects to show the history of; empty for the whole frame.
        parent: The window it belongs to.
    """

    def __init__(
        self,
        project: Project,
        frame_id: int,
        uids: Sequence[int] = (),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        frame = project.frame(frame_id)
        if uids:
            changes = sorted(
                (change for uid in uids for change in object_history(project, uid)),
                key=lambda change: change.id,
            )
            what = f"{len(uids)} selected object{'s' if len(uids) > 1 else ''}"
        else:
            changes = frame_history(project, frame_id)
            what = "every object"
        self.changes: list[ObjectChange] = changes[::-1]  # newest first
        self.setWindowTitle(f"History — {frame.name}")
        self.resize(820, 520)
        heading = QLabel(
            f"<b>{len(changes)} change{'s' if len(changes) != 1 else ''}</b> of {what} on "
            f"{frame.name}, newest first"
        )
        self.table = QTableWidget(len(self.changes), len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        schema = project.schema
        for row, change in enumerate(self.changes):
            cells = (
                change.at.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
                change.user,
                "z-order" if change.object_uid is None else str(change.object_uid),
                change.describe(schema),
            )
            tip = f"before:\n{_brief(change.before)}\n\nafter:\n{_brief(change.after)}"
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(tip)
                self.table.setItem(row, column, item)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)

    def rows(self) -> list[tuple[str, ...]]:
        """The table's text, row by row."""
        return [
            tuple(_text(self.table.item(r, c)) for c in range(self.table.columnCount()))
            for r in range(self.table.rowCount())
        ]


def _text(item: QTableWidgetItem | None) -> str:
    return "" if item is None else item.text()
