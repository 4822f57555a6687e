"""Render docs/guided_review.png: guided review on a pre-labeled copy of the demo project.

    QT_QPA_PLATFORM=offscreen python docs/guided_review_screenshot.py [OUT.png]

Copies the demo project (built on first use) to a temporary folder; when it has no model
predictions yet, pre-labels its unlabeled frames with the bundled demo model
(``roadmark/assets/models``). Then opens the window, turns on the hatched model labels,
jumps to the top region of the review queue (``U``) and renders the window.
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
    with Project.open(str(path)) as project:
        if prediction_models(project):
            return
        from roadmark.models.demo_model import prelabel_demo

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
        # The first region of the queue around a car that is a patch, not most of a frame.
        document = window.editor.document
        area = document.width * document.height
        car = window.project.schema.label("car").id
        patches = [
            i for i, r in enumerate(guided.queue.regions) if 0.003 * area < r.box.area < 0.12 * area
        ]
        with_car = [i for i in patches if car in guided.queue.regions[i].classes]
        index = (with_car or patches or [0])[0]
        guided.go_to_index(index)
        region = guided.queue.current
        if region is not None:
            document = window.editor.document
            width, height = min(640, document.width), min(330, document.height)
            cx = (region.box.x0 + region.box.x1) / 2
            cy = (region.box.y0 + region.box.y1) / 2
            x0 = min(max(cx - width / 2, 0), document.width - width)
            y0 = min(max(cy - height / 2, 0), document.height - height)
            window.canvas.zoom_to(x0, y0, x0 + width, y0 + height)
        save_screenshot(window, out)
        window.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("guided_review.png"))
