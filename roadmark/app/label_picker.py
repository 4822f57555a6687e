"""A searchable label picker: type a few letters, arrows to move, Return to choose."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QSortFilterProxyModel, Qt
from PySide6.QtGui import QKeyEvent, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QDialog, QLineEdit, QListView, QVBoxLayout, QWidget

from roadmark.app.docks.labels import swatch
from roadmark.core.schema import LabelSchema

LabelIdRole = Qt.ItemDataRole.UserRole + 1


class LabelPicker(QDialog):
    """Choose one label of a schema.

    Attributes:
        chosen: The label id picked, or ``None`` when cancelled.
    """

    def __init__(
        self, schema: LabelSchema, current: int | None, title: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.chosen: int | None = None
        model = QStandardItemModel(self)
        for label in schema.labels:
            text = label.name + (f"   [{label.shortcut}]" if label.shortcut else "")
            item = QStandardItem(swatch(label.color), text)
            item.setData(label.id, LabelIdRole)
            item.setEditable(False)
            model.appendRow(item)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(model)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Type to search labels…")
        self.search.textChanged.connect(self._filter)
        self.search.installEventFilter(self)
        self.list = QListView()
        self.list.setModel(self.proxy)
        self.list.activated.connect(lambda _index: self.accept_current())
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(self.list)
        self.resize(320, 420)
        for row in range(self.proxy.rowCount()):
            if self.proxy.index(row, 0).data(LabelIdRole) == current:
                self.list.setCurrentIndex(self.proxy.index(row, 0))
                break
        else:
            self.list.setCurrentIndex(self.proxy.index(0, 0))

    def _filter(self, text: str) -> None:
        self.proxy.setFilterFixedString(text)
        if self.proxy.rowCount():
            self.list.setCurrentIndex(self.proxy.index(0, 0))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.search and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            if event.key() in (Qt.Key.Key_Up, Qt.Key.Key_Down):
                row = self.list.currentIndex().row() + (1 if event.key() == Qt.Key.Key_Down else -1)
                if 0 <= row < self.proxy.rowCount():
                    self.list.setCurrentIndex(self.proxy.index(row, 0))
                return True
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.accept_current()
                return True
        return super().eventFilter(watched, event)

    def accept_current(self) -> None:
        index = self.list.currentIndex()
        if index.isValid():
            self.chosen = int(index.data(LabelIdRole))
            self.accept()


def pick_label(
    schema: LabelSchema, current: int | None, title: str, parent: QWidget | None = None
) -> int | None:
    """Show the picker modally; the chosen label id or ``None``."""
    picker = LabelPicker(schema, current, title, parent)
    picker.search.setFocus()
    picker.exec()
    return picker.chosen
