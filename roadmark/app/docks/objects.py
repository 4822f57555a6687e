"""The objects dock: the frame's live objects in z-order, topmost first.

Columns: visibility, label, instance and track id, source, confidence. Selecting rows
selects the objects on the canvas and back. Rows can be dragged to a new place in the
stack (one undoable reorder); the buttons raise, lower, move to the top or bottom, hide
and delete the selection.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelection,
    QItemSelectionModel,
    QMimeData,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDockWidget,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from roadmark.annotators.editor import Editor, EditorChange
from roadmark.app.canvas.edit_layer import attribute_text
from roadmark.app.docks.labels import swatch
from roadmark.core.annotation import AnnotationObject, ObjectKind
from roadmark.core.document import DocumentChange, FrameDocument
from roadmark.core.provenance import KIND_TEXT, KINDS, provenance_kind

Index = QModelIndex | QPersistentModelIndex
MIME = "application/x-roadmark-object-uids"
COLUMNS = ("", "Label", "Inst.", "Track", "Source", "Conf.", "Attributes")
UidRole = Qt.ItemDataRole.UserRole + 1
# Computed once: flags() is called for many cells on every selection change.
DROP_FLAGS = Qt.ItemFlag.ItemIsDropEnabled
ROW_FLAGS = (
    DROP_FLAGS
    | Qt.ItemFlag.ItemIsEnabled
    | Qt.ItemFlag.ItemIsSelectable
    | Qt.ItemFlag.ItemIsDragEnabled
)
CHECK_FLAGS = ROW_FLAGS | Qt.ItemFlag.ItemIsUserCheckable


class ObjectTableModel(QAbstractTableModel):
    """Live objects of a document, topmost first."""

    def __init__(self, editor: Editor) -> None:
        super().__init__()
        self.editor = editor
        self.document: FrameDocument | None = None
        self.rows: list[AnnotationObject] = []
        # uid -> place counted from the bottom row: objects added on top leave the others'
        # places as they are, so adding one costs the same at any object count
        self._from_bottom: dict[int, int] = {}
        self.kind_filter: str | None = None  # show only this provenance kind
        schema = editor.schema
        self._icons = {label.id: swatch(label.color) for label in schema.labels}
        self._names = {label.id: label.name for label in schema.labels}

    def set_document(self, document: FrameDocument | None) -> None:
        self.document = document
        self.reload()

    def reload(self) -> None:
        rows = list(reversed(self.document.live())) if self.document else []
        if self.kind_filter is not None:
            rows = [o for o in rows if provenance_kind(o) == self.kind_filter]
        if not self._patch(rows):
            self.beginResetModel()
            self._set_rows(rows)
            self.endResetModel()

    def _set_rows(self, rows: list[AnnotationObject], *, added_on_top: int = 0) -> None:
        """Show ``rows``; ``added_on_top``: they are the rows shown before with that many
        new rows above them."""
        last = len(rows) - 1
        if added_on_top and len(self._from_bottom) == len(self.rows):
            for row in range(added_on_top):
                uid = rows[row].uid
                if uid is not None:
                    self._from_bottom[uid] = last - row
        else:
            self._from_bottom = {
                obj.uid: last - row for row, obj in enumerate(rows) if obj.uid is not None
            }
        self.rows = rows

    def _patch(self, rows: list[AnnotationObject]) -> bool:
        """Show ``rows`` by inserting or removing rows when that is all that changed (an
        object added on top or below, objects deleted): a model reset makes the view lay
        out every row again, tens of milliseconds per edit on a frame of thousands."""
        old, new = [o.uid for o in self.rows], [o.uid for o in rows]
        if not old or not new or old == new:
            return False
        before = self.rows
        if len(new) > len(old):
            added = len(new) - len(old)
            if new[added:] == old:
                first = 0
            elif new[: len(old)] == old:
                first = len(old)
            else:
                return False
            self.beginInsertRows(QModelIndex(), first, first + added - 1)
            self._set_rows(rows, added_on_top=added if first == 0 else 0)
            self.endInsertRows()
            kept = rows[added:] if first == 0 else rows[: len(old)]
        else:
            remaining = set(new)
            if [uid for uid in old if uid in remaining] != new:
                return False
            gone = [row for row, uid in enumerate(old) if uid not in remaining]
            for row in reversed(gone):
                self.beginRemoveRows(QModelIndex(), row, row)
                del self.rows[row]
                self.endRemoveRows()
            self._set_rows(rows)
            kept = rows
            before = [obj for obj in before if obj.uid in remaining]
        if any(a is not b for a, b in zip(before, kept, strict=True)):
            self.dataChanged.emit(self.index(0, 0), self.index(len(rows) - 1, len(COLUMNS) - 1))
        return True

    def update_objects(self, uids: Sequence[int]) -> None:
        """Refresh the rows of changed objects (same rows, new content)."""
        assert self.document is not None
        for uid in uids:
            row = self.row_of(uid)
            obj = self.document.get(uid)
            if row is None or obj is None:
                continue
            self.rows[row] = obj
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def row_of(self, uid: int) -> int | None:
        place = self._from_bottom.get(uid)
        return None if place is None else len(self.rows) - 1 - place

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return DROP_FLAGS
        return CHECK_FLAGS if index.column() == 0 else ROW_FLAGS

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or self.document is None:
            return None
        obj = self.rows[index.row()]
        column = index.column()
        if role == UidRole:
            return obj.uid
        if role == Qt.ItemDataRole.CheckStateRole and column == 0:
            return (
                Qt.CheckState.Checked if self.document.is_visible(obj) else Qt.CheckState.Unchecked
            )
        if role == Qt.ItemDataRole.DecorationRole and column == 1:
            return self._icons.get(obj.label_id)
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 1:
                name = self._names.get(obj.label_id, str(obj.label_id))
                return f"{name} (box)" if obj.kind is ObjectKind.BOX else name
            if column == 2:
                return "" if obj.instance_id is None else str(obj.instance_id)
            if column == 3:
                return "" if obj.track_id is None else str(obj.track_id)
            if column == 4:
                kind = provenance_kind(obj)
                source = obj.provenance.source
                return source if kind in ("human", "imported") else f"{source} ({kind})"
            if column == 5:
                confidence = obj.provenance.confidence
                return "" if confidence is None else f"{confidence:.2f}"
            if column == 6:
                return attribute_text(obj)
        if role == Qt.ItemDataRole.ToolTipRole:
            prov = obj.provenance
            return (
                f"uid {obj.uid}, {obj.kind.value}\ncreated by {prov.created_by} at "
                f"{prov.created_at:%Y-%m-%d %H:%M}, {KIND_TEXT[provenance_kind(obj)]}\n"
                f"updated by {prov.updated_by} at "
                f"{prov.updated_at:%Y-%m-%d %H:%M}{chr(10) + 'verified' if prov.verified else ''}"
            )
        return None

    def setData(self, index: Index, value: object, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role == Qt.ItemDataRole.CheckStateRole and index.column() == 0 and self.document:
            obj = self.rows[index.row()]
            visible = Qt.CheckState(value) == Qt.CheckState.Checked
            if obj.uid is not None:
                self.document.set_hidden([obj.uid], not visible)
            return True
        return False

    # -- drag and drop (reorder) -----------------------------------------------------------

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction

    def mimeTypes(self) -> list[str]:
        return [MIME]

    def mimeData(self, indexes: Sequence[QModelIndex]) -> QMimeData:
        chosen = {self.rows[i.row()].uid for i in indexes if i.isValid()}
        uids = sorted(uid for uid in chosen if uid is not None)
        data = QMimeData()
        data.setData(MIME, json.dumps(uids).encode())
        return data

    def dropMimeData(
        self, data: QMimeData, action: Qt.DropAction, row: int, column: int, parent: Index
    ) -> bool:
        if action != Qt.DropAction.MoveAction or not data.hasFormat(MIME):
            return False
        uids = [int(u) for u in json.loads(bytes(data.data(MIME).data()).decode())]
        if row < 0 and parent.isValid():
            row = parent.row()
        if row < 0 or row >= len(self.rows):
            above = None  # dropped below the last row: the bottom of the stack
        else:
            above = self.rows[row].uid
        # The list is topmost first, so a drop before row r puts the objects above it.
        self.editor.place(uids, above)
        return False  # the document change reloads the rows


class ObjectsDock(QDockWidget):
    """The z-ordered object list with selection, visibility, reorder and delete."""

    def __init__(self, editor: Editor, parent: QWidget | None = None) -> None:
        super().__init__("Objects", parent)
        self.setObjectName("objects")
        self.editor = editor
        self.model = ObjectTableModel(editor)
        # A table, not a tree: a tree view lays out every row again after a row is
        # inserted or removed (tens of milliseconds at 10,000 objects); a table's rows
        # have one fixed height, so an added object costs about the same at any count.
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setShowGrid(False)
        self.view.setWordWrap(False)
        rows = self.view.verticalHeader()
        rows.setVisible(False)
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(self.view.fontMetrics().height() + 6)
        self.view.setAlternatingRowColors(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.view.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.view.setDragEnabled(True)
        self.view.setAcceptDrops(True)
        self.view.setDropIndicatorShown(True)
        # Fixed widths: "resize to contents" would read every row on every change.
        header = self.view.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for column, width in enumerate((28, 0, 44, 48, 112, 44)):
            if width:
                self.view.setColumnWidth(column, width)
        self.view.selectionModel().selectionChanged.connect(self._on_view_selection)
        self.count = QLabel()
        buttons = QHBoxLayout()
        buttons.setSpacing(2)
        buttons.addWidget(self.count, 1)
        for text, tip, slot in (
            ("▲", "Raise (Ctrl+])", editor.raise_selection),
            ("▼", "Lower (Ctrl+[)", editor.lower_selection),
            ("⤒", "Bring to top (Ctrl+Shift+])", editor.selection_to_top),
            ("⤓", "Send to bottom (Ctrl+Shift+[)", editor.selection_to_bottom),
            ("Hide", "Hide the selection (H)", editor.hide_selection),
            ("Delete", "Delete the selection (Del)", editor.delete_selection),
        ):
            button = QToolButton()
            button.setText(text)
            button.setToolTip(tip)
            button.clicked.connect(lambda _checked=False, slot=slot: slot())
            buttons.addWidget(button)
        self.kind_filter = QComboBox()
        self.kind_filter.setToolTip("Show only objects of this provenance")
        self.kind_filter.addItem("all sources", None)
        for kind in KINDS:
            self.kind_filter.addItem(KIND_TEXT[kind], kind)
        self.kind_filter.currentIndexChanged.connect(self._on_kind_filter)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.kind_filter)
        layout.addWidget(self.view)
        layout.addLayout(buttons)
        self.setWidget(body)
        self._syncing = False
        self._document: FrameDocument | None = None
        editor.changed.connect(self._on_editor)

    def _on_kind_filter(self, *_args: object) -> None:
        self.model.kind_filter = self.kind_filter.currentData()
        self.model.reload()
        self._after_reload()

    def _on_editor(self, what: EditorChange) -> None:
        if what == "document":
            if self._document is not None:
                self._document.changed.disconnect(self._on_document)
            self._document = self.editor.document
            if self._document is not None:
                self._document.changed.connect(self._on_document)
            self.model.set_document(self._document)
            self._after_reload()
        elif what == "visibility":
            self.model.reload()
            self._after_reload()

    def _on_document(self, document: FrameDocument, change: DocumentChange) -> None:
        if document is not self._document:
            return
        if change.order:
            self.model.reload()
            self._after_reload()
        elif change.objects or change.visibility:
            self.model.update_objects(sorted(change.uids))
        if change.selection and not self._syncing:
            self._select_rows()

    def _after_reload(self) -> None:
        document = self._document
        count = len(self.model.rows)
        if document is None:
            hidden = 0
        elif self.model.kind_filter is None:  # the rows are the live objects
            hidden = count - len(document.visible())
        else:
            hidden = sum(1 for obj in self.model.rows if not document.is_visible(obj))
        self.count.setText(f"{count} objects" + (f", {hidden} hidden" if hidden else ""))
        self._select_rows()

    def _select_rows(self) -> None:
        document = self._document
        if document is None:
            return
        wanted = {row for row in map(self.model.row_of, document.selection) if row is not None}
        model = self.view.selectionModel()
        shown = {index.row() for index in model.selectedRows()}
        # Only the rows whose state changes: a "clear and select" of the whole list costs
        # a pass over every row of a frame with thousands of objects.
        changes = [
            (rows, flag)
            for rows, flag in (
                (sorted(shown - wanted), QItemSelectionModel.SelectionFlag.Deselect),
                (sorted(wanted - shown), QItemSelectionModel.SelectionFlag.Select),
            )
            if rows
        ]
        self._syncing = True
        try:
            for rows, flag in changes:
                selection = QItemSelection()
                for row in rows:
                    selection.select(self.model.index(row, 0), self.model.index(row, 0))
                model.select(selection, flag | QItemSelectionModel.SelectionFlag.Rows)
            if document.selection:
                last = self.model.row_of(document.selection[-1])
                if last is not None:
                    self.view.scrollTo(self.model.index(last, 1))
        finally:
            self._syncing = False

    def _on_view_selection(self, *_args: object) -> None:
        if self._syncing or self._document is None:
            return
        rows = sorted({index.row() for index in self.view.selectionModel().selectedRows()})
        uids = [self.model.rows[row].uid for row in rows]
        self._syncing = True
        try:
            self._document.select(uid for uid in uids if uid is not None)
        finally:
            self._syncing = False
