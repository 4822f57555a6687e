"""``copy_project``: SQLite -> PostgreSQL -> SQLite keeps every row of every table."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import sqlalchemy as sa

from roadmark.core.annotation import Box
from roadmark.core.prediction import FramePrediction, PredictedBox
from roadmark.core.timetracking import ActiveSpan
from roadmark.core.workflow import Action, CommentCategory
from roadmark.io import tables as t
from roadmark.io import team, workflow
from roadmark.io.copy import copy_project
from roadmark.io.errors import ProjectError
from roadmark.io.frames import scan
from roadmark.io.predictions import write_predictions
from roadmark.io.roles import Role
from roadmark.io.store import Project
from tests.helpers import box, make_image, region


def _build(path: Path, images: Path) -> None:
    images.mkdir()
    specs = scan([make_image(images / f"img{i}.png", seed=i) for i in range(4)])
    with Project.create(path, user="lea") as project:
        ids, _ = project.add_frames(specs)
        team.set_member(project, "lea", Role.LEAD)
        team.set_member(project, "anna", Role.ANNOTATOR)
        workflow.assign(project, ids[:2], annotator="anna", reviewer="lea")
        write_predictions(
            project,
            [
                FramePrediction(
                    ids[2],
                    "det",
                    "a" * 64,
                    "detection",
                    None,
                    (PredictedBox(26, 0.5, Box(1, 2, 30, 20)),),
                )
            ],
        )
        workflow.add_comment(project, ids[0], CommentCategory.OTHER, Box(1, 1, 5, 5), "look")
    with Project.open(path, user="anna") as project:
        a, _ = project.add_objects(ids[0], [region(7, 0, 0, 10, 10), box(26, 1, 1, 9, 9)])
        project.update_objects([dataclasses.replace(a, label_id=8)])
        workflow.move(project, ids[0], Action.START)
        workflow.log_time(project, [ActiveSpan(ids[0], "brush", a.provenance.created_at, 12.5)])
        workflow.move(project, ids[0], Action.FINISH)


def _dump(location: str) -> dict[str, list[tuple]]:
    with Project.open(location, read_only=True) as project, project.reading() as conn:
        return {
            table.name: [
                tuple(row)
                for row in conn.execute(sa.select(table).order_by(*table.primary_key.columns))
            ]
            for table in t.metadata.sorted_tables
        }


def test_copy_there_and_back(tmp_path: Path, pg_database: str):
    source = tmp_path / "src.roadmark"
    _build(source, tmp_path / "images")
    there = copy_project(source, pg_database)
    assert there.rows["frames"] == 4 and there.rows["objects"] == 2
    assert there.rows["object_changes"] >= 3 and there.rows["time_log"] == 1
    assert there.rows["members"] == 2 and there.rows["predictions"] == 1
    assert there.image_root == tmp_path  # mapped on this machine, paths unchanged
    assert there.target.startswith("postgresql://postgres@/")
    (tmp_path / "back").mkdir()
    back = copy_project(pg_database, tmp_path / "back" / "copy.roadmark")
    assert back.rows == there.rows
    original, copied = _dump(str(source)), _dump(str(tmp_path / "back" / "copy.roadmark"))
    frames_before, frames_after = original.pop("frames"), copied.pop("frames")
    assert original == copied
    # the copy sits one folder down: its paths were rewritten to reach the same images
    assert [row[1] for row in frames_after] == [f"../images/img{i}.png" for i in range(4)]
    assert [row[2:] for row in frames_before] == [row[2:] for row in frames_after]
    with Project.open(tmp_path / "back" / "copy.roadmark") as project:
        frame = project.frames()[0]
        assert project.frame_file(frame).resolve() == tmp_path / "images" / "img0.png"
    with Project.open(pg_database, user="anna") as project:  # ids continue after the copy
        (obj,) = project.add_objects(project.frames()[1].id, [region(7, 0, 0, 3, 3)])
        assert obj.uid == 3


def test_copy_refuses_a_used_target_and_leaves_nothing_on_failure(tmp_path: Path, pg_database):
    source = tmp_path / "src.roadmark"
    _build(source, tmp_path / "images")
    copy_project(source, pg_database)
    with pytest.raises(ProjectError, match="already holds a roadmark project"):
        copy_project(source, pg_database)
    with pytest.raises(ProjectError, match="exists already"):
        copy_project(pg_database, source)
    with pytest.raises(ProjectError, match="does not exist"):
        copy_project(source, tmp_path / "nowhere" / "x.roadmark")
    with pytest.raises(ProjectError, match="no such project file"):
        copy_project(tmp_path / "missing.roadmark", tmp_path / "new.roadmark")
    assert not (tmp_path / "new.roadmark").exists()
