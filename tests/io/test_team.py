"""Team projects in the store, on SQLite and on PostgreSQL: object versions, roles,
claiming and edit leases."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import pytest

from roadmark.core.annotation import Box
from roadmark.core.workflow import Action, CommentCategory
from roadmark.io import tables, team, workflow
from roadmark.io.errors import FrameLeasedError, PermissionDeniedError, StaleEditError
from roadmark.io.frames import scan
from roadmark.io.roles import PERMISSIONS, Permission, Role
from roadmark.io.store import FrameSpec, Project
from tests.helpers import make_image, make_version_1, region


def _specs(folder: Path, n: int) -> list[FrameSpec]:
    folder.mkdir(exist_ok=True)
    image = make_image(folder / "img.png")
    spec = scan([image])[0]
    return [dataclasses.replace(spec, path=folder / f"f{i:03d}.png", sequence_index=i)
            for i in range(n)]  # fmt: skip


@pytest.fixture
def team_project(store_location: str, tmp_path: Path) -> tuple[str, list[int]]:
    with Project.create(store_location, user="lea") as project:
        ids, _ = project.add_frames(_specs(tmp_path / "images", 6))
    return store_location, ids


def test_a_stale_edit_is_refused_and_nothing_is_lost(team_project):
    location, ids = team_project
    with Project.open(location, user="anna") as anna, Project.open(location, user="ben") as ben:
        (obj,) = anna.add_objects(ids[0], [region(7, 0, 0, 10, 10)])
        seen_by_ben = ben.objects(ids[0])[0]
        ben.update_objects([dataclasses.replace(seen_by_ben, label_id=8)])
        # anna still has version 1 of the object: her edit is refused, ben's label stays
        with pytest.raises(StaleEditError, match="changed by ben"):
            anna.update_objects([dataclasses.replace(obj, label_id=11)])
        assert anna.objects(ids[0])[0].label_id == 8
        # having reloaded the frame she may edit it again, and ben is now the stale one
        fresh = anna.objects(ids[0])[0]
        anna.update_objects([dataclasses.replace(fresh, label_id=11)])
        with pytest.raises(StaleEditError):
            ben.update_objects([dataclasses.replace(seen_by_ben, deleted=True)])
        assert not ben.objects(ids[0])[0].deleted
        # consecutive edits of one's own object need no reload
        mine = ben.objects(ids[0])[0]
        ben.update_objects([dataclasses.replace(mine, label_id=7)])
        ben.update_objects([dataclasses.replace(mine, label_id=26)])
        assert anna.objects(ids[0])[0].label_id == 26



def test_versions_a_worker_read_are_adopted_so_its_plan_goes_stale(team_project):
    """A GUI job plans on its own Project; the window's Project adopts what it read."""
    location, ids = team_project
    with (
        Project.open(location, user="anna") as window,
        Project.open(location, user="anna") as worker,
        Project.open(location, user="ben") as ben,
    ):
        (obj,) = ben.add_objects(ids[1], [region(7, 0, 0, 10, 10)])
        planned = worker.objects(ids[1])[0]  # the worker reads version 1
        assert window.known_version(obj.uid) is None
        window.adopt_versions(worker.known_versions())
        assert window.known_version(obj.uid) == 1
        ben.update_objects([dataclasses.replace(obj, label_id=8)])  # version 2
        with pytest.raises(StaleEditError, match="changed by ben"):
            window.update_objects([dataclasses.replace(planned, label_id=11)])
        assert window.objects(ids[1])[0].label_id == 8

def test_a_refused_edit_in_a_transaction_writes_nothing(team_project):
    location, ids = team_project
    with Project.open(location, user="anna") as anna, Project.open(location, user="ben") as ben:
        a, b = anna.add_objects(ids[0], [region(7, 0, 0, 10, 10), region(8, 0, 0, 5, 5)])
        ben_b = ben.objects(ids[0])[1]
        ben.update_objects([dataclasses.replace(ben_b, label_id=11)])
        with pytest.raises(StaleEditError):
            anna.update_objects([dataclasses.replace(a, label_id=24), dataclasses.replace(b)])
        assert [o.label_id for o in ben.objects(ids[0])] == [7, 11]
        # the rolled-back transaction did not advance anna's known versions
        anna.update_objects([dataclasses.replace(a, label_id=24)])


def test_roles_are_enforced_by_the_store(team_project):
    location, ids = team_project
    with Project.open(location, user="eve") as eve:
        with pytest.raises(PermissionDeniedError, match="needs at least one lead"):
            team.set_member(eve, "eve", Role.ANNOTATOR)
    with Project.open(location, user="lea") as lea:
        team.set_member(lea, "lea", Role.LEAD)
        team.set_member(lea, "anna", Role.ANNOTATOR)
        team.set_member(lea, "rob", Role.REVIEWER)
        assert team.members(lea) == {"lea": Role.LEAD, "anna": Role.ANNOTATOR, "rob": "reviewer"}
        with pytest.raises(PermissionDeniedError, match="at least one lead"):
            team.set_member(lea, "lea", None)
    with Project.open(location, user="anna") as anna:
        anna.add_objects(ids[0], [region(7, 0, 0, 10, 10)])  # annotators edit
        with pytest.raises(PermissionDeniedError, match=r"anna \(annotator\) may not assign"):
            workflow.assign(anna, [ids[1]], annotator="anna")
        with pytest.raises(PermissionDeniedError, match="change the label schema"):
            anna.set_schema(anna.schema.with_labels(["curb"]))
        with pytest.raises(PermissionDeniedError):
            team.set_member(anna, "anna", Role.LEAD)
        with pytest.raises(PermissionDeniedError, match="write review comments"):
            workflow.add_comment(anna, ids[0], CommentCategory.OTHER, Box(1, 1, 1, 1))
        assert team.claim_next(anna) is not None
    with Project.open(location, user="rob") as rob:
        with pytest.raises(PermissionDeniedError, match="claim frames"):
            team.claim_next(rob)
        with pytest.raises(PermissionDeniedError, match="start and finish"):
            workflow.move(rob, ids[2], Action.START)
        workflow.add_comment(rob, ids[0], CommentCategory.OTHER, Box(1, 1, 1, 1))
    with Project.open(location, user="eve") as eve:  # not a member: may only read
        assert len(eve.frames()) == 6
        with pytest.raises(PermissionDeniedError, match=r"eve \(not a member\)"):
            eve.add_objects(ids[0], [region(7, 0, 0, 10, 10)])


