"""Guided review in the project window: model layers, the review queue, accept and reject,
the audit queue and the frame order by remaining effort.

:func:`install` adds to a :class:`~roadmark.app.window_api.ProjectWindow`:

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

This module holds the model layers and the accept, reject and verify actions; the region
queue and the effort order are :mod:`roadmark.app.features.review_queue`, the audit
:mod:`roadmark.app.features.audit_panel`. New predictions arrive through the window
state's ``predictionsChanged``. The logic lives below ``app``:
:mod:`roadmark.annotators.review.guided` (queue, commands),
:mod:`roadmark.annotators.review.prelabels` (proposals), :mod:`roadmark.analysis.label_audit`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QSlider

from roadmark.analysis.uncertainty import queue_coverage
from roadmark.annotators.review.guided import (
    ReviewQueue,
    accept_region_above,
    accepted_text,
    reject_command,
    verify_command,
)
from roadmark.annotators.review.prelabels import Proposal, accept_command, proposals
from roadmark.app.docks.uncertainty import SCOPE_FRAME, UncertaintyDock
from roadmark.app.features.audit_panel import AuditPanel
from roadmark.app.features.model_layers import (
    CompareLayer,
    FocusItem,
    HeatLayer,
    ModelBoxesItem,
    ModelLabelsLayer,
)
from roadmark.app.features.review_queue import RegionQueue
from roadmark.app.shortcuts import ActionSpec, register
from roadmark.core.document import FrameDocument
from roadmark.core.errors import RoadmarkError
from roadmark.core.history import Command
from roadmark.core.prediction import FramePrediction
from roadmark.io.predictions import prediction_models, read_prediction

if TYPE_CHECKING:
    from roadmark.annotators.editor import EditorChange
    from roadmark.app.window_api import ProjectWindow
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
OPACITY_STEP = 10  # percent per key press


class GuidedReview(QObject):
    """The guided review parts of a project window.

    Attributes:
        queue: The review queue (shared by the region queue, the audit and the accepts).
        regions: The region queue shown in the dock (scope, effort, frame order).
        auditor: The audit tab (runs audits, lists findings).
        prediction: The open frame's prediction (newest of any model), if any.
        last_message: What the last accept did, as shown in the status bar.
    """

    def __init__(self, window: ProjectWindow) -> None:
        super().__init__(window)
        self.window = window
        self.project = window.project
        self.editor = window.editor
        self.canvas = window.canvas
        self.queue = ReviewQueue(self.project)
        self.prediction: FramePrediction | None = None
        self._proposals: list[Proposal] | None = None
        self.last_message = ""

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
        self.regions = RegionQueue(window, self.queue, self.dock, self.focus)
        self.auditor = AuditPanel(
            window, self.queue, self.dock, self.focus, self.regions.show_frame
        )
        self.dock.scope_changed.connect(self.regions.set_scope)
        self.dock.model_changed.connect(self.set_model)
        self.dock.set_models(list(prediction_models(self.project)))
        self.dock.region_chosen.connect(self.regions.go_to_index)
        self.dock.finding_chosen.connect(self.auditor.go_to_finding)
        self.dock.layers_changed.connect(self.update_layers)
        self._bind_actions()
        self.editor.changed.connect(self._on_editor)
        window.session.committed.connect(self._on_session)
        window.state.predictionsChanged.connect(self._on_predictions)
        window.state.framesChanged.connect(self._on_frames)
        self.regions.reload()
        if self.editor.document is not None:
            self._on_editor("document")

    def _bind_actions(self) -> None:
        bind = self.window.actions.bind
        regions, auditor = self.regions, self.auditor
        for action_id, handler in {
            "model.next_region": regions.next_region,
            "model.previous_region": regions.previous_region,
            "model.resolve_region": regions.resolve_region,
            "model.accept_region": self.accept_region,
            "model.accept_frame": self.accept_frame,
            "model.accept_confident": self.accept_confident,
            "model.reject": self.reject_selected,
            "model.verify": self.verify_selected,
            "audit.run": auditor.run_audit,
            "audit.refresh": auditor.refresh_audit,
            "audit.confirm": auditor.confirm_finding,
            "audit.flag": auditor.flag_frame,
            "model.heat_more": lambda: _step(self.dock.heat_opacity, OPACITY_STEP),
            "model.heat_less": lambda: _step(self.dock.heat_opacity, -OPACITY_STEP),
            "model.labels_more": lambda: _step(self.dock.labels_opacity, OPACITY_STEP),
            "model.labels_less": lambda: _step(self.dock.labels_opacity, -OPACITY_STEP),
        }.items():
            bind(action_id, self.window.guard(handler))
        bind("frame.sort_effort", regions.sort_by_effort)

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
        if self.regions.scope == SCOPE_FRAME:
            self.regions.reload()
        else:
            self.regions.show_progress()
        self.update_layers()

    def _on_session(self, event: SessionEvent) -> None:
        if self.frame_id in event.frame_ids and self.dock.show_compare.isChecked():
            self.update_layers()

    def _on_predictions(self, _revision: int) -> None:
        """New predictions were stored (after pre-labeling, say): the model list, the open
        frame's layers and the queue read them."""
        self.dock.set_models(list(prediction_models(self.project)))
        self._read_prediction()
        self.regions.reload()
        self.update_layers()

    def _on_frames(self) -> None:
        """The frame list was read again: the frames' positions in the queue (and the
        effort order, when on) follow; the window's own reordering is left alone."""
        if not self.regions.sorting:
            self.regions.show()

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
        self.regions.reload()
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
            minutes = self.regions.effort.frame_minutes(prediction.frame_id)
            dock.model_text.setText(
                f"Model {prediction.model} ({prediction.task}){boxes}; "
                f"{minutes:.1f} min left here" + coverage_text(prediction)
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

    # -- accept, reject, verify ------------------------------------------------------------

    def _execute(self, command: Command | None, nothing: str) -> Command | None:
        if command is None:
            self.window.statusBar().showMessage(nothing, 5000)
            return None
        return self.editor.execute(command)

    def _document(self) -> FrameDocument:
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
        self.regions.reload()
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


def _step(slider: QSlider, amount: int) -> None:
    slider.setValue(slider.value() + amount)


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


def install(window: ProjectWindow) -> GuidedReview:
    """Add guided review to a project window."""
    return GuidedReview(window)
