"""The audit tab of the Guided review dock: Review > Audit labels with a model (runs the
model over the labeled frames in the background) or from the stored predictions, then the
likely label errors and hard cases to go to, fix, confirm or flag.

The comparison is Qt-free (:mod:`roadmark.analysis.label_audit`, :mod:`roadmark.models.audit`);
confirmed findings and flagged frames are kept in the project
(:class:`~roadmark.io.label_audit.AuditState`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog

from roadmark.analysis.label_audit import LABEL_ERRORS, AuditFinding, AuditReport
from roadmark.annotators.review.guided import ReviewQueue, focus_rect, objects_in, verify_command
from roadmark.app.docks.uncertainty import UncertaintyDock
from roadmark.app.features.model_layers import FocusItem
from roadmark.app.features.review_queue import REVIEW_MAX_ZOOM, frame_names
from roadmark.app.jobs import JobContext, JobRunner
from roadmark.core.errors import RoadmarkError
from roadmark.io.label_audit import AuditState, audit_project
from roadmark.io.predictions import prediction_models

if TYPE_CHECKING:
    from roadmark.app.window_api import ProjectWindow

ModelAsker = Callable[[], "str | None"]
FrameShower = Callable[[int], None]


class AuditPanel:
    """Runs audits and shows their findings in the dock's audit tab.

    Args:
        window: The project window.
        queue: The review queue (its chosen model is the one audited from stored
            predictions).
        dock: The Guided review dock.
        focus: The canvas item that outlines the finding shown.
        show_frame: Opens a frame by id (unless it is open already).

    Attributes:
        ask_model: Asks for a model file to audit with (a dialog; tests replace it).
        jobs: Runs the audits in the background.
        audit: The last audit, if any.
        audit_state: Confirmed findings and flagged frames.
        findings: The open findings of the last audit, as listed.
    """

    def __init__(
        self,
        window: ProjectWindow,
        queue: ReviewQueue,
        dock: UncertaintyDock,
        focus: FocusItem,
        show_frame: FrameShower,
    ) -> None:
        self.window = window
        self.project = window.project
        self.editor = window.editor
        self.queue = queue
        self.dock = dock
        self.focus = focus
        self.show_frame = show_frame
        self.audit: AuditReport | None = None
        self.audit_state = AuditState()
        self.findings: list[AuditFinding] = []
        self.jobs = JobRunner(window, window.project)
        self.ask_model: ModelAsker = self._ask_model
        window.on_close(self.jobs.close)  # a running audit stops after its batch

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

        def work(job: JobContext) -> AuditReport:
            from roadmark.models.audit import run_audit

            return run_audit(job.project, Path(path), progress=job.report, cancel=job.cancel)

        self._start_audit("Auditing labels…", work)

    def refresh_audit(self) -> None:
        """Audit again from the stored predictions (no model run)."""
        models = prediction_models(self.project)
        if not models:
            raise RoadmarkError("no model predictions are stored; run an audit with a model")
        model = self.queue.model or (
            self.audit.model if self.audit else max(models, key=lambda m: models[m])
        )

        def work(job: JobContext) -> AuditReport:
            return audit_project(job.project, model)

        self._start_audit("Comparing labels…", work)

    def _start_audit(self, title: str, work: Callable[[JobContext], AuditReport]) -> None:
        if not self.jobs.start(title, work, self.show_audit, self._audit_failed):
            raise RoadmarkError("another job is still running")

    def _audit_failed(self, error: BaseException) -> None:
        self.window.show_error(f"Audit failed: {error}")

    def show_audit(self, report: AuditReport) -> None:
        self.audit = report
        self.dock.set_models(list(prediction_models(self.project)))
        self.audit_state = AuditState.load(self.project)
        self.show_findings()
        self.dock.tabs.setCurrentIndex(1)

    def show_findings(self) -> None:
        """List the open findings of the last audit (keeping the chosen row)."""
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
        names = frame_names(self.project)
        index = self.dock.current_finding()
        self.dock.show_findings(self.findings, names, self.audit_state.flagged)
        count = self.dock.findings.topLevelItemCount()
        item = self.dock.findings.topLevelItem(min(max(index, 0), count - 1)) if count else None
        if item is not None:
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
        self.show_frame(finding.frame_id)
        document = self.editor.document
        if document is None or document.frame.id != finding.frame_id:
            return
        rect = focus_rect(finding.box, document.width, document.height)
        self.window.canvas.zoom_to(rect.x0, rect.y0, rect.x1, rect.y1, max_zoom=REVIEW_MAX_ZOOM)
        document.select(finding.uids or objects_in(document, finding.box))
        self.focus.set_box(finding.box)

    def confirm_finding(self) -> None:
        """The label is right: the finding leaves the list, its objects become verified."""
        finding = self._finding()
        document = self.editor.document
        if finding.uids and document is not None and document.frame.id == finding.frame_id:
            command = verify_command(document, finding.uids, self.project.user)
            if command is None:
                self.window.statusBar().showMessage("", 5000)
            else:
                self.editor.execute(command)
        self.audit_state.confirmed.add(finding.key)
        self.audit_state.save(self.project)
        self.show_findings()

    def flag_frame(self) -> None:
        """Flag (or unflag) the finding's frame for a closer look."""
        frame_id = self._finding().frame_id
        flagged = self.audit_state.flagged
        flagged.symmetric_difference_update({frame_id})
        self.audit_state.save(self.project)
        self.show_findings()
