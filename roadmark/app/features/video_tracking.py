"""Frame > Propagate with a video model: when the Smart tool's model (Tools > Smart tool
model…) is a SAM 2-class video checkpoint, propagation carries the selected objects (all
of the frame's when none is selected) to the next frame with the model's video memory
instead of the optical flow.

Everything here runs in the propagation job's worker thread: the model (and torch) is
imported and loaded there, once, and kept for the next propagation while the chosen model
stays the same. The plan is :func:`~roadmark.annotators.sequence.ops.plan_model_propagation`.

Created by :class:`~roadmark.app.features.sequence_tools.SequenceTools`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from roadmark.annotators.sequence.model_propagation import WEAK_QUALITY
from roadmark.annotators.sequence.ops import (
    ModelPropagationPlan,
    PixelSource,
    plan_model_propagation,
)
from roadmark.app.jobs import JobContext
from roadmark.core.annotation import Frame
from roadmark.io.store import Project


class VideoTracking:
    """Propagation with a video model, for the sequence tools."""

    def __init__(self) -> None:
        self._loaded: tuple[Path, Any] | None = None

    def tracker(self, model: Path) -> Any | None:
        """The video tracker of ``model`` (loaded once), or ``None`` when it is no video
        model. Worker thread only."""
        from roadmark.models.sam_video import is_video_model, load_tracker

        if not is_video_model(model):
            return None
        if self._loaded is None or self._loaded[0] != model:
            self._loaded = (model, load_tracker(model))
        return self._loaded[1]

    def plan(
        self,
        project: Project,
        pixels: PixelSource,
        frame: Frame,
        model: Path | None,
        selection: Sequence[int],
        job: JobContext,
        frames: int = 1,
    ) -> ModelPropagationPlan | None:
        """The plan for propagating with ``model`` through the next ``frames`` frames, or
        ``None`` when it is no video model (the caller falls back to the optical flow).
        Worker thread only."""
        if model is None:
            return None
        job.report(0, 1, "loading the video model")
        tracker = self.tracker(model)
        if tracker is None:
            return None
        message = f"{tracker.name}: tracking"
        job.report(0, frames, message)

        def report(done: int, total: int, _message: str = "") -> None:
            job.report(done, total, message)

        return plan_model_propagation(
            project, pixels, frame, tracker, frames=frames, uids=selection,
            cancel=job.cancel, progress=report,
        )


def tracked_message(plan: ModelPropagationPlan, selected: int) -> str:
    """The status line after a video-model propagation was applied."""
    target = plan.targets[-1]
    return (
        f"Propagated {len(plan.changes)} objects to {target.name} with the video model "
        f"{plan.model}: {plan.weak} weak masks (quality below {WEAK_QUALITY:.0%}); "
        f"{selected} objects selected for review."
    )
