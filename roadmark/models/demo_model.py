"""The bundled demo model and pre-labeling the demo project with it.

``roadmark/assets/models/demo-segmentation.roadmodel`` is an LRASPP-MobileNetV3 trained by
``scripts/make_demo_model.py`` on synthetic drives with other seeds than the demo
project's, so a new user sees real predictions, uncertainty overlays and a review queue on
frames the model has never seen.
"""

from __future__ import annotations

from pathlib import Path

import roadmark.assets
from roadmark.core.annotation import FrameStatus
from roadmark.core.jobs import ProgressReporter
from roadmark.io.store import Project
from roadmark.models.files import load_model
from roadmark.models.runner import PrelabelOptions, PrelabelResult, prelabel

DEMO_MODEL_NAME = "demo-segmentation.roadmodel"


def demo_model_path() -> Path:
    """Where the bundled demo model is."""
    return Path(roadmark.assets.__file__).parent / "models" / DEMO_MODEL_NAME


def prelabel_demo(
    project: Project,
    *,
    progress: ProgressReporter | None = None,
    device: str = "auto",
) -> PrelabelResult:
    """Pre-label the frames nobody has labeled yet (status new) with the demo model.

    Raises:
        ModelFileError: The demo model is missing or damaged (reinstall roadmark, or make
            it again with ``scripts/make_demo_model.py``).
    """
    model = load_model(demo_model_path())
    todo = [frame.id for frame in project.frames(status=FrameStatus.NEW)]
    options = PrelabelOptions(device=device, batch_size=4, workers=0, frame_ids=todo)
    return prelabel(project, model, options, progress=progress)
