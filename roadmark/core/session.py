"""The editing session: runs commands through the store and keeps the open document in step.

Every command is applied inside one store transaction, so it is committed (autosaved) the
moment it completes, and killing the process loses at most the gesture in progress. Only
after the commit are the changes mirrored into the open :class:`FrameDocument` and the
command pushed on the :class:`History`; a command that fails leaves store, document and
history as they were.

The store is anything with the :class:`ObjectStore` methods (``roadmark.io.store.Project``
in the application, a fake in tests); ``core`` does not import the database layer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from psygnal import Signal

from roadmark.core.annotation import AnnotationObject, Frame, FrameAnnotations, FrameStatus
from roadmark.core.document import FrameDocument
from roadmark.core.edits import expected_state
from roadmark.core.errors import EditConflictError
from roadmark.core.history import Command, History
from roadmark.core.signals import emit

UNSTARTED = (FrameStatus.NEW, FrameStatus.PRELABELED, FrameStatus.REJECTED)


class ObjectStore(Protocol):
    """The part of the project store an editing session needs."""

    user: str

    def transaction(self) -> AbstractContextManager[Any]: ...

    def frame(self, frame_id: int) -> Frame: ...

    def objects(self, frame_id: int) -> FrameAnnotations: ...

    def add_objects(
        self, frame_id: int, objects: Sequence[AnnotationObject], *, at_bottom: bool = False
    ) -> list[AnnotationObject]: ...

    def update_objects(self, objects: Sequence[AnnotationObject]) -> None: ...

    def set_z_order(self, frame_id: int, uids: Sequence[int]) -> None: ...

    def set_frame_status(self, frame_id: int, status: FrameStatus) -> None: ...


@dataclass(frozen=True)
class SessionEvent:
    """A command was done, undone or redone (and is committed).

    Attributes:
        command: The command.
        action: ``"do"``, ``"undo"`` or ``"redo"``.
        statuses: Frames whose workflow status the command changed, with the new status.
        note: What happened besides, for the user (an edit re-applied after a reload).
    """

    command: Command
    action: Literal["do", "undo", "redo"]
    statuses: dict[int, FrameStatus] = field(default_factory=dict)
    note: str | None = None

    @property
    def frame_ids(self) -> tuple[int, ...]:
        return self.command.frame_ids


@dataclass
class _Op:
    kind: Literal["add", "update", "order"]
    frame_id: int
    objects: Sequence[AnnotationObject] = ()
    uids: Sequence[int] = ()
    at_bottom: bool = False


class _Recorder:
    """The :class:`~roadmark.core.history.EditTarget` of one transaction: writes the store
    and records what to mirror into the document once it has committed."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.ops: list[_Op] = []

    def add(
        self, frame_id: int, objects: Sequence[AnnotationObject], *, at_bottom: bool = False
    ) -> list[AnnotationObject]:
        stored = self.store.add_objects(frame_id, objects, at_bottom=at_bottom)
        self.ops.append(_Op("add", frame_id, objects=stored, at_bottom=at_bottom))
        return stored

    def update(self, frame_id: int, objects: Sequence[AnnotationObject]) -> None:
        self.store.update_objects(objects)
        self.ops.append(_Op("update", frame_id, objects=list(objects)))

    def set_z_order(self, frame_id: int, uids: Sequence[int]) -> None:
        self.store.set_z_order(frame_id, uids)
        self.ops.append(_Op("order", frame_id, uids=list(uids)))


StartWork = Callable[[int], FrameStatus]
StopWork = Callable[[int, FrameStatus], FrameStatus]


