"""Editor speed at a heavy load, driven through the real widgets offscreen; prints JSON.

    QT_QPA_PLATFORM=offscreen python benchmarks/canvas.py [--regions 3000] [--repeats 60]
        [--size 2048x1024]

Builds a project in a temporary folder with two frames of ``--size`` pixels (2048 x 1024
unless told; 3840x2160 is an 8-megapixel driving camera), each carrying ``--regions``
polygon regions of 22 vertices (3,000 regions = 66,000 vertices), and
measures, as 95th percentiles over ``--repeats`` operations:

- ``pan_zoom_p95_ms``: a zoom step around the cursor or a 40-pixel pan, plus the
  synchronous repaint of the canvas;
- ``edit_to_repaint_p95_ms``: from the mouse release that ends a gesture (a vertex moved
  with the select tool, a brush stroke) to the repainted canvas, including the commit to
  the project file and the docks' updates; ``vertex_move_p95_ms`` and
  ``brush_stroke_p95_ms`` split it;
- ``frame_switch_p95_ms``: from the request to show the other frame to the repainted
  window, with the editor's background preparation of neighboring frames (each switch
  waits until it is idle, as a person looks at a frame before moving on);
  ``frame_switch_cold_p95_ms`` is the same with preparation off (the objects read from the
  store and drawn on the spot). A frame not prepared and with many objects is opened
  progressively (its image at once, its regions when read in the background), so the
  switch ends with the image shown; ``frame_switch_cold_overlay_p95_ms`` runs on to its
  regions shown;
- ``startup_s``: from starting a Python process (running what ``roadmark open`` runs) to
  the project window shown, with Python's bytecode cache as an installed copy has it, and
  ``torch_imported_at_startup``; ``startup_overlay_s`` runs on to the first frame's
  regions shown; ``startup_first_run_s`` compiles roadmark's modules from source (the
  first start after a checkout);
- ``cpu``: the same figures as CPU time of the main thread (startup: of the process),
  which other processes' load does not inflate, and ``load_average_1min`` at the end, so
  that figures measured on a busy machine can be read for what they are.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import shapely
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from roadmark.app.jobs import JobRunner
from roadmark.app.main_window import MainWindow
from roadmark.app.run import application
from roadmark.core.annotation import AnnotationObject, Provenance
from roadmark.io.frames import write_image
from roadmark.io.store import FrameSpec, Project

WIDTH, HEIGHT = 2048, 1024
VERTICES = 22
LABELS = (7, 8, 11, 17, 20, 21, 24, 26)


def build(folder: Path, regions: int) -> tuple[Path, int]:
    """A two-frame project of ``WIDTH`` x ``HEIGHT`` frames; returns its path and the vertex
    count per frame."""
    rng = np.random.default_rng(0)
    provenance = Provenance.new("human", "bench")
    specs = []
    for i in range(2):
        yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
        image = np.stack(
            [(xx // 8 + i * 40) % 256, (yy // 4) % 256, ((xx + yy) // 16) % 256], axis=-1
        ).astype(np.uint8)
        path = folder / f"frame{i}.png"
        write_image(path, image)
        specs.append(FrameSpec(path, None, WIDTH, HEIGHT, "bench", i))
    project_path = folder / "bench.roadmark"
    vertices = 0
    with Project.create(project_path, user="bench") as project:
        ids, _ = project.add_frames(specs)
        for frame_id in ids:
            objects = []
            vertices = 0
            for _ in range(regions):
                cx, cy = rng.uniform(0, WIDTH), rng.uniform(0, HEIGHT)
                radius = rng.uniform(6, 45)
                angles = np.sort(rng.uniform(0, 2 * math.pi, VERTICES))
                radii = radius * rng.uniform(0.75, 1.0, VERTICES)
                polygon = shapely.Polygon(
                    np.c_[cx + radii * np.cos(angles), cy + radii * np.sin(angles)]
                )
                if not polygon.is_valid:
                    polygon = shapely.convex_hull(polygon)
                vertices += len(polygon.exterior.coords) - 1
                objects.append(
                    AnnotationObject(
                        label_id=int(rng.choice(LABELS)), geometry=polygon, provenance=provenance
                    )
                )
            project.add_objects(frame_id, objects)
    return project_path, vertices


def frame_size(text: str) -> tuple[int, int]:
    """``WxH`` (as ``--size`` takes it) as a pair of positive integers."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--size: expected WxH, e.g. 3840x2160, not {text!r}"
        ) from None
    if not (64 <= width <= 16384 and 64 <= height <= 16384):
        raise argparse.ArgumentTypeError(f"--size: {text} is outside 64..16384 per side")
    return width, height


