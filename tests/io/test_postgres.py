"""The store runs on a real PostgreSQL server, not only on SQLite.

A throw-away cluster is started from the PostgreSQL binaries when the machine has them
(``initdb`` on PATH or under /usr/lib/postgresql); elsewhere the test is skipped.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import shapely

from roadmark.core.annotation import FrameStatus
from roadmark.io import tables
from roadmark.io.frames import scan
from roadmark.io.store import Project
from tests.helpers import box, make_image, region


def _pg_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server binaries on this machine")
    # PostgreSQL refuses to run as root; run it as the postgres user in that case.
    as_user: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser")
        as_user = ["runuser", "-u", "postgres", "--"]
    base = Path(tempfile.mkdtemp(prefix="roadmark-pg-"))
    data = base / "data"
    base.chmod(0o755)
    if as_user:
        shutil.chown(base, "postgres")
    port = _free_port()

    def pg(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True, timeout=120)

    try:
        pg(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust")
        options = f"-k {base} -p {port} -c listen_addresses=''"
        pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-l",
           str(base / "log"), "start")  # fmt: skip
        try:
            yield f"postgresql+psycopg://postgres@/postgres?host={base}&port={port}"
        finally:
            pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_project_on_postgresql(pg_url: str, tmp_path: Path):
    images = tmp_path / "images"
    images.mkdir()
    specs = scan([make_image(images / f"img{i}.png", seed=i) for i in range(3)])
    with Project.create(pg_url, root=tmp_path, user="tester") as project:
        ids, skipped = project.add_frames(specs)
        assert len(ids) == 3 and skipped == 0
        assert project.add_frames(specs) == ([], 3)
        a, b = project.add_objects(
            ids[0], [region(7, 0, 0, 64, 48), box(26, 5, 5, 20, 20, track_id=4)]
        )
        (c,) = project.add_objects(ids[0], [region(23, 0, 0, 8, 8)], at_bottom=True)
        project.set_z_order(ids[0], [b.uid, c.uid, a.uid])
        project.update_objects([dataclasses.replace(a, deleted=True)])
        project.set_frame_status(ids[1], FrameStatus.DONE)
        with pytest.raises(RuntimeError), project.transaction():
            project.add_objects(ids[2], [region(7, 0, 0, 1, 1)])
            raise RuntimeError("crash in the middle of an action")

    with Project.open(pg_url, root=tmp_path, user="tester") as project:
        assert project.version == tables.SCHEMA_VERSION
        assert [f.path for f in project.frames()] == [f"images/img{i}.png" for i in range(3)]
        objects = project.objects(ids[0])
        assert [o.uid for o in objects] == [b.uid, c.uid, a.uid]
        assert objects[0].track_id == 4 and objects[2].deleted
        assert objects[2].geometry.equals(shapely.box(0, 0, 64, 48))
        assert len(project.objects(ids[2])) == 0  # the failed action left nothing
        assert project.frame(ids[1]).status is FrameStatus.DONE
        info = project.info()
        assert info["frames"] == 3 and info["objects"] == 2
        assert info["objects_by_source"] == {"human": 2}
