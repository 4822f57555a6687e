"""``roadmark queue``: estimated minutes per region, per frame and for the project."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from roadmark.cli import main
from roadmark.core.annotation import Box
from roadmark.core.effort import DEFAULT_COST_MODEL
from roadmark.core.prediction import FramePrediction, RegionKind, UncertainRegion
from roadmark.io.predictions import ranked_regions, set_regions_resolved, write_predictions
from roadmark.io.store import FrameSpec, Project


@pytest.fixture
def queued(tmp_path: Path) -> Path:
    path = tmp_path / "p.roadmark"
    with Project.create(path) as project:
        ids, _ = project.add_frames(
            [FrameSpec(tmp_path / f"f{i}.png", None, 200, 100, "s", i) for i in range(3)]
        )
        regions = [
            UncertainRegion(RegionKind.PIXELS, Box(0, 0, 48, 48), 900.0, 0.6, (7,), 400.0),
            UncertainRegion(RegionKind.BOX_SCORE, Box(60, 10, 90, 60), 1500.0, 0.9, (26,), 300.0),
        ]
        write_predictions(
            project,
            [
                FramePrediction(ids[0], "m", "d" * 64, "detection", regions=tuple(regions)),
                FramePrediction(ids[1], "m", "d" * 64, "detection", regions=tuple(regions[:1])),
            ],
        )
    return path


def test_queue_reports_minutes_left(queued: Path, capsys):
    assert main(["queue", str(queued), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    pixel = next(r for r in rows if r["kind"] == RegionKind.PIXELS)
    assert pixel["minutes"] == pytest.approx((8 + 0.6 * 8 * 2) / 60, abs=0.01)
    first_frame = [r for r in rows if r["frame_id"] == rows[0]["frame_id"]]
    with Project.open(queued) as project:
        regions = ranked_regions(project)
        expected = {
            fid: sum(DEFAULT_COST_MODEL.region_seconds(r) for r in regions if r.frame_id == fid)
            + DEFAULT_COST_MODEL.frame_overhead_s
            for fid in {r.frame_id for r in regions}
        }
    assert first_frame[0]["frame_minutes_left"] == pytest.approx(
        expected[rows[0]["frame_id"]] / 60, abs=0.01
    )

    assert main(["queue", str(queued), "--effort", "--json"]) == 0
    effort = json.loads(capsys.readouterr().out)
    assert effort["regions_left"] == 3
    assert effort["minutes_left"] == pytest.approx(sum(expected.values()) / 60, abs=0.02)
    assert {f["frame"] for f in effort["frames"]} == {"f0.png", "f1.png"}

    done = regions[-1].frame_id  # resolving a frame's regions leaves no minutes there
    with Project.open(queued) as project:
        set_regions_resolved(project, [r.uid for r in regions if r.frame_id == done])
    left = [r for r in regions if r.frame_id != done]
    assert main(["queue", str(queued), "--effort"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{len(left)} regions left") and len(lines) == 3
    assert lines[1].startswith("cost model: the defaults (0 of the 8 frames")
