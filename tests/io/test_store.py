from __future__ import annotations

import dataclasses
import shutil
import sqlite3
from pathlib import Path

import pytest
import shapely
import sqlalchemy as sa

from roadmark.core.annotation import FrameStatus
from roadmark.core.errors import SchemaError
from roadmark.core.schema import LabelSchema, cityscapes_schema
from roadmark.io import tables
from roadmark.io.engine import sqlite_engine
from roadmark.io.errors import (
    NotAProjectError,
    ProjectError,
    ProjectLockedError,
    ProjectReadOnlyError,
    ProjectVersionError,
)
from roadmark.io.frames import scan
from roadmark.io.migrations import migrate
from roadmark.io.stats import project_info
from roadmark.io.store import FrameSpec, Project
from tests.helpers import box, make_image, region


def _specs(folder: Path, n: int = 3) -> list[FrameSpec]:
    folder.mkdir(exist_ok=True)
    return scan([make_image(folder / f"img{i}.png", seed=i) for i in range(n)])


def test_create_add_reopen(store_location: str, tmp_path: Path):
    with Project.create(store_location) as project:
        assert project.user == "tester"
        ids, skipped = project.add_frames(_specs(tmp_path / "images"))
        assert len(ids) == 3 and skipped == 0
        _, skipped = project.add_frames(_specs(tmp_path / "images"))
        assert skipped == 3
        stored = project.add_objects(
            ids[0], [region(7, 0, 0, 64, 48), box(26, 5, 5, 20, 20, track_id=4)]
        )
        assert all(obj.uid for obj in stored)
    with Project.open(store_location) as project:
        frames = project.frames()
        assert [f.path for f in frames] == ["images/img0.png", "images/img1.png", "images/img2.png"]
        assert frames[0].width == 64 and frames[0].height == 48 and frames[0].video_frame is None
        objects = project.objects(frames[0].id)
        assert [o.label_id for o in objects] == [7, 26]
        assert objects[1].track_id == 4 and objects[1].provenance.created_by == "tester"
        assert objects[0].geometry.equals(shapely.box(0, 0, 64, 48))
        assert project.schema == cityscapes_schema()


