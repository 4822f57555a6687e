"""Team mode in the window, on a real PostgreSQL project: leases, N claims, live updates."""

from __future__ import annotations

from pathlib import Path

import pytest

from roadmark.app.features.team_open import TeamProjectDialog
from roadmark.app.main_window import MainWindow
from roadmark.core.annotation import FrameStatus
from roadmark.io import team, workflow
from roadmark.io.errors import FrameLeasedError
from roadmark.io.frames import scan
from roadmark.io.locations import set_image_root
from roadmark.io.roles import Role
from roadmark.io.settings import Settings
from roadmark.io.store import Project
from tests.app.conftest import show
from tests.helpers import make_image, region


@pytest.fixture
def team_url(pg_database: str, tmp_path: Path) -> str:
    images = [make_image(tmp_path / f"f{i}.png", 160, 90, seed=i) for i in range(4)]
    set_image_root(pg_database, tmp_path)
    with Project.create(pg_database, user="lea") as lea:
        ids, _ = lea.add_frames(scan(images))
        lea.add_objects(ids[1], [region(7, 0, 45, 160, 90)])
        for name, role in (("lea", Role.LEAD), ("anna", Role.ANNOTATOR), ("ben", Role.ANNOTATOR)):
            team.set_member(lea, name, role)
    return pg_database


def test_leases_claims_and_live_updates(qtbot, team_url: str, monkeypatch, tmp_path: Path):
    monkeypatch.setenv("ROADMARK_USER", "anna")
    window = MainWindow.open_project(team_url, frame=0, prefetch=False)
    qtbot.addWidget(window)
    window.resize(1400, 800)
    show(qtbot, window)
    assert window.team.active
    with Project.open(team_url, user="ben") as ben, Project.open(team_url, user="lea") as lea:
        ids = [f.id for f in ben.frames()]
        # anna shows frame 0: she holds its lease, ben may not edit it
        assert team.holder(ben, ids[0]).user == "anna"
        with pytest.raises(FrameLeasedError, match="being edited by anna"):
            ben.add_objects(ids[0], [region(7, 0, 0, 5, 5)])
        # ben edits frame 1; anna going there sees it read-only, and her lease of 0 is gone
        team.acquire(ben, ids[1], machine="ws-ben")
        window.select_row(1)
        assert not window.team.banner.isHidden()
        assert "being edited by ben (ws-ben) since" in window.team.banner.text()
        window.grab().save(str(tmp_path / "read-only.png"))
        window.actions["frame.break_lease"].trigger()  # only leads may
        assert "anna (annotator) may not break" in window.last_error
        assert team.holder(ben, ids[0]) is None
        # ben's edits on frame 1 reach anna's open editor within 2 s
        (obj,) = ben.add_objects(ids[1], [region(26, 40, 30, 80, 60)])
        qtbot.waitUntil(lambda: obj.uid in window.editor.document, timeout=2000)
        # a lead's assignment and a status change elsewhere show in the filmstrip within 2 s
        workflow.assign(lea, [ids[3]], annotator="ben")
        lea.set_frame_status(ids[2], FrameStatus.DONE)
        qtbot.waitUntil(lambda: window.frames.frame(3).assignee == "ben", timeout=2000)
        qtbot.waitUntil(lambda: window.frames.frame(2).status is FrameStatus.DONE, timeout=2000)
        # ben leaves frame 1: anna can edit it once the lease is gone
        team.release(ben, ids[1])
        qtbot.waitUntil(lambda: window.team.banner.isHidden(), timeout=2000)
        assert team.holder(lea, ids[1]).user == "anna"
        window.grab().save(str(tmp_path / "team.png"))
        # N claims the next free frame for anna (0; 1 is hers to edit but not assigned)
        window.actions["frame.next_unlabeled"].trigger()
        assert window.frames.frame(window.current_row).assignee == "anna"
        assert lea.frame(window.frames.frame(window.current_row).id).assignee == "anna"
    window.close()
    with Project.open(team_url, user="lea") as lea:
        assert team.leases(lea) == []  # closing gave the lease back


def test_open_team_project_dialog_lists_recent_urls(qtbot, team_url: str):
    settings = Settings.load()
    settings.add_recent("/somewhere/local.roadmark")
    settings.add_recent("postgresql://db.example.com/labels")
    settings.save()
    dialog = TeamProjectDialog()
    qtbot.addWidget(dialog)
    assert dialog.recent.count() == 1 and not dialog.open_button.isEnabled()
    dialog.recent.setCurrentRow(0)
    assert dialog.url == "postgresql://db.example.com/labels" and dialog.open_button.isEnabled()


def test_a_lead_breaks_a_lease_from_the_window(qtbot, team_url: str, monkeypatch):
    with Project.open(team_url, user="ben") as ben:
        team.acquire(ben, ben.frames()[0].id, machine="ws-ben")
    monkeypatch.setenv("ROADMARK_USER", "lea")
    window = MainWindow.open_project(team_url, frame=0, prefetch=False)
    qtbot.addWidget(window)
    show(qtbot, window)
    assert "being edited by ben" in window.team.banner.text()
    window.actions["frame.break_lease"].trigger()
    assert window.team.banner.isHidden()
    with Project.open(team_url, user="ben") as ben:
        assert team.holder(ben, ben.frames()[0].id).user == "lea"
    window.close()


def test_a_non_member_sees_the_project_read_only(qtbot, team_url: str, monkeypatch):
    monkeypatch.setenv("ROADMARK_USER", "eve")
    window = MainWindow.open_project(team_url, frame=1, prefetch=False)
    qtbot.addWidget(window)
    show(qtbot, window)
    assert "Read-only: eve (not a member) may not edit objects" in window.team.banner.text()
    with Project.open(team_url, user="lea") as lea:
        assert team.leases(lea) == []
    window.close()
