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


@pytest.fixture(scope="session")
def pg_cluster():
    """A throw-away PostgreSQL cluster for the whole run (never skipped: CI installs the
    server; a machine without it fails these tests with the reason)."""
    from tests.pgcluster import cluster

    with cluster() as running:
        yield running


@pytest.fixture
def pg_database(pg_cluster) -> str:
    """The URL of a new, empty database on the test cluster."""
    return pg_cluster.new_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where to create a project, once per back end: a file, then a PostgreSQL database
    whose image root is mapped to ``tmp_path`` (as ``roadmark config image-root`` does)."""
    if request.param == "sqlite":
        return str(tmp_path / "p.roadmark")
    from roadmark.io.locations import set_image_root

    url = request.getfixturevalue("pg_database")
    set_image_root(url, tmp_path)
    return url
