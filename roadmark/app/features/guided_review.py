"""Guided review in the project window: model layers, the review queue, accept and reject,
the audit queue and the frame order by remaining effort.

:func:`install` adds to a :class:`~roadmark.app.main_window.MainWindow`:

- the model layers on the canvas (:mod:`roadmark.app.features.model_layers`): hatched model labels,
  the uncertainty heat map with its opacity, dashed model boxes with a score threshold,
  and the model-versus-labels comparison;
- the **Guided review** dock (:class:`~roadmark.app.docks.uncertainty.UncertaintyDock`)
  with the queue of uncertain regions of the frame or the project, the regions and
  minutes left (:mod:`roadmark.core.effort`), and the audit queue;
- actions: ``U`` / ``Shift+U`` next and previous region (switches frame, zooms to the
  region with context, selects the objects there), ``Ctrl+U`` resolve, ``Y`` accept the
  model's labels in the region, ``Ctrl+Shift+Y`` accept the whole frame, accept above the
  threshold, ``X`` reject the selected model labels, ``Shift+V`` verify the selection;
  each accept, reject and verify is one undo step (``N`` / ``Shift+N`` stay "next
  unfinished frame");
- Frame > Sort frames by remaining effort (active ordering);
- Review > Audit labels with a model (runs the model in the background, then lists likely
  label errors and hard cases to fix, confirm or flag).

The logic lives below ``app``: :mod:`roadmark.annotators.review.guided` (queue, commands),
:mod:`roadmark.annotators.review.prelabels` (proposals), :mod:`roadmark.io.label_audit`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QFileDialog, QSlider

from roadmark.analysis.uncertainty import queue_coverage
from roadmark.annotators.review.guided import (
    ReviewQueue,
    accept_region_above,
    accepted_text,
    focus_rect,
    objects_in,
    reject_command,
    verify_command,
)
from roadmark.annotators.review.prelabels import Proposal, accept_command, proposals
from roadmark.app.docks.uncertainty import SCOPE_FRAME, SCOPE_PROJECT, UncertaintyDock
from roadmark.app.features.model_layers import (
    CompareLayer,
    FocusItem,
    HeatLayer,
    ModelBoxesItem,
    ModelLabelsLayer,
)
from roadmark.app.jobs import JobRunner
from roadmark.app.shortcuts import ActionSpec, register
from roadmark.core.effort import DEFAULT_COST_MODEL, EffortEstimate, estimate
from roadmark.core.errors import RoadmarkError
from roadmark.core.history import Command
from roadmark.core.prediction import FramePrediction, UncertainRegion
from roadmark.io.label_audit import (
    LABEL_ERRORS,
    AuditFinding,
    AuditReport,
    AuditState,
    audit_project,
)
from roadmark.io.predictions import prediction_models, ranked_regions, read_prediction

if TYPE_CHECKING:
    from roadmark.annotators.editor import EditorChange
    from roadmark.app.main_window import MainWindow
    from roadmark.core.session import SessionEvent

GUIDED_ACTIONS = [
    ActionSpec("model.next_region", "Next &uncertain region", "Review", ("U",)),
    ActionSpec("model.previous_region", "Previous uncertain region", "Review", ("Shift+U",)),
    ActionSpec("model.resolve_region", "Mark the region &resolved", "Review", ("Ctrl+U",)),
    ActionSpec("model.accept_region", "Accept the model's labels in the region", "Review", ("Y",)),
    ActionSpec(
        "model.accept_frame", "Accept all model labels of the frame", "Review", ("Ctrl+Shift+Y",)
    ),
    ActionSpec("model.accept_confident", "Accept model labels above the threshold", "Review"),
    ActionSpec("model.reject", "Reject the selected model labels", "Review", ("X",)),
    ActionSpec("model.verify", "&Verify the selected labels", "Review", ("Shift+V",)),
    ActionSpec("model.heat_more", "Heat map more opaque", "Review", ("Ctrl+.",)),
    ActionSpec("model.heat_less", "Heat map more transparent", "Review", ("Ctrl+,",)),
    ActionSpec("model.labels_more", "Model labels more opaque", "Review", ("Alt+.",)),
    ActionSpec("model.labels_less", "Model labels more transparent", "Review", ("Alt+,",)),
    ActionSpec("frame.sort_effort", "Sort frames by remaining &effort", "Frame", checkable=True),
    ActionSpec("audit.run", "Audit labels with a &model…", "Review"),
    ActionSpec("audit.refresh", "Audit from stored predictions", "Review"),
    ActionSpec("audit.confirm", "Confirm the label is right", "Review"),
    ActionSpec("audit.flag", "Flag the frame", "Review"),
]
register(GUIDED_ACTIONS)
SHORT_TEXT = {
    "model.accept_frame": "Accept frame",
    "model.accept_confident": "Accept ≥ threshold",
    "model.accept_region": "Accept region",
    "model.reject": "Reject",
    "model.verify": "Verify",
    "model.previous_region": "◀ Prev",
    "model.next_region": "Next ▶",
    "model.resolve_region": "Resolved",
    "audit.run": "Run audit…",
    "audit.refresh": "Refresh",
    "audit.confirm": "Confirm",
    "audit.flag": "Flag frame",
}
ModelAsker = Callable[[], "str | None"]
REVIEW_MAX_ZOOM = 2.5  # a region is shown at 250 % at most, with the frame around it
OPACITY_STEP = 10  # percent per key press


class GuidedReview(QObject):
    """The guided review parts of a project window.

    Attributes:
        ask_model: Asks for a model file to audit with (a dialog; tests replace it).
        queue: The review queue.
        prediction: The open frame's prediction (newest of any model), if any.
        effort: Remaining effort of the project.
        audit: The last audit, if any.
    """

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.project = window.project
        self.editor = window.editor
        self.canvas = window.canvas
        self.queue = ReviewQueue(self.project)
        self.scope = SCOPE_PROJECT
        self.prediction: FramePrediction | None = None
        self._proposals: list[Proposal] | None = None
        self.effort = EffortEstimate()
        self.audit: AuditReport | None = None
        self.audit_state = AuditState()
        self.findings: list[AuditFinding] = []
        self.jobs = JobRunner(window)
        self.ask_model: ModelAsker = self._ask_model
        self.last_message = ""  # what the last accept did, as shown in the status bar

        schema = self.project.schema
        self.labels_layer = ModelLabelsLayer(schema)
        self.heat_layer = HeatLayer()
        self.compare_layer = CompareLayer()
        self.boxes_item = ModelBoxesItem(schema)
        self.focus = FocusItem()
        for item in (
            self.labels_layer,
            self.heat_layer,
            self.compare_layer,
            self.boxes_item,
            self.focus,
        ):
            self.canvas.scene().addItem(item)

        actions = window.actions
        for action_id, text in SHORT_TEXT.items():
            actions[action_id].setIconText(text)
        self.dock = UncertaintyDock(
            schema,
            [
                actions[a]
                for a in (
                    "model.accept_frame",
                    "model.accept_confident",
                    "model.accept_region",
                    "model.reject",
                    "model.verify",
                )
            ],
            [
                actions[a]
                for a in ("model.previous_region", "model.next_region", "model.resolve_region")
            ],
            [actions[a] for a in ("audit.run", "audit.refresh", "audit.confirm", "audit.flag")],
            window,
        )
        window.add_dock(self.dock, Qt.DockWidgetArea.RightDockWidgetArea)
        self.dock.scope_changed.connect(self.set_scope)
        self.dock.model_changed.connect(self.set_model)
        self.dock.set_models(list(prediction_models(self.project)))
        self.dock.region_chosen.connect(self.go_to_index)
        self.dock.finding_chosen.connect(self.go_to_finding)
        self.dock.layers_changed.connect(self.update_layers)
        self._bind_actions()
        self.editor.changed.connect(self._on_editor)
        window.session.committed.connect(self._on_session)
        self._sorting = False
        window.frames.modelReset.connect(self._on_frames_reset)
        window.on_close(self.jobs.close)  # a running audit stops after its batch
        self.reload_queue()
        if self.editor.document is not None:
            self._on_editor("document")

    def _bind_actions(self) -> None:
        bind = self.window.actions.bind
        for action_id, handler in {
            "model.next_region": self.next_region,
            "model.previous_region": self.previous_region,
            "model.resolve_region": self.resolve_region,
            "model.accept_region": self.accept_region,
            "model.accept_frame": self.accept_frame,
            "model.accept_confident": self.accept_confident,
            "model.reject": self.reject_selected,
            "model.verify": self.verify_selected,
            "audit.run": self.run_audit,
            "audit.refresh": self.refresh_audit,
            "audit.confirm": self.confirm_finding,
            "audit.flag": self.flag_frame,
            "model.heat_more": lambda: _step(self.dock.heat_opacity, OPACITY_STEP),
            "model.heat_less": lambda: _step(self.dock.heat_opacity, -OPACITY_STEP),
            "model.labels_more": lambda: _step(self.dock.labels_opacity, OPACITY_STEP),
            "model.labels_less": lambda: _step(self.dock.labels_opacity, -OPACITY_STEP),
        }.items():
            bind(action_id, self.window.guard(handler))
        bind("frame.sort_effort", self.sort_by_effort)

    # -- the open frame --------------------------------------------------------------------

    @property
    def frame_id(self) -> int | None:
        document = self.editor.document
        return None if document is None else document.frame.id

    def _on_editor(self, what: EditorChange) -> None:
        if what != "document":
            return
        self._read_prediction()
        frame_id = self.frame_id
        current = self.queue.current
        if current is None or current.frame_id != frame_id:
            self.focus.set_box(None)
        if self.scope == SCOPE_FRAME:
            self.reload_queue()
        else:
            self._show_progress()
        self.update_layers()

    def _on_session(self, event: SessionEvent) -> None:
        if self.frame_id in event.frame_ids and self.dock.show_compare.isChecked():
            self.update_layers()

    def _on_frames_reset(self) -> None:
        """The frame list was read again (after pre-labeling, say): new predictions."""
        if self._sorting:
            return
        self.dock.set_models(list(prediction_models(self.project)))
        self._read_prediction()
        self.reload_queue()
        self.update_layers()

    def _read_prediction(self) -> None:
        frame_id = self.frame_id
        self.prediction = (
            None if frame_id is None else read_prediction(self.project, frame_id, self.queue.model)
        )
        self._proposals = None

    def set_model(self, name: str) -> None:
        """Show, queue and accept the predictions of model ``name`` ("": the newest)."""
        self.queue.model = name or None
        self.queue.index = -1
        self.focus.set_box(None)
        self._read_prediction()
        self.reload_queue()
        self.update_layers()

    def update_layers(self) -> None:
        """Redraw the model layers from the dock's switches."""
        dock, prediction = self.dock, self.prediction
        maps = prediction.maps if prediction is not None else None
        document = self.editor.document
        self.labels_layer.show_maps(maps if dock.show_labels.isChecked() else None)
        self.labels_layer.setVisible(maps is not None and dock.show_labels.isChecked())
        self.labels_layer.setOpacity(dock.labels_alpha)
        self.heat_layer.show_maps(maps if dock.show_heat.isChecked() else None)
        self.heat_layer.setVisible(maps is not None and dock.show_heat.isChecked())
        self.heat_layer.setOpacity(dock.heat_alpha)
        compare = maps is not None and document is not None and dock.show_compare.isChecked()
        self.compare_layer.show_difference(
            maps if compare else None, self.canvas.label_map if compare else None
        )
        self.compare_layer.setVisible(compare)
        dock.compare_text.setText(
            f"{self.compare_layer.different_pixels * _pixel_area(prediction):.0f} px differ"
            if compare
            else ""
        )
        if prediction is not None and document is not None:
            self.boxes_item.set_boxes(prediction.boxes, document.width, document.height)
        else:
            self.boxes_item.set_boxes((), 1, 1)
        self.boxes_item.set_threshold(dock.box_threshold)
        self.boxes_item.setVisible(dock.show_boxes.isChecked())
        if prediction is None:
            dock.model_text.setText("No model prediction for this frame.")
        else:
            shown = len(self.boxes_item.shown())
            boxes = (
                f", {shown} of {len(self.boxes_item.boxes)} boxes shown" if prediction.boxes else ""
            )
            dock.model_text.setText(
                f"Model {prediction.model} ({prediction.task}){boxes}; "
                f"{self.effort.frame_minutes(prediction.frame_id):.1f} min left here"
                + coverage_text(prediction)
            )

    def found(self) -> list[Proposal]:
        """The open frame's proposals (computed once per frame)."""
        if self.prediction is None:
            raise RoadmarkError("this frame has no model prediction to accept")
        if self._proposals is None:
            self._proposals = proposals(
                self.prediction, self.project.schema, user=self.project.user
            )
        return self._proposals

    # -- the queue -------------------------------------------------------------------------

    def set_scope(self, scope: str) -> None:
        self.scope = scope
        self.reload_queue()

    def reload_queue(self) -> None:
        """Read the queue and the effort estimate again and show them."""
        self.queue.reload(self.frame_id if self.scope == SCOPE_FRAME else None)
        regions = (
            ranked_regions(self.project, model=self.queue.model)
            if self.scope == SCOPE_FRAME
            else self.queue.regions
        )
        self.effort = estimate(regions)
        self._show_queue()

    def _show_queue(self) -> None:
        names = self._frame_names()
        self.dock.show_regions(self.queue.regions, names, DEFAULT_COST_MODEL, self.queue.index)
        self._show_progress()

    def _show_progress(self) -> None:
        here = self.effort.frame_minutes(self.frame_id) if self.frame_id is not None else 0.0
        self.dock.progress.setText(
            f"{len(self.queue)} regions left · ~{self.effort.minutes:.1f} min "
            f"(this frame {here:.1f} min)"
        )
        if self.window.actions["frame.sort_effort"].isChecked():
            self.sort_by_effort(True)

    def _frame_names(self) -> dict[int, str]:
        """Frame id -> its position in the project (1-based, as the filmstrip shows it
        unsorted) and its name."""
        return {
            frame.id: f"{row + 1} {frame.name}" for row, frame in enumerate(self.project.frames())
        }

    def next_region(self) -> None:
        self._go(self.queue.next())

    def previous_region(self) -> None:
        self._go(self.queue.previous())

    def go_to_index(self, index: int) -> None:
        self._go(self.queue.go(index))

    def _go(self, region: UncertainRegion | None) -> None:
        if region is None:
            self.window.statusBar().showMessage("No uncertain regions left.", 5000)
            return
        self._show_frame(region.frame_id)
        document = self.editor.document
        if document is None or document.frame.id != region.frame_id:
            return
        rect = focus_rect(region.box, document.width, document.height)
        self.canvas.zoom_to(rect.x0, rect.y0, rect.x1, rect.y1, max_zoom=REVIEW_MAX_ZOOM)
        document.select(objects_in(document, region.box, region.outline))
        self.focus.set_box(region.box, region.outline)
        self.dock.mark_region(self.queue.index)
        self.window.statusBar().showMessage(
            f"Region {self.queue.index + 1} of {len(self.queue)}: "
            f"~{region.score:.0f} wrong pixels expected",
            5000,
        )

    def _show_frame(self, frame_id: int | None) -> None:
        if frame_id is None or frame_id == self.frame_id:
            return
        row = self.window.frames.row_of(frame_id)
        if row is not None:
            self.window.select_row(row)

    def resolve_region(self) -> None:
        """Mark the current region resolved and go to the next one."""
        if self.queue.resolve() is None:
            raise RoadmarkError("go to a region first (U)")
        self.focus.set_box(None)
        self.reload_queue()
        if len(self.queue):
            self.next_region()

    # -- accept, reject, verify ------------------------------------------------------------

    def _execute(self, command: Command | None, nothing: str) -> Command | None:
        if command is None:
            self.window.statusBar().showMessage(nothing, 5000)
            return None
        return self.editor.execute(command)

    def _document(self):
        document = self.editor.document
        if document is None:
            raise RoadmarkError("open a frame first")
        return document

    def accept_frame(self) -> Command | None:
        """Accept every model label of the open frame (one undo step)."""
        command = accept_command(self._document(), self.found())
        return self._execute(command, "Every model label is already on this frame.")

    def accept_confident(self) -> Command | None:
        """Accept the model labels at or above the dock's threshold (one undo step)."""
        threshold = self.dock.box_threshold
        command = accept_command(self._document(), self.found(), min_confidence=threshold)
        return self._execute(command, f"No model label at or above {threshold:.2f} to add.")

    def accept_region(self) -> Command | None:
        """Accept the model's labels inside the current region that reach the dock's
        confidence threshold, say what was accepted (and highlight it), and mark the region
        resolved; the view stays on it until the next ``U``."""
        region = self.queue.current
        if region is None or region.frame_id != self.frame_id:
            raise RoadmarkError("go to a region of this frame first (U)")
        document = self._document()
        threshold = self.dock.box_threshold
        command, below = accept_region_above(document, self.found(), region, threshold)
        done = self.editor.execute(command)
        self.queue.resolve(region)
        self.reload_queue()
        self.focus.set_box(region.box)  # still shown: the next U moves on
        document.select(command.uids if command is not None else [])  # the highlight
        self.last_message = accepted_text(self.project.schema, command, below, threshold)
        self.window.statusBar().showMessage(self.last_message + ". U: next region", 8000)
        return done

    def reject_selected(self) -> Command | None:
        document = self._document()
        command = reject_command(document, document.selection, self.project.user)
        return self._execute(command, "")

    def verify_selected(self) -> Command | None:
        document = self._document()
        if not document.selection:
            raise RoadmarkError("select the labels to verify first")
        command = verify_command(document, document.selection, self.project.user)
        return self._execute(command, "The selection is verified already.")

    # -- active ordering -------------------------------------------------------------------

    def sort_by_effort(self, on: bool) -> None:
        """Order the filmstrip by remaining effort, most first (project order when off)."""
        window = self.window
        frames = window.frames.frames()
        if on:
            effort = estimate(ranked_regions(self.project, model=self.queue.model))
            position = {frame.id: i for i, frame in enumerate(self.project.frames())}
            frames.sort(key=lambda f: (-effort.frame_seconds(f.id), position.get(f.id, 0)))
        else:
            frames = [f for f in self.project.frames() if window.frames.row_of(f.id) is not None]
            current = {f.id: f for f in window.frames.frames()}
            frames = [current[f.id] for f in frames]
        if [f.id for f in frames] == [f.id for f in window.frames.frames()]:
            return
        frame_id = self.frame_id
        self._sorting = True
        try:
            window.frames.set_frames(frames)
        finally:
            self._sorting = False
        if frame_id is not None:
            row = window.frames.row_of(frame_id)
            window.current_row = row
            if row is not None:
                window.frame_view.setCurrentIndex(window.frames.index(row))

    # -- audit -----------------------------------------------------------------------------

    def _ask_model(self) -> str | None:
        path, _ = QFileDialog.getOpenFileName(
            self.window, "Audit labels with a model", "", "roadmark models (*.roadmodel);;All (*)"
        )
        return path or None

    def run_audit(self) -> None:
        """Predict the labeled frames with a chosen model in the background, then list
        the findings."""
        path = self.ask_model()
        if not path:
            return
        project = self.project

        def work(progress):
            from roadmark.models.audit import run_audit

            return run_audit(
                project,
                Path(path),
                progress=progress.update,
                cancel=_CancelFlag(progress),  # type: ignore[arg-type]
            )

        self._start_audit("Auditing labels…", work)

    def refresh_audit(self) -> None:
        """Audit again from the stored predictions (no model run)."""
        models = prediction_models(self.project)
        if not models:
            raise RoadmarkError("no model predictions are stored; run an audit with a model")
        model = self.queue.model or (
            self.audit.model if self.audit else max(models, key=lambda m: models[m])
        )
        project = self.project
        self._start_audit("Comparing labels…", lambda _progress: audit_project(project, model))

    def _start_audit(self, title: str, work) -> None:
        if not self.jobs.start(title, work, self.show_audit, self._audit_failed):
            raise RoadmarkError("another job is still running")

    def _audit_failed(self, error: BaseException) -> None:
        self.window.show_error(f"Audit failed: {error}")

    def show_audit(self, report: AuditReport) -> None:
        self.audit = report
        self.dock.set_models(list(prediction_models(self.project)))
        self.audit_state = AuditState.load(self.project)
        self._show_findings()
        self.dock.tabs.setCurrentIndex(1)

    def _show_findings(self) -> None:
        report = self.audit
        if report is None:
            return
        self.findings = self.audit_state.open_findings(report.findings)
        errors = sum(1 for f in self.findings if f.kind in LABEL_ERRORS)
        self.dock.audit_text.setText(
            f"{report.model}: {len(report.frames)} labeled frames compared; {errors} likely "
            f"label errors and {len(self.findings) - errors} hard cases open; "
            f"{len(self.audit_state.flagged)} frames flagged."
        )
        names = self._frame_names()
        index = self.dock.current_finding()
        self.dock.show_findings(self.findings, names, self.audit_state.flagged)
        count = self.dock.findings.topLevelItemCount()
        if count:
            item = self.dock.findings.topLevelItem(min(max(index, 0), count - 1))
            self.dock.findings.setCurrentItem(item)

    def _finding(self) -> AuditFinding:
        index = self.dock.current_finding()
        if not 0 <= index < len(self.findings):
            raise RoadmarkError("choose a finding in the audit list first")
        return self.findings[index]

    def go_to_finding(self, index: int) -> None:
        """Show a finding: its frame, zoomed to it, the labels involved selected (to fix
        them with the normal tools)."""
        if not 0 <= index < len(self.findings):
            return
        finding = self.findings[index]
        self._show_frame(finding.frame_id)
        document = self.editor.document
        if document is None or document.frame.id != finding.frame_id:
            return
        rect = focus_rect(finding.box, document.width, document.height)
        self.canvas.zoom_to(rect.x0, rect.y0, rect.x1, rect.y1, max_zoom=REVIEW_MAX_ZOOM)
        document.select(finding.uids or objects_in(document, finding.box))
        self.focus.set_box(finding.box)

    def confirm_finding(self) -> None:
        """The label is right: the finding leaves the list, its objects become verified."""
        finding = self._finding()
        document = self.editor.document
        if finding.uids and document is not None and document.frame.id == finding.frame_id:
            self._execute(verify_command(document, finding.uids, self.project.user), "")
        self.audit_state.confirmed.add(finding.key)
        self.audit_state.save(self.project)
        self._show_findings()

    def flag_frame(self) -> None:
        """Flag (or unflag) the finding's frame for a closer look."""
        frame_id = self._finding().frame_id
        flagged = self.audit_state.flagged
        flagged.symmetric_difference_update({frame_id})
        self.audit_state.save(self.project)
        self._show_findings()


def _step(slider: QSlider, amount: int) -> None:
    slider.setValue(slider.value() + amount)


class _CancelFlag:
    """A job's cancel request, read the way the runner reads a ``threading.Event``."""

    def __init__(self, progress) -> None:
        self._progress = progress

    def is_set(self) -> bool:
        return bool(self._progress.cancelled)


def coverage_text(prediction: FramePrediction) -> str:
    """ "; the queue holds about N% of the errors ..." for a segmentation prediction."""
    if prediction.expected_errors is None:
        return ""
    share = queue_coverage(prediction.regions, prediction.expected_errors)
    return (
        f"; the queue holds about {100 * share:.0f}% of the errors the model expects on "
        f"this frame (~{prediction.expected_errors:.0f} px)"
    )


def _pixel_area(prediction: FramePrediction | None) -> float:
    if prediction is None or prediction.maps is None:
        return 0.0
    sx, sy = prediction.maps.scale
    return sx * sy


def install(window: MainWindow) -> GuidedReview:
    """Add guided review to a project window."""
    return GuidedReview(window)
