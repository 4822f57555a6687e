"""File > Open team project: a database URL, or one of the recent team projects.

The password is never asked for or kept here: it comes from ``PGPASSWORD``, ``~/.pgpass``
or a service file, as for every PostgreSQL client. A URL typed with a password opens, but
the recent list keeps it without one.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from roadmark.io.locations import is_url
from roadmark.io.settings import Settings


class TeamProjectDialog(QDialog):
    """Asks for a ``postgresql://`` URL; :attr:`url` holds the choice once accepted."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open team project")
        self.url_edit = QLineEdit()
        self.url_edit.setPlaceholderText("postgresql://HOST[:PORT]/DATABASE")
        self.url_edit.setMinimumWidth(460)
        self.recent = QListWidget()
        for location in Settings.load().recent_projects:
            if is_url(location):
                item = QListWidgetItem(location)
                item.setData(Qt.ItemDataRole.UserRole, location)
                self.recent.addItem(item)
        self.recent.currentItemChanged.connect(self._take_recent)
        self.recent.itemActivated.connect(lambda _item: self.accept())
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.open_button = buttons.button(QDialogButtonBox.StandardButton.Open)
        self.url_edit.textChanged.connect(self._check)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Database URL"))
        layout.addWidget(self.url_edit)
        hint = QLabel(
            "The password comes from PGPASSWORD, ~/.pgpass or a service file "
            "(?service=NAME); it is never stored."
        )
        hint.setStyleSheet("color:#9aa0a8")
        hint.setWordWrap(True)
        layout.addWidget(hint)
        layout.addWidget(QLabel("Recent team projects" if self.recent.count() else ""))
        layout.addWidget(self.recent)
        layout.addWidget(buttons)
        self._check(self.url_edit.text())

    def _take_recent(self, item: QListWidgetItem | None, _previous: object) -> None:
        if item is not None:
            self.url_edit.setText(item.text())

    def _check(self, text: str) -> None:
        self.open_button.setEnabled(text.strip().startswith(("postgresql://", "postgres://")))

    @property
    def url(self) -> str:
        return self.url_edit.text().strip()
