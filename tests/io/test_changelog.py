"""The audit log: every change to an object goes in, in the same transaction."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import shapely
import sqlalchemy as sa

from roadmark.core.schema import cityscapes_schema
from roadmark.io import changelog
from roadmark.io import workflow_tables as wt
from roadmark.io.changelog import frame_history, object_history
from roadmark.io.codec import object_from_json, object_to_json
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


def _edits(project: Project, frame_id: int) -> list:
    """An added region, then: two strokes, a label change, a stroke and a delete."""
    (obj,) = project.add_objects(frame_id, [region(7, 0, 0, 10, 10)])
    states = [obj]
    for change in (
        {"geometry": shapely.box(0, 0, 12, 10)},
        {"geometry": shapely.box(0, 0, 12, 14)},
        {"label_id": 26},
        {"geometry": shapely.box(1, 0, 12, 14)},
        {"deleted": True},
    ):
        states.append(dataclasses.replace(states[-1], **change))
        project.update_objects([states[-1]])
    return states


def test_an_edit_logs_only_what_changed_and_a_changed_geometry_once(project_path: Path):
    (frame_id,) = make_project(project_path, 1)
    with Project.open(project_path, user="ann") as project:
        states = _edits(project, frame_id)
        c = wt.object_changes.c
        with project.reading() as conn:
            rows = conn.execute(
                sa.select(c.action, c.before_json, c.after_json).order_by(c.id)
            ).all()
    stroke, label = rows[1], rows[3]
    before, after = json.loads(stroke.before_json), json.loads(stroke.after_json)
    assert before["geometry"] == object_to_json(states[0])["geometry"]
    assert "geometry" not in after and after["geometry_elided"] is True
    assert set(before) == {"geometry", "bounds", "compact"}
    assert after["bounds"] == [0, 0, 12, 10]
    label_before, label_after = json.loads(label.before_json), json.loads(label.after_json)
    assert (label_before["label_id"], label_after["label_id"]) == (7, 26)
    assert "geometry" not in label_before and "source" not in label_after
    whole = len(json.dumps(object_to_json(states[1]), sort_keys=True))
    assert len(stroke.before_json) + len(stroke.after_json) < 1.5 * whole


def test_history_gives_whole_objects_at_every_step(project_path: Path):
    (frame_id,) = make_project(project_path, 1)
    with Project.open(project_path, user="ann") as project:
        states = _edits(project, frame_id)
        for history in (object_history(project, states[0].uid), frame_history(project, frame_id)):
            assert [c.action for c in history] == ["add", "edit", "edit", "edit", "edit", "delete"]
            assert history[0].before is None
            assert history[0].after == object_to_json(states[0])
            for change, old, new in zip(history[1:], states[:-1], states[1:], strict=True):
                assert change.before == object_to_json(old)
                assert change.after == object_to_json(new)
                # Keys in the order the log's JSON has them (``roadmark log --json``).
                assert list(change.before) == sorted(change.before)
                assert list(change.after) == sorted(change.after)
            assert list(history[0].after) == sorted(history[0].after)
            assert [c.describe(cityscapes_schema()) for c in history][1:] == [
                "geometry changed",
                "geometry changed",
                "label road -> car",
                "geometry changed",
                "deleted",
            ]


def test_a_log_of_whole_objects_from_before_reads_the_same(
    project_path: Path, monkeypatch: pytest.MonkeyPatch
):
    (frame_id,) = make_project(project_path, 1)
    with Project.open(project_path, user="ann") as project:
        # The first edits are logged as an older roadmark did (whole objects both sides),
        # the later ones compactly; then an import removes the object.
        with monkeypatch.context() as patch:
            patch.setattr(changelog, "diff", lambda old, new: (old, new))
            (obj,) = project.add_objects(frame_id, [region(7, 0, 0, 10, 10)])
            wider = dataclasses.replace(obj, geometry=shapely.box(0, 0, 12, 10))
            project.update_objects([wider])
        taller = dataclasses.replace(wider, geometry=shapely.box(0, 0, 12, 14))
        project.update_objects([taller])
        relabeled = dataclasses.replace(taller, label_id=26)
        project.update_objects([relabeled])
        expected = [(None, obj), (obj, wider), (wider, taller), (taller, relabeled)]
        history = object_history(project, obj.uid)
        for change, (old, new) in zip(history, expected, strict=True):
            assert change.before == (None if old is None else object_to_json(old))
            assert change.after == object_to_json(new)
        project.replace_objects(frame_id, [])
        history = frame_history(project, frame_id)
        assert [c.action for c in history] == ["add", "edit", "edit", "edit", "remove"]
        for change, (_, new) in zip(history[:-1], expected, strict=True):
            assert change.after == object_to_json(new)
        assert history[-1].before == object_to_json(relabeled)
