"""Team work in the project window: edit leases, "next frame for me" claims, live updates.

Installed into every window; it switches itself on for team projects (PostgreSQL, or any
project with members):

- showing a frame takes its edit lease (renewed every minute while the person works, given
  up when they move on or close the window); a frame someone else holds is shown with
  "Read-only: being edited by NAME since TIME" and the store refuses edits to it;
- N claims the next frame for the user atomically (:func:`roadmark.io.team.claim_next`);
- changes committed by others (statuses, assignments, comments, predictions, objects of
  the open frame) are shown as they arrive (LISTEN/NOTIFY on PostgreSQL, polling on SQLite);
- an edit refused as stale reloads the frame; the session says whether the change could
  be applied on top.

File > Open team project… (a URL field and the recent team projects) is there for every
project.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QDialog, QLabel

from roadmark.app.features.team_open import TeamProjectDialog
from roadmark.app.shortcuts import ActionSpec, register
from roadmark.core.errors import RoadmarkError
from roadmark.core.session import SessionEvent
from roadmark.io import team
from roadmark.io.errors import FrameLeasedError, PermissionDeniedError
from roadmark.io.live import Change, ChangeWatcher

if TYPE_CHECKING:
    from roadmark.app.window_api import ProjectWindow

register(
    [
        ActionSpec("file.open_team", "Open &team project…", "File", ("Ctrl+Alt+O",)),
        ActionSpec("frame.break_lease", "&Break the edit lease of this frame (lead)", "Frame"),
    ]
)

REFRESH_DELAY_MS = 150  # changes arriving together are shown together


class _Bridge(QObject):
    """Carries change batches from the watcher's thread to the GUI thread."""

    changed = Signal(object)


