"""The samples the effort model is fitted to: per frame, the active time recorded and the
review work resolved there (see :mod:`roadmark.core.effort_fit`)."""

from __future__ import annotations

from collections import defaultdict

from roadmark.core.effort import DEFAULT_COST_MODEL, CostModel
from roadmark.core.effort_fit import EffortFit, FrameSample, fit_effort, frame_sample
from roadmark.core.prediction import UncertainRegion
from roadmark.io.predictions import ranked_regions
from roadmark.io.store import Project
from roadmark.io.workflow import time_spent


def effort_samples(
    project: Project, *, model: str | None = None, cost: CostModel = DEFAULT_COST_MODEL
) -> list[FrameSample]:
    """Frames with recorded active time and at least one resolved region, in id order."""
    seconds: dict[int, float] = defaultdict(float)
    for entry in time_spent(project):
        seconds[entry.frame_id] += entry.seconds
    resolved: dict[int, list[UncertainRegion]] = defaultdict(list)
    for region in ranked_regions(project, model=model, include_resolved=True):
        if region.resolved and region.frame_id is not None:
            resolved[region.frame_id].append(region)
    return [
        frame_sample(frame_id, seconds[frame_id], resolved[frame_id], cost)
        for frame_id in sorted(resolved)
        if seconds.get(frame_id, 0.0) > 0
    ]


def fitted_cost_model(project: Project, *, model: str | None = None) -> EffortFit:
    """The cost model fitted to ``project``'s recorded time (defaults until enough)."""
    return fit_effort(effort_samples(project, model=model))