def test_many_objects_get_their_own_ids(store_location: str, tmp_path: Path):
    """Stored in batches (more rows than one INSERT holds), each returned object carries the
    id of its own row, on top of what the frame had."""
    with Project.create(store_location) as project:
        (frame_id,), _ = project.add_frames(_specs(tmp_path / "i", 1))
        project.add_objects(frame_id, [region(7, 0, 0, 3, 3)])
        wanted = [region(7 + i % 3, 0, 0, 1 + i % 60, 1 + i // 60) for i in range(1500)]
        stored = project.add_objects(frame_id, wanted)
        by_uid = {obj.uid: obj for obj in project.objects(frame_id)}
        assert len(by_uid) == 1501
        for mine, obj in zip(wanted, stored, strict=True):
            assert by_uid[obj.uid].geometry.equals(mine.geometry)
            assert by_uid[obj.uid].label_id == mine.label_id


def test_moving_the_folder_keeps_frames_working(tmp_path: Path):
    root = tmp_path / "a"
    root.mkdir()
    with Project.create(root / "p.roadmark") as project:
        project.add_frames(_specs(root / "images", 1))
    shutil.move(root, tmp_path / "b")
    with Project.open(tmp_path / "b" / "p.roadmark") as project:
        frame = project.frames()[0]
        assert project.frame_file(frame).is_file()


def test_z_order_edit_and_soft_delete(store_location: str, tmp_path: Path):
    with Project.create(store_location) as project:
        (frame_id,), _ = project.add_frames(_specs(tmp_path / "i", 1))
        a, b = project.add_objects(frame_id, [region(7, 0, 0, 10, 10), region(8, 0, 0, 5, 5)])
        (c,) = project.add_objects(frame_id, [region(23, 0, 0, 1, 1)], at_bottom=True)
        assert [o.uid for o in project.objects(frame_id)] == [c.uid, a.uid, b.uid]
        project.set_z_order(frame_id, [b.uid, c.uid, a.uid])
        assert [o.uid for o in project.objects(frame_id)] == [b.uid, c.uid, a.uid]
        project.update_objects([dataclasses.replace(a, deleted=True, label_id=11)])
        objects = project.objects(frame_id)
        assert objects[2].deleted and objects[2].label_id == 11
        assert len(objects.live()) == 2
        with pytest.raises(ProjectError, match="each object"):
            project.set_z_order(frame_id, [b.uid])


def test_failed_action_rolls_back(store_location: str, tmp_path: Path):
    with Project.create(store_location) as project:
        (frame_id,), _ = project.add_frames(_specs(tmp_path / "i", 1))
        with pytest.raises(RuntimeError), project.transaction():
            project.add_objects(frame_id, [region(7, 0, 0, 10, 10)])
            project.set_frame_status(frame_id, FrameStatus.DONE)
            raise RuntimeError("crash in the middle of an action")
        assert len(project.objects(frame_id)) == 0
        assert project.frame(frame_id).status is FrameStatus.NEW
        with pytest.raises(SchemaError, match="unknown label"):
            project.add_objects(frame_id, [region(7, 0, 0, 1, 1), region(999, 0, 0, 1, 1)])
        assert len(project.objects(frame_id)) == 0


def test_schema_is_stored_and_used_labels_are_protected(store_location: str, tmp_path: Path):
    custom = LabelSchema.from_dict({"labels": [{"name": "lane", "id": 100, "color": "#ffffff"}]})
    with Project.create(store_location, custom) as project:
        (frame_id,), _ = project.add_frames(_specs(tmp_path / "i", 1))
        project.add_objects(frame_id, [region(100, 0, 0, 3, 3)])
        with pytest.raises(SchemaError, match="used by objects"):
            project.set_schema(cityscapes_schema())
        grown = custom.with_labels(["curb"])
        project.set_schema(grown)
    with Project.open(store_location) as project:
        assert [label.name for label in project.schema] == ["lane", "curb"]


def test_a_rolled_back_label_change_is_not_kept_in_the_cached_schema(store_location: str):
    custom = LabelSchema.from_dict({"labels": [{"name": "lane", "id": 100, "color": "#ffffff"}]})
    with Project.create(store_location, custom) as project:
        with pytest.raises(RuntimeError), project.transaction():
            project.set_schema(custom.with_labels(["curb"]))
            assert [label.name for label in project.schema] == ["lane", "curb"]
            raise RuntimeError("the action fails after changing the labels")
        assert [label.name for label in project.schema] == ["lane"]


def test_info_counts(store_location: str, tmp_path: Path):
    with Project.create(store_location) as project:
        ids, _ = project.add_frames(_specs(tmp_path / "i", 2))
        project.add_objects(
            ids[0], [region(7, 0, 0, 5, 5), region(7, 0, 0, 2, 2), box(26, 0, 0, 3, 3)]
        )
        project.set_frame_status(ids[1], FrameStatus.DONE)
        info = project_info(project)
    assert info["frames"] == 2 and info["objects"] == 3 and info["labels"] == 35
    assert info["objects_by_kind"] == {"box": 1, "region": 2}
    assert info["objects_by_label"] == {"road": 2, "car": 1}
    assert info["objects_by_source"] == {"human": 3}
    assert info["statuses"]["new"] == 1 and info["statuses"]["done"] == 1


def test_not_a_project(tmp_path: Path):
    junk = tmp_path / "junk.roadmark"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(NotAProjectError, match=r"junk\.roadmark"):
        Project.open(junk)
    other = tmp_path / "other.roadmark"
    sqlite3.connect(other).execute("create table x (a int)").connection.commit()
    with pytest.raises(NotAProjectError, match="not a roadmark project"):
        Project.open(other)
    with pytest.raises(ProjectError, match="no such project file"):
        Project.open(tmp_path / "missing.roadmark")


def test_newer_version_is_refused(project_path: Path):
    Project.create(project_path).close()
    with sqlite3.connect(project_path) as conn:
        conn.execute("update meta set value = '99' where key = 'schema_version'")
    with pytest.raises(ProjectVersionError, match="newer roadmark"):
        Project.open(project_path)


def test_migrations_run_in_order_in_one_transaction(project_path: Path):
    Project.create(project_path).close()
    engine = sqlite_engine(project_path)
    with engine.begin() as conn:
        conn.execute(
            tables.meta.update().values(value="1").where(tables.meta.c.key == "schema_version")
        )
    ran = []

    def step1(conn: sa.Connection) -> None:
        ran.append(1)
        conn.exec_driver_sql("ALTER TABLE frames ADD COLUMN note TEXT")

    def step2(conn: sa.Connection) -> None:
        ran.append(2)
        conn.exec_driver_sql("UPDATE frames SET note = 'x'")

    migrate(engine, 1, {1: step1, 2: step2}, to_version=3)
    assert ran == [1, 2]
    with engine.connect() as conn:
        assert (
            conn.execute(sa.text("select value from meta where key='schema_version'")).scalar()
            == "3"
        )

    def broken(conn: sa.Connection) -> None:
        conn.exec_driver_sql("ALTER TABLE frames ADD COLUMN other TEXT")
        raise RuntimeError("migration failed")

    with pytest.raises(RuntimeError):
        migrate(engine, 3, {3: broken}, to_version=4)
    with engine.connect() as conn:
        columns = [c["name"] for c in sa.inspect(conn).get_columns("frames")]
        assert "other" not in columns  # rolled back with the version stamp
        assert (
            conn.execute(sa.text("select value from meta where key='schema_version'")).scalar()
            == "3"
        )
    with pytest.raises(ProjectVersionError, match="no migration"):
        migrate(engine, 3, {}, to_version=4)
    engine.dispose()


def test_read_only_project(project_path: Path, tmp_path: Path):
    Project.create(project_path).close()
    project_path.chmod(0o444)
    try:
        with pytest.raises(ProjectReadOnlyError, match="read-only"):
            Project.open(project_path)
        with Project.open(project_path, read_only=True) as project:
            assert project.frame_count() == 0
            with pytest.raises(ProjectReadOnlyError):
                project.add_frames(_specs(tmp_path / "i", 1))
    finally:
        project_path.chmod(0o644)


def test_locked_project(project_path: Path, tmp_path: Path):
    Project.create(project_path).close()
    specs = _specs(tmp_path / "i", 1)
    holder = sqlite3.connect(project_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(ProjectLockedError, match="locked by another process"):
            with Project.open(project_path) as project:
                project.add_frames(specs)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with Project.open(project_path) as project:
        project.add_frames(specs)
        assert project.frame_count() == 1


def test_create_refuses_existing_file(project_path: Path):
    Project.create(project_path).close()
    with pytest.raises(ProjectError, match="exists already"):
        Project.create(project_path)
    with pytest.raises(ProjectError, match="folder does not exist"):
        Project.create(project_path.parent / "nowhere" / "x.roadmark")


def test_meta_values(store_location: str):
    with Project.create(store_location) as project:
        project.set_meta("gui.last_frame", "5")
        project.set_meta("gui.last_frame", "6")
        assert project.get_meta("gui.last_frame") == "6"
        assert project.get_meta("nothing", "d") == "d"
        assert project.version == tables.SCHEMA_VERSION


@pytest.mark.parametrize(
    ("geometry", "detail"),
    [
        (b"\x00\xff\x00", "does not parse"),
        (shapely.to_wkb(shapely.Point(3, 4)), "must be a polygon"),
        (shapely.to_wkb(shapely.box(0, 0, 1e300, 5)), "out of range"),
        (shapely.to_wkb(shapely.box(0, 0, float("inf"), 5)), "not a finite coordinate"),
    ],
)
def test_a_bad_geometry_among_many_names_its_row(tmp_path: Path, geometry: bytes, detail: str):
    """A frame's regions are decoded in one call; one bad row among them is still refused
    by its own row and field, and a frame of good rows reads back every region."""
    path = tmp_path / "p.roadmark"
    with Project.create(path) as project:
        (frame_id,), _ = project.add_frames(_specs(tmp_path / "i", 1))
        stored = project.add_objects(frame_id, [region(7, 0, 0, 5 + i, 5) for i in range(5)]
                                     + [box(26, 1, 1, 4, 4)])
        empty = project.add_objects(frame_id, [region(8, 0, 0, 2, 2)])[0]
    with sqlite3.connect(path) as conn:  # an empty polygon is a region, however useless
        conn.execute("UPDATE objects SET geometry = ? WHERE id = ?",
                     (shapely.to_wkb(shapely.Polygon()), empty.uid))
    with Project.open(path) as project:
        objects = project.objects(frame_id)
        assert [o.uid for o in objects] == [o.uid for o in stored] + [empty.uid]
        assert objects[2].geometry.equals(shapely.box(0, 0, 7, 5)) and objects[-1].geometry.is_empty
    bad = stored[3].uid
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE objects SET geometry = ? WHERE id = ?", (geometry, bad))
    with Project.open(path) as project, pytest.raises(ProjectError) as caught:
        project.objects(frame_id)
    assert f"objects row {bad}" in str(caught.value) and detail in str(caught.value)
    assert caught.value.field == "geometry"


def test_frame_objects_reads_the_objects_alone(tmp_path: Path):
    """What an export or a sequence reads: the objects of ``objects`` without the frame's
    row (a frame that does not exist has none), tracked ones alone where asked."""
    with Project.create(tmp_path / "p.roadmark") as project:
        (frame_id,), _ = project.add_frames(_specs(tmp_path / "i", 1))
        project.add_objects(frame_id, [region(7, 0, 0, 5, 5), box(26, 1, 1, 4, 4, track_id=3)])
        alone, full = project.frame_objects(frame_id), list(project.objects(frame_id))
        assert [(o.uid, o.label_id, o.provenance) for o in alone] == [
            (o.uid, o.label_id, o.provenance) for o in full]
        assert alone[0].geometry.equals(full[0].geometry) and alone[1].geometry == full[1].geometry
        assert [o.track_id for o in project.frame_objects(frame_id, tracked_only=True)] == [3]
        assert project.frame_objects(frame_id + 100) == []
