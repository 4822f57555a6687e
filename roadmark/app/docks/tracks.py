"""The Tracks dock: the tracks of the open frame's sequence, their keyframes, and the
track operations (interpolate, split here, merge, delete).

The dock only shows and asks: the summaries come from
:func:`roadmark.annotators.sequence.tracks.summarize_tracks` (read in the background) and every
operation goes to the :class:`TrackActions` it was given, which turns it into one
undoable command.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from PySide6.QtCore import QItemSelection, QItemSelectionModel
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from roadmark.annotators.sequence.tracks import TrackSummary
from roadmark.core.schema import LabelSchema

COLUMNS = ("Track", "Kind", "Label", "Keyframes", "Frames")


class TrackActions(Protocol):
    """What the dock's buttons ask for (implemented by the sequence tools)."""

    def interpolate_tracks(self, track_ids: Sequence[int]) -> None: ...

    def split_track(self, track_id: int) -> None: ...

    def merge_tracks(self, keep: int, absorb: int) -> None: ...

    def delete_tracks(self, track_ids: Sequence[int]) -> None: ...

    def select_track(self, track_id: int) -> None: ...


def _spans(positions: Sequence[int]) -> str:
    """``0-3, 7, 9-10`` for sequence indices (consecutive runs joined)."""
    parts: list[str] = []
    start = previous = None
    for position in positions:
        if previous is not None and position == previous + 1:
            previous = position
            continue
        if start is not None:
            parts.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = position
    if start is not None:
        parts.append(str(start) if start == previous else f"{start}-{previous}")
    return ", ".join(parts)


class TracksDock(QDockWidget):
    """Lists tracks (one row per track and kind) and offers the track operations."""

    def __init__(
        self, actions: TrackActions, schema: LabelSchema, parent: QWidget | None = None
    ) -> None:
        super().__init__("Tracks", parent)
        self.setObjectName("tracks")
        self.track_actions = actions
        self.schema = schema
        self.summaries: list[TrackSummary] = []
        self.current_position: int | None = None
        self._wanted: int | None = None  # chosen before its row exists (a new track)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        for column, width in enumerate((48, 52, 96, 0, 64)):
            if width:
                self.table.setColumnWidth(column, width)
        self.table.cellDoubleClicked.connect(
            lambda row, _column: self._with_track(row, self.track_actions.select_track)
        )
        self.message = QLabel()
        buttons = QHBoxLayout()
        buttons.setSpacing(2)
        buttons.addWidget(self.message, 1)
        self.buttons: dict[str, QToolButton] = {}
        for key, text, tip, slot in (
            ("interpolate", "Interpolate", "Fill the frames between keyframes", self._interpolate),
            ("split", "Split here", "Start a new track from this frame on", self._split),
            ("merge", "Merge", "Join the two selected tracks", self._merge),
            ("delete", "Delete", "Delete every object of the track", self._delete),
        ):
            button = QToolButton()
            button.setText(text)
            button.setToolTip(tip)
            button.clicked.connect(lambda _checked=False, slot=slot: slot())
            buttons.addWidget(button)
            self.buttons[key] = button
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        self.setWidget(body)

    # -- content ---------------------------------------------------------------------------

    def set_tracks(self, summaries: Sequence[TrackSummary], current_position: int | None) -> None:
        """Show ``summaries``; rows of tracks present on the open frame are bold."""
        chosen = set(self.selected_tracks())
        if self._wanted is not None:
            chosen = {self._wanted}
            self._wanted = None
        self.summaries = list(summaries)
        self.current_position = current_position
        self.table.setRowCount(len(self.summaries))
        bold = QFont()
        bold.setBold(True)
        for row, summary in enumerate(self.summaries):
            label = self.schema.by_id.get(summary.label_id)
            cells = (
                str(summary.track_id),
                summary.kind.value,
                label.name if label else str(summary.label_id),
                _spans(summary.keyframes),
                _spans(summary.frames),
            )
            here = current_position in summary.frames
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if here:
                    item.setFont(bold)
                if column == 3:
                    item.setToolTip(
                        f"{len(summary.keyframes)} keyframes, "
                        f"{summary.interpolated} interpolated objects"
                    )
                self.table.setItem(row, column, item)
        self._select_rows(
            [row for row, summary in enumerate(self.summaries) if summary.track_id in chosen]
        )
        count = len({s.track_id for s in self.summaries})
        self.message.setText(f"{count} track{'s' if count != 1 else ''}")

    def selected_tracks(self) -> list[int]:
        """Track ids of the selected rows, in row order, each once."""
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        ids: list[int] = []
        for row in rows:
            if row < len(self.summaries) and self.summaries[row].track_id not in ids:
                ids.append(self.summaries[row].track_id)
        return ids

    def select_track(self, track_id: int) -> None:
        """Select the rows of ``track_id`` (the dock's chosen track), now or when the
        track's rows appear."""
        if not any(summary.track_id == track_id for summary in self.summaries):
            self._wanted = track_id
        self._select_rows(
            [row for row, summary in enumerate(self.summaries) if summary.track_id == track_id]
        )

    def _select_rows(self, rows: Sequence[int]) -> None:
        model = self.table.selectionModel()
        selection = QItemSelection()
        for row in rows:
            selection.select(self.table.model().index(row, 0), self.table.model().index(row, 0))
        model.select(
            selection,
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows,
        )

    def chosen_track(self) -> int | None:
        """The first selected track, or ``None``."""
        chosen = self.selected_tracks()
        return chosen[0] if chosen else self._wanted

    # -- buttons ---------------------------------------------------------------------------

    def _with_track(self, row: int, slot: Callable[[int], None]) -> None:
        if 0 <= row < len(self.summaries):
            slot(self.summaries[row].track_id)

    def _need(self, count: int) -> list[int] | None:
        chosen = self.selected_tracks()
        if len(chosen) < count:
            self.message.setText(f"Select {'a track' if count == 1 else f'{count} tracks'} first")
            return None
        return chosen

    def _interpolate(self) -> None:
        chosen = self.selected_tracks() or sorted({s.track_id for s in self.summaries})
        if chosen:
            self.track_actions.interpolate_tracks(chosen)

    def _split(self) -> None:
        chosen = self._need(1)
        if chosen:
            self.track_actions.split_track(chosen[0])

    def _merge(self) -> None:
        chosen = self._need(2)
        if chosen:
            keep, absorb = sorted(chosen[:2])
            self.track_actions.merge_tracks(keep, absorb)

    def _delete(self) -> None:
        chosen = self._need(1)
        if chosen:
            self.track_actions.delete_tracks(chosen)
