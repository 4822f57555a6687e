"""The labels dock: the schema with colors, keys and counts on this frame; search; the
current label; per-label visibility.

Click a label to make it current; tick its box to show or hide its objects (on every
frame); "Apply to selection" gives the selected objects the current label.
"""

from __future__ import annotations

from collections import Counter

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QColor, QFont, QIcon, QPixmap, QShowEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from roadmark.annotators.editor import Editor, EditorChange
from roadmark.core.document import DocumentChange, FrameDocument
from roadmark.core.schema import Label, LabelSchema

Index = QModelIndex | QPersistentModelIndex
LabelIdRole = Qt.ItemDataRole.UserRole + 1
COLUMNS = ("Label", "Key", "On frame")


def swatch(color: tuple[int, int, int], size: int = 14) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(*color))
    return QIcon(pixmap)


class LabelTableModel(QAbstractTableModel):
    """The schema's labels; column 0 is checkable (visible) and bold for the current one."""

    def __init__(self, schema: LabelSchema, editor: Editor) -> None:
        super().__init__()
        self.labels: list[Label] = list(schema.labels)
        self.editor = editor
        self.counts: Counter[int] = Counter()
        self._icons = {label.id: swatch(label.color) for label in self.labels}

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.labels)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if index.column() == 0:
            flags |= Qt.ItemFlag.ItemIsUserCheckable
        return flags

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        label = self.labels[index.row()]
        column = index.column()
        if role == LabelIdRole:
            return label.id
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return label.name
            if column == 1:
                return label.shortcut or ""
            count = self.counts.get(label.id, 0)
            return str(count) if count else ""
        if role == Qt.ItemDataRole.DecorationRole and column == 0:
            return self._icons[label.id]
        if role == Qt.ItemDataRole.CheckStateRole and column == 0:
            hidden = label.id in self.editor.hidden_labels
            return Qt.CheckState.Unchecked if hidden else Qt.CheckState.Checked
        if role == Qt.ItemDataRole.FontRole and label.id == self.editor.context.label_id:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.TextAlignmentRole and column > 0:
            return Qt.AlignmentFlag.AlignCenter
        if role == Qt.ItemDataRole.ToolTipRole:
            return (
                f"{label.name}: id {label.id}, trainId {label.train_id}, category "
                f"{label.category}{', has instances' if label.has_instances else ''}"
            )
        return None

    def setData(self, index: Index, value: object, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role == Qt.ItemDataRole.CheckStateRole and index.column() == 0:
            visible = Qt.CheckState(value) == Qt.CheckState.Checked
            self.editor.set_label_hidden(self.labels[index.row()].id, not visible)
            self.dataChanged.emit(index, index)
            return True
        return False

    def refresh(self) -> None:
        if self.labels:
            self.dataChanged.emit(
                self.index(0, 0), self.index(len(self.labels) - 1, len(COLUMNS) - 1)
            )

    def recount(self, document: FrameDocument | None) -> None:
        self.counts = document.label_counts() if document else Counter()
        if self.labels:
            self.dataChanged.emit(self.index(0, 2), self.index(len(self.labels) - 1, 2))


class LabelsDock(QDockWidget):
    """Pick the current label, hide labels, relabel the selection."""

    def __init__(self, editor: Editor, parent: QWidget | None = None) -> None:
        super().__init__("Labels", parent)
        self.setObjectName("labels")
        self.editor = editor
        self.model = LabelTableModel(editor.schema, editor)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterKeyColumn(0)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search labels…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.proxy.setFilterFixedString)
        self.search.returnPressed.connect(self._choose_first)
        self.view = QTreeView()
        self.view.setModel(self.proxy)
        self.view.setRootIsDecorated(False)
        self.view.setUniformRowHeights(True)
        self.view.setAlternatingRowColors(True)
        header = self.view.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(False)
        self.view.clicked.connect(self._on_clicked)
        self.apply_button = QPushButton("Apply to selection")
        self.apply_button.setToolTip("Give the selected objects the current label")
        self.apply_button.clicked.connect(
            lambda: self.editor.relabel_selection(self.editor.context.label_id)
        )
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.apply_button)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.search)
        layout.addWidget(self.view)
        layout.addLayout(buttons)
        self.setWidget(body)
        self._document: FrameDocument | None = None
        editor.changed.connect(self._on_editor)

    def show_current(self) -> None:
        """Scroll the list to the current label (the one new objects get)."""
        label_id = self.editor.context.label_id
        for row in range(self.model.rowCount()):
            source = self.model.index(row, 0)
            if source.data(LabelIdRole) == label_id:
                index = self.proxy.mapFromSource(source)
                if index.isValid():
                    self.view.scrollTo(index, QTreeView.ScrollHint.PositionAtCenter)
                return

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.show_current()

    def _on_clicked(self, index: QModelIndex) -> None:
        label_id = index.data(LabelIdRole)
        if label_id is not None:
            self.editor.set_label(int(label_id))

    def _choose_first(self) -> None:
        if self.proxy.rowCount():
            self.editor.set_label(int(self.proxy.index(0, 0).data(LabelIdRole)))

    def _on_editor(self, what: EditorChange) -> None:
        if what in ("label", "visibility"):
            self.model.refresh()
        if what == "label":
            self.show_current()
        if what == "document":
            if self._document is not None:
                self._document.changed.disconnect(self._on_document)
            self._document = self.editor.document
            self.model.recount(self._document)
            if self._document is not None:
                self._document.changed.connect(self._on_document)

    def _on_document(self, document: FrameDocument, change: DocumentChange) -> None:
        if document is self.editor.document and (change.objects or change.order):
            self.model.recount(document)
