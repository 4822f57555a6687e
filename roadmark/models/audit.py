"""Auditing a project's labels with a model: predict the labeled frames, then compare.

The model runs through the pre-labeling runner (:func:`roadmark.models.runner.prelabel`),
so it batches, uses the GPU when there is one and stores its predictions with the
project's other predictions (frames that already have this model file's prediction are
not predicted again). The comparison itself is Qt- and torch-free
(:mod:`roadmark.io.label_audit`), so the GUI's audit queue reads the same stored
predictions without importing torch.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from roadmark.analysis.label_audit import AuditParams, AuditReport
from roadmark.core.jobs import CancelToken, ProgressReporter
from roadmark.io.label_audit import audit_project, labeled_frame_ids
from roadmark.io.store import Project
from roadmark.models.errors import ModelError
from roadmark.models.files import LoadedModel, load_model
from roadmark.models.runner import PrelabelOptions, prelabel


def run_audit(
    project: Project,
    model: LoadedModel | str | Path,
    *,
    options: PrelabelOptions | None = None,
    params: AuditParams | None = None,
    progress: ProgressReporter | None = None,
    cancel: CancelToken | None = None,
) -> AuditReport:
    """Predict the project's labeled frames with ``model`` and compare with their labels.

    Args:
        project: An open, writable project.
        model: A loaded model or the path of a model file.
        options: Runner options (device, batch); ``frame_ids`` defaults to the labeled
            frames.
        params: Audit thresholds.
        progress: ``(frames predicted, frames to predict)``, from a worker thread.
        cancel: Stops the prediction after the batch in flight (the audit then covers
            the frames predicted so far).

    Raises:
        ModelError: The model is a detector (the audit compares segmentations), or it
            fails to run.
        DeviceError: The device does not exist.
    """
    loaded = model if isinstance(model, LoadedModel) else load_model(model)
    if loaded.manifest.task != "segmentation":
        raise ModelError(
            f"the audit compares segmentations; {loaded.name!r} is a {loaded.manifest.task} model",
            path=str(loaded.path),
            field="task",
        )
    options = options or PrelabelOptions()
    frame_ids = (
        list(options.frame_ids) if options.frame_ids is not None else labeled_frame_ids(project)
    )
    if frame_ids:
        prelabel(
            project,
            loaded,
            replace(options, frame_ids=frame_ids),
            progress=progress,
            cancel=cancel,
        )
    return audit_project(project, loaded.name, frame_ids=frame_ids, params=params)
