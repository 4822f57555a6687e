"""``roadmark prelabel --worker``: workers share a PostgreSQL project through claims."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from roadmark.cli import main
from roadmark.io import tables as t
from roadmark.io import team_tables as tt
from roadmark.io.locations import set_image_root
from roadmark.io.store import Project
from tests.helpers import make_image

FRAMES = 10


def _project(url: str, tmp_path: Path) -> Path:
    images = tmp_path / "images"
    images.mkdir()
    for i in range(FRAMES):
        make_image(images / f"f{i:02d}.png", width=64, height=48, seed=i)
    set_image_root(url, tmp_path)
    assert main(["new", url]) == 0
    assert main(["add", url, str(images)]) == 0
    model = tmp_path / "tiny.roadmodel"
    args = ["model", "new", str(model), "--arch", "lraspp_mobilenet_v3_large"]
    assert main([*args, "--input-size", "64x64", "--seed", "0", "--schema", url]) == 0
    return model


def _worker(url: str, model: Path, *extra: str) -> subprocess.Popen:
    args = ["prelabel", url, "--model", str(model), "--device", "cpu", "--workers", "0"]
    return subprocess.Popen(
        [sys.executable, "-m", "roadmark", *args, "--worker", "--batch", "1", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"OMP_NUM_THREADS": "1"},
    )


def _stored(output: str) -> list[int]:
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [frame for line in lines for frame in line["stored"]]


def _predictions(url: str) -> list[int]:
    with Project.open(url, read_only=True) as project, project.reading() as conn:
        return list(conn.execute(sa.select(t.predictions.c.frame_id)).scalars())


def test_two_workers_predict_every_frame_exactly_once(pg_database: str, tmp_path: Path):
    model = _project(pg_database, tmp_path)
    workers = [_worker(pg_database, model, "--claim", "2") for _ in range(2)]
    outputs = [worker.communicate(timeout=300) for worker in workers]
    for worker, (out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
        assert "nothing is left to claim" in out
    done = [_stored(out) for out, _ in outputs]
    with Project.open(pg_database, read_only=True) as project:
        everything = sorted(f.id for f in project.frames())
    assert sorted(done[0] + done[1]) == everything  # each frame by exactly one worker
    assert sorted(_predictions(pg_database)) == everything


def test_a_killed_worker_loses_nothing_the_other_cannot_finish(pg_database: str, tmp_path):
    model = _project(pg_database, tmp_path)
    doomed = _worker(pg_database, model, "--claim", "4", "--claim-seconds", "3")
    engine = sa.create_engine(pg_database.replace("postgresql://", "postgresql+psycopg://"))
    deadline = time.monotonic() + 120
    with engine.connect() as conn:  # kill it once it holds a claim
        while not conn.execute(sa.select(tt.prelabel_claims.c.frame_id)).first():
            assert time.monotonic() < deadline and doomed.poll() is None
            time.sleep(0.05)
            conn.rollback()
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    engine.dispose()
    survivor = _worker(pg_database, model, "--claim", "3", "--claim-seconds", "3")
    out, err = survivor.communicate(timeout=300)
    assert survivor.returncode == 0, err
    with Project.open(pg_database, read_only=True) as project:
        everything = sorted(f.id for f in project.frames())
    assert sorted(_predictions(pg_database)) == everything
    stored_by_survivor = set(_stored(out))
    assert len(stored_by_survivor) >= FRAMES - 4  # at most one claim was stored before the kill
