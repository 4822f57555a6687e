"""Review, comments, time tracking, frame filters and statistics in the project window.

:func:`install` adds to a :class:`~roadmark.app.window_api.ProjectWindow`:

- a **Review** menu and dock: review mode (the comment pin tool, stepping through the
  frames to review, a done frame's review started when it is opened), accept, reject with
  a reason, comments pinned to a point or an area and listed with their state, the
  rejection reason shown to the annotator, gold scores and agreement;
- comment pins on the canvas (:class:`~roadmark.app.canvas.comment_layer.CommentLayer`);
- a status and assignee filter above the filmstrip, "next frame for me", and Frame >
  Assign frames (:class:`~roadmark.app.features.assign_dialog.AssignDialog`);
- **time tracking**: presses, drags, wheel and keys on the canvas, edits and frame
  switches are the interactions that keep the clock running
  (:class:`~roadmark.io.worktime.TimeRecorder`), credited to the open frame and the tool
  in use (``review`` in review mode). Nothing else is recorded: no screenshots, no keys;
- the statistics window, and the audit log of the selection or the frame
  (:class:`~roadmark.app.features.history_dialog.HistoryDialog`, Objects > Change history).

The workflow rules themselves live in :mod:`roadmark.core.workflow` and
:mod:`roadmark.io.workflow`; this module only wires them to the window.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sized
from itertools import combinations
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QPointF, Qt
from PySide6.QtWidgets import QDialog

from roadmark.annotators.review.pins import CommentPinTool
from roadmark.app.canvas.comment_layer import CommentLayer
from roadmark.app.docks.review import ReviewDock, ask_comment, ask_reason
from roadmark.app.errors import error_text
from roadmark.app.features.assign_dialog import AssignDialog
from roadmark.app.features.history_dialog import HistoryDialog
from roadmark.app.features.stats_window import StatsWindow
from roadmark.app.shortcuts import ActionSpec, register
from roadmark.core.annotation import Box, FrameStatus
from roadmark.core.errors import RoadmarkError
from roadmark.core.workflow import (
    Action,
    CommentCategory,
    FrameState,
    ReviewComment,
    check_move,
)
from roadmark.io import gold
from roadmark.io import workflow as wf
from roadmark.io.worktime import TimeRecorder

if TYPE_CHECKING:
    from roadmark.annotators.editor import EditorChange
    from roadmark.app.window_api import ProjectWindow
    from roadmark.core.effort import EffortEstimate
    from roadmark.core.session import SessionEvent

REVIEW_TOOL = "review"
QUALITY_ACTIONS = [
    ActionSpec("review.mode", "&Review mode", "Review", ("Ctrl+Shift+R",), checkable=True),
    ActionSpec("tool.comment", "Pin a review &comment", "Review", ("M",)),
    ActionSpec("review.start", "&Start reviewing this frame", "Review"),
    ActionSpec("review.accept", "&Accept frame", "Review", ("Ctrl+Shift+A",)),
    ActionSpec("review.reject", "Re&ject frame…", "Review", ("Ctrl+Shift+X",)),
    ActionSpec("review.resolve", "Resolve the selected &comment", "Review"),
    ActionSpec("review.next", "&Next frame to review", "Review", ("Ctrl+Shift+N",)),
    ActionSpec("frame.next_for_me", "Next frame &for me", "Frame", ("Ctrl+N",)),
    ActionSpec("frame.assign", "&Assign frames…", "Frame"),
    ActionSpec("view.stats", "Project &statistics…", "View", ("Ctrl+Shift+I",)),
    ActionSpec(
        "object.history", "Change &history (selection, else frame)…", "Objects", ("Ctrl+H",)
    ),
]
register(QUALITY_ACTIONS)

TRACKED_EVENTS = frozenset(
    {
        QEvent.Type.MouseButtonPress,
        QEvent.Type.MouseButtonRelease,
        QEvent.Type.MouseButtonDblClick,
        QEvent.Type.MouseMove,
        QEvent.Type.Wheel,
        QEvent.Type.KeyPress,
    }
)
CommentAsker = Callable[[Box], "tuple[CommentCategory, str] | None"]
ReasonAsker = Callable[[str], "str | None"]


def _frames(count: int) -> str:
    return f"{count} frame" if count == 1 else f"{count} frames"


def _are(items: Sized) -> str:
    return "is" if len(items) == 1 else "are"


def _why_not(state: FrameState, action: Action, user: str) -> str | None:
    """Why ``user`` cannot do ``action`` on the frame now (``None``: they can)."""
    try:
        check_move(state, action, user)
    except RoadmarkError as error:
        return str(error)
    return None


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


class QualityTools(QObject):
    """The review, time tracking, filter and statistics parts of a project window.

    Attributes:
        ask_comment: Asks for a new comment's category and text (a dialog; tests replace it).
        ask_reason: Asks why a frame is rejected (a dialog; tests replace it).
    """

    def __init__(
        self, window: ProjectWindow, *, effort: Callable[[], EffortEstimate | None] = lambda: None
    ) -> None:
        super().__init__(window)
        self.window = window
        self.project = window.project
        self.editor = window.editor
        self.user = window.project.user
        self.review_mode = False
        self.selected_comment: int | None = None
        self.ask_comment: CommentAsker = lambda anchor: ask_comment(window, anchor)
        self.ask_reason: ReasonAsker = lambda default: ask_reason(window, default)
        self.recorder = TimeRecorder(self.project)
        self.stats_window: StatsWindow | None = None
        self.history_dialog: HistoryDialog | None = None

        self.pin_tool = CommentPinTool(self.editor.context, self._on_pin)
        self.editor.tools[self.pin_tool.name] = self.pin_tool
        self.layer = CommentLayer()
        window.canvas.scene().addItem(self.layer)

        self.effort = effort
        self.filter = window.frame_filter

        self._bind_actions()
        dock_actions = [
            window.actions[a]
            for a in (
                "review.mode",
                "tool.comment",
                "review.start",
                "review.resolve",
                "review.accept",
                "review.reject",
                "review.next",
                "frame.next_for_me",
            )
        ]
        self.dock = ReviewDock(dock_actions, window)
        self.dock.comment_chosen.connect(self.choose_comment)
        window.add_dock(self.dock, Qt.DockWidgetArea.RightDockWidgetArea)

        self.editor.changed.connect(self._on_editor)
        window.session.committed.connect(self._on_session)
        window.state.assignmentChanged.connect(self.refresh)
        window.state.statusesChanged.connect(self._on_statuses)
        window.canvas.viewport().installEventFilter(self)
        window.canvas.installEventFilter(self)
        window.on_close(self._close_recorder)
        self.refresh()

    # -- actions ---------------------------------------------------------------------------

    def _bind_actions(self) -> None:
        window = self.window
        for action_id, handler in {
            "tool.comment": lambda: self.editor.set_tool(CommentPinTool.name),
            "review.start": self.start_review,
            "review.accept": self.accept,
            "review.reject": self.reject,
            "review.resolve": self.resolve_selected,
            "review.next": self.next_to_review,
            "frame.next_for_me": self.next_for_me,
            "frame.assign": self.assign_frames,
            "view.stats": self.show_stats,
            "object.history": self.show_history,
        }.items():
            window.actions.bind(action_id, self._guard(handler))
        window.actions.bind("review.mode", self.set_review_mode)
        comment = window.actions["tool.comment"]
        comment.setCheckable(True)
        group = window.actions["tool.select"].actionGroup()
        if group is not None:
            group.addAction(comment)
        comment.setIconText("Comment")

    def _guard(self, handler: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            try:
                handler()
            except Exception as error:  # every failure reaches the person
                self.window.show_error(error_text(error))
            self.refresh()

        return run

    # -- state -----------------------------------------------------------------------------

    @property
    def frame_id(self) -> int | None:
        document = self.editor.document
        return None if document is None else document.frame.id

    def refresh(self) -> None:
        """Show the open frame's workflow state, comments and scores; enable the actions."""
        frame_id = self.frame_id
        if frame_id is None:
            self.dock.show_state(None, None, [], "")
            self.layer.set_comments([])
            return
        state = wf.frame_state(self.project, frame_id)
        comments = wf.comments(self.project, frame_id)
        if self.selected_comment not in {c.id for c in comments}:
            self.selected_comment = None
        reason = wf.rejection_reason(self.project, frame_id)
        self.dock.show_state(state, reason, comments, self._scores(frame_id, state.gold))
        frame = self.editor.document.frame  # type: ignore[union-attr]
        self.layer.set_size(frame.width, frame.height)
        self.layer.set_comments(comments, self.selected_comment)
        actions = self.window.actions
        status = state.status
        why_not = _why_not(state, Action.START_REVIEW, self.user)
        start = actions["review.start"]
        start.setEnabled(why_not is None)
        start.setToolTip(
            "Start reviewing this frame" if why_not is None else f"Cannot review: {why_not}"
        )
        actions["review.accept"].setEnabled(status is FrameStatus.IN_REVIEW)
        actions["review.reject"].setEnabled(status is FrameStatus.IN_REVIEW)
        selected = next((c for c in comments if c.id == self.selected_comment), None)
        actions["review.resolve"].setEnabled(selected is not None and selected.is_open)
        actions["tool.comment"].setChecked(self.editor.tool is self.pin_tool)

    def _scores(self, frame_id: int, is_gold: bool) -> str:
        lines = []
        if is_gold:
            for score in gold.gold_scores(self.project, frame_id):
                a = score.agreement
                lines.append(
                    f"Gold score of {score.user}: pixel accuracy {_percent(a.pixel_accuracy)}, "
                    f"mIoU {_percent(a.mean_iou)}, box F1 {_percent(a.box_f1)}"
                )
        submitted = sorted(gold.latest_submissions(self.project, frame_id))
        for first, second in combinations(submitted, 2):  # every pair who finished it
            a = gold.compare_users(self.project, frame_id, first, second)
            lines.append(
                f"Agreement {first} / {second}: pixel accuracy {_percent(a.pixel_accuracy)}, "
                f"mIoU {_percent(a.mean_iou)}, box F1 {_percent(a.box_f1)}"
            )
        return "<br>".join(lines)

    def _moved(self, frame_id: int, status: FrameStatus) -> None:
        """Announce a frame's new status (the filmstrip, the document and the status bar
        follow the window's state)."""
        self.window.state.set_status(frame_id, status)

    def _move(self, action: Action, *, reason: str | None = None) -> FrameStatus | None:
        frame_id = self.frame_id
        if frame_id is None:
            return None
        status = wf.move(self.project, frame_id, action, reason=reason)
        self._moved(frame_id, status)
        self.touch()
        return status

    # -- review ----------------------------------------------------------------------------

    def set_review_mode(self, on: bool) -> None:
        """Review mode: the pin tool, time counted as review, done frames opened for review."""
        self.review_mode = on
        self.editor.set_tool(CommentPinTool.name if on else "select")
        self.window.statusBar().showMessage(
            "Review mode: click or drag to pin a comment; accept or reject the frame"
            if on
            else "Review mode off",
            5000,
        )
        if on:
            self._start_review_if_done()
        self.refresh()

    def _start_review_if_done(self) -> None:
        frame_id = self.frame_id
        if (
            frame_id is None
            or wf.frame_state(self.project, frame_id).status is not FrameStatus.DONE
        ):
            return
        try:
            self._move(Action.START_REVIEW)
        except RoadmarkError as error:  # someone else's frame or one's own work
            self.window.statusBar().showMessage(str(error), 8000)

    def start_review(self) -> None:
        self._move(Action.START_REVIEW)

    def accept(self) -> None:
        """Accept the open frame; in review mode go on to the next frame to review."""
        self._move(Action.ACCEPT)
        if self.review_mode:
            self.next_to_review()

    def reject(self) -> None:
        """Reject the open frame with a reason (asked, prefilled from the open comments)."""
        frame_id = self.frame_id
        if frame_id is None:
            return
        open_comments = wf.comments(self.project, frame_id, open_only=True)
        default = "; ".join(c.summary for c in open_comments)
        reason = self.ask_reason(default)
        if reason is None:
            return
        self._move(Action.REJECT, reason=reason)
        if self.review_mode:
            self.next_to_review()

    def _on_pin(self, anchor: Box) -> None:
        frame_id = self.frame_id
        if frame_id is None:
            return
        answer = self.ask_comment(anchor)
        if answer is None:
            return
        category, text = answer
        # A comment about a missing object is not about the object that happens to be there.
        about = None if category is CommentCategory.MISSING_OBJECT else self.pin_tool.pinned_uid
        try:
            comment = wf.add_comment(
                self.project, frame_id, category, anchor, text, object_uid=about
            )
        except Exception as error:  # every failure reaches the person
            self.window.show_error(error_text(error, "the review comment"))
            return
        self.selected_comment = comment.id
        self.refresh()

    def choose_comment(self, comment_id: int) -> None:
        """Highlight a comment and bring it into view."""
        self.selected_comment = comment_id or None
        comment = self._comment(self.selected_comment)
        if comment is not None:
            anchor = comment.anchor
            self.window.canvas.centerOn(
                QPointF((anchor.x0 + anchor.x1) / 2, (anchor.y0 + anchor.y1) / 2)
            )
            document = self.editor.document
            if comment.object_uid is not None and document is not None:
                if document.get(comment.object_uid) is not None:
                    document.select([comment.object_uid])  # the object it is about
        self.refresh()

    def _comment(self, comment_id: int | None) -> ReviewComment | None:
        if comment_id is None or self.frame_id is None:
            return None
        return next(
            (c for c in wf.comments(self.project, self.frame_id) if c.id == comment_id), None
        )

    def resolve_selected(self) -> None:
        if self.selected_comment is not None:
            wf.resolve_comment(self.project, self.selected_comment)
            self.touch()

    # -- navigation ------------------------------------------------------------------------

    def _go_to(self, frame_id: int) -> None:
        row = self.window.state.row_of(frame_id)
        if row is not None:
            self.filter.reveal(row)
            self.window.select_row(row)

    def next_to_review(self) -> None:
        """Open the next frame waiting for this user's review."""
        current = self.frame_id
        queue = [s for s in wf.review_queue(self.project, self.user) if s.frame_id != current]
        if not queue:
            self.window.statusBar().showMessage(self.nothing_to_review_text(), 10000)
            return
        self._go_to(queue[0].frame_id)

    def nothing_to_review_text(self) -> str:
        """Why the review queue of this user is empty, in one line."""
        states = wf.frame_states(self.project)
        waiting = [s for s in states if s.status in (FrameStatus.DONE, FrameStatus.IN_REVIEW)]
        own = [s for s in waiting if s.author == self.user]
        others = [s for s in waiting if s.reviewer not in (None, self.user) and s not in own]
        unfinished = sum(
            s.status not in (FrameStatus.DONE, FrameStatus.IN_REVIEW, FrameStatus.ACCEPTED)
            for s in states
        )
        reasons = []
        if own:
            reasons.append(f"{_frames(len(own))} waiting for review {_are(own)} your own work")
        if others:
            reasons.append(f"{_frames(len(others))} {_are(others)} for other reviewers")
        if not waiting:
            reasons.append("no frame is done and waiting for review")
        if unfinished:
            reasons.append(f"{_frames(unfinished)} {_are(range(unfinished))} not finished yet")
        return f"Nothing left to review for {self.user}: " + "; ".join(reasons) + "."

    def next_for_me(self) -> None:
        """Open the next frame for this user to annotate (sent-back work first)."""
        found = wf.next_frame(self.project, self.user)
        if found is None:
            self.window.statusBar().showMessage(f"Nothing to do for {self.user}.", 5000)
            return
        self._go_to(found.frame_id)

    def assign_frames(self) -> None:
        """Frame > Assign frames: the dialog, then the filmstrip shows the new assignees."""
        dialog = self.make_assign_dialog()
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.reload_frames()

    def make_assign_dialog(self) -> AssignDialog:
        window = self.window
        state = window.state
        return AssignDialog(self.project, state.frames, state.current_row, window)

    def reload_frames(self) -> None:
        """Read every frame's status and assignee again (after changes made elsewhere);
        the filmstrip, its filter and this panel follow the window's state."""
        self.window.state.refresh_frames()

    def show_stats(self) -> None:
        self.touch()
        self.recorder.flush()
        if self.stats_window is None:
            self.stats_window = StatsWindow(self.project, self.window, effort=self.effort)
        else:
            self.stats_window.refresh()
        self.stats_window.show()
        self.stats_window.raise_()

    def show_history(self) -> HistoryDialog | None:
        """Show the audit log of the selected objects, or of the whole frame."""
        document = self.editor.document
        if document is None:
            return None
        dialog = HistoryDialog(
            self.project, document.frame.id, list(document.selection), self.window
        )
        dialog.setModal(False)
        dialog.show()
        self.history_dialog = dialog
        return dialog

    # -- time tracking ---------------------------------------------------------------------

    def touch(self) -> None:
        """An interaction on the open frame: keep the clock running."""
        frame_id = self.frame_id
        if frame_id is None:
            return
        tool = REVIEW_TOOL if self.review_mode else self.editor.tool.name
        try:
            self.recorder.touch(frame_id, tool)
        except RoadmarkError as error:  # the project could not be written just now
            self.window.statusBar().showMessage(f"Time not saved: {error}", 8000)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind in TRACKED_EVENTS:
            self.touch()
        return False

    def _close_recorder(self) -> None:
        # The window closes anyway: a failed write loses the last span, not the project.
        with contextlib.suppress(RoadmarkError):
            self.recorder.close()

    def _on_editor(self, what: EditorChange) -> None:
        if what == "document":
            self.selected_comment = None
            if self.review_mode:
                self._start_review_if_done()
            self.touch()
            self.refresh()
            frame_id = self.frame_id
            if frame_id is not None and (
                self.review_mode or wf.comments(self.project, frame_id, open_only=True)
            ):
                self.dock.raise_()  # comments to see: bring the Review tab forward
        elif what == "tool":
            self.window.actions["tool.comment"].setChecked(self.editor.tool is self.pin_tool)

    def _on_session(self, event: SessionEvent) -> None:
        self.touch()

    def _on_statuses(self, statuses: Mapping[int, FrameStatus]) -> None:
        if self.frame_id in statuses:
            self.refresh()


def install(
    window: ProjectWindow, *, effort: Callable[[], EffortEstimate | None] = lambda: None
) -> QualityTools:
    """Add review, time tracking, frame filters and statistics to ``window``."""
    return QualityTools(window, effort=effort)
