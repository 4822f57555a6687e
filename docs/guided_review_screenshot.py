"""Render docs/guided_review.png: guided review on a pre-labeled copy of the demo project.

    QT_QPA_PLATFORM=offscreen python docs/guided_review_screenshot.py [OUT.png]

Copies the demo project (built on first use) to a temporary folder and pre-labels its
unlabeled frames again with the bundled demo model (``roadmark/assets/models``), so the
queue comes from the current region finder (size cap, outlines, default threshold). Then
opens the window, turns on the hatched model labels, goes to the FIRST region of the
review queue (``U``, no choosing) and renders the window.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from roadmark.app.main_window import MainWindow
from roadmark.app.run import application, save_screenshot
from roadmark.io.demo_project import demo_folder, ensure_demo_project
from roadmark.io.predictions import prediction_models
from roadmark.io.store import Project


def prelabel_copy(path: Path) -> None:
    from roadmark.core.annotation import FrameStatus
    from roadmark.io.predictions import delete_predictions
    from roadmark.models.demo_model import prelabel_demo

    with Project.open(str(path)) as project:
        for model in prediction_models(project):  # made by an older region finder
            delete_predictions(project, model)
        for frame in project.frames(status=FrameStatus.PRELABELED):  # prelabel_demo takes
            project.set_frame_status(frame.id, FrameStatus.NEW)  # the frames still new
        result = prelabel_demo(project, device="cpu")
        print(f"pre-labeled {result.predicted} frames", file=sys.stderr)


def main(out: Path) -> None:
    ensure_demo_project()
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "demo"
        shutil.copytree(demo_folder(), copy)
        prelabel_copy(copy / "demo.roadmark")
        app = application()
        window = MainWindow.open_project(str(copy / "demo.roadmark"), frame=0, prefetch=False)
        window.resize(1680, 1000)
        window.show()
        for _ in range(5):
            app.processEvents()  # lay the window out before zooming
        guided = window.guided_review
        window.labels_dock.hide()  # room for the queue
        guided.dock.raise_()
        guided.dock.show_labels.setChecked(True)
        guided.dock.heat_opacity.setValue(35)
        guided.next_region()  # the first region of the queue, as U shows it
        save_screenshot(window, out)
        window.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("guided_review.png"))
