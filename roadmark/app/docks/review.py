"""The Review dock: the open frame's workflow state, why it was sent back, its gold score,
its review comments, and buttons for the review actions; plus the small dialogs the
review asks with (a comment's category and text, a rejection's reason).

The dock only shows what :class:`~roadmark.app.features.quality.QualityTools` gives it and offers
the window's actions as buttons; it holds no workflow logic.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QColor
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDockWidget,
    QFormLayout,
    QGridLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from roadmark.app.canvas.comment_layer import CATEGORY_COLORS
from roadmark.app.dialog_buttons import ok_cancel
from roadmark.core.annotation import Box
from roadmark.core.workflow import CommentCategory, FrameState, ReviewComment, status_text

CommentIdRole = Qt.ItemDataRole.UserRole + 1


class ReviewDock(QDockWidget):
    """Workflow state, comments and review buttons for the open frame.

    Signals:
        comment_chosen(id): The user picked a comment in the list (0: none).
    """

    comment_chosen = Signal(int)

    def __init__(self, actions: Sequence[QAction], parent: QWidget | None = None) -> None:
        super().__init__("Review", parent)
        self.setObjectName("review")
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(6, 6, 6, 6)
        self.state_label = QLabel()
        self.state_label.setWordWrap(True)
        self.state_label.setTextFormat(Qt.TextFormat.RichText)
        self.reason_label = QLabel()
        self.reason_label.setWordWrap(True)
        self.reason_label.setStyleSheet(
            "background:#5a1f1f; color:#ffd6d6; border-radius:4px; padding:4px"
        )
        self.score_label = QLabel()
        self.score_label.setWordWrap(True)
        self.score_label.setTextFormat(Qt.TextFormat.RichText)
        self.comments = QListWidget()
        self.comments.setWordWrap(True)
        self.comments.currentItemChanged.connect(self._on_current)
        buttons = QGridLayout()
        for index, action in enumerate(actions):
            button = QToolButton()
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
            buttons.addWidget(button, index // 2, index % 2)
        layout.addWidget(self.state_label)
        layout.addWidget(self.reason_label)
        layout.addWidget(self.score_label)
        layout.addWidget(QLabel("Comments"))
        layout.addWidget(self.comments, 1)
        layout.addLayout(buttons)
        self.setWidget(body)
        self.show_state(None, None, [], "")

    def show_state(
        self,
        state: FrameState | None,
        reason: str | None,
        comments: Sequence[ReviewComment],
        scores: str,
        selected: int | None = None,
    ) -> None:
        """Show a frame's workflow ``state``, rejection ``reason``, ``comments`` and
        ``scores`` (rich text); ``selected`` is the comment to keep current."""
        if state is None:
            self.state_label.setText("No frame open.")
        else:
            parts = [f"<b>{escape(status_text(state.status))}</b>"]
            parts.append(f"annotator {escape(state.assignee or '—')}")
            parts.append(f"reviewer {escape(state.reviewer or '—')}")
            if state.annotator and state.annotator != state.assignee:
                parts.append(f"finished by {escape(state.annotator)}")
            if state.gold:
                parts.append("<span style='color:#f0c040'>gold frame</span>")
            self.state_label.setText(" · ".join(parts))
        self.reason_label.setVisible(bool(reason))
        self.reason_label.setText(f"Sent back: {reason}" if reason else "")
        self.score_label.setVisible(bool(scores))
        self.score_label.setText(scores)
        self.comments.blockSignals(True)
        self.comments.clear()
        current = None
        for number, comment in enumerate(comments, start=1):
            state_text = "open" if comment.is_open else f"resolved by {comment.resolved_by}"
            item = QListWidgetItem(
                f"{number}. {comment.summary}\n   {comment.author} · {state_text}"
            )
            item.setData(CommentIdRole, comment.id)
            color = CATEGORY_COLORS[comment.category] if comment.is_open else QColor(150, 150, 150)
            item.setForeground(color)
            self.comments.addItem(item)
            if comment.id == selected:
                current = item
        if current is not None:
            self.comments.setCurrentItem(current)
        self.comments.blockSignals(False)

    def selected_comment(self) -> int | None:
        item = self.comments.currentItem()
        return None if item is None else int(item.data(CommentIdRole))

    def _on_current(self, item: QListWidgetItem | None, _previous: object) -> None:
        self.comment_chosen.emit(0 if item is None else int(item.data(CommentIdRole)))


class CommentDialog(QDialog):
    """Asks for a new comment's category and text."""

    def __init__(self, anchor: Box, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        where = (
            f"point ({anchor.x0:.0f}, {anchor.y0:.0f})"
            if anchor.width == 0 and anchor.height == 0
            else f"area {anchor.width:.0f} x {anchor.height:.0f} px at ({anchor.x0:.0f}, "
            f"{anchor.y0:.0f})"
        )
        self.setWindowTitle("Review comment")
        self.category = QComboBox()
        for category in CommentCategory:
            self.category.addItem(category.text, category)
        self.text = QLineEdit()
        self.text.setPlaceholderText("what is wrong (optional)")
        form = QFormLayout(self)
        form.addRow(QLabel(f"Comment on the {where}"))
        form.addRow("Category", self.category)
        form.addRow("Text", self.text)
        form.addRow(ok_cancel(self))

    def value(self) -> tuple[CommentCategory, str]:
        # The combo box hands a str enum back as a plain string: make it the enum again.
        return CommentCategory(self.category.currentData()), self.text.text()


def ask_comment(parent: QWidget, anchor: Box) -> tuple[CommentCategory, str] | None:
    """The category and text for a comment at ``anchor``; ``None`` when cancelled."""
    dialog = CommentDialog(anchor, parent)
    return dialog.value() if dialog.exec() == QDialog.DialogCode.Accepted else None


def ask_reason(parent: QWidget, default: str) -> str | None:
    """Why the frame is sent back (prefilled with ``default``); ``None`` when cancelled."""
    text, ok = QInputDialog.getText(
        parent, "Reject frame", "Why is it sent back?", QLineEdit.EchoMode.Normal, default
    )
    return text if ok else None
