"""A filter bar over the filmstrip: show only frames with a status and an assignee.

Rows that do not match are hidden in the list view (the model and the row numbers stay
as they are, so the window's navigation keeps working on positions).
"""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QListView, QVBoxLayout, QWidget

from roadmark.app.frame_list import STATUS_TEXT, FrameListModel
from roadmark.core.annotation import Frame, FrameStatus

ANYONE = "anyone"
UNASSIGNED = "unassigned"


class FrameFilterBar(QWidget):
    """Status and assignee choosers that hide non-matching rows of ``view``.

    Args:
        model: The frame list model.
        view: The list view showing it.
        user: The current user (offered as "me").
    """

    def __init__(self, model: FrameListModel, view: QListView, user: str) -> None:
        super().__init__()
        self.model = model
        self.view = view
        self.user = user
        self.status = QComboBox()
        self.status.setToolTip("Show frames with this status")
        self.status.addItem("all statuses", "")
        for status in FrameStatus:
            self.status.addItem(STATUS_TEXT[status], status.value)
        self.assignee = QComboBox()
        self.assignee.setToolTip("Show frames assigned to")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.status, 1)
        layout.addWidget(self.assignee, 1)
        self.refresh_assignees()
        self.status.currentIndexChanged.connect(self.apply)
        self.assignee.currentIndexChanged.connect(self.apply)
        model.dataChanged.connect(self.apply)
        model.modelReset.connect(self.refresh_assignees)

    def refresh_assignees(self) -> None:
        """Offer everyone who has frames assigned (after the frames were reloaded)."""
        chosen = self.assignee.currentData()
        names = sorted({f.assignee for f in self.model.frames() if f.assignee} - {self.user})
        self.assignee.blockSignals(True)
        self.assignee.clear()
        self.assignee.addItem("anyone", ANYONE)
        self.assignee.addItem(f"me ({self.user})", self.user)
        self.assignee.addItem("unassigned", UNASSIGNED)
        for name in names:
            self.assignee.addItem(name, name)
        index = self.assignee.findData(chosen)
        self.assignee.setCurrentIndex(max(index, 0))
        self.assignee.blockSignals(False)
        self.apply()

    def set_filter(self, status: FrameStatus | None, assignee: str = ANYONE) -> None:
        """Choose the filter from code (tests, "next frame for me")."""
        self.status.setCurrentIndex(max(self.status.findData(status.value if status else ""), 0))
        index = self.assignee.findData(assignee)
        if index < 0:
            self.assignee.addItem(assignee, assignee)
            index = self.assignee.count() - 1
        self.assignee.setCurrentIndex(index)
        self.apply()

    def matches(self, frame: Frame) -> bool:
        status = self.status.currentData()
        assignee = self.assignee.currentData()
        if status and frame.status.value != status:
            return False
        if assignee == UNASSIGNED:
            return frame.assignee is None
        return assignee in (ANYONE, None) or frame.assignee == assignee

    def apply(self, *_args: object) -> None:
        for row in range(self.model.rowCount()):
            self.view.setRowHidden(row, not self.matches(self.model.frame(row)))

    def reveal(self, row: int) -> None:
        """Show the row even though the filter hides it (to open its frame)."""
        self.view.setRowHidden(row, False)

    def shown_rows(self) -> list[int]:
        return [row for row in range(self.model.rowCount()) if not self.view.isRowHidden(row)]


def wrap_with_filter(view: QListView, bar: FrameFilterBar) -> QWidget:
    """A widget with the filter bar above the list view (to put in the frames dock)."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(2, 2, 2, 0)
    layout.setSpacing(2)
    layout.addWidget(bar)
    layout.addWidget(view, 1)
    return box
