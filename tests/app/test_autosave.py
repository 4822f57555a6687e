"""Killing the editor at any moment loses at most the gesture in progress."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import shapely

from roadmark.core.annotation import Box
from roadmark.io.store import Project

ROOT = Path(__file__).resolve().parents[2]


def test_every_completed_action_survives_a_kill(small_project: Path, qtbot):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.app.autosave_worker", str(small_project), "400"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    printed = []
    try:
        assert child.stdout is not None
        for line in child.stdout:
            printed.append(json.loads(line))
            if len(printed) == 25:
                child.send_signal(signal.SIGKILL)
                break
    finally:
        child.kill()
        _, errors = child.communicate(timeout=60)
    assert len(printed) == 25, errors
    assert child.returncode == -signal.SIGKILL  # killed mid-way, not finished
    with Project.open(small_project) as project:
        frame = project.frames()[1]
        stored = {obj.uid: obj for obj in project.objects(frame.id).live()}
    assert len(stored) >= len(printed)
    for action in printed:
        obj = stored[action["uid"]]
        if isinstance(obj.geometry, Box):
            assert list(obj.geometry.__dict__.values()) == action["geometry"]
        else:
            assert obj.region.equals(shapely.from_wkt(action["geometry"]))
    # Reopening after the kill shows the frame that was being edited, with the work.
    from roadmark.app.main_window import MainWindow

    window = MainWindow.open_project(str(small_project), prefetch=False)
    qtbot.addWidget(window)
    assert window.current_row == 1
    assert window.editor.document is not None
    assert {o.uid for o in window.editor.document.live()} == set(stored)
    window.close()
