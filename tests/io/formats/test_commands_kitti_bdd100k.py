"""``roadmark import/export --format kitti|bdd100k`` on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from roadmark.cli import main
from roadmark.core.raster import label_id_map
from roadmark.io.store import Project
from tests.io.formats.conftest import SCHEMA, all_objects, assert_same_objects, demo_project
from tests.io.formats.test_commands import _one_line_error, _run


@pytest.mark.parametrize(("format_id", "name"), [("kitti", "kitti"), ("bdd100k", "bdd.json")])
def test_export_then_import_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, format_id: str, name: str
):
    demo_project(tmp_path / "demo.roadmark", frames=3).close()
    out = str(tmp_path / name)
    assert main(["export", str(tmp_path / "demo.roadmark"), "--format", format_id, out]) == 0
    assert f"on 3 frames to {out} ({format_id})" in capsys.readouterr().out
    assert main(["new", str(tmp_path / "p")]) == 0
    assert main(["import", str(tmp_path / "p.roadmark"), out, "--format", format_id]) == 0
    assert "on 3 frames (3 new)" in capsys.readouterr().out
    with (
        Project.open(tmp_path / "demo.roadmark") as demo,
        Project.open(tmp_path / "p.roadmark") as p,
    ):
        if format_id == "kitti":  # the sidecar keeps the exact outlines
            assert_same_objects(all_objects(demo), all_objects(p))
        for a, b in zip(demo.frames(), p.frames(), strict=True):
            ids = [[(o.label_id, o.instance_id, o.track_id) for o in x.objects(f.id)]
                   for x, f in ((demo, a), (p, b))]  # fmt: skip
            assert ids[0] == ids[1]
            maps = [label_id_map(x.objects(f.id), SCHEMA, f.height, f.width)
                    for x, f in ((demo, a), (p, b))]  # fmt: skip
            assert np.array_equal(*maps)


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path):
    project = tmp_path / "p.roadmark"
    Project.create(project).close()
    kitti = tmp_path / "kitti"
    (kitti / "label_2").mkdir(parents=True)
    (kitti / "label_2" / "000000.txt").write_text("Car 0.00 0 -1.58 1 2 3\n")
    _one_line_error(
        _run("import", str(project), str(kitti), "--format", "kitti"),
        "label_2/000000.txt: line 1: expected 15 values (16 with a score), got 7",
    )
    bdd = tmp_path / "bdd.json"
    bdd.write_text(json.dumps([{"name": "a.jpg", "videoName": "v", "frameIndex": "first"}]))
    _one_line_error(
        _run("import", str(project), str(bdd), "--format", "bdd100k"),
        "bdd.json: frames[0].frameIndex: must be an integer, got 'first'",
    )
    _one_line_error(
        _run("import", str(project), str(bdd), "--format", "kitti"),
        "bdd.json: expected a KITTI folder holding image_2/ and label_2/",
    )
    with Project.open(project) as opened:
        assert opened.frame_count() == 0


def test_a_kitti_project_imports_kitti_labels_as_they_are(
    tmp_path: Path, capsys: pytest.CaptureFixture
):
    from tests.io.formats.test_kitti import LINES, _kitti

    root = _kitti(tmp_path / "kitti", LINES)
    assert main(["new", str(tmp_path / "k"), "--schema", "kitti"]) == 0
    assert main(["import", str(tmp_path / "k.roadmark"), str(root), "--format", "kitti"]) == 0
    assert "imported 4 objects on 1 frames (1 new)" in capsys.readouterr().out
    assert (
        main(["export", str(tmp_path / "k.roadmark"), str(tmp_path / "out"), "--format", "kitti"])
        == 0
    )
    assert (tmp_path / "out" / "label_2" / "000000.txt").read_text().splitlines() == LINES