class TeamMode:
    """The team features of one window (see the module docstring)."""

    def __init__(self, window: ProjectWindow) -> None:
        self.window = window
        self.project = window.project
        self.windows: list[ProjectWindow] = []
        window.actions.bind("file.open_team", window.guard(self.open_team_project))
        self.active = not self.project.read_only and (
            self.project.dialect == "postgresql" or bool(team.members(self.project))
        )
        self.lease_frame: int | None = None
        self.holder: team.Lease | None = None
        self.refused: str | None = None  # why this user may not edit at all
        self.last_activity = time.monotonic()
        self.banner = QLabel()
        self.banner.setStyleSheet("color:#ff8a80; font-weight:600; padding:0 8px")
        self.banner.hide()
        self.pending: list[Change] = []
        self.watcher: ChangeWatcher | None = None
        if not self.active:
            window.actions["frame.break_lease"].setVisible(False)
            return
        window.statusBar().addPermanentWidget(self.banner, 1)
        window.state.currentFrameChanged.connect(lambda _frame_id: self.frame_shown())
        window.session.committed.connect(self._on_session)
        next_action = window.actions["frame.next_unlabeled"]
        next_action.triggered.disconnect()
        next_action.setText("Next frame for me (claim)")
        window.actions.bind("frame.next_unlabeled", window.guard(self.claim_next))
        window.actions.bind("frame.break_lease", window.guard(self.break_lease))
        self.renew_timer = QTimer(window)
        self.renew_timer.setInterval(int(team.RENEW_SECONDS * 1000))
        self.renew_timer.timeout.connect(self.renew)
        self.renew_timer.start()
        self.refresh_timer = QTimer(window)
        self.refresh_timer.setSingleShot(True)
        self.refresh_timer.setInterval(REFRESH_DELAY_MS)
        self.refresh_timer.timeout.connect(self.apply_changes)
        self.bridge = _Bridge()
        self.bridge.changed.connect(self._queue)
        try:
            self.watcher = ChangeWatcher(self.project, self.bridge.changed.emit)
        except RoadmarkError as error:
            window.show_error(f"Live updates are off: {error}")
        window.on_close(self.close)
        self.frame_shown()

    # -- leases ------------------------------------------------------------------------------

    def frame_shown(self) -> None:
        """The window shows another frame: give up the old lease, take the new frame's."""
        document = self.window.editor.document
        frame_id = document.frame.id if document is not None else None
        if frame_id == self.lease_frame and self.holder is None and frame_id is not None:
            return
        self._release()
        self.last_activity = time.monotonic()
        if frame_id is not None:
            self._take(frame_id)

    def _take(self, frame_id: int) -> None:
        self.refused = None
        try:
            team.acquire(self.project, frame_id)
        except FrameLeasedError:
            self.holder = team.holder(self.project, frame_id)
            self.lease_frame = None
        except PermissionDeniedError as error:  # not a member: look, but do not touch
            self.holder = None
            self.lease_frame = None
            self.refused = error.message
        else:
            self.holder = None
            self.lease_frame = frame_id
        self._show_banner()

    def _release(self) -> None:
        if self.lease_frame is not None:
            with contextlib.suppress(RoadmarkError):  # it expires by itself
                team.release(self.project, self.lease_frame)
        self.lease_frame = None
        self.holder = None

    def _show_banner(self) -> None:
        if self.holder is not None:
            self.banner.setText(f"Read-only: {self.holder.describe}")
        elif self.refused is not None:
            self.banner.setText(f"Read-only: {self.refused}")
        else:
            self.banner.hide()
            return
        self.banner.show()

    def renew(self) -> None:
        """Renew the lease while the person works; an idle one is left to expire."""
        if self.refused is not None:
            return
        if self.lease_frame is None:
            if self.holder is not None:  # see whether the other person has left
                self.frame_shown()
            return
        if time.monotonic() - self.last_activity > team.LEASE_SECONDS:
            return
        try:
            team.acquire(self.project, self.lease_frame)
        except FrameLeasedError:  # a lead broke it, or it lapsed and someone took it
            self._take(self.lease_frame)

    def _on_session(self, event: SessionEvent) -> None:
        self.last_activity = time.monotonic()
        if event.note:
            self.window.statusBar().showMessage(event.note, 10000)

    def break_lease(self) -> None:
        """Frame > Break the edit lease (leads): free the shown frame and take it."""
        document = self.window.editor.document
        if document is None:
            return
        broken = team.break_lease(self.project, document.frame.id)
        self._take(document.frame.id)
        who = f"{broken.user} ({broken.machine})" if broken else "nobody"
        self.window.statusBar().showMessage(f"Broke the lease of {who}.", 5000)

    # -- claiming ----------------------------------------------------------------------------

    def claim_next(self) -> None:
        """N: the next frame for the user, assigned to them atomically."""
        state = team.claim_next(self.project)
        if state is None:
            self.window.statusBar().showMessage(
                f"Nothing left to claim for {self.project.user}.", 5000
            )
            return
        self.window.state.refresh_frames()
        self.window.show_frame(state.frame_id)
        self.window.statusBar().showMessage(f"{state.name} is yours ({state.status.value}).", 5000)

    # -- live updates ------------------------------------------------------------------------

    def _queue(self, changes: list[Change]) -> None:
        self.pending.extend(changes)
        if not self.refresh_timer.isActive():
            self.refresh_timer.start()

    def apply_changes(self) -> None:
        """Show what others changed: statuses, assignments, comments, predictions and the
        open frame's objects and lease."""
        changes, self.pending = self.pending, []
        if not changes:
            return
        window = self.window
        document = window.editor.document
        current = document.frame.id if document is not None else None
        tables = {c.table for c in changes}
        touched = {c.frame_id for c in changes}
        unknown = "*" in tables
        try:
            window.state.refresh_frames()  # statuses, assignees, the open frame's comments
            if unknown or "predictions" in tables:
                window.state.predictions_stored()
            if current is not None and (unknown or current in touched):
                if self.lease_frame != current:  # we are not the one editing it
                    window.session.reload()
                    window.canvas.refresh()
                if unknown or "frame_leases" in tables:
                    if self.lease_frame is None:
                        self._take(current)
        except RoadmarkError as error:
            window.statusBar().showMessage(f"Could not show others' changes: {error}", 8000)

    # -- opening and closing -----------------------------------------------------------------

    def open_team_project(self) -> None:
        """File > Open team project: ask for the URL and open it in a new window."""
        dialog = TeamProjectDialog(self.window)
        if dialog.exec() != QDialog.DialogCode.Accepted or not dialog.url:
            return
        other = self.window.open_window(dialog.url)
        self.windows.append(other)
        other.resize(self.window.size())
        other.show()

    def close(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None
        if self.active:
            self.renew_timer.stop()
            self.refresh_timer.stop()
            self._release()


def install(window: ProjectWindow) -> TeamMode:
    """Add the team features to ``window``."""
    return TeamMode(window)
