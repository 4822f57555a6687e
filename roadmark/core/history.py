"""Commands and the undo history.

Every edit is a :class:`Command`: it knows how to apply and revert itself against an
:class:`EditTarget` (the store plus the open document, see :mod:`roadmark.core.session`)
and stores only the before and after of what it changed. Objects are immutable, so a
command keeps references to the old and new objects, not copies of the frame.

The :class:`History` is a plain list of applied commands and a list of undone ones. A new
command clears the redo list; consecutive commands with the same ``merge_key`` (keyboard
nudges, typing into an attribute) become one step, as in Qt's ``QUndoCommand.mergeWith``.
The history has no limit within a session.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Sequence
from typing import Protocol

from psygnal import Signal

from roadmark.core.annotation import AnnotationObject
from roadmark.core.signals import emit


class EditTarget(Protocol):
    """What a command writes through: the store, mirrored into the open document."""

    def add(
        self, frame_id: int, objects: Sequence[AnnotationObject], *, at_bottom: bool = False
    ) -> list[AnnotationObject]:
        """Store new objects on top of the frame (or under it) and return them with uids."""
        ...

    def update(self, frame_id: int, objects: Sequence[AnnotationObject]) -> None:
        """Write back new versions of stored objects (matched by uid)."""
        ...

    def set_z_order(self, frame_id: int, uids: Sequence[int]) -> None:
        """Make ``uids`` (every object of the frame) the z-order, bottom first."""
        ...


class Command(ABC):
    """One undoable edit.

    Attributes:
        text: What the command did, for the Edit menu ("Draw box", "Move vertex").
        frame_ids: The frames the command changes.
        merge_key: Commands pushed one after the other with the same, non-``None`` key are
            merged into one undo step.
    """

    text: str
    frame_ids: tuple[int, ...]
    merge_key: Hashable | None = None

    @abstractmethod
    def apply(self, target: EditTarget) -> None:
        """Do (or redo) the edit."""

    @abstractmethod
    def revert(self, target: EditTarget) -> None:
        """Undo the edit; ``apply`` must have run before."""

    def merged(self, newer: Command) -> Command | None:
        """One command doing ``self`` then ``newer`` (both applied already), or ``None``."""
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.text!r} frames={list(self.frame_ids)}>"


class History:
    """The undo and redo lists of one editing session (no size limit).

    Signals:
        changed: ``(history)`` after every change of the lists.
    """

    changed = Signal(object)

    def __init__(self) -> None:
        self._done: list[Command] = []
        self._undone: list[Command] = []
        self._sealed = True

    def _changed(self) -> None:
        emit(self.changed, self)

    def push(self, command: Command) -> None:
        """Record a command that has just been applied; clears the redo list."""
        top = self._done[-1] if self._done else None
        merged = None
        if (
            top is not None
            and not self._sealed
            and command.merge_key is not None
            and command.merge_key == top.merge_key
        ):
            merged = top.merged(command)
        if merged is not None:
            self._done[-1] = merged
        else:
            self._done.append(command)
        self._undone.clear()
        self._sealed = False
        self._changed()

    def seal(self) -> None:
        """Stop the next command from merging into the last one (a new gesture starts)."""
        self._sealed = True

    @property
    def can_undo(self) -> bool:
        return bool(self._done)

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    def next_undo(self) -> Command | None:
        """The command :meth:`undo_done` would move to the redo list."""
        return self._done[-1] if self._done else None

    def next_redo(self) -> Command | None:
        """The command :meth:`redo_done` would move back to the undo list."""
        return self._undone[-1] if self._undone else None

    def undo_done(self) -> Command:
        """Move the last command to the redo list (after it has been reverted)."""
        command = self._done.pop()
        self._undone.append(command)
        self._sealed = True
        self._changed()
        return command

    def redo_done(self) -> Command:
        """Move the last undone command back (after it has been applied again)."""
        command = self._undone.pop()
        self._done.append(command)
        self._sealed = True
        self._changed()
        return command

    @property
    def undo_text(self) -> str | None:
        command = self.next_undo()
        return command.text if command else None

    @property
    def redo_text(self) -> str | None:
        command = self.next_redo()
        return command.text if command else None

    def __len__(self) -> int:
        return len(self._done)

    def done(self) -> list[Command]:
        """The applied commands, oldest first."""
        return list(self._done)

    def clear(self) -> None:
        self._done.clear()
        self._undone.clear()
        self._sealed = True
        self._changed()