def test_the_permission_table_covers_every_permission():
    assert set(PERMISSIONS) == set(Permission)
    assert all(Role.LEAD in roles for roles in PERMISSIONS.values())
    lead_only = {p for p, roles in PERMISSIONS.items() if roles == {Role.LEAD}}
    assert {Permission.ASSIGN, Permission.MARK_GOLD, Permission.CHANGE_SCHEMA,
            Permission.BREAK_LEASES} <= lead_only  # fmt: skip


def test_concurrent_claims_never_hand_out_a_frame_twice(team_project):
    location, ids = team_project
    claimed: dict[str, list[int]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def person(name: str) -> None:
        got: list[int] = []
        try:
            with Project.open(location, user=name) as project:
                start.wait()
                while True:
                    frame_ids = team.claim_frame_ids(project, 1)
                    if not frame_ids:
                        break
                    assert len(frame_ids) == 1
                    got.extend(frame_ids)
        except BaseException as error:  # reported below
            errors.append(error)
        claimed[name] = got

    threads = [threading.Thread(target=person, args=(f"p{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    everything = [f for got in claimed.values() for f in got]
    assert sorted(everything) == sorted(ids)  # every frame once, none twice
    with Project.open(location) as project:
        owners = {f.id: f.assignee for f in project.frames()}
    assert all(owners[f] == name for name, got in claimed.items() for f in got)


def test_claim_next_prefers_own_work_and_skips_gold_and_leased_frames(team_project):
    location, ids = team_project
    with Project.open(location, user="lea") as lea:
        workflow.assign(lea, [ids[3]], annotator="anna")
        team.acquire(lea, ids[0])
    with Project.open(location, user="anna") as anna:
        assert team.claim_next(anna).frame_id == ids[3]  # already hers
        workflow.move(anna, ids[3], Action.START)
        assert team.claim_next(anna).frame_id == ids[3]  # still unfinished
    with Project.open(location, user="ben") as ben:
        state = team.claim_next(ben)
        assert state.frame_id == ids[1] and state.assignee == "ben"  # ids[0] is leased


def test_leases(team_project):
    location, ids = team_project
    with (
        Project.open(location, user="anna") as anna,
        Project.open(location, user="ben") as ben,
        Project.open(location, user="lea") as lea,
    ):
        team.set_member(lea, "lea", Role.LEAD)
        for name, role in (("anna", Role.ANNOTATOR), ("ben", Role.ANNOTATOR)):
            team.set_member(lea, name, role)
        lease = team.acquire(anna, ids[0], machine="ws-1")
        assert lease.user == "anna" and team.holder(ben, ids[0]) == lease
        again = team.acquire(anna, ids[0], machine="ws-1")  # renewed, same start
        assert again.since == lease.since and again.expires >= lease.expires
        with pytest.raises(FrameLeasedError, match=r"being edited by anna \(ws-1\) since"):
            team.acquire(ben, ids[0])
        with pytest.raises(FrameLeasedError, match="being edited by anna"):
            ben.add_objects(ids[0], [region(7, 0, 0, 5, 5)])
        (obj,) = anna.add_objects(ids[0], [region(7, 0, 0, 5, 5)])
        seen = ben.objects(ids[0])[0]
        with pytest.raises(FrameLeasedError):
            ben.update_objects([dataclasses.replace(seen, label_id=8)])
        with pytest.raises(PermissionDeniedError, match="break"):
            team.break_lease(ben, ids[0])
        assert team.break_lease(lea, ids[0]).user == "anna"
        ben.update_objects([dataclasses.replace(seen, label_id=8)])
        # a lease nobody renews expires (a crashed machine), and another person takes it
        team.acquire(ben, ids[1], seconds=0.2)
        time.sleep(0.3)
        assert team.holder(anna, ids[1]) is None
        assert team.acquire(anna, ids[1]).user == "anna"
        team.release(anna, ids[1])
        assert team.leases(ben) == []
        assert obj.uid is not None


def test_a_version_1_project_is_migrated(tmp_path: Path):
    path = tmp_path / "old.roadmark"
    with Project.create(path) as project:
        (frame_id,), _ = project.add_frames(_specs(tmp_path / "images", 1))
        project.add_objects(frame_id, [region(7, 0, 0, 5, 5)])
    make_version_1(path)
    with Project.open(path) as project:
        assert project.version == tables.SCHEMA_VERSION == 4
        obj = project.objects(frame_id)[0]
        project.update_objects([dataclasses.replace(obj, label_id=8)])
        assert team.members(project) == {} and team.leases(project) == []
