"""Workflow commands and ``roadmark stats`` on the command line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from roadmark.cli import main
from roadmark.io.store import Project
from tests.helpers import region
from tests.io.test_stats import EXPECTED, build_known_project
from tests.io.test_workflow import make_project
from tests.test_cli import _one_line_error, run


def out_of(capsys: pytest.CaptureFixture) -> str:
    return capsys.readouterr().out


def test_stats_json_and_text(project_path: Path, capsys: pytest.CaptureFixture):
    build_known_project(project_path)
    assert main(["stats", str(project_path), "--json"]) == 0
    stats = json.loads(out_of(capsys))
    for key, expected in EXPECTED.items():
        assert stats[key] == expected, key
    assert main(["stats", str(project_path)]) == 0
    text = out_of(capsys)
    assert "frames     6" in text and "alice: 3 frames, 15.0 per hour" in text


def test_stats_html_is_self_contained(project_path: Path, tmp_path: Path, capsys):
    build_known_project(project_path)
    out = tmp_path / "report.html"
    assert main(["stats", str(project_path), "--html", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") >= 8
    # Nothing is fetched: no scripts, links, images, imports or url() references.
    for forbidden in ("<script", "<link", "<img", "src=", "href=", "@import", "url("):
        assert forbidden not in page
    assert re.findall(r"https?://[^\"' ]+", page) == ["http://www.w3.org/2000/svg"] * page.count(
        "<svg"
    )
    for text in ("car missing", "loose boundary", "alice", "carol", "96.8%", "17.5 minutes"):
        assert text in page, text


def test_report_escapes_project_text(project_path: Path, tmp_path: Path):
    from roadmark.analysis.report import render_html
    from roadmark.io.stats import project_stats

    (frame,) = make_project(project_path, 1)
    from roadmark.core.workflow import Action
    from roadmark.io import workflow as wf

    with Project.open(project_path, user="<b>x</b>") as project:
        wf.move(project, frame, Action.START)
        wf.move(project, frame, Action.FINISH)
    with Project.open(project_path, user="rev") as project:
        wf.move(project, frame, Action.START_REVIEW)
        wf.move(project, frame, Action.REJECT, reason="<script>alert(1)</script>")
        page = render_html(project_stats(project))
    assert "<script>" not in page and "&lt;script&gt;" in page and "&lt;b&gt;x" in page


def test_workflow_commands(project_path: Path, capsys: pytest.CaptureFixture):
    make_project(project_path, 3)
    p = str(project_path)
    assert main(["assign", p, "--frames", "0-1", "--to", "alice", "--reviewer", "bob"]) == 0
    assert "assigned 2 frames" in out_of(capsys)
    assert main(["frames", p, "--next", "--user", "alice"]) == 0
    assert out_of(capsys).split()[:3] == ["0", "img0.png", "new"]
    assert main(["status", p, "--frames", "0", "in_progress", "--user", "alice"]) == 0
    with Project.open(project_path, user="alice") as project:
        project.add_objects(project.frames()[0].id, [region(7, 0, 0, 10, 10)])
    assert main(["status", p, "--frames", "0", "done", "--user", "alice"]) == 0
    assert main(["status", p, "--frames", "0", "in review", "--user", "bob"]) == 0
    assert main(["comment", p, "--frame", "0", "--at", "5,6", "--category", "wrong label",
                 "--text", "not road", "--user", "bob"]) == 0  # fmt: skip
    assert "comment 1 on img0.png: wrong label: not road" in out_of(capsys)
    assert main(["status", p, "--frames", "0", "rejected", "--reason", "see comment",
                 "--user", "bob"]) == 0  # fmt: skip
    out_of(capsys)
    assert main(["frames", p, "--assignee", "alice", "--json"]) == 0
    rows = json.loads(out_of(capsys))
    assert [(r["position"], r["status"]) for r in rows] == [(0, "rejected"), (1, "new")]
    assert rows[0]["rejection_reason"] == "see comment" and rows[0]["open_comments"] == 1
    assert main(["comments", p, "--open", "--json"]) == 0
    (comment,) = json.loads(out_of(capsys))
    assert comment["anchor"] == [5.0, 6.0, 5.0, 6.0] and comment["category"] == "wrong_label"
    assert main(["resolve", p, "1", "--user", "alice"]) == 0
    assert main(["comments", p]) == 0
    assert "resolved by alice" in out_of(capsys)
    assert main(["log", p, "--frame", "0"]) == 0
    assert "alice  object 1  add road region" in out_of(capsys)
    assert main(["log", p, "--object", "1", "--json"]) == 0
    (change,) = json.loads(out_of(capsys))
    assert change["action"] == "add" and change["after"]["label_id"] == 7


def test_gold_and_score_commands(project_path: Path, capsys: pytest.CaptureFixture):
    make_project(project_path, 2)
    p = str(project_path)
    with Project.open(project_path, user="boss") as project:
        project.add_objects(project.frames()[0].id, [region(7, 0, 40, 64, 48)])
    assert main(["gold", p, "--frames", "0"]) == 0
    assert "marked gold: 1 frames" in out_of(capsys)
    for user, objects in (
        ("alice", [region(7, 0, 40, 64, 48)]),
        ("bob", [region(7, 0, 44, 64, 48)]),
    ):
        assert main(["gold", p, "--frames", "0", "--reset-for", user]) == 0
        assert main(["status", p, "--frames", "0", "in_progress", "--user", user]) == 0
        with Project.open(project_path, user=user) as project:
            project.add_objects(project.frames()[0].id, objects)
        assert main(["status", p, "--frames", "0", "done", "--user", user]) == 0
    out_of(capsys)
    assert main(["score", p, "--json"]) == 0
    scores = {row["user"]: row for row in json.loads(out_of(capsys))}
    assert scores["alice"]["pixel_accuracy"] == 1.0
    assert scores["bob"]["pixel_accuracy"] == pytest.approx(0.5)
    assert main(["score", p, "--frame", "0", "--users", "alice", "bob"]) == 0
    assert "alice vs bob  pixel accuracy 50.0%" in out_of(capsys)
    assert main(["gold", p, "--frames", "0", "--unmark"]) == 0


def test_refused_moves_are_one_line_and_change_nothing(project_path: Path):
    make_project(project_path, 3)
    p = str(project_path)
    assert main(["status", p, "--frames", "0-1", "in_progress"]) == 0
    assert main(["status", p, "--frames", "0-1", "in_progress"]) == 0  # nothing to move
    main(["status", p, "--frames", "0", "done"])
    # frame 0 is done, frame 1 in progress: "in review" fails on frame 1 ...
    result = run("status", p, "--frames", "0-1", "in_review", "--user", "rev")
    _one_line_error(
        result,
        str(project_path.resolve()),
        "frame img1.png: cannot go from 'in progress' to 'in review'",
    )
    # ... and frame 0 is left as it was (one transaction)
    with Project.open(project_path) as project:
        assert [f.status.value for f in project.frames()] == ["done", "in_progress", "new"]
    _one_line_error(run("status", p, "--frames", "0", "finished"), "unknown status 'finished'")
    _one_line_error(run("status", p, "--frames", "7", "done"), "--frames", "there is no frame 7")
    _one_line_error(
        run("status", p, "--frames", "0", "in_review", "--user", "tester"),
        "who cannot review their own work",
    )
    _one_line_error(run("comment", p, "--frame", "0", "--at", "5"), "--at", "expected 2 numbers")
    _one_line_error(run("assign", p, "--frames", "0"), "give --to USER")


def test_timing_command(project_path: Path, capsys: pytest.CaptureFixture):
    make_project(project_path, 1)
    assert main(["timing", str(project_path)]) == 0
    assert "stops after 60 s without input" in out_of(capsys)
    assert main(["timing", str(project_path), "--idle-after", "90"]) == 0
    assert "stops after 90 s" in out_of(capsys)
    _one_line_error(
        run("timing", str(project_path), "--idle-after", "-1"), "idle_after_s", "positive"
    )


def test_report_of_an_empty_project_has_no_legends_without_charts(project_path: Path):
    from roadmark.analysis.report import _duration, render_html, sections
    from roadmark.io.stats import project_stats

    make_project(project_path, 2)
    with Project.open(project_path, read_only=True) as project:
        stats = project_stats(project)
    page = render_html(stats)
    gold = next(s for s in sections(stats) if s.title == "Gold scores")
    assert gold.blocks[1].empty  # type: ignore[union-attr]
    assert "nothing recorded yet" in page and "box F1@0.5</span>" not in page
    assert [_duration(m) for m in (None, 0.2, 0.999, 1.0, 12.345)] == [
        "–",
        "12 s",
        "60 s",
        "1.0 min",
        "12.3 min",
    ]


def test_stats_text_and_report_show_agreement_of_two_annotators(project_path: Path, capsys):
    from tests.io.test_stats import build_two_annotators

    build_two_annotators(project_path)
    assert main(["stats", str(project_path)]) == 0
    text = out_of(capsys)
    assert (
        "agreement  alice / bob (1 frames): pixel accuracy 0.9684, mIoU 0.9167, box F1 1.0" in text
    )
    out = project_path.with_suffix(".html")
    assert main(["stats", str(project_path), "--html", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert "Agreement between annotators" in page and "<td>alice / bob</td>" in page