class EditSession:
    """Applies commands to a store, one transaction each, with undo and redo.

    The first edit of a frame that is new, pre-labeled or rejected starts work on it (its
    status becomes "in progress") in the same transaction as the edit. Undoing every edit
    of such a frame in this session puts it back to the status it had (still "in progress"
    only), and redoing one starts it again.

    Args:
        store: The project store.
        start_work: Starts work on a frame and returns its new status; it runs inside the
            edit's transaction, and an error it raises refuses the edit (the application
            passes the workflow's checked and recorded "start" move). By default the
            status is simply set.
        stop_work: ``stop_work(frame_id, status)`` puts a frame started in this session
            back to ``status`` and returns it, inside the undo's transaction (the
            application passes the workflow's recorded "unstart" move). By default the
            status is simply set.

    Signals:
        committed: ``(event)``, a :class:`SessionEvent`, after every committed command,
            undo and redo.
    """

    committed = Signal(SessionEvent)

    def __init__(
        self,
        store: ObjectStore,
        *,
        start_work: StartWork | None = None,
        stop_work: StopWork | None = None,
    ) -> None:
        self.store = store
        self._start_work = start_work or self._set_in_progress
        self._stop_work = stop_work or self._set_status
        # Frames this session started, with the status each had before.
        self._started: dict[int, FrameStatus] = {}
        self.history = History()
        self.document: FrameDocument | None = None

    @property
    def user(self) -> str:
        return self.store.user

    def forget_start(self, frame_id: int) -> None:
        """The frame's work was finished: undoing its edits later leaves its status alone."""
        self._started.pop(frame_id, None)

    def open(
        self, frame: int | FrameDocument, *, hidden_labels: Sequence[int] = ()
    ) -> FrameDocument:
        """Make a frame the open document (read from the store unless one is given)."""
        if isinstance(frame, FrameDocument):
            document = frame
        else:
            document = FrameDocument(self.store.objects(frame), hidden_labels=hidden_labels)
        self.document = document
        self.history.seal()
        return document

    def execute(self, command: Command) -> Command:
        """Apply ``command`` in one transaction, mirror it, and push it on the history.

        Raises:
            EditConflictError: Someone else changed the objects first; the frame was
                reloaded and the command could not be applied on top (it is dropped).
        """
        statuses, note = self._run_reloading(command, "apply", start_work=True)
        self.history.push(command)
        self._notify(SessionEvent(command, "do", statuses, note))
        return command

    def undo(self) -> Command | None:
        """Revert the last command; ``None`` when there is nothing to undo."""
        command = self.history.next_undo()
        if command is None:
            return None
        statuses, note = self._run_reloading(command, "revert", start_work=False, undone=command)
        self.history.undo_done()
        self._notify(SessionEvent(command, "undo", statuses, note))
        return command

    def redo(self) -> Command | None:
        """Apply the last undone command again; ``None`` when there is nothing to redo."""
        command = self.history.next_redo()
        if command is None:
            return None
        statuses, note = self._run_reloading(command, "apply", start_work=True)
        self.history.redo_done()
        self._notify(SessionEvent(command, "redo", statuses, note))
        return command

    def reload(self, frame_ids: Sequence[int] | None = None) -> None:
        """Bring the open document up to date with the store (changes made by others), in
        place, so that views on it stay valid; reading also refreshes the object versions
        the store checks edits against. ``frame_ids``: other frames to re-read as well."""
        for frame_id in frame_ids or ():
            if self.document is None or frame_id != self.document.frame.id:
                self.store.objects(frame_id)
        if self.document is not None:
            sync_document(self.document, self.store.objects(self.document.frame.id))

    def _run_reloading(
        self,
        command: Command,
        direction: Literal["apply", "revert"],
        *,
        start_work: bool,
        undone: Command | None = None,
    ) -> tuple[dict[int, FrameStatus], str | None]:
        step = command.apply if direction == "apply" else command.revert
        try:
            return self._run(step, command.frame_ids, start_work=start_work, undone=undone), None
        except EditConflictError as error:
            self.reload(command.frame_ids)
            expected = expected_state(command, direction)
            if expected is None or not self._still_stored(expected, command.frame_ids):
                raise EditConflictError(
                    f"{error.message}. The frame was reloaded with their change; yours "
                    f"({command.text}) could not be applied on top of it and was dropped",
                    path=error.path,
                    field=error.field,
                ) from error
        statuses = self._run(step, command.frame_ids, start_work=start_work, undone=undone)
        return statuses, (
            f"Someone else changed this frame; it was reloaded and your change "
            f"({command.text}) applied on top."
        )

    def _still_stored(self, expected: Sequence[AnnotationObject], frame_ids: Sequence[int]) -> bool:
        stored = {obj.uid: obj for frame_id in frame_ids for obj in self.store.objects(frame_id)}
        return all(
            obj.uid in stored
            and stored[obj.uid].same_content(obj)
            and stored[obj.uid].provenance.source == obj.provenance.source
            for obj in expected
        )

    def _run(
        self,
        step: Callable[[_Recorder], None],
        frame_ids: Sequence[int],
        *,
        start_work: bool,
        undone: Command | None = None,
    ) -> dict[int, FrameStatus]:
        recorder = _Recorder(self.store)
        statuses: dict[int, FrameStatus] = {}
        started: dict[int, FrameStatus] = {}
        with self.store.transaction():
            step(recorder)
            if start_work:
                for frame_id in frame_ids:
                    before = self._status(frame_id)
                    if before in UNSTARTED:
                        statuses[frame_id] = self._start_work(frame_id)
                        started[frame_id] = before
            if undone is not None:
                statuses.update(self._stop_untouched(undone))
        self._started.update(started)
        for frame_id in statuses:
            if frame_id not in started:
                self._started.pop(frame_id, None)
        self._mirror(recorder.ops, statuses)
        return statuses

    def _stop_untouched(self, undone: Command) -> dict[int, FrameStatus]:
        """Put back the frames this session started that no edit left in the history
        touches once ``undone`` (the top of the history) is undone."""
        still_edited = {f for command in self.history.done()[:-1] for f in command.frame_ids}
        statuses = {}
        for frame_id in undone.frame_ids:
            before = self._started.get(frame_id)
            if (
                before is not None
                and frame_id not in still_edited
                and self._status(frame_id) is FrameStatus.IN_PROGRESS
            ):
                statuses[frame_id] = self._stop_work(frame_id, before)
        return statuses

    def _set_in_progress(self, frame_id: int) -> FrameStatus:
        self.store.set_frame_status(frame_id, FrameStatus.IN_PROGRESS)
        return FrameStatus.IN_PROGRESS

    def _set_status(self, frame_id: int, status: FrameStatus) -> FrameStatus:
        self.store.set_frame_status(frame_id, status)
        return status

    def _status(self, frame_id: int) -> FrameStatus:
        if self.document is not None and self.document.frame.id == frame_id:
            return self.document.frame.status
        return self.store.frame(frame_id).status

    def _mirror(self, ops: Sequence[_Op], statuses: dict[int, FrameStatus]) -> None:
        document = self.document
        if document is None:
            return
        frame_id = document.frame.id
        if frame_id in statuses:
            document.set_frame_status(statuses[frame_id])
        document.begin_batch()
        try:
            for op in ops:
                if op.frame_id != frame_id:
                    continue
                if op.kind == "add":
                    document.apply_added(op.objects, at_bottom=op.at_bottom)
                elif op.kind == "update":
                    document.apply_updated(op.objects)
                else:
                    document.apply_z_order(op.uids)
        finally:
            document.end_batch()

    def _notify(self, event: SessionEvent) -> None:
        emit(self.committed, event)


def sync_document(document: FrameDocument, fresh: FrameAnnotations) -> None:
    """Make ``document`` show ``fresh`` (the frame as stored now), as one batch of changes."""
    known = {obj.uid for obj in document.objects}
    added = [obj for obj in fresh if obj.uid not in known]
    changed = [
        obj
        for obj in fresh
        if obj.uid is not None and obj.uid in known and document.get(obj.uid) != obj
    ]
    document.begin_batch()
    try:
        if changed:
            document.apply_updated(changed)
        if added:
            document.apply_added(added)
        document.apply_z_order([obj.uid for obj in fresh if obj.uid is not None])
        document.set_frame_status(fresh.frame.status)
    finally:
        document.end_batch()
