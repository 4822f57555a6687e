"""Render docs/screenshot.png: the editor on a copy of the demo project.

    QT_QPA_PLATFORM=offscreen python docs/screenshot.py [OUT.png]

Copies the demo project (built on first use) to a temporary folder, draws two boxes with
the box tool as an annotator would, selects a car, and renders the window.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from roadmark.annotators.tools.base import Pointer
from roadmark.app.main_window import MainWindow
from roadmark.app.run import application, save_screenshot
from roadmark.io.demo_project import demo_folder, ensure_demo_project
from roadmark.models.demo_model import prelabel_demo

FRAME = 6


def main(out: Path) -> None:
    ensure_demo_project(prelabel=prelabel_demo)  # as `roadmark demo` builds it
    with tempfile.TemporaryDirectory() as tmp:
        # Keep the throwaway copy out of the user's recent projects.
        os.environ["ROADMARK_CONFIG_DIR"] = str(Path(tmp) / "config")
        copy = Path(tmp) / "demo"
        shutil.copytree(demo_folder(), copy)
        application()
        window = MainWindow.open_project(str(copy / "demo.roadmark"), frame=FRAME)
        window.resize(1680, 1000)
        window.show()
        editor = window.editor
        document = editor.document
        assert document is not None
        schema = editor.schema
        car, person = schema.label("car").id, schema.label("person").id
        cars = sorted(
            (o for o in document.visible_regions() if o.label_id == car),
            key=lambda o: o.region.area,
        )
        people = sorted(
            (o for o in document.visible_regions() if o.label_id == person),
            key=lambda o: o.region.area,
        )
        # Boxes around two objects, drawn with the box tool as a click-drag would.
        editor.set_tool("box")
        for target in (people[-1], cars[-2]):
            b = target.bounds
            editor.set_label(target.label_id)
            editor.press(Pointer(b.x0 - 1, b.y0 - 1))
            editor.move(Pointer(b.x1 + 1, b.y1 + 1))
            editor.release(Pointer(b.x1 + 1, b.y1 + 1))
        editor.set_tool("select")
        editor.set_label(car)
        document.select([cars[-1].uid])
        window.canvas.fit()
        save_screenshot(window, out)
        window.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("screenshot.png"))
