"""The observable state of the project a window shows.

One :class:`ProjectState` per window holds what several widgets and features show at
once: the frames in filmstrip order (with their statuses and assignees), which frame is
open, and a revision of the stored model predictions. It is the one place that reads the
frame list from the store (:meth:`ProjectState.reload`) and the one place a status change
is announced from (:meth:`ProjectState.set_statuses`); widgets and features observe its
signals and write back through its methods, never through each other.

Signals:
    framesChanged(): The frame list was read again or put in another order.
    statusesChanged(dict): ``{frame_id: FrameStatus}`` of frames whose status changed.
    assignmentChanged(): Statuses and assignees of the listed frames were read again
        (what others changed may have arrived: observers read their parts again).
    predictionsChanged(int): Stored predictions changed; the new revision.
    currentFrameChanged(object): The open frame's id (``None``: no frame open).
    promptableModelChanged(object): The promptable model file the Smart tool and mask
        tracking use (``None``: the bundled click model).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from roadmark.core.annotation import Frame, FrameStatus
from roadmark.io.store import Project


class ProjectState(QObject):
    """Frames, statuses, assignees, the open frame and the predictions revision of a
    project, announced by typed signals.

    Args:
        project: The open project (read from, never closed here).
        parent: The owning Qt object (the window).
    """

    framesChanged = Signal()
    statusesChanged = Signal(object)  # dict[int, FrameStatus]
    assignmentChanged = Signal()
    predictionsChanged = Signal(int)
    currentFrameChanged = Signal(object)
    promptableModelChanged = Signal(object)  # Path | None

    def __init__(self, project: Project, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.project = project
        self._frames: list[Frame] = project.frames()
        self._rows = _rows(self._frames)
        self._current: int | None = None
        self._predictions = 0
        self._promptable: Path | None = None

    # -- reading -----------------------------------------------------------------------------

    @property
    def frames(self) -> list[Frame]:
        """The frames in filmstrip order (a copy)."""
        return list(self._frames)

    def __len__(self) -> int:
        return len(self._frames)

    def frame(self, row: int) -> Frame:
        """The frame at filmstrip position ``row``."""
        return self._frames[row]

    def row_of(self, frame_id: int) -> int | None:
        """The filmstrip position of a frame, ``None`` when it is not listed."""
        return self._rows.get(frame_id)

    @property
    def current_frame_id(self) -> int | None:
        """The open frame's id, ``None`` when none is open."""
        return self._current

    @property
    def current_row(self) -> int | None:
        """The open frame's filmstrip position, ``None`` when none is open (or listed)."""
        return None if self._current is None else self._rows.get(self._current)

    @property
    def predictions_revision(self) -> int:
        """Counts the changes of the stored predictions announced so far."""
        return self._predictions

    # -- writing -----------------------------------------------------------------------------

    def reload(self) -> None:
        """Read the frame list from the store again (frames added, removed or imported), in
        project order; emits :attr:`framesChanged` once."""
        self._set(self.project.frames())

    def set_order(self, frames: Sequence[Frame]) -> None:
        """Show the listed frames in this order (sorting by effort, say); nothing happens
        when the order is the one shown."""
        if [f.id for f in frames] != [f.id for f in self._frames]:
            self._set(frames)

    def refresh_frames(self) -> None:
        """Read the statuses and assignees of the listed frames again (changes made
        elsewhere: assignments, reviews, others' work), keeping the rows and their order;
        emits :attr:`assignmentChanged` once (observers read their own parts again too)."""
        for frame in self.project.frames():
            row = self._rows.get(frame.id)
            if row is not None:
                self._frames[row] = frame
        self.assignmentChanged.emit()

    def set_statuses(self, statuses: Mapping[int, FrameStatus]) -> None:
        """Take the new statuses of frames (already stored); emits :attr:`statusesChanged`
        with those that differ from the listed ones (unlisted frames are passed on too:
        an open document may show one)."""
        changed: dict[int, FrameStatus] = {}
        for frame_id, status in statuses.items():
            row = self._rows.get(frame_id)
            if row is None:
                changed[frame_id] = status
            elif self._frames[row].status != status:
                self._frames[row] = replace(self._frames[row], status=status)
                changed[frame_id] = status
        if changed:
            self.statusesChanged.emit(changed)

    def set_status(self, frame_id: int, status: FrameStatus) -> None:
        """Take one frame's new status (see :meth:`set_statuses`)."""
        self.set_statuses({frame_id: status})

    def set_current(self, frame_id: int | None) -> None:
        """Make ``frame_id`` the open frame; emits :attr:`currentFrameChanged` when it is
        another one."""
        if frame_id != self._current:
            self._current = frame_id
            self.currentFrameChanged.emit(frame_id)

    def predictions_stored(self) -> None:
        """Stored predictions changed (pre-labeling finished, an import, another user's
        work): emits :attr:`predictionsChanged` with the next revision."""
        self._predictions += 1
        self.predictionsChanged.emit(self._predictions)

    @property
    def promptable_model(self) -> Path | None:
        """The promptable model file in use (``None``: the bundled click model)."""
        return self._promptable

    def set_promptable_model(self, path: Path | None) -> None:
        """Choose the promptable model; emits :attr:`promptableModelChanged` on a change."""
        if path != self._promptable:
            self._promptable = path
            self.promptableModelChanged.emit(path)

    def _set(self, frames: Sequence[Frame]) -> None:
        self._frames = list(frames)
        self._rows = _rows(self._frames)
        self.framesChanged.emit()


def _rows(frames: Sequence[Frame]) -> dict[int, int]:
    return {frame.id: row for row, frame in enumerate(frames)}
