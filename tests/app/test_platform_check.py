"""A machine where Qt cannot open a window gets one line from roadmark, not Qt's abort."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from roadmark.app import platform_check
from roadmark.app.platform_check import debian_package, window_system_problem
from roadmark.io.store import Project


def test_debian_package_names_follow_debian_policy() -> None:
    assert debian_package("libxcb-icccm.so.4") == "libxcb-icccm4"
    assert debian_package("libxcb-cursor.so.0") == "libxcb-cursor0"
    assert debian_package("libxkbcommon-x11.so.0") == "libxkbcommon-x11-0"


def test_headless_and_user_chosen_platforms_are_not_checked() -> None:
    assert window_system_problem({"QT_QPA_PLATFORM": "offscreen"}) is None
    assert window_system_problem({"QT_QPA_PLATFORM": "wayland"}) is None
    assert window_system_problem({"WAYLAND_DISPLAY": "wayland-0"}) is None


def test_missing_libraries_are_named_with_their_packages(monkeypatch) -> None:
    monkeypatch.setattr(
        platform_check, "missing_libraries", lambda plugin: ["libxcb-icccm.so.4"]
    )
    problem = window_system_problem({"DISPLAY": ":0"})
    assert problem is not None
    assert "libxcb-icccm.so.4" in problem and "apt-get install libxcb-icccm4" in problem
    assert "\n" not in problem


def test_no_display_and_unreachable_display(monkeypatch) -> None:
    monkeypatch.setattr(platform_check, "missing_libraries", lambda plugin: [])
    problem = window_system_problem({})
    assert problem is not None and "DISPLAY is not set" in problem
    problem = window_system_problem({"DISPLAY": ":97"})
    assert problem is not None and "cannot connect to the X display ':97'" in problem


def test_cli_prints_one_line_instead_of_qt_abort(tmp_path: Path) -> None:
    path = tmp_path / "p.roadmark"
    Project.create(path).close()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")
    }
    result = subprocess.run(
        [sys.executable, "-m", "roadmark", "open", str(path)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("roadmark: error: ")


def test_real_check_answers_on_this_machine() -> None:
    problem = window_system_problem({"DISPLAY": ":96"})
    assert problem is not None  # nothing listens on :96 here, or libraries are missing
