"""Outline mode (Shift+O) at a heavy load: vector outlines with a halo at every zoom;
prints JSON.

    QT_QPA_PLATFORM=offscreen python benchmarks/outlines.py [--regions 3000] [--repeats 20]

On the 2048 x 1024 frame of ``benchmarks/canvas.py`` with ``--regions`` polygons, measures
in a 1500 x 900 window:

- ``first_paint_fit_ms``: switching outlines on at the fit zoom and repainting the canvas
  (every tile of the frame drawn);
- ``repaint_fit_p95_ms``: repainting at the fit zoom once the tiles are drawn;
- ``zoom_step_p95_ms``: a zoom step around the pointer with outlines on (new tiles drawn);
- ``pan_p95_ms``: a 40-pixel pan with outlines on, zoomed in 4x;
- ``cpu``: the same as CPU time of the main thread (not inflated by other processes), and
  ``load_average_1min``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from canvas import build, p95
from PySide6.QtCore import QPointF

from roadmark.app.main_window import MainWindow
from roadmark.app.run import application


def measure(regions: int, repeats: int) -> dict[str, object]:
    app = application()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ROADMARK_CONFIG_DIR"] = str(Path(tmp) / "config")
        path, vertices = build(Path(tmp), regions)
        window = MainWindow.open_project(str(path), frame=0, prefetch=False)
        window.resize(1500, 900)
        window.show()
        for _ in range(5):
            app.processEvents()
        canvas = window.canvas
        canvas.fit()
        canvas.viewport().repaint()

        cpu: dict[str, list[float]] = {}

        def timed(action, name: str = "") -> float:
            start, start_cpu = time.perf_counter(), time.thread_time()
            action()
            canvas.viewport().repaint()
            cpu.setdefault(name, []).append(time.thread_time() - start_cpu)
            return time.perf_counter() - start

        first = timed(lambda: window.actions["view.outline"].setChecked(True), "first")
        repaint = [timed(lambda: None, "repaint") for _ in range(repeats)]
        center = QPointF(canvas.viewport().rect().center())
        zoom = []
        for i in range(repeats):
            factor = 1.25 if i % 2 == 0 else 1 / 1.25
            zoom.append(timed(lambda factor=factor: canvas.zoom_by(factor, at=center), "zoom"))
        canvas.zoom_by(4.0, at=center)
        canvas.viewport().repaint()
        bar = canvas.horizontalScrollBar()
        pan = []
        for i in range(repeats):
            step = 40 if i % 2 == 0 else -40
            pan.append(timed(lambda step=step: bar.setValue(bar.value() + step), "pan"))
        result = {
            "regions": regions,
            "vertices": vertices,
            "fit_zoom": round(canvas.fit_zoom(), 3),
            "first_paint_fit_ms": round(first * 1000.0, 1),
            "repaint_fit_p95_ms": p95(repaint),
            "zoom_step_p95_ms": p95(zoom),
            "pan_p95_ms": p95(pan),
            "cpu": {
                "first_paint_fit_ms": round(cpu["first"][0] * 1000.0, 1),
                "repaint_fit_p95_ms": p95(cpu["repaint"]),
                "zoom_step_p95_ms": p95(cpu["zoom"]),
                "pan_p95_ms": p95(cpu["pan"]),
            },
            "load_average_1min": round(os.getloadavg()[0], 2),
        }
        window.close()
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--regions", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    print(json.dumps(measure(args.regions, args.repeats), indent=2))


if __name__ == "__main__":
    main()
