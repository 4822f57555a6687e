"""Auditing a project's labels against a model's stored predictions.

The comparison itself is :mod:`roadmark.analysis.label_audit`; here the labels and the
predictions are read from the project (:func:`audit_project`), and what the engineer
decided (a finding confirmed as correct, a frame flagged) is kept in the project's meta
table under :data:`STATE_KEY` (:class:`AuditState`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from roadmark.analysis.label_audit import (
    LABEL_ERRORS,
    AuditFinding,
    AuditParams,
    AuditReport,
    compare_frame,
)
from roadmark.core.errors import RoadmarkError
from roadmark.io.predictions import read_prediction
from roadmark.io.store import Project

STATE_KEY = "label_audit"


def labeled_frame_ids(project: Project) -> list[int]:
    """Frames with at least one live object (the ones an audit can check)."""
    return [frame.id for frame in project.frames() if project.objects(frame.id).live()]


def audit_project(
    project: Project,
    model: str,
    *,
    frame_ids: Iterable[int] | None = None,
    params: AuditParams | None = None,
) -> AuditReport:
    """Compare the labels of ``frame_ids`` (every labeled frame) with ``model``'s stored
    segmentation predictions; frames without one are left out.

    Raises:
        PredictionError: A stored map does not decode.
    """
    ids = list(frame_ids) if frame_ids is not None else labeled_frame_ids(project)
    schema = project.schema
    compared: list[int] = []
    findings: list[AuditFinding] = []
    for frame_id in ids:
        prediction = read_prediction(project, frame_id, model)
        if prediction is None or prediction.maps is None:
            continue
        compared.append(frame_id)
        objects = project.objects(frame_id).live()
        findings.extend(compare_frame(frame_id, objects, prediction.maps, schema, params))
    findings.sort(key=lambda f: (f.kind not in LABEL_ERRORS, -f.score))
    return AuditReport(model, tuple(compared), tuple(findings))


# -- the engineer's decisions --------------------------------------------------------------


@dataclass
class AuditState:
    """Findings confirmed as correct labels, and frames flagged for a closer look."""

    confirmed: set[str] = field(default_factory=set)
    flagged: set[int] = field(default_factory=set)

    @classmethod
    def load(cls, project: Project) -> AuditState:
        """The stored state (empty when none, or when it does not parse)."""
        raw = project.get_meta(STATE_KEY)
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            return cls(
                confirmed={str(k) for k in data.get("confirmed", [])},
                flagged={int(f) for f in data.get("flagged", [])},
            )
        except (ValueError, TypeError, AttributeError) as error:
            raise RoadmarkError(
                f"stored audit decisions do not parse ({error})",
                path=project.location,
                field=STATE_KEY,
            ) from error

    def save(self, project: Project) -> None:
        project.set_meta(
            STATE_KEY,
            json.dumps({"confirmed": sorted(self.confirmed), "flagged": sorted(self.flagged)}),
        )

    def open_findings(self, findings: Iterable[AuditFinding]) -> list[AuditFinding]:
        """The findings nobody has confirmed yet."""
        return [f for f in findings if f.key not in self.confirmed]
