"""The attributes dock: label, ids, flags and schema attributes of the selection.

The form shows the first selected object; a change applies to every selected object it
fits (one undo step; typing into a text attribute merges into one step). Provenance is
shown read-only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QWidget,
)

from roadmark.annotators.editor import Editor, EditorChange
from roadmark.app.labels_dock import swatch
from roadmark.core.annotation import AnnotationObject, Box
from roadmark.core.document import DocumentChange, FrameDocument
from roadmark.core.errors import RoadmarkError

NO_ID = 0  # spin box value shown as "none"


class AttributesDock(QDockWidget):
    """Edit what describes the selected objects."""

    def __init__(self, editor: Editor, parent: QWidget | None = None) -> None:
        super().__init__("Attributes", parent)
        self.setObjectName("attributes")
        self.editor = editor
        self._document: FrameDocument | None = None
        self._shown: tuple[int, ...] = ()
        self._shown_object: AnnotationObject | None = None
        self.body = QWidget()
        self.form = QFormLayout(self.body)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.body)
        self.setWidget(scroll)
        self.message = QLabel()
        self._pending = False
        editor.subscribe(self._on_editor)
        self.rebuild()

    # -- observing -------------------------------------------------------------------------

    def _on_editor(self, what: EditorChange) -> None:
        if what != "document":
            return
        if self._document is not None:
            self._document.unsubscribe(self._on_document)
        self._document = self.editor.document
        if self._document is not None:
            self._document.subscribe(self._on_document)
        self.rebuild()

    def _on_document(self, document: FrameDocument, change: DocumentChange) -> None:
        if document is not self._document:
            return
        current = document.selected()
        first = current[0] if current else None
        if tuple(document.selection) != self._shown or first is not self._shown_object:
            self._schedule()

    def _schedule(self) -> None:
        # Rebuilt from the event loop: the change may come from a signal of a widget that
        # the rebuild deletes.
        if not self._pending:
            self._pending = True
            QTimer.singleShot(0, self.rebuild)

    # -- the form --------------------------------------------------------------------------

    def _clear(self) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)

    def rebuild(self) -> None:
        """Show the current selection's fields."""
        self._pending = False
        self._clear()
        self.message = QLabel()
        document = self._document
        selected = document.selected() if document is not None else []
        self._shown = tuple(document.selection) if document is not None else ()
        self._shown_object = selected[0] if selected else None
        if not selected:
            self.form.addRow(QLabel("Select an object to see its attributes."))
            return
        obj = selected[0]
        schema = self.editor.schema
        label = schema.by_id.get(obj.label_id)
        if len(selected) > 1:
            self.form.addRow(QLabel(f"<b>{len(selected)} objects selected</b> (showing the first)"))
        combo = QComboBox()
        for entry in schema.labels:
            combo.addItem(swatch(entry.color), entry.name, entry.id)
        combo.setCurrentIndex(max(0, combo.findData(obj.label_id)))
        combo.activated.connect(
            lambda i: self._apply(lambda: self.editor.relabel_selection(int(combo.itemData(i))))
        )
        self.form.addRow("Label", combo)

        instance = self._id_spin(obj.instance_id)
        instance.setEnabled(bool(label and label.has_instances))
        instance.valueChanged.connect(
            lambda v: self._apply(
                lambda: self.editor.set_fields("Set instance id", instance_id=v or None)
            )
        )
        new_instance = QPushButton("New")
        new_instance.setToolTip("A new instance id for each selected object (I)")
        new_instance.setEnabled(bool(label and label.has_instances))
        new_instance.clicked.connect(lambda: self._apply(self.editor.new_instance_ids))
        row = QHBoxLayout()
        row.addWidget(instance, 1)
        row.addWidget(new_instance)
        self.form.addRow("Instance id", row)

        track = self._id_spin(obj.track_id)
        track.valueChanged.connect(
            lambda v: self._apply(
                lambda: self.editor.set_fields("Set track id", track_id=v or None)
            )
        )
        self.form.addRow("Track id", track)

        crowd = QCheckBox("a group labeled as one")
        crowd.setChecked(obj.crowd)
        crowd.toggled.connect(
            lambda on: self._apply(lambda: self.editor.set_fields("Set crowd", crowd=on))
        )
        self.form.addRow("Crowd", crowd)

        verified = QCheckBox("checked by a person")
        verified.setChecked(obj.provenance.verified)
        verified.toggled.connect(
            lambda on: self._apply(lambda: self.editor.set_fields("Set verified", verified=on))
        )
        self.form.addRow("Verified", verified)

        for name in label.attributes if label else ():
            spec = schema.attributes[name]
            value = obj.attributes.get(name, spec.default)
            self.form.addRow(
                name.capitalize(),
                self._attribute_widget(name, spec.type, spec.choices, value, spec.description),
            )

        self.form.addRow(QLabel(""))
        self._info("Kind", obj.kind.value)
        self._info("Size", _size(obj))
        prov = obj.provenance
        self._info(
            "Source",
            prov.source + (f" ({prov.confidence:.2f})" if prov.confidence is not None else ""),
        )
        self._info("Created", f"{prov.created_by}, {prov.created_at:%Y-%m-%d %H:%M}")
        self._info("Updated", f"{prov.updated_by}, {prov.updated_at:%Y-%m-%d %H:%M}")
        self.form.addRow(self.message)

    def _id_spin(self, value: int | None) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(NO_ID, 10_000_000)
        spin.setSpecialValueText("none")
        spin.setValue(NO_ID if value is None else value)
        spin.setKeyboardTracking(False)
        return spin

    def _attribute_widget(
        self, name: str, kind: str, choices: tuple[str, ...], value: Any, tip: str
    ) -> QWidget:
        widget: QWidget
        if kind == "bool":
            box = QCheckBox()
            box.setChecked(bool(value))
            box.toggled.connect(lambda on: self._apply(lambda: self.editor.set_attribute(name, on)))
            widget = box
        elif kind == "choice":
            combo = QComboBox()
            combo.addItems(list(choices))
            combo.setCurrentText(str(value))
            combo.activated.connect(
                lambda i: self._apply(lambda: self.editor.set_attribute(name, choices[i]))
            )
            widget = combo
        else:
            line = QLineEdit(str(value))
            line.editingFinished.connect(
                lambda: self._apply(lambda: self.editor.set_attribute(name, line.text()))
            )
            widget = line
        widget.setToolTip(tip)
        return widget

    def _info(self, name: str, text: str) -> None:
        label = QLabel(text)
        label.setWordWrap(True)
        self.form.addRow(name, label)

    def _apply(self, action: Callable[[], object]) -> None:
        try:
            action()
            self.message.setText("")
        except RoadmarkError as error:
            self.message.setText(f"<span style='color:#e05050'>{error}</span>")


def _size(obj: AnnotationObject) -> str:
    if isinstance(obj.geometry, Box):
        box = obj.geometry
        return f"{box.width:.1f} x {box.height:.1f} px at ({box.x0:.1f}, {box.y0:.1f})"
    region = obj.region
    parts = len(getattr(region, "geoms", [region]))
    return f"{region.area:.0f} px², {parts} part{'s' if parts > 1 else ''}"
