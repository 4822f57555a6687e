"""Object changes: what a sequence tool wants done to the store, as plain data.

Sequence tools (interpolation, track operations, propagation) do not write anything: they
return :class:`ObjectChange` lists that say which object of which frame becomes what. The
GUI turns one list into one undoable command; scripts and benchmarks apply it with
:func:`apply_changes`. Keeping the tools free of side effects makes them testable on plain
objects and lets the caller show, merge or refuse the result.

Provenance sources written by these tools, so that machine-made objects stay apart from
human labels (``roadmark info`` counts objects by source, and review can select them):

- :data:`INTERPOLATED`: filled in between two keyframes of a track. Interpolated objects
  are derived data: re-interpolating a track updates or soft-deletes them. Editing one
  makes it a keyframe (:func:`as_keyframe` sets the source to ``human``).
- :data:`PROPAGATED`: carried from the previous frame along the optical flow. It is a
  concrete proposal (a keyframe for interpolation), not yet checked by a person.
- ``model:NAME/tracked`` (:func:`tracked_source`): carried from an earlier frame by a video
  model's memory (SAM 2). A model label (``model:`` first) that is propagated in every
  other respect: a proposal, reviewed and confirmed like a flow-propagated object.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from roadmark.core.annotation import HUMAN, AnnotationObject, utc_now
from roadmark.core.edits import AddObjects, CommandGroup, UpdateObjects
from roadmark.core.history import Command

if TYPE_CHECKING:  # the tools import this module; they need no database
    from roadmark.io.store import Project

INTERPOLATED = "interpolated"
PROPAGATED = "propagated"
MODEL_PREFIX = "model:"
TRACKED_SUFFIX = "/tracked"


def tracked_source(model: str) -> str:
    """The provenance source of objects that model ``model`` tracked into a frame."""
    return f"{MODEL_PREFIX}{model}{TRACKED_SUFFIX}"


def is_interpolated(obj: AnnotationObject) -> bool:
    """The object was made by keyframe interpolation (and not edited since)."""
    return obj.provenance.source == INTERPOLATED


def is_model_tracked(obj: AnnotationObject) -> bool:
    """The object was carried over by a video model (:func:`tracked_source`)."""
    source = obj.provenance.source
    return source.startswith(MODEL_PREFIX) and source.endswith(TRACKED_SUFFIX)


def is_propagated(obj: AnnotationObject) -> bool:
    """The object was carried over from an earlier frame, by optical flow or a video model."""
    return obj.provenance.source == PROPAGATED or is_model_tracked(obj)


def is_machine_made(obj: AnnotationObject) -> bool:
    """Interpolated or propagated: a tool's proposal that no person has edited yet."""
    return is_interpolated(obj) or is_propagated(obj)


def as_keyframe(
    obj: AnnotationObject, user: str, *, at: datetime | None = None
) -> AnnotationObject:
    """The object after a person edited it: a human label (a keyframe of its track)."""
    provenance = replace(obj.provenance.touched(user, at=at), source=HUMAN, confidence=None)
    return replace(obj, provenance=provenance)


@dataclass(frozen=True)
class ObjectChange:
    """One object of one frame before and after a tool ran.

    Attributes:
        frame_id: The frame the object is on.
        before: The stored object (with its ``uid``), or ``None`` when the tool adds it.
        after: What it becomes. A removal is a soft delete (``after.deleted``).
    """

    frame_id: int
    before: AnnotationObject | None
    after: AnnotationObject

    @property
    def is_add(self) -> bool:
        return self.before is None


class ChangeSet:
    """Collects changes, folding several edits of the same stored object into one."""

    def __init__(self) -> None:
        self._updates: dict[int, ObjectChange] = {}
        self._adds: list[ObjectChange] = []

    def update(self, frame_id: int, before: AnnotationObject, after: AnnotationObject) -> None:
        """Record that stored object ``before`` becomes ``after``."""
        if before.uid is None:
            raise ValueError("only stored objects (with a uid) can be updated")
        first = self._updates.get(before.uid)
        original = first.before if first is not None else before
        self._updates[before.uid] = ObjectChange(frame_id, original, replace(after, uid=before.uid))

    def add(self, frame_id: int, obj: AnnotationObject) -> None:
        """Record a new object (stored on top of the frame's stack)."""
        self._adds.append(ObjectChange(frame_id, None, replace(obj, uid=None)))

    def extend(self, changes: Iterable[ObjectChange]) -> None:
        for change in changes:
            if change.before is None:
                self.add(change.frame_id, change.after)
            else:
                self.update(change.frame_id, change.before, change.after)

    def changes(self) -> list[ObjectChange]:
        """Updates that change something (in recording order), then the additions."""
        kept = [
            change
            for change in self._updates.values()
            if change.before is not None and not _same(change.before, change.after)
        ]
        return kept + list(self._adds)


def _same(a: AnnotationObject, b: AnnotationObject) -> bool:
    return a.same_content(b) and a.provenance.source == b.provenance.source


def apply_changes(project: Project, changes: Sequence[ObjectChange]) -> list[ObjectChange]:
    """Write changes to the store in one transaction.

    Returns:
        The changes with ``after`` as stored (added objects get their ``uid``), in the same
        order, so that a caller can undo them.
    """
    applied: list[ObjectChange | None] = [None] * len(changes)
    with project.transaction():
        updates = [(i, c) for i, c in enumerate(changes) if c.before is not None]
        if updates:
            project.update_objects([c.after for _, c in updates])
            for i, change in updates:
                applied[i] = change
        by_frame: dict[int, list[int]] = {}
        for i, change in enumerate(changes):
            if change.before is None:
                by_frame.setdefault(change.frame_id, []).append(i)
        for frame_id, indices in by_frame.items():
            stored = project.add_objects(frame_id, [changes[i].after for i in indices])
            for i, obj in zip(indices, stored, strict=True):
                applied[i] = ObjectChange(frame_id, None, obj)
    return [change for change in applied if change is not None]


def changes_command(changes: Sequence[ObjectChange], text: str) -> Command | None:
    """One undoable command doing ``changes`` (``None`` when there are none).

    Per frame, the updates become one :class:`~roadmark.core.edits.UpdateObjects` and the
    additions one :class:`~roadmark.core.edits.AddObjects`; several frames make a
    :class:`~roadmark.core.edits.CommandGroup`, undone and redone as one step.
    """
    updates: dict[int, list[ObjectChange]] = {}
    adds: dict[int, list[AnnotationObject]] = {}
    for change in changes:
        if change.before is None:
            adds.setdefault(change.frame_id, []).append(change.after)
        else:
            updates.setdefault(change.frame_id, []).append(change)
    commands: list[Command] = []
    for frame_id, group in updates.items():
        commands.append(
            UpdateObjects(
                frame_id,
                [c.before for c in group if c.before is not None],
                [c.after for c in group],
                text=text,
            )
        )
    for frame_id, objects in adds.items():
        commands.append(AddObjects(frame_id, objects, text=text))
    if not commands:
        return None
    return commands[0] if len(commands) == 1 else CommandGroup(commands, text=text)


def stamp(
    obj: AnnotationObject, source: str, user: str, at: datetime | None = None
) -> AnnotationObject:
    """A copy of ``obj`` made now by a tool: new provenance with ``source``, no uid."""
    when = at or utc_now()
    provenance = replace(
        obj.provenance,
        source=source,
        created_by=user,
        created_at=when,
        updated_by=user,
        updated_at=when,
        verified=False,
        confidence=None,
    )
    return replace(obj, provenance=provenance, uid=None, deleted=False)
