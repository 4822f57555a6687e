"""Render docs/smart_tool.png: the Smart tool on a frame of the demo drive.

    QT_QPA_PLATFORM=offscreen python docs/smart_screenshot.py [OUT.png]

Makes a one-frame project in a temporary folder from an unlabeled frame of the demo drive
(seed 0) holding its ground truth minus the largest car, opens the window with the Smart
tool and the bundled click model, clicks once on that car and renders the window while the
mask waits to be accepted (Return).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from roadmark.annotators.tools.base import Pointer
from roadmark.app.main_window import MainWindow
from roadmark.app.run import application, save_screenshot
from roadmark.core.annotation import FrameStatus
from roadmark.demo.drive import render_frame
from roadmark.io.demo_project import DEMO_FRAMES
from roadmark.io.frames import scan, write_image
from roadmark.io.store import Project

FRAME = 24  # an unlabeled frame of the demo drive
CAR = 26


def main(out: Path) -> None:
    frame = render_frame(FRAME, frames=DEMO_FRAMES, seed=0)
    cars = [o for o in frame.objects if o.label_id == CAR]
    target = max(cars, key=lambda o: o.region.area)
    with tempfile.TemporaryDirectory() as tmp:
        image = Path(tmp) / "demo_000000_000024_leftImg8bit.png"
        write_image(image, frame.image)
        path = Path(tmp) / "smart.roadmark"
        with Project.create(path, user="demo") as project:
            ids, _ = project.add_frames(scan([image]))
            project.add_objects(ids[0], [o for o in frame.objects if o is not target])
            project.set_frame_status(ids[0], FrameStatus.IN_PROGRESS)
        app = application()
        window = MainWindow.open_project(str(path), frame=0, prefetch=False)
        window.resize(1680, 1000)
        window.show()
        for _ in range(5):
            app.processEvents()
        window.canvas.fit()
        smart = window.smart
        smart.activate()
        window.editor.set_label(CAR)
        deadline = time.time() + 600
        while not smart.embedded_frames and time.time() < deadline:
            app.processEvents()
            time.sleep(0.02)
        x, y = target.region.representative_point().coords[0]
        window.editor.press(Pointer(x, y))
        window.editor.release(Pointer(x, y))
        while smart.tool.pending is not None and time.time() < deadline:
            app.processEvents()
            time.sleep(0.01)
        window.canvas.refresh()
        preview = window.editor.preview()
        if preview is not None:
            window.statusBar().showMessage(preview.hint)
        for _ in range(5):
            app.processEvents()
        save_screenshot(window, out)
        region = smart.tool.current_region()
        iou = region.intersection(target.region).area / region.union(target.region).area
        print(f"wrote {out}: one click on the car, mask IoU {iou:.3f}", file=sys.stderr)
        window.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("smart_tool.png"))
