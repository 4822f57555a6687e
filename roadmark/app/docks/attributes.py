"""The attributes dock: label, ids, flags and schema attributes of the selection.

The form shows what the selected objects have in common: a value they share, or "several"
(a partly checked box, an empty choice) where they differ; every attribute of any of
their labels is listed, with how many objects it applies to. A change applies to every
selected object it fits (one undo step; typing into a text attribute merges into one
step). Provenance is shown read-only: in full for one object, counted for several.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from html import escape
from typing import Any

from PySide6.QtCore import Qt, QTimer
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
from roadmark.app.docks.labels import swatch
from roadmark.app.errors import error_text
from roadmark.core.annotation import AnnotationObject, Box
from roadmark.core.document import DocumentChange, FrameDocument

NO_ID = 0  # spin box value shown as "none"


class AttributesDock(QDockWidget):
    """Edit what describes the selected objects."""

    def __init__(self, editor: Editor, parent: QWidget | None = None) -> None:
        super().__init__("Attributes", parent)
        self.setObjectName("attributes")
        self.editor = editor
        self._document: FrameDocument | None = None
        self._shown: tuple[int, ...] = ()
        self._shown_objects: tuple[AnnotationObject, ...] = ()
        self.body = QWidget()
        self.form = QFormLayout(self.body)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.body)
        self.setWidget(scroll)
        self.message = QLabel()
        self._pending = False
        editor.changed.connect(self._on_editor)
        self.rebuild()

    # -- observing -------------------------------------------------------------------------

    def _on_editor(self, what: EditorChange) -> None:
        if what != "document":
            return
        if self._document is not None:
            self._document.changed.disconnect(self._on_document)
        self._document = self.editor.document
        if self._document is not None:
            self._document.changed.connect(self._on_document)
        self.rebuild()

    def _on_document(self, document: FrameDocument, change: DocumentChange) -> None:
        if document is not self._document:
            return
        current = document.selected()
        same = len(current) == len(self._shown_objects) and all(
            a is b for a, b in zip(current, self._shown_objects, strict=True)
        )
        if tuple(document.selection) != self._shown or not same:
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
        self._shown_objects = tuple(selected)
        if not selected:
            self.form.addRow(QLabel("Select an object to see its attributes."))
            return
        schema = self.editor.schema
        labels = [schema.by_id.get(obj.label_id) for obj in selected]
        with_instances = [
            obj for obj, lab in zip(selected, labels, strict=True) if lab and lab.has_instances
        ]
        if len(selected) > 1:
            self.form.addRow(
                QLabel(f"<b>{len(selected)} objects selected</b>: a change applies to each")
            )
        combo = QComboBox()
        for entry in schema.labels:
            combo.addItem(swatch(entry.color), entry.name, entry.id)
        label_id = _common([obj.label_id for obj in selected])
        combo.setPlaceholderText("(several labels)")
        combo.setCurrentIndex(combo.findData(label_id) if label_id is not MIXED else -1)
        combo.activated.connect(
            lambda i: self._apply(lambda: self.editor.relabel_selection(int(combo.itemData(i))))
        )
        self.form.addRow("Label", combo)

        instance = self._id_spin(with_instances[0].instance_id if with_instances else None)
        # One instance id is one object: several objects get new ones with the button.
        instance.setEnabled(len(selected) == 1 and bool(with_instances))
        if len(selected) > 1:
            instance.setSpecialValueText("one per object")
            instance.setValue(NO_ID)
        instance.valueChanged.connect(
            lambda v: self._apply(
                lambda: self.editor.set_fields("Set instance id", instance_id=v or None)
            )
        )
        new_instance = QPushButton("New")
        new_instance.setToolTip("A new instance id for each selected object (I)")
        new_instance.setEnabled(bool(with_instances))
        new_instance.clicked.connect(lambda: self._apply(self.editor.new_instance_ids))
        row = QHBoxLayout()
        row.addWidget(instance, 1)
        row.addWidget(new_instance)
        self.form.addRow("Instance id", row)

        track_id = _common([obj.track_id for obj in selected])
        track = self._id_spin(None if track_id is MIXED else track_id)
        if track_id is MIXED:
            track.setSpecialValueText("several")
        track.valueChanged.connect(
            lambda v: self._apply(
                lambda: self.editor.set_fields("Set track id", track_id=v or None)
            )
        )
        self.form.addRow("Track id", track)

        crowd = self._check_box(
            "a group labeled as one",
            [obj.crowd for obj in selected],
            lambda on: self.editor.set_fields("Set crowd", crowd=on),
        )
        self.form.addRow("Crowd", crowd)

        verified = self._check_box(
            "checked by a person",
            [obj.provenance.verified for obj in selected],
            lambda on: self.editor.set_fields("Set verified", verified=on),
        )
        self.form.addRow("Verified", verified)

        names = list(dict.fromkeys(n for lab in labels if lab for n in lab.attributes))
        for name in names:
            spec = schema.attributes[name]
            having = [
                obj
                for obj, lab in zip(selected, labels, strict=True)
                if lab and name in lab.attributes
            ]
            values = [obj.attributes.get(name, spec.default) for obj in having]
            title = name.capitalize()
            if len(having) < len(selected):
                title += f" ({len(having)} of {len(selected)})"
            self.form.addRow(
                title,
                self._attribute_widget(name, spec.type, spec.choices, values, spec.description),
            )

        self.form.addRow(QLabel(""))
        if len(selected) == 1:
            self._describe(selected[0])
        else:
            self._summarize(selected)
        self.form.addRow(self.message)

    @property
    def _shown_object(self) -> AnnotationObject | None:
        """The first object the form shows."""
        return self._shown_objects[0] if self._shown_objects else None

    def _describe(self, obj: AnnotationObject) -> None:
        self._info("Kind", obj.kind.value)
        self._info("Size", _size(obj))
        prov = obj.provenance
        self._info(
            "Source",
            prov.source + (f" ({prov.confidence:.2f})" if prov.confidence is not None else ""),
        )
        self._info("Created", f"{prov.created_by}, {prov.created_at:%Y-%m-%d %H:%M}")
        self._info("Updated", f"{prov.updated_by}, {prov.updated_at:%Y-%m-%d %H:%M}")

    def _summarize(self, objects: list[AnnotationObject]) -> None:
        schema = self.editor.schema
        self._info(
            "Labels",
            _counts(
                schema.by_id[o.label_id].name if o.label_id in schema.by_id else str(o.label_id)
                for o in objects
            ),
        )
        self._info("Kinds", _counts(o.kind.value for o in objects))
        self._info("Sources", _counts(o.provenance.source for o in objects))
        self._info("Updated by", _counts(o.provenance.updated_by for o in objects))

    def _check_box(
        self, text: str, values: list[bool], set_all: Callable[[bool], object]
    ) -> QCheckBox:
        """A check box showing ``values`` (partly checked when they differ); checking or
        unchecking it calls ``set_all(on)`` for every object."""
        box = QCheckBox(text)
        common = _common(values)
        if common is MIXED:
            box.setTristate(True)
            box.setCheckState(Qt.CheckState.PartiallyChecked)
        else:
            box.setChecked(bool(common))

        def changed(state: int) -> None:
            if state != Qt.CheckState.PartiallyChecked.value:
                box.setTristate(False)
                self._apply(lambda: set_all(state == Qt.CheckState.Checked.value))

        box.stateChanged.connect(changed)
        return box

    def _id_spin(self, value: int | None) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(NO_ID, 10_000_000)
        spin.setSpecialValueText("none")
        spin.setValue(NO_ID if value is None else value)
        spin.setKeyboardTracking(False)
        return spin

    def _attribute_widget(
        self, name: str, kind: str, choices: tuple[str, ...], values: list[Any], tip: str
    ) -> QWidget:
        widget: QWidget
        value = _common(values)
        if kind == "bool":
            widget = self._check_box(
                "", [bool(v) for v in values], lambda on: self.editor.set_attribute(name, on)
            )
        elif kind == "choice":
            combo = QComboBox()
            combo.addItems(list(choices))
            combo.setPlaceholderText("(several)")
            combo.setCurrentIndex(combo.findText(str(value)) if value is not MIXED else -1)
            combo.activated.connect(
                lambda i: self._apply(lambda: self.editor.set_attribute(name, choices[i]))
            )
            widget = combo
        else:
            line = QLineEdit("" if value is MIXED else str(value))
            if value is MIXED:
                line.setPlaceholderText("(several values)")
            line.editingFinished.connect(
                lambda: self._apply(lambda: self.editor.set_attribute(name, line.text()))
                if line.isModified()
                else None
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
        except Exception as error:  # every failure reaches the person
            self.message.setText(f"<span style='color:#e05050'>{escape(error_text(error))}</span>")


class _Mixed:
    def __repr__(self) -> str:
        return "MIXED"


MIXED: Any = _Mixed()  # the selected objects differ in a value


def _common(values: Iterable[Any]) -> Any:
    """The value every object has, or :data:`MIXED`."""
    distinct = list(dict.fromkeys(values))
    return distinct[0] if len(distinct) == 1 else MIXED


def _counts(values: Iterable[str]) -> str:
    """``"car ×2, road"``: each value with how often it occurs, most frequent first."""
    counted = Counter(values).most_common()
    return ", ".join(f"{v} ×{n}" if n > 1 else v for v, n in counted)


def _size(obj: AnnotationObject) -> str:
    if isinstance(obj.geometry, Box):
        box = obj.geometry
        return f"{box.width:.1f} x {box.height:.1f} px at ({box.x0:.1f}, {box.y0:.1f})"
    region = obj.region
    parts = len(getattr(region, "geoms", [region]))
    return f"{region.area:.0f} px², {parts} part{'s' if parts > 1 else ''}"
