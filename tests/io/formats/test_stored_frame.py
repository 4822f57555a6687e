"""An export whose worker processes read each frame's objects from the project file
(roadmark.io.formats.stored_frame) writes the same files and reports the same figures as
one that reads them in its own process, and still refuses a bad row or a frame deleted
since the export began."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest
import sqlalchemy as sa

from roadmark.io import tables as t
from roadmark.io.errors import ProjectError
from roadmark.io.formats import cityscapes, jobs, parallel
from roadmark.io.formats.common import ExportFrame
from roadmark.io.formats.jobs import export_dataset, import_dataset
from roadmark.io.formats.stored_frame import StoredFrame, close_opened
from roadmark.io.store import Project
from tests.io.formats.conftest import (
    assert_same_objects,
    demo_project,
    make_images,
    project_with,
    rich_objects,
)


def _same_tree(first: Path, second: Path) -> bool:
    compared = filecmp.dircmp(first, second)
    if compared.left_only or compared.right_only or compared.diff_files or compared.funny_files:
        return False
    return all(_same_tree(first / name, second / name) for name in compared.common_dirs)


@pytest.fixture
def processes(monkeypatch):
    """Exports of a few frames go to two worker processes (whatever the machine's cores)."""
    monkeypatch.setattr(parallel, "PROCESS_MIN_FRAMES", 2)
    monkeypatch.setattr(parallel, "worker_count", lambda: 2)


def test_workers_reading_the_project_write_the_same_files(tmp_path: Path, processes, monkeypatch):
    handed: list[type] = []
    real = cityscapes.write_frame

    def spying(item, *args):  # runs in this process only for threads; records the kind
        handed.append(type(item))
        return real(item, *args)

    with demo_project(tmp_path / "demo.roadmark", frames=4) as project:
        stored = export_dataset(project, "cityscapes", tmp_path / "stored")
        monkeypatch.setattr(cityscapes.CityscapesFormat, "reads_in_workers", False)
        monkeypatch.setattr(parallel, "PROCESS_MIN_FRAMES", 10**9)  # threads: spied on
        monkeypatch.setattr(cityscapes, "write_frame", spying)
        read_here = export_dataset(project, "cityscapes", tmp_path / "read_here")
    assert handed and set(handed) == {ExportFrame}
    assert _same_tree(tmp_path / "stored", tmp_path / "read_here")
    assert stored.objects == read_here.objects > 0
    assert stored.stats == read_here.stats
    assert "objects_read_by_workers" not in stored.stats


def test_the_choice_of_reading(tmp_path: Path, processes, monkeypatch):
    chosen: list[str] = []
    monkeypatch.setattr(
        cityscapes.CityscapesFormat, "write_stored",
        lambda self, frames, target, context: chosen.append("stored"),
    )
    monkeypatch.setattr(
        cityscapes.CityscapesFormat, "write",
        lambda self, frames, target, context: chosen.append("read here"),
    )
    with demo_project(tmp_path / "demo.roadmark", frames=3) as project:
        export_dataset(project, "cityscapes", tmp_path / "a")  # a file, processes
        export_dataset(project, "cityscapes", tmp_path / "b", frames="0")  # one frame: threads
        export_dataset(project, "coco", tmp_path / "c.json")  # a format that reads here
        monkeypatch.setattr(jobs, "_project_file", lambda project: None)  # on a server
        export_dataset(project, "cityscapes", tmp_path / "d")
    assert chosen == ["stored", "read here", "read here"]


def test_load_reads_the_objects_and_unchanged_originals(tmp_path: Path):
    with demo_project(tmp_path / "demo.roadmark", frames=2) as source:
        export_dataset(source, "cityscapes", tmp_path / "exported")
    with Project.create(tmp_path / "imported.roadmark") as project:
        import_dataset(project, "cityscapes", tmp_path / "exported")
        frame = project.frames()[1]
        with project.reading() as conn:
            expected = jobs.import_sources.unchanged_originals(
                conn, "cityscapes", project.frame_objects(frame.id))
        item = StoredFrame(frame, project.frame_file(frame), project.location, "cityscapes", True)
        try:
            loaded = item.load()
            assert_same_objects([loaded.objects], [project.frame_objects(frame.id)], 0)
            assert [o.uid for o in loaded.objects] == [
                o.uid for o in project.frame_objects(frame.id)]
            assert loaded.originals == expected and len(expected) == len(loaded.objects)
            assert StoredFrame(frame, item.image, item.project, "cityscapes", False).load(
                ).originals == {}
        finally:
            close_opened()


def test_a_deleted_frame_is_refused(tmp_path: Path):
    images = make_images(tmp_path / "images", 2)
    with project_with(tmp_path / "p.roadmark", [(image, rich_objects()) for image in images]) as p:
        frame = p.frames()[0]
        item = StoredFrame(frame, p.frame_file(frame), p.location, "cityscapes", False)
        with p.transaction() as conn:  # deleted behind the export's back
            conn.execute(sa.delete(t.objects).where(t.objects.c.frame_id == frame.id))
            conn.execute(sa.delete(t.frames).where(t.frames.c.id == frame.id))
        try:
            with pytest.raises(ProjectError, match="no frame"):
                item.load()
        finally:
            close_opened()


def test_a_bad_row_read_by_a_worker_fails_the_export_naming_it(tmp_path: Path, processes):
    with demo_project(tmp_path / "demo.roadmark", frames=3) as project:
        last = project.frames()[-1]
        uid = project.frame_objects(last.id)[0].uid
        with project.transaction() as conn:
            conn.execute(sa.update(t.objects).where(t.objects.c.id == uid).values(
                geometry=b"not wkb"))
        with pytest.raises(ProjectError) as raised:
            export_dataset(project, "cityscapes", tmp_path / "out")
    assert raised.value.field == "geometry" and f"row {uid}" in str(raised.value)
    assert not (tmp_path / "out").exists()  # nothing left behind
