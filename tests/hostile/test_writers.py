"""Four writers on one project at once: each write succeeds or waits, counts are exact."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from roadmark.io.frames import scan
from roadmark.io.stats import project_info
from roadmark.io.store import Project
from tests.helpers import make_image

WRITE_SECONDS = 15  # each writer writes for this long, then finishes its action
ROLES = ("add", "import", "edit1", "edit2")


def test_four_writers_take_turns_and_every_write_lands(tmp_path: Path):
    path = tmp_path / "shared.roadmark"
    (tmp_path / "seed").mkdir()
    seed_images = [make_image(tmp_path / "seed" / f"s{i}.png", seed=i) for i in range(3)]
    with Project.create(path) as project:
        project.add_frames(scan(seed_images))
    env = dict(os.environ, ROADMARK_LOCK_TIMEOUT="120")
    writers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.hostile.stress_writer", role, str(path),
             str(tmp_path / role), str(WRITE_SECONDS)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        for role in ROLES
    ]  # fmt: skip
    results = {}
    for role, writer in zip(ROLES, writers, strict=True):
        out, err = writer.communicate(timeout=WRITE_SECONDS + 240)
        assert writer.returncode == 0, f"{role}: {err[-2000:]}"
        results[role] = json.loads(out.strip().splitlines()[-1])
    assert all(result["writes"] > 0 for result in results.values()), results

    frames = len(seed_images) + sum(r["frames"] for r in results.values())
    rows = sum(r["objects"] for r in results.values())
    soft_deleted = (results["edit1"]["objects"] + results["edit2"]["objects"]) // 2
    with Project.open(path, read_only=True) as project:
        assert project.frame_count() == frames
        info = project_info(project)
        assert info["objects"] == rows - soft_deleted
        assert info["deleted_objects"] == soft_deleted
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT count(*) FROM objects").fetchone()[0] == rows
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()
