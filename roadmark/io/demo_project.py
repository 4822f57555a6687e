"""The bundled demo project, made from the synthetic drive on first use.

It lives in the user data folder (``ROADMARK_DATA_DIR`` overrides it): ``demo/images``
holds the rendered frames and ``demo/demo.roadmark`` the project. The first frames carry
their exact ground truth (status done), the rest are new. Callers above this layer pass
``prelabel`` (``roadmark.models.demo_model.prelabel_demo``, the bundled demo model) so
that the rest come pre-labeled. It is built in a temporary folder and moved into place,
so an interrupted first run leaves nothing half-made.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from roadmark.core.annotation import FrameStatus
from roadmark.demo.drive import SyntheticFrame, write_drive
from roadmark.io.frames import scan
from roadmark.io.settings import data_dir
from roadmark.io.store import Project

DEMO_FRAMES = 40
DEMO_LABELED = 10


def demo_folder() -> Path:
    return data_dir() / "demo"


def ensure_demo_project(
    *,
    rebuild: bool = False,
    log: Callable[[str], None] | None = None,
    prelabel: Callable[[Project], object] | None = None,
) -> Path:
    """The demo project's path, building it first when it does not exist (or ``rebuild``).

    ``prelabel`` is run on the new project before it is moved into place.
    """
    folder = demo_folder()
    project_path = folder / "demo.roadmark"
    if project_path.is_file() and not rebuild:
        return project_path
    if log:
        log(f"making the demo project in {folder} ...")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".demo-", dir=folder.parent))
    try:
        project = build_demo_project(
            staging / "demo.roadmark", frames=DEMO_FRAMES, labeled=DEMO_LABELED
        )
        try:
            if prelabel is not None:
                if log:
                    log("pre-labeling the remaining frames with the demo model ...")
                prelabel(project)
        finally:
            project.close()
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return project_path


def build_demo_project(
    path: Path,
    *,
    frames: int = DEMO_FRAMES,
    labeled: int = DEMO_LABELED,
    seed: int = 0,
    width: int = 1024,
    height: int = 512,
) -> Project:
    """Render the drive into ``path``'s folder and make a project of it (left open)."""
    images = path.parent / "images"
    images.mkdir(parents=True, exist_ok=True)
    written = write_drive(images, frames=frames, width=width, height=height, seed=seed)
    project = Project.create(path, user="demo")
    add_drive(project, written, labeled=labeled)
    return project


def add_drive(
    project: Project, written: Sequence[tuple[Path, SyntheticFrame]], *, labeled: int | None = None
) -> list[int]:
    """Add frames written by :func:`~roadmark.demo.drive.write_drive` to ``project`` in one
    transaction, the first ``labeled`` (all by default) with their ground truth, done.

    Returns:
        The new frames' ids, in order.
    """
    labeled = len(written) if labeled is None else labeled
    with project.transaction():
        ids, _ = project.add_frames(scan([file for file, _ in written]))
        for frame_id, (_, synthetic) in zip(ids[:labeled], written[:labeled], strict=True):
            project.add_objects(frame_id, synthetic.objects)
            project.set_frame_status(frame_id, FrameStatus.DONE)
    return ids
