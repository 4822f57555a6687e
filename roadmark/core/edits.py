"""The edit commands: add, update (including soft delete), z-order, and groups of them.

Each command keeps only what it changed: the objects before and after (immutable, so these
are references, not copies) and, for a reorder, the two z-order lists.

Undo of an add is a soft delete (``deleted=True``) of the added objects, and redo clears
the flag again. The objects keep their store ids (uids), so later commands in the redo
list still refer to the right rows; the price is that an undone creation stays in the
store as a deleted row, which exports and ``live()`` ignore.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import replace

from roadmark.core.annotation import AnnotationObject
from roadmark.core.errors import RoadmarkError
from roadmark.core.history import Command, EditTarget


class EditError(RoadmarkError):
    """A command cannot be built or applied (objects not stored, uids mismatched)."""


def _require_uids(objects: Sequence[AnnotationObject], what: str) -> None:
    if any(obj.uid is None for obj in objects):
        raise EditError(f"{what}: every object must be stored (have a uid)")


class AddObjects(Command):
    """Create objects on one frame, on top of its stack or under it (``at_bottom``).

    After the first :meth:`apply`, :attr:`stored` holds the objects with their uids.
    """

    def __init__(
        self,
        frame_id: int,
        objects: Sequence[AnnotationObject],
        *,
        at_bottom: bool = False,
        text: str = "Add object",
    ) -> None:
        if not objects:
            raise EditError(f"{text}: nothing to add")
        self.frame_id = frame_id
        self.frame_ids = (frame_id,)
        self.pending = tuple(replace(obj, uid=None, deleted=False) for obj in objects)
        self.at_bottom = at_bottom
        self.text = text
        self.stored: tuple[AnnotationObject, ...] | None = None

    def apply(self, target: EditTarget) -> None:
        if self.stored is None:
            self.stored = tuple(target.add(self.frame_id, self.pending, at_bottom=self.at_bottom))
        else:
            target.update(self.frame_id, self.stored)

    def revert(self, target: EditTarget) -> None:
        if self.stored is None:
            raise EditError(f"{self.text}: cannot undo what was never applied")
        target.update(self.frame_id, [replace(obj, deleted=True) for obj in self.stored])

    @property
    def uids(self) -> list[int]:
        """The uids of the created objects (empty before the first apply)."""
        return [obj.uid for obj in self.stored or () if obj.uid is not None]


class UpdateObjects(Command):
    """Replace stored objects with new versions (edit, relabel, soft delete, restore).

    Args:
        frame_id: The frame the objects are on.
        before: The objects as they are now.
        after: Their new versions, same uids in the same order.
        text: Menu text.
        merge_key: Consecutive updates with the same key become one undo step.
    """

    def __init__(
        self,
        frame_id: int,
        before: Sequence[AnnotationObject],
        after: Sequence[AnnotationObject],
        *,
        text: str,
        merge_key: Hashable | None = None,
    ) -> None:
        _require_uids(before, text)
        if [obj.uid for obj in before] != [obj.uid for obj in after]:
            raise EditError(f"{text}: before and after must list the same objects")
        if not before:
            raise EditError(f"{text}: nothing to change")
        self.frame_id = frame_id
        self.frame_ids = (frame_id,)
        self.before = tuple(before)
        self.after = tuple(after)
        self.text = text
        self.merge_key = merge_key

    def apply(self, target: EditTarget) -> None:
        target.update(self.frame_id, self.after)

    def revert(self, target: EditTarget) -> None:
        target.update(self.frame_id, self.before)

    def merged(self, newer: Command) -> Command | None:
        if not isinstance(newer, UpdateObjects) or newer.frame_id != self.frame_id:
            return None
        before = {obj.uid: obj for obj in self.before}
        after = {obj.uid: obj for obj in self.after}
        for old, new in zip(newer.before, newer.after, strict=True):
            before.setdefault(old.uid, old)
            after[new.uid] = new
        uids = list(before)
        return UpdateObjects(
            self.frame_id,
            [before[uid] for uid in uids],
            [after[uid] for uid in uids],
            text=self.text,
            merge_key=self.merge_key,
        )

    @property
    def uids(self) -> list[int]:
        return [obj.uid for obj in self.after if obj.uid is not None]


class SetZOrder(Command):
    """Change the z-order of a frame's objects (``before``/``after``: uids, bottom first)."""

    def __init__(
        self, frame_id: int, before: Sequence[int], after: Sequence[int], *, text: str
    ) -> None:
        if sorted(before) != sorted(after):
            raise EditError(f"{text}: the new z-order must list the same objects")
        self.frame_id = frame_id
        self.frame_ids = (frame_id,)
        self.before = tuple(before)
        self.after = tuple(after)
        self.text = text

    def apply(self, target: EditTarget) -> None:
        target.set_z_order(self.frame_id, self.after)

    def revert(self, target: EditTarget) -> None:
        target.set_z_order(self.frame_id, self.before)


class CommandGroup(Command):
    """Several commands as one undo step (a batch, such as accepting a model's labels)."""

    def __init__(self, commands: Sequence[Command], *, text: str) -> None:
        if not commands:
            raise EditError(f"{text}: an empty group")
        self.commands = tuple(commands)
        self.text = text
        frames: list[int] = []
        for command in commands:
            frames.extend(f for f in command.frame_ids if f not in frames)
        self.frame_ids = tuple(frames)

    def apply(self, target: EditTarget) -> None:
        for command in self.commands:
            command.apply(target)

    def revert(self, target: EditTarget) -> None:
        for command in reversed(self.commands):
            command.revert(target)


def expected_state(command: Command, direction: str) -> list[AnnotationObject] | None:
    """The stored objects ``command`` starts from when applied (``direction="apply"``) or
    reverted (``"revert"``); ``None`` when the command type does not say.

    After a refused (stale) edit the frame is reloaded: the command may be applied again
    only if these objects are still as it expects, or it would undo another person's work.
    """
    forward = direction == "apply"
    if isinstance(command, UpdateObjects):
        return list(command.before if forward else command.after)
    if isinstance(command, AddObjects):
        if command.stored is None:
            return [] if forward else None
        return [replace(obj, deleted=forward) for obj in command.stored]
    if isinstance(command, SetZOrder):
        return []
    if isinstance(command, CommandGroup):
        # each object as the first child to touch it (in the order of the run) expects it
        expected: dict[int | None, AnnotationObject] = {}
        children = command.commands if forward else tuple(reversed(command.commands))
        for child in children:
            found = expected_state(child, direction)
            if found is None:
                return None
            for obj in found:
                expected.setdefault(obj.uid, obj)
        return list(expected.values())
    return None


def describe(count: int, noun: str = "object") -> str:
    """``"1 object"``, ``"3 objects"``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
