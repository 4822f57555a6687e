from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QImage

from roadmark.app.main_window import MainWindow
from roadmark.io.frames import scan
from roadmark.io.settings import Settings
from roadmark.io.store import Project
from tests.helpers import box, make_image, region


@pytest.fixture
def small_project(tmp_path: Path) -> Path:
    path = tmp_path / "p.roadmark"
    images = [make_image(tmp_path / f"f{i}.png", 160, 90, seed=i) for i in range(3)]
    with Project.create(path) as project:
        ids, _ = project.add_frames(scan(images))
        project.add_objects(
            ids[0],
            [region(7, 0, 45, 160, 90), region(26, 40, 30, 80, 60), box(24, 100, 10, 120, 50)],
        )
    return path


def test_window_lists_frames_and_draws_objects(qtbot, small_project: Path):
    window = MainWindow.open_project(str(small_project))
    qtbot.addWidget(window)
    assert window.frames.rowCount() == 3
    assert window.current_row == 0
    labels = window.canvas.label_map
    assert labels is not None and labels[70, 10] == 7 and labels[45, 60] == 26
    assert window.canvas.label_at(60.5, 45.5) == 26
    assert window.editor.document is not None
    assert len(window.editor.document.visible_boxes()) == 1
    window.step(1)
    assert window.current_row == 1 and (window.canvas.label_map == 0).all()
    assert str(small_project.resolve()) in Settings.load().recent_projects
    window.close()


def test_reopening_returns_to_the_last_frame(qtbot, small_project: Path):
    window = MainWindow.open_project(str(small_project))
    qtbot.addWidget(window)
    window.select_row(2)
    window.close()
    again = MainWindow.open_project(str(small_project))
    qtbot.addWidget(again)
    assert again.current_row == 2
    again.close()


def test_screenshot_from_the_command_line(small_project: Path, tmp_path: Path):
    out = tmp_path / "shot.png"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "roadmark",
            "open",
            str(small_project),
            "--frame",
            "0",
            "--screenshot",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert result.returncode == 0, result.stderr
    image = QImage(str(out))
    assert image.width() >= 800 and image.height() >= 500
    pixels = np.array(
        [
            [image.pixelColor(x, y).rgb() for x in range(0, image.width(), 37)]
            for y in range(0, image.height(), 37)
        ]
    )
    assert len(np.unique(pixels)) > 10  # a rendered window, not a blank image
