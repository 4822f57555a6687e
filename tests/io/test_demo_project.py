from __future__ import annotations

from pathlib import Path

import pytest

from roadmark.core.annotation import FrameStatus
from roadmark.io import demo_project
from roadmark.io.settings import data_dir
from roadmark.io.store import Project


def test_build_small_demo_project(tmp_path: Path):
    with demo_project.build_demo_project(
        tmp_path / "d.roadmark", frames=4, labeled=2, width=128, height=64
    ) as project:
        frames = project.frames()
        assert [f.status for f in frames] == [FrameStatus.DONE] * 2 + [FrameStatus.NEW] * 2
        assert frames[0].sequence == "demo_000000" and frames[3].sequence_index == 3
        objects = project.objects(frames[0].id)
        assert len(objects) > 10
        assert {o.provenance.source for o in objects} == {"import:synthetic"}
        assert len(project.objects(frames[2].id)) == 0
        assert project.frame_file(frames[0]).is_file()


def test_ensure_demo_project_is_made_once_and_atomically(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(demo_project, "DEMO_FRAMES", 3)
    monkeypatch.setattr(demo_project, "DEMO_LABELED", 1)
    path = demo_project.ensure_demo_project()
    assert path == data_dir() / "demo" / "demo.roadmark"
    stamp = path.stat().st_mtime_ns
    assert demo_project.ensure_demo_project() == path
    assert path.stat().st_mtime_ns == stamp  # not rebuilt

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(demo_project, "build_demo_project", broken)
    with pytest.raises(OSError):
        demo_project.ensure_demo_project(rebuild=True)
    # the failed rebuild left the old demo in place and no staging folder behind
    with Project.open(path) as project:
        assert project.frame_count() == 3
    assert [p.name for p in path.parent.parent.iterdir()] == ["demo"]
