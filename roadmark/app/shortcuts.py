"""Every menu action with its default keys, the user's overrides, and the cheat sheet.

Actions are declared as data (:class:`ActionSpec`): an id, menu text, menu and default
keys. The window turns them into QActions and binds handlers by id, so a later module adds
its own actions with :func:`register` and never edits a menu by hand. The user's keys are
kept in the settings file (``Settings.extra["shortcuts"]``: action id -> list of key
sequences, an empty list meaning "no key") and edited in the cheat-sheet dialog, which
shows two keys per action (a main and a second one); keys beyond those are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QColor, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QKeySequenceEdit,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from roadmark.app.errors import error_text
from roadmark.core.schema import LabelSchema
from roadmark.io.settings import Settings

SETTINGS_KEY = "shortcuts"
KEYS_SHOWN = 2  # key editors per action in the cheat sheet
ATTRIBUTE_KEYS = {"occluded": ("Ctrl+Shift+O",), "truncated": ("Ctrl+Shift+T",)}
MENUS = ("File", "Edit", "View", "Frame", "Tools", "Labels", "Objects", "Review", "Model", "Help")


@dataclass(frozen=True)
class ActionSpec:
    """A user-visible action.

    Attributes:
        id: Stable id (settings and code refer to it).
        text: Menu text (``&`` marks the mnemonic).
        menu: The menu it appears in (one of :data:`MENUS` or a new one).
        keys: Default key sequences, portable text (``"Ctrl+Z"``).
        checkable: A toggle (its handler receives the new state).
    """

    id: str
    text: str
    menu: str
    keys: tuple[str, ...] = ()
    checkable: bool = False


def _spec(id: str, text: str, menu: str, *keys: str, checkable: bool = False) -> ActionSpec:
    return ActionSpec(id, text, menu, tuple(keys), checkable)


EDITOR_ACTIONS: list[ActionSpec] = [
    _spec("file.close", "&Close project", "File", "Ctrl+W"),
    _spec("edit.undo", "&Undo", "Edit", "Ctrl+Z"),
    _spec("edit.redo", "&Redo", "Edit", "Ctrl+Shift+Z", "Ctrl+Y"),
    _spec("edit.delete", "&Delete selection", "Edit", "Delete", "Backspace"),
    _spec("edit.copy", "&Copy selected objects", "Edit", "Ctrl+C"),
    _spec("edit.paste", "&Paste objects", "Edit", "Ctrl+V"),
    _spec("edit.select_all", "Select &all", "Edit", "Ctrl+A"),
    _spec("edit.deselect", "Select &none", "Edit", "Escape"),
    _spec("edit.relabel", "Change &label of selection…", "Edit", "L"),
    _spec("edit.new_instance", "New &instance id", "Edit", "I"),
    _spec("edit.nudge_left", "Move selection left", "Edit", "Left"),
    _spec("edit.nudge_right", "Move selection right", "Edit", "Right"),
    _spec("edit.nudge_up", "Move selection up", "Edit", "Up"),
    _spec("edit.nudge_down", "Move selection down", "Edit", "Down"),
    _spec("edit.nudge_left_far", "Move selection left 10 px", "Edit", "Shift+Left"),
    _spec("edit.nudge_right_far", "Move selection right 10 px", "Edit", "Shift+Right"),
    _spec("edit.nudge_up_far", "Move selection up 10 px", "Edit", "Shift+Up"),
    _spec("edit.nudge_down_far", "Move selection down 10 px", "Edit", "Shift+Down"),
    _spec("view.zoom_in", "Zoom &in", "View", "+", "="),
    _spec("view.zoom_out", "Zoom &out", "View", "-"),
    _spec("view.fit", "&Fit frame", "View", "F", "Ctrl+0"),
    _spec("view.actual", "&Actual pixels (1:1)", "View", "Ctrl+1"),
    _spec("view.overlay", "Show &overlay", "View", "O", checkable=True),
    _spec("view.outline", "Overlay as o&utlines", "View", "Shift+O", checkable=True),
    _spec("view.outline_wider", "Wider outlines", "View", "Ctrl+Alt+."),
    _spec("view.outline_thinner", "Thinner outlines", "View", "Ctrl+Alt+,"),
    _spec("view.opacity_up", "Overlay more opaque", "View", "."),
    _spec("view.opacity_down", "Overlay more transparent", "View", ","),
    _spec("view.boxes", "Show &boxes", "View", "Shift+B", checkable=True),
    _spec("view.peek", "&Peek at the raw frame (hold)", "View", "W"),
    _spec("frame.next", "&Next frame", "Frame", "D", "PgDown"),
    _spec("frame.previous", "&Previous frame", "Frame", "A", "PgUp"),
    _spec("frame.next_unlabeled", "Next &unfinished frame", "Frame", "N"),
    _spec("frame.previous_unlabeled", "Previous unfinished frame", "Frame", "Shift+N"),
    _spec("frame.first", "&First frame", "Frame", "Home"),
    _spec("frame.last", "&Last frame", "Frame", "End"),
    _spec("frame.done", "Mark &done and go to the next unfinished", "Frame", "Ctrl+Return"),
    _spec("tool.select", "&Select and edit", "Tools", "V"),
    _spec("tool.box", "&Box", "Tools", "R"),
    _spec("tool.polygon", "&Polygon", "Tools", "P"),
    _spec("tool.brush", "B&rush", "Tools", "B"),
    _spec("tool.eraser", "&Eraser", "Tools", "E"),
    _spec("tool.fill", "&Fill", "Tools", "G"),
    _spec(
        "tool.paint_behind",
        "Paint &behind existing objects (tap: switch, hold: while held)",
        "Tools",
        "Q",
        checkable=True,
    ),
    _spec("tool.brush_smaller", "Smaller brush", "Tools", "["),
    _spec("tool.brush_larger", "Larger brush", "Tools", "]"),
    _spec("label.choose", "&Choose label…", "Labels", "/", "Ctrl+L"),
    _spec("object.raise", "&Raise", "Objects", "Ctrl+]"),
    _spec("object.lower", "&Lower", "Objects", "Ctrl+["),
    _spec("object.top", "Bring to &top", "Objects", "Ctrl+Shift+]"),
    _spec("object.bottom", "Send to &bottom", "Objects", "J", "Ctrl+Shift+["),
    _spec("object.hide", "&Hide selection", "Objects", "H"),
    _spec("object.show_all", "&Show all hidden", "Objects", "Shift+H"),
    _spec("help.shortcuts", "&Keyboard shortcuts…", "Help", "F1"),
]

_registered: list[ActionSpec] = []


def register(specs: Iterable[ActionSpec]) -> None:
    """Add actions from another module (model review, training, ...); ids must be new.

    Raises:
        ValueError: An id is already taken.
    """
    taken = {spec.id for spec in (*EDITOR_ACTIONS, *_registered)}
    for spec in specs:
        if spec.id in taken:
            raise ValueError(f"action id {spec.id!r} is already registered")
        taken.add(spec.id)
        _registered.append(spec)


def label_actions(schema: LabelSchema) -> list[ActionSpec]:
    """One action per label: every label can be given a key in the cheat sheet (the
    schema's shortcuts, keys 1-9 and 0 for Cityscapes, are the defaults)."""
    return [
        ActionSpec(
            f"label.{label.id}",
            f"Label: {label.name}",
            "Labels",
            (label.shortcut,) if label.shortcut else (),
        )
        for label in schema.labels
    ]


def attribute_actions(schema: LabelSchema) -> list[ActionSpec]:
    """One action per yes/no attribute of the schema: switch it on the selection."""
    return [
        ActionSpec(
            f"attribute.{name}",
            f"Attribute: {name} (switch on the selection)",
            "Objects",
            ATTRIBUTE_KEYS.get(name, ()),
        )
        for name, spec in schema.attributes.items()
        if spec.type == "bool"
    ]


def all_actions(schema: LabelSchema) -> list[ActionSpec]:
    return [*EDITOR_ACTIONS, *label_actions(schema), *attribute_actions(schema), *_registered]


def portable(key: str) -> str:
    """A key sequence in Qt's portable text ("Delete" and "Del" are the same key)."""
    return QKeySequence(key).toString(QKeySequence.SequenceFormat.PortableText)


class ShortcutMap:
    """Default keys plus the user's overrides, loaded from and saved to the settings."""

    def __init__(self, specs: Sequence[ActionSpec], overrides: dict[str, list[str]] | None = None):
        self.specs = {spec.id: spec for spec in specs}
        self.overrides = {k: list(v) for k, v in (overrides or {}).items() if k in self.specs}

    @classmethod
    def load(cls, specs: Sequence[ActionSpec]) -> ShortcutMap:
        raw = Settings.load().extra.get(SETTINGS_KEY, {})
        overrides = {
            str(k): [str(key) for key in v]
            for k, v in (raw.items() if isinstance(raw, dict) else [])
            if isinstance(v, list)
        }
        return cls(specs, overrides)

    def save(self) -> None:
        settings = Settings.load()
        settings.extra[SETTINGS_KEY] = dict(sorted(self.overrides.items()))
        settings.save()

    def keys(self, action_id: str) -> list[str]:
        if action_id in self.overrides:
            return list(self.overrides[action_id])
        return list(self.specs[action_id].keys)

    def set_keys(self, action_id: str, keys: Sequence[str]) -> None:
        keys = [k for k in keys if k]
        if [portable(k) for k in keys] == [portable(k) for k in self.specs[action_id].keys]:
            self.overrides.pop(action_id, None)
        else:
            self.overrides[action_id] = list(keys)

    def conflicts(self) -> dict[str, list[str]]:
        """Key sequence -> the action ids that share it (only keys used twice)."""
        users: dict[str, list[str]] = {}
        for action_id in self.specs:
            for key in self.keys(action_id):
                users.setdefault(portable(key), []).append(action_id)
        return {key: ids for key, ids in users.items() if len(ids) > 1}


class ActionRegistry:
    """The QActions of a window, built from specs, bound to handlers by id."""

    def __init__(self, window: QMainWindow, specs: Sequence[ActionSpec]) -> None:
        self.window = window
        self.specs = list(specs)
        self.shortcuts = ShortcutMap.load(self.specs)
        self.actions: dict[str, QAction] = {}
        self.menus: dict[str, QMenu] = {}
        for name in MENUS:
            self.menu(name)
        for spec in self.specs:
            action = QAction(spec.text, window)
            action.setObjectName(spec.id)
            action.setCheckable(spec.checkable)
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            self.menu(spec.menu).addAction(action)
            window.addAction(action)
            self.actions[spec.id] = action
        self.apply_shortcuts()

    def menu(self, name: str) -> QMenu:
        if name not in self.menus:
            self.menus[name] = self.window.menuBar().addMenu(f"&{name}")
        return self.menus[name]

    def bind(self, action_id: str, handler: Callable[..., object]) -> QAction:
        """Call ``handler()`` when the action fires (``handler(checked)`` for toggles).

        An error the handler raises reaches the person (the window's ``show_error``: the
        status bar and a box), never only stderr.
        """
        action = self.actions[action_id]
        if action.isCheckable():
            action.toggled.connect(lambda checked: self._run(handler, checked))
        else:
            action.triggered.connect(lambda _checked=False: self._run(handler))
        return action

    def _run(self, handler: Callable[..., object], *args: object) -> None:
        try:
            handler(*args)
        except Exception as error:
            show = getattr(self.window, "show_error", None)
            if show is None:
                raise
            show(error_text(error))

    def apply_shortcuts(self) -> None:
        for action_id, action in self.actions.items():
            action.setShortcuts([QKeySequence(k) for k in self.shortcuts.keys(action_id)])

    def __getitem__(self, action_id: str) -> QAction:
        return self.actions[action_id]


class ShortcutsDialog(QDialog):
    """The cheat sheet: every action and its keys, searchable and editable."""

    def __init__(self, registry: ActionRegistry, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.registry = registry
        self.resize(620, 720)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search actions or keys…")
        self.search.textChanged.connect(self._filter)
        self.table = QTableWidget(len(registry.specs), 2 + KEYS_SHOWN)
        self.table.setHorizontalHeaderLabels(["Action", "Menu", "Key", "Second key"])
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        for column in range(2, 2 + KEYS_SHOWN):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Fixed)
            self.table.setColumnWidth(column, 150)
        self.editors: dict[str, list[QKeySequenceEdit]] = {}
        self._restored = False
        for row, spec in enumerate(registry.specs):
            name = QTableWidgetItem(spec.text.replace("&", ""))
            name.setFlags(name.flags() & ~Qt.ItemFlag.ItemIsEditable)
            menu = QTableWidgetItem(spec.menu)
            menu.setFlags(menu.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.table.setItem(row, 0, name)
            self.table.setItem(row, 1, menu)
            keys = registry.shortcuts.keys(spec.id)
            edits = []
            for slot in range(KEYS_SHOWN):
                edit = QKeySequenceEdit(QKeySequence(keys[slot] if slot < len(keys) else ""))
                edit.setMaximumSequenceLength(1)
                edit.setClearButtonEnabled(True)
                edit.setToolTip("Click and press the new key; the clear button removes it")
                edit.keySequenceChanged.connect(self._check)
                self.table.setCellWidget(row, 2 + slot, edit)
                edits.append(edit)
            self.editors[spec.id] = edits
        self.message = QLabel()
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save
            | QDialogButtonBox.StandardButton.Close
            | QDialogButtonBox.StandardButton.RestoreDefaults
        )
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(
            self.restore_defaults
        )
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(self.table)
        layout.addWidget(self.message)
        layout.addWidget(buttons)

    def _edited_map(self) -> ShortcutMap:
        base = {} if self._restored else self.registry.shortcuts.overrides
        edited = ShortcutMap(self.registry.specs, base)
        for action_id, edits in self.editors.items():
            shown = [portable(edit.keySequence().toString()) for edit in edits]
            current = edited.keys(action_id)
            padded = [portable(k) for k in current[:KEYS_SHOWN]]
            padded += [""] * (KEYS_SHOWN - len(padded))
            if shown != padded:
                edited.set_keys(action_id, [*shown, *current[KEYS_SHOWN:]])
        return edited

    def _check(self) -> bool:
        conflicts = self._edited_map().conflicts()
        clashing = {action_id for ids in conflicts.values() for action_id in ids}
        for row, spec in enumerate(self.registry.specs):
            item = self.table.item(row, 0)
            if item is not None:
                item.setForeground(QColor(220, 60, 60) if spec.id in clashing else QColor())
        if conflicts:
            self.message.setText(
                "Keys used twice: "
                + "; ".join(f"{k} ({', '.join(v)})" for k, v in conflicts.items())
            )
        else:
            self.message.setText("")
        return not conflicts

    def _filter(self, text: str) -> None:
        text = text.lower()
        for row, spec in enumerate(self.registry.specs):
            keys = " ".join(self.registry.shortcuts.keys(spec.id)).lower()
            hit = (
                text in spec.text.replace("&", "").lower()
                or text in keys
                or text in spec.menu.lower()
            )
            self.table.setRowHidden(row, not hit)

    def restore_defaults(self) -> None:
        self._restored = True
        for spec in self.registry.specs:
            for slot, edit in enumerate(self.editors[spec.id]):
                edit.setKeySequence(QKeySequence(spec.keys[slot] if slot < len(spec.keys) else ""))

    def save(self) -> None:
        if not self._check():
            QMessageBox.warning(self, "Keyboard shortcuts", self.message.text())
            return
        self.registry.shortcuts = self._edited_map()
        self.registry.shortcuts.save()
        self.registry.apply_shortcuts()
        self.accept()