def set_size(width: int, height: int) -> None:
    """Build and drive frames of ``width`` x ``height`` pixels."""
    global WIDTH, HEIGHT
    WIDTH, HEIGHT = width, height


def p95(samples: list[float]) -> float:
    return round(float(np.percentile(np.array(samples) * 1000.0, 95)), 2)


class Clock:
    """Wall time and the main thread's CPU time of each timed operation.

    On an idle machine the two are close (the difference is waiting for the disk and for
    helper threads); on a loaded one the wall time grows with the other processes' load
    while the CPU time does not, so it is reported too.
    """

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def start(self) -> None:
        self._wall, self._cpu = time.perf_counter(), time.thread_time()

    def stop(self) -> None:
        self.wall.append(time.perf_counter() - self._wall)
        self.cpu.append(time.thread_time() - self._cpu)

    def __add__(self, other: Clock) -> Clock:
        both = Clock()
        both.wall, both.cpu = self.wall + other.wall, self.cpu + other.cpu
        return both


def repaint(window: MainWindow) -> None:
    window.canvas.viewport().repaint()


def pan_zoom(window: MainWindow, repeats: int) -> Clock:
    canvas = window.canvas
    canvas.fit()
    repaint(window)
    samples = Clock()
    rng = np.random.default_rng(1)
    for i in range(repeats):
        samples.start()
        if i % 2 == 0:
            factor = 1.25 if canvas.zoom < 3.0 and (i // 2) % 8 < 5 else 0.8
            canvas.zoom_by(factor)
        else:
            bar = canvas.horizontalScrollBar() if i % 4 == 1 else canvas.verticalScrollBar()
            bar.setValue(bar.value() + int(rng.choice([-40, 40])))
        repaint(window)
        samples.stop()
    return samples


def _at(window: MainWindow, x: float, y: float) -> QPoint:
    return window.canvas.view_point(x, y).toPoint()


def vertex_moves(window: MainWindow, repeats: int) -> Clock:
    canvas, editor = window.canvas, window.editor
    editor.set_tool("select")
    canvas.fit()
    # Twice the fit zoom of a 2048-pixel-wide frame, whatever the frame size: the same
    # screen distances as at 2048x1024 (a move of a few image pixels must be a drag).
    canvas.zoom_by(2.0 * WIDTH / 2048)
    document = editor.document
    assert document is not None
    viewport = canvas.viewport()
    rng = np.random.default_rng(2)
    samples = Clock()
    regions = document.visible_regions()
    for _ in range(repeats):
        obj = regions[int(rng.integers(len(regions)))]
        assert obj.uid is not None
        x, y = shapely.get_coordinates(obj.region.exterior)[0]
        canvas.centerOn(float(x), float(y))
        document.select([obj.uid])
        repaint(window)
        QTest.mousePress(
            viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, _at(window, x, y)
        )
        QTest.mouseMove(viewport, _at(window, x + 2, y + 1))
        QTest.mouseMove(viewport, _at(window, x + 4, y + 2))
        samples.start()
        QTest.mouseRelease(
            viewport,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
            _at(window, x + 4, y + 2),
        )
        repaint(window)
        samples.stop()
        assert window.session.history.undo_text == "Move vertex", window.session.history.undo_text
        regions = document.visible_regions()
    return samples


def brush_strokes(window: MainWindow, repeats: int) -> Clock:
    canvas, editor = window.canvas, window.editor
    editor.set_tool("brush")
    editor.set_brush_radius(10)
    document = editor.document
    assert document is not None
    viewport = canvas.viewport()
    rng = np.random.default_rng(3)
    samples = Clock()
    for _ in range(repeats):
        document.clear_selection()
        x, y = rng.uniform(100, WIDTH - 200), rng.uniform(100, HEIGHT - 200)
        canvas.centerOn(float(x), float(y))
        repaint(window)
        QTest.mousePress(
            viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, _at(window, x, y)
        )
        for step in range(1, 13):
            QTest.mouseMove(viewport, _at(window, x + 6 * step, y + 3 * math.sin(step)))
        samples.start()
        QTest.mouseRelease(
            viewport,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
            _at(window, x + 72, y),
        )
        repaint(window)
        samples.stop()
        assert window.session.history.undo_text == "Brush stroke"
    return samples


def wait_for_overlay(window: MainWindow) -> None:
    """Process events until a frame opened progressively shows its regions."""
    window.opener.finish()
    repaint(window)


def settle(window: MainWindow) -> None:
    """Wait until the window's background jobs (the tracks dock reads the open sequence's
    objects after a frame opens) are done, so that they do not share the timed work's CPU."""
    app = application()
    wait_for_overlay(window)
    runners = window.findChildren(JobRunner)
    deadline = time.perf_counter() + 120
    while any(runner.busy for runner in runners) and time.perf_counter() < deadline:
        app.processEvents()
        time.sleep(0.005)
    app.processEvents()


def frame_switches(window: MainWindow, repeats: int, *, wait: bool) -> tuple[Clock, list[float]]:
    """The switches, and the wall time from each request to its overlay shown (the same
    as the switch unless the frame was opened progressively)."""
    samples = Clock()
    overlays = []
    app = application()
    for i in range(repeats):
        if wait:
            window._prefetch_neighbors()
            window.preparer.wait()
        app.processEvents()
        start = time.perf_counter()
        samples.start()
        window.select_row((i + 1) % 2)
        repaint(window)
        samples.stop()
        wait_for_overlay(window)
        overlays.append(time.perf_counter() - start)
    return samples, overlays


STARTUP_CHILD = """
import sys, time, json
from roadmark.cli import build_parser
args = build_parser().parse_args(["open", sys.argv[1]])  # what `roadmark open` parses
from roadmark.app.run import application
from roadmark.app.main_window import MainWindow
app = application()
window = MainWindow.open_project(args.project, frame=args.frame)
window.resize(1440, 860)
window.show()
app.processEvents()
report = {"shown": time.time(), "cpu": time.process_time(), "torch": "torch" in sys.modules}
window.opener.finish()  # the first frame's regions, read in the background
report["overlay"] = time.time()
print(json.dumps(report), flush=True)
window.close()
"""


def _startup_run(project: Path, env: dict[str, str]) -> tuple[float, float, bool, float]:
    """One start-up in a fresh process: (shown, CPU, torch imported, overlay shown)."""
    start = time.time()
    out = subprocess.run(
        [sys.executable, "-c", STARTUP_CHILD, str(project)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    return report["shown"] - start, report["cpu"], report["torch"], report["overlay"] - start


def startup(project: Path, repeats: int = 3) -> dict[str, Any]:
    """Start-up figures, medians over ``repeats`` fresh processes.

    ``startup_s`` is measured as an installed roadmark starts: with Python's compiled-bytecode
    cache (a warm-up run writes it first; pip writes it when it installs a wheel), even
    where the environment sets ``PYTHONDONTWRITEBYTECODE`` (this development machine does).
    ``startup_first_run_s`` is the first start after a checkout or an editable install:
    roadmark's own modules compiled from source (a copy of the package without any cache
    that is never written), the installed libraries with the cache pip wrote.
    """
    import roadmark

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["QT_QPA_PLATFORM"] = "offscreen"
    _startup_run(project, env)  # writes the bytecode cache
    runs = [_startup_run(project, env) for _ in range(repeats)]
    with tempfile.TemporaryDirectory() as copy:
        package = Path(roadmark.__file__).parent
        shutil.copytree(package, Path(copy) / "roadmark",
                        ignore=shutil.ignore_patterns("__pycache__"))
        path = os.pathsep.join(p for p in (copy, env.get("PYTHONPATH")) if p)
        fresh = {**env, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": path}
        first_runs = [_startup_run(project, fresh)[0] for _ in range(repeats)]

    def median(values: Sequence[float]) -> float:
        return round(float(np.median(values)), 2)

    return {
        "startup_s": median([r[0] for r in runs]),
        "startup_overlay_s": median([r[3] for r in runs]),
        "startup_first_run_s": median(first_runs),
        "torch_imported_at_startup": any(r[2] for r in runs),
        "cpu_startup_s": median([r[1] for r in runs]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--regions", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--size", type=frame_size, default=(WIDTH, HEIGHT), metavar="WxH")
    parser.add_argument(
        "--startup-only", action="store_true", help="measure the start-up figures only"
    )
    args = parser.parse_args()
    set_size(*args.size)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("ROADMARK_CONFIG_DIR", str(Path(tmp) / "config"))
        folder = Path(tmp)
        project_path, vertices = build(folder, args.regions)
        started = startup(project_path)
        startup_cpu_s = started.pop("cpu_startup_s")
        if args.startup_only:
            report = {
                "frame": f"{WIDTH}x{HEIGHT}",
                "regions_per_frame": args.regions,
                "vertices_per_frame": vertices,
                **started,
                "cpu": {"startup_s": startup_cpu_s},
                "load_average_1min": round(os.getloadavg()[0], 2),
            }
            print(json.dumps(report, indent=1))
            return
        app = application()
        cold = MainWindow.open_project(str(project_path), frame=0, prefetch=False)
        cold.resize(1440, 860)
        cold.show()
        settle(cold)
        frame_switch_cold, cold_overlay = frame_switches(
            cold, max(10, args.repeats // 3), wait=False
        )
        cold.close()

        window = MainWindow.open_project(str(project_path), frame=0)
        window.resize(1440, 860)
        window.show()
        app.processEvents()
        settle(window)
        frame_switch, _ = frame_switches(window, args.repeats, wait=True)
        window.preparer.wait()
        settle(window)
        pan = pan_zoom(window, args.repeats * 3)
        settle(window)
        vertex = vertex_moves(window, args.repeats)
        settle(window)
        brush = brush_strokes(window, args.repeats)
        window.close()
    print(
        json.dumps(
            {
                "frame": f"{WIDTH}x{HEIGHT}",
                "regions_per_frame": args.regions,
                "vertices_per_frame": vertices,
                "pan_zoom_p95_ms": p95(pan.wall),
                "edit_to_repaint_p95_ms": p95((vertex + brush).wall),
                "vertex_move_p95_ms": p95(vertex.wall),
                "brush_stroke_p95_ms": p95(brush.wall),
                "frame_switch_p95_ms": p95(frame_switch.wall),
                "frame_switch_cold_p95_ms": p95(frame_switch_cold.wall),
                "frame_switch_cold_overlay_p95_ms": p95(cold_overlay),
                **started,
                "cpu": {
                    "pan_zoom_p95_ms": p95(pan.cpu),
                    "edit_to_repaint_p95_ms": p95((vertex + brush).cpu),
                    "frame_switch_p95_ms": p95(frame_switch.cpu),
                    "frame_switch_cold_p95_ms": p95(frame_switch_cold.cpu),
                    "startup_s": startup_cpu_s,
                },
                "load_average_1min": round(os.getloadavg()[0], 2),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
