"""Sequence tools in the project window: add a video, propagate to the next frame, tracks
(new, continue, interpolate, split, merge, delete), GrabCut and simplification.

Everything here wires: the algorithms are Qt-free in :mod:`roadmark.annotators`
(``sequence_ops``, ``tracks``, ``propagation``, ``grabcut_tool``, ``simplify``). Work that
reads many frames or pixels runs in a :class:`~roadmark.app.jobs.JobRunner` thread with a
progress dialog; its plan comes back to the GUI thread and is applied as one undoable
command (so one Ctrl+Z undoes a whole propagation or interpolation).

:func:`install` adds the actions (File > Add video, Frame > Propagate, Tools > GrabCut,
Objects > tracks and Simplify), the GrabCut tool and the Tracks dock to a
:class:`~roadmark.app.window_api.ProjectWindow`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QDialog, QFileDialog, QInputDialog, QProgressBar

from roadmark.annotators.changes import ObjectChange, changes_command
from roadmark.annotators.editor import EditorChange, touched_uids
from roadmark.annotators.sequence.ops import (
    ModelPropagationPlan,
    PropagationPlan,
    needs_check,
    plan_interpolation,
    plan_propagation,
)
from roadmark.annotators.sequence.tracks import (
    delete_track,
    load_sequence,
    merge_tracks,
    new_track_id,
    set_track_command,
    split_track,
    summarize_tracks,
)
from roadmark.annotators.simplify import DEFAULT_TOLERANCE, simplify_command
from roadmark.annotators.tools.grabcut_tool import GrabCutRequest, GrabCutTool, segment
from roadmark.app.docks.tracks import TracksDock
from roadmark.app.errors import error_text
from roadmark.app.features.propagation_review import PropagationReview
from roadmark.app.features.sequence_dialogs import VideoOptions, ask_frame_count, flow_note
from roadmark.app.features.video_tracking import VideoTracking, tracked_message
from roadmark.app.jobs import JobContext, JobRunner
from roadmark.app.shortcuts import ActionSpec, register
from roadmark.core.annotation import Frame, ObjectKind
from roadmark.core.errors import RoadmarkError
from roadmark.core.session import SessionEvent
from roadmark.io.frames import VIDEO_SUFFIXES, scan
from roadmark.io.store import FrameSpec

if TYPE_CHECKING:
    from roadmark.app.window_api import ProjectWindow

SIMPLIFY_TOLERANCE = DEFAULT_TOLERANCE

SEQUENCE_ACTIONS = [
    ActionSpec("file.add_video", "Add &video…", "File"),
    ActionSpec("tool.grabcut", "&GrabCut (box, then scribbles)", "Tools", ("C",)),
    ActionSpec("object.simplify", "Simplify selected &regions…", "Objects", ("Shift+S",)),
    ActionSpec("sequence.propagate", "&Propagate to next frame", "Frame", ("Ctrl+P",)),
    ActionSpec("sequence.propagate_many", "Propagate through the next &frames…", "Frame",
               ("Ctrl+Alt+P",)),
    ActionSpec("sequence.new_track", "Start a new &track with the selection", "Objects", ("T",)),
    ActionSpec(
        "sequence.add_to_track",
        "Put the selection on the &chosen track",
        "Objects",
        ("Shift+T",),
    ),
    ActionSpec(
        "sequence.interpolate", "&Interpolate the selection's tracks", "Objects", ("Ctrl+I",)
    ),
]
register(SEQUENCE_ACTIONS)


class SequenceTools(QObject):
    """The window's sequence actions, GrabCut tool and Tracks dock.

    Args:
        window: The project window.
        dialogs: Show progress dialogs for long jobs (tests switch them off).
    """

    def __init__(self, window: ProjectWindow, *, dialogs: bool = True) -> None:
        super().__init__(window)
        self.window = window
        self.project = window.project
        self.editor = window.editor
        self.jobs = JobRunner(window, window.project, dialogs=dialogs)
        self.reader = JobRunner(window, window.project, dialogs=False)
        self.segmenter = JobRunner(window, dialogs=False)
        self.last_plan: PropagationPlan | ModelPropagationPlan | None = None
        self.tracking = VideoTracking()
        self._queued_request: GrabCutRequest | None = None
        self._tracks_stale = False

        self.grabcut = GrabCutTool(self.editor.context)
        self.grabcut.segmenter = self._segment
        self.editor.tools[self.grabcut.name] = self.grabcut

        self.tracks_dock = TracksDock(self, self.project.schema, window)
        window.add_dock(self.tracks_dock, Qt.DockWidgetArea.RightDockWidgetArea)
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(250)
        self._refresh_timer.timeout.connect(self.refresh_tracks)

        handlers: dict[str, Callable[[], object]] = {
            "file.add_video": self.add_video_dialog,
            "tool.grabcut": self.start_grabcut,
            "object.simplify": self.simplify_dialog,
            "sequence.propagate": partial(self.propagate, 1),
            "sequence.propagate_many": self.propagate_through,
            "sequence.new_track": self.new_track,
            "sequence.add_to_track": self.add_to_chosen_track,
            "sequence.interpolate": self.interpolate_selection,
        }
        for action_id, handler in handlers.items():
            window.actions.bind(action_id, window.guard(handler))
        self.review = PropagationReview(window, window.guard)
        grabcut_action = window.actions["tool.grabcut"]
        grabcut_action.setCheckable(True)
        group = window.actions["tool.select"].actionGroup()
        if group is not None:
            group.addAction(grabcut_action)
        grabcut_action.setIconText("GrabCut")
        window.add_tool_action(grabcut_action)
        keys = ", ".join(k.toString() for k in grabcut_action.shortcuts())
        grabcut_action.setToolTip(f"GrabCut ({keys})")

        self.grabcut_busy = QProgressBar()
        self.grabcut_busy.setRange(0, 0)  # busy, no figure
        self.grabcut_busy.setMaximumWidth(90)
        self.grabcut_busy.setFormat("GrabCut…")
        self.grabcut_busy.setToolTip("GrabCut is segmenting")
        self.grabcut_busy.setVisible(False)
        window.statusBar().addPermanentWidget(self.grabcut_busy)

        self.editor.changed.connect(self._on_editor)
        window.session.committed.connect(self._on_session)
        window.on_close(self.close)

    # -- plumbing --------------------------------------------------------------------------

    def _say(self, message: str, ms: int = 6000) -> None:
        self.window.statusBar().showMessage(message, ms)

    def _frame(self) -> Frame | None:
        document = self.editor.document
        return document.frame if document is not None else None

    def _run(
        self, title: str, work: Callable[[JobContext], Any], done: Callable[[Any], object]
    ) -> bool:
        started = self.jobs.start(title, work, self._guarded_done(done), self._failed)
        if not started:
            self._say("Another operation is still running.")
        return started

    def _run_plan(
        self, title: str, work: Callable[[JobContext], Any], done: Callable[[Any], object]
    ) -> bool:
        """Run a job that plans changes from the job's own project; the window's project
        adopts the object versions it read, so a plan made from objects someone changed
        since is refused when applied (team projects)."""

        def planned(job: JobContext) -> tuple[Any, dict[int, int]]:
            return work(job), job.project.known_versions()

        def adopt(result: tuple[Any, dict[int, int]]) -> object:
            self.project.adopt_versions(result[1])
            return done(result[0])

        return self._run(title, planned, adopt)

    def _guarded_done(self, done: Callable[[Any], object]) -> Callable[[Any], None]:
        def run(result: Any) -> None:
            try:
                done(result)
            except Exception as error:  # every failure reaches the person
                self.window.show_error(error_text(error))

        return run

    def _failed(self, error: BaseException) -> None:
        if isinstance(error, RoadmarkError):
            self.window.show_error(str(error))
        else:
            self.window.show_error(f"Unexpected error: {type(error).__name__}: {error}")

    def _stale(self, changes: Sequence[ObjectChange]) -> bool:
        """Whether an object a plan changes was edited since the plan was made."""
        by_frame: dict[int, dict[int, Any]] = {}
        for change in changes:
            if change.before is None or change.before.uid is None:
                continue
            if change.frame_id not in by_frame:
                stored = self.project.objects(change.frame_id)
                by_frame[change.frame_id] = {o.uid: o for o in stored if o.uid is not None}
            now = by_frame[change.frame_id].get(change.before.uid)
            if now is None or now.provenance.updated_at != change.before.provenance.updated_at:
                return True
        return False

    def apply(self, changes: Sequence[ObjectChange], text: str) -> bool:
        """Apply a plan as one undoable command; ``False`` when there was nothing to do."""
        if self._stale(changes):
            self._say("The objects changed while this was computed; nothing was applied.")
            return False
        command = changes_command(changes, text)
        if command is None:
            self._say(f"{text}: nothing to change.")
            return False
        self.editor.execute(command)
        self._say(text)
        return True

    # -- File > Add video ------------------------------------------------------------------

    def add_video_dialog(self) -> None:
        suffixes = " ".join(f"*{s}" for s in sorted(VIDEO_SUFFIXES))
        path, _ = QFileDialog.getOpenFileName(
            self.window, "Add video", "", f"Videos ({suffixes});;All files (*)"
        )
        if not path:
            return
        options = VideoOptions(self.window)
        if options.exec() != QDialog.DialogCode.Accepted:
            return
        self.add_video(
            Path(path),
            every=options.every.value(),
            start=options.start.value(),
            end=options.end.value() or None,
            extract=options.extract.isChecked(),
        )

    def add_video(
        self,
        path: Path,
        *,
        every: int = 1,
        start: int = 0,
        end: int | None = None,
        extract: bool = False,
    ) -> bool:
        """Add a video's frames in the background (checked, optionally extracted)."""
        location = self.project.location

        def work(job: JobContext) -> list[FrameSpec]:
            job.report(0, 0, "checking the video")
            specs = scan([path], every=every, start=start, end=end)
            if extract:
                from roadmark.io.video_cache import extract_frames, frame_folder

                def report(done: int, total: int, _message: str = "") -> None:
                    job.report(done, total, f"frame {done} of {total}")

                specs = extract_frames(
                    specs, frame_folder(Path(location)), progress=report, cancel=job.cancel
                )
            return specs

        def done(specs: list[FrameSpec]) -> None:
            added, skipped = self.project.add_frames(specs)
            current = self._frame()
            self.window.state.reload()  # the open frame stays selected
            if current is None and added:
                self.window.select_row(0)
            note = f", {skipped} already in the project" if skipped else ""
            self._say(f"Added {len(added)} frames of {path.name}{note}.")

        return self._run(f"Adding {path.name}", work, done)

    # -- propagation -----------------------------------------------------------------------

    def propagate(self, frames: int = 1) -> bool:
        """Propagate the open frame's objects to the next frame of its sequence (through the
        next ``frames``): with the Smart tool's model when it is a video model (the selected
        objects, or all; :mod:`~roadmark.app.features.video_tracking`), else along the
        optical flow (one frame)."""
        frame = self._frame()
        if frame is None:
            return False
        loader = self.window.loader
        model, document = self.window.state.promptable_model, self.editor.document
        selection = document.selection if document is not None else ()

        def work(job: JobContext) -> PropagationPlan | ModelPropagationPlan:
            plan = self.tracking.plan(job.project, loader, frame, model, selection, job, frames)
            if plan is not None:
                return plan
            job.report(0, 1, "optical flow")
            return plan_propagation(job.project, loader, frame)

        done = partial(self._propagated, asked=frames)
        return self._run_plan(f"Propagating {frame.name}", work, done)

    def propagate_through(self) -> bool:
        """Frame > Propagate through the next frames: asks how many, then propagates."""
        frames = ask_frame_count(self.window)
        return frames is not None and self.propagate(frames)

    def _propagated(self, plan: PropagationPlan | ModelPropagationPlan, asked: int = 1) -> None:
        self.last_plan = plan
        target = plan.target if isinstance(plan, PropagationPlan) else plan.targets[-1]
        if not self.apply(plan.changes, f"Propagate to {target.name}"):
            return
        command = self.editor.session.history.next_undo()
        uids = touched_uids(command) if command is not None else []
        self.window.show_frame(target.id)
        document = self.editor.document
        flagged: list[int] = []
        if document is not None and document.frame.id == target.id:
            for uid in uids:
                obj = document.get(uid)
                if obj is not None and needs_check(obj):
                    flagged.append(uid)
            document.select(flagged)
        if isinstance(plan, ModelPropagationPlan):
            self._say(tracked_message(plan, len(flagged)), 12000)
            return
        areas = plan.result.unreliable
        share = sum(a.area for a in areas) / max(1, target.width * target.height)
        self._say(
            f"Propagated {len(plan.changes)} objects to {target.name} along the optical flow: "
            f"{len(areas)} areas of unreliable flow ({share:.1%} of the frame); "
            f"{len(flagged)} objects selected for review.{flow_note(asked)}",
            12000,
        )

    # -- tracks ----------------------------------------------------------------------------

    def _sequence(self) -> str | None:
        frame = self._frame()
        return frame.sequence if frame is not None else None

    def new_track(self) -> None:
        """Put the selected objects on a new track."""
        document, sequence = self.editor.document, self._sequence()
        if document is None or sequence is None or not document.selection:
            self._say("Select the objects to track first.")
            return
        track_id = new_track_id(self.project, sequence)
        command = set_track_command(self.editor.context, document.selection, track_id)
        if command is not None:
            self.editor.execute(command)
            self.tracks_dock.select_track(track_id)
            self._say(f"Started track {track_id}.")

    def add_to_chosen_track(self) -> None:
        """Put the selected objects on the track chosen in the Tracks dock."""
        document = self.editor.document
        track_id = self.tracks_dock.chosen_track()
        if document is None or not document.selection:
            self._say("Select the objects to add first.")
            return
        if track_id is None:
            self._say("Choose a track in the Tracks dock first.")
            return
        command = set_track_command(self.editor.context, document.selection, track_id)
        if command is not None:
            self.editor.execute(command)
            self._say(f"Added to track {track_id}; Ctrl+I fills the frames between.")

    def interpolate_selection(self) -> None:
        """Interpolate the tracks of the selected objects (or the dock's chosen tracks)."""
        document = self.editor.document
        tracks: list[int] = []
        if document is not None:
            tracks = [o.track_id for o in document.selected() if o.track_id is not None]
        tracks = tracks or self.tracks_dock.selected_tracks()
        if not tracks:
            self._say("Select tracked objects (or tracks in the Tracks dock) first.")
            return
        self.interpolate_tracks(tracks)

    def interpolate_tracks(self, track_ids: Sequence[int]) -> None:
        sequence = self._sequence()
        if sequence is None:
            return
        user = self.editor.context.user
        ids = sorted(set(track_ids))

        def work(job: JobContext) -> list[ObjectChange]:
            return plan_interpolation(job.project, sequence, ids, user=user)

        label = ", ".join(str(i) for i in ids)
        self._run_plan(
            "Interpolating",
            work,
            lambda changes: self.apply(changes, f"Interpolate track {label}"),
        )

    def _sequence_job(self, title: str, plan: Callable[[list[Any]], Any]) -> None:
        sequence = self._sequence()
        if sequence is None:
            return

        def work(job: JobContext) -> Any:
            return plan(load_sequence(job.project, sequence))

        self._run_plan(title, work, lambda changes: self.apply(changes, title))

    def split_track(self, track_id: int) -> None:
        frame = self._frame()
        if frame is None:
            return
        user = self.editor.context.user
        self._sequence_job(
            f"Split track {track_id} at {frame.name}",
            lambda seq: split_track(seq, track_id, frame.sequence_index, user=user)[1],
        )

    def merge_tracks(self, keep: int, absorb: int) -> None:
        user = self.editor.context.user
        self._sequence_job(
            f"Merge track {absorb} into {keep}",
            lambda seq: merge_tracks(seq, keep, absorb, user=user),
        )

    def delete_tracks(self, track_ids: Sequence[int]) -> None:
        user = self.editor.context.user
        ids = list(track_ids)

        def plan(seq: list[Any]) -> list[ObjectChange]:
            changes: list[ObjectChange] = []
            for track_id in ids:
                changes += delete_track(seq, track_id, user=user)
            return changes

        self._sequence_job(f"Delete track {', '.join(str(i) for i in ids)}", plan)

    def select_track(self, track_id: int) -> None:
        """Select the track's objects on the open frame."""
        document = self.editor.document
        if document is None:
            return
        document.select(
            o.uid for o in document.live() if o.track_id == track_id and o.uid is not None
        )

    def refresh_tracks(self) -> None:
        """Read the open sequence's tracks in the background and show them."""
        frame = self._frame()
        if frame is None:
            return
        if self.reader.busy:
            self._tracks_stale = True
            return

        def work(job: JobContext) -> Any:
            # Only the objects on a track: this runs after every edit and frame switch, and
            # a sequence of 10,000-region frames would otherwise be read whole each time.
            return summarize_tracks(load_sequence(job.project, frame.sequence, tracked_only=True))

        def done(summaries: Any) -> None:
            current = self._frame()
            position = current.sequence_index if current is not None else None
            if current is not None and current.sequence == frame.sequence:
                self.tracks_dock.set_tracks(summaries, position)
            if self._tracks_stale:
                self._tracks_stale = False
                self._refresh_timer.start()

        self.reader.start("Reading tracks", work, done, self._failed, dialog=False)

    # -- GrabCut and simplify --------------------------------------------------------------

    def start_grabcut(self) -> None:
        """The GrabCut tool; with one box selected, segment inside it at once (accepting
        outlines the box's object: same instance and track)."""
        document = self.editor.document
        selected = document.selected() if document is not None else []
        box = selected[0] if len(selected) == 1 and selected[0].kind is ObjectKind.BOX else None
        self.editor.set_tool(GrabCutTool.name)
        if box is not None:
            self.grabcut.start_from(box)
            self._say(
                "GrabCut in the selected box: Shift-drag object, Alt-drag background, "
                "Return to accept"
            )
        self.window.canvas.refresh()

    def _show_busy(self) -> None:
        self.grabcut_busy.setVisible(self.grabcut.pending is not None)

    def _segment(self, request: GrabCutRequest) -> None:
        self.grabcut_busy.setVisible(True)
        image = self.window.shown_image(request.frame_id)
        if image is None:
            self.grabcut.set_result(request, RoadmarkError("the frame is not shown any more"))
            return
        if self.segmenter.busy:
            self._queued_request = request
            return

        def finish(outcome: Any) -> None:
            self.grabcut.set_result(request, outcome)
            self._show_busy()
            self.window.canvas.refresh()
            queued, self._queued_request = self._queued_request, None
            if queued is not None:
                self._segment(queued)

        def failed(error: BaseException) -> None:
            if not isinstance(error, RoadmarkError):
                error = RoadmarkError(f"GrabCut failed: {type(error).__name__}: {error}")
            finish(error)

        self.segmenter.start(
            "GrabCut", lambda _job: segment(request, image), finish, failed, dialog=False
        )

    def simplify_dialog(self) -> None:
        document = self.editor.document
        if document is None or not document.selection:
            self._say("Select the regions to simplify first.")
            return
        tolerance, ok = QInputDialog.getDouble(
            self.window,
            "Simplify regions",
            "Tolerance in pixels (vertices closer than this to the outline go):",
            SIMPLIFY_TOLERANCE,
            0.0,
            50.0,
            2,
        )
        if ok:
            self.simplify_selection(tolerance)

    def simplify_selection(self, tolerance: float = SIMPLIFY_TOLERANCE, smooth: int = 0) -> None:
        document = self.editor.document
        if document is None:
            return
        command = simplify_command(
            self.editor.context, document.selection, tolerance, smooth=smooth
        )
        if command is None:
            self._say("Nothing to simplify (select regions).")
            return
        self.editor.execute(command)
        self._say(command.text)

    # -- observing -------------------------------------------------------------------------

    def _on_editor(self, what: EditorChange) -> None:
        if what == "document":
            self._refresh_timer.start()
        elif what == "tool":
            self.window.actions["tool.grabcut"].setChecked(self.editor.tool is self.grabcut)
            self._show_busy()

    def _on_session(self, event: SessionEvent) -> None:
        self._refresh_timer.start()

    def close(self) -> None:
        """Stop the background threads (the window is closing)."""
        self._refresh_timer.stop()
        for runner in (self.jobs, self.reader, self.segmenter):
            runner.close(wait=True)


def install(window: ProjectWindow, *, dialogs: bool = True) -> SequenceTools:
    """Add the sequence tools to ``window``."""
    return SequenceTools(window, dialogs=dialogs)
