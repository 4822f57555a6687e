"""The audit log: every change to an object goes in, in the same transaction."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import shapely

from roadmark.core.schema import cityscapes_schema
from roadmark.io.changelog import frame_history, object_history
from roadmark.io.codec import object_from_json
from roadmark.io.errors import ProjectError
from roadmark.io.store import Project
from tests.helpers import region
from tests.io.test_workflow import make_project


def test_every_kind_of_change_is_logged(project_path: Path):
    (frame_id,) = make_project(project_path, 1)
    schema = cityscapes_schema()
    with Project.open(project_path, user="ann") as project:
        a, b = project.add_objects(frame_id, [region(7, 0, 0, 10, 10), region(26, 1, 1, 4, 4)])
    with Project.open(project_path, user="rev") as project:
        project.update_objects([dataclasses.replace(b, label_id=27)])
        project.update_objects([dataclasses.replace(a)])  # no change: not logged
        wider = dataclasses.replace(a, geometry=shapely.box(0, 0, 12, 10))
        project.update_objects([wider])
        project.update_objects([dataclasses.replace(wider, deleted=True)])
        project.update_objects([dataclasses.replace(wider, deleted=False, track_id=9)])
        project.set_z_order(frame_id, [b.uid, a.uid])
        project.set_z_order(frame_id, [b.uid, a.uid])  # same order: not logged
        project.replace_objects(frame_id, [region(11, 0, 0, 2, 2)])
        history = frame_history(project, frame_id)
        assert [(c.user, c.action, c.object_uid) for c in history] == [
            ("ann", "add", a.uid),
            ("ann", "add", b.uid),
            ("rev", "edit", b.uid),
            ("rev", "edit", a.uid),
            ("rev", "delete", a.uid),
            ("rev", "restore", a.uid),
            ("rev", "reorder", None),
            ("rev", "remove", b.uid),
            ("rev", "remove", a.uid),
            ("rev", "add", history[-1].object_uid),
        ]
        assert [c.describe(schema) for c in history] == [
            "add road region",
            "add car region",
            "label car -> truck",
            "geometry changed",
            "deleted",
            "restored; track id None -> 9",
            "z-order changed",
            "remove truck region",
            "remove road region",
            "add building region",
        ]
        assert history[6].before == [a.uid, b.uid] and history[6].after == [b.uid, a.uid]
        # An add's geometry is filled in from the next change's "before" or the stored object.
        assert object_from_json(history[0].after).same_content(a)
        assert object_from_json(history[1].after).same_content(b)
        (newest,) = project.objects(frame_id)
        assert object_from_json(history[-1].after).same_content(newest)
        assert "geometry_elided" not in history[-1].after
        edit = history[2]
        assert edit.before["label_id"] == 26 and edit.after["label_id"] == 27
        assert object_from_json(edit.before).same_content(b)
        removed_a = [c for c in history if c.object_uid == a.uid]
        assert [c.action for c in removed_a][:5] == ["add", "edit", "delete", "restore", "remove"]
        # SQLite may hand the removed object's id to the new one: its history starts anew.
        expected = (
            ["add"] if newest.uid == a.uid else ["add", "edit", "delete", "restore", "remove"]
        )
        assert [c.action for c in object_history(project, a.uid)] == expected
        assert [c.action for c in object_history(project, b.uid)] == ["add", "edit", "remove"]
        assert history[0].at <= history[-1].at


def test_a_failed_write_leaves_no_log_row(project_path: Path):
    (frame_id,) = make_project(project_path, 1)
    with Project.open(project_path, user="ann") as project:
        (a,) = project.add_objects(frame_id, [region(7, 0, 0, 10, 10)])
        with pytest.raises(ProjectError):
            # The second object was never stored: the whole update rolls back.
            project.update_objects(
                [dataclasses.replace(a, label_id=8), dataclasses.replace(a, uid=None)]
            )
        assert [c.action for c in frame_history(project, frame_id)] == ["add"]
        assert project.objects(frame_id)[0].label_id == 7
