"""The store runs on a real PostgreSQL server, not only on SQLite.

A throw-away cluster (``tests/pgcluster.py``) is started from the PostgreSQL binaries; CI
installs them, so the test never skips.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import shapely

from roadmark.core.annotation import FrameStatus
from roadmark.io import tables
from roadmark.io.frames import scan
from roadmark.io.stats import project_info
from roadmark.io.store import Project
from tests.helpers import box, make_image, region


def test_project_on_postgresql(pg_database: str, tmp_path: Path):
    images = tmp_path / "images"
    images.mkdir()
    specs = scan([make_image(images / f"img{i}.png", seed=i) for i in range(3)])
    with Project.create(pg_database, root=tmp_path, user="tester") as project:
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

    with Project.open(pg_database, root=tmp_path, user="tester") as project:
        assert project.version == tables.SCHEMA_VERSION
        assert [f.path for f in project.frames()] == [f"images/img{i}.png" for i in range(3)]
        objects = project.objects(ids[0])
        assert [o.uid for o in objects] == [b.uid, c.uid, a.uid]
        assert objects[0].track_id == 4 and objects[2].deleted
        assert objects[2].geometry.equals(shapely.box(0, 0, 64, 48))
        assert len(project.objects(ids[2])) == 0  # the failed action left nothing
        assert project.frame(ids[1]).status is FrameStatus.DONE
        info = project_info(project)
        assert info["frames"] == 3 and info["objects"] == 2
        assert info["objects_by_source"] == {"human": 2}
