"""Live updates: changes committed by one connection reach another's watcher quickly."""

from __future__ import annotations

import queue
import time
from pathlib import Path

from roadmark.core.annotation import Box, FrameStatus
from roadmark.core.workflow import CommentCategory
from roadmark.io import workflow
from roadmark.io.live import Change, ChangeWatcher
from roadmark.io.locations import set_image_root
from roadmark.io.store import Project
from tests.io.test_team import _specs


def _next_batch(received: queue.Queue, within: float) -> list[Change]:
    return received.get(timeout=within)


def test_changes_by_others_arrive_within_two_seconds(store_location: str, tmp_path: Path):
    with Project.create(store_location, user="lea") as lea:
        ids, _ = lea.add_frames(_specs(tmp_path / "images", 3))
        received: queue.Queue[list[Change]] = queue.Queue()
        watcher = ChangeWatcher(lea, received.put)
        try:
            with Project.open(store_location, user="anna") as anna:
                for action in (
                    lambda: workflow.assign(anna, [ids[1]], annotator="anna"),
                    lambda: anna.set_frame_status(ids[2], FrameStatus.DONE),
                    lambda: workflow.add_comment(
                        anna, ids[0], CommentCategory.OTHER, Box(1, 1, 2, 2)
                    ),
                ):
                    started = time.monotonic()
                    action()
                    batch = _next_batch(received, within=2.0)
                    assert time.monotonic() - started < 2.0
                    if lea.dialect == "postgresql":  # notifications say what changed
                        assert {c.frame_id for c in batch} & set(ids)
                        assert all(c.at is not None and c.at <= time.time() for c in batch)
                    while not received.empty():
                        received.get_nowait()
        finally:
            watcher.stop()
        expected = {"review_comments"} if lea.dialect == "postgresql" else {"*"}
        assert {c.table for c in batch} == expected


def test_the_listener_comes_back_after_losing_its_connection(pg_database: str, tmp_path: Path):
    import sqlalchemy as sa

    set_image_root(pg_database, tmp_path)
    with Project.create(pg_database, user="lea") as lea:
        ids, _ = lea.add_frames(_specs(tmp_path / "images", 2))
        received: queue.Queue[list[Change]] = queue.Queue()
        watcher = ChangeWatcher(lea, received.put)
        try:
            with lea.engine.connect() as conn:  # the server drops the listening connection
                conn.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()"
                    )
                )
                conn.commit()
            # the watcher reconnects and says that something changed meanwhile ...
            assert _next_batch(received, within=5.0)[0].table == "*"
            # ... and hears what comes next again
            lea.set_frame_status(ids[1], FrameStatus.DONE)
            batch = _next_batch(received, within=2.0)
            assert {c.frame_id for c in batch} == {ids[1]}
        finally:
            watcher.stop()
