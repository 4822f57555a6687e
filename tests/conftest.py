"""Shared fixtures: isolated settings and data folders, offscreen Qt."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test gets its own config and data folder and a fixed user name."""
    base = tmp_path_factory.mktemp("user")
    monkeypatch.setenv("ROADMARK_CONFIG_DIR", str(base / "config"))
    monkeypatch.setenv("ROADMARK_DATA_DIR", str(base / "data"))
    monkeypatch.setenv("ROADMARK_USER", "tester")
    monkeypatch.setenv("ROADMARK_LOCK_TIMEOUT", "0.2")
    return base


@pytest.fixture
def project_path(tmp_path: Path) -> Path:
    return tmp_path / "p.roadmark"
