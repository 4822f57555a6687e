"""Small builders shared by tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import shapely

from roadmark.core.annotation import AnnotationObject, Box, Provenance
from roadmark.core.jobs import CancelToken
from roadmark.io.frames import write_image


def make_image(path: Path, width: int = 64, height: int = 48, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    write_image(path, rng.integers(0, 255, (height, width, 3), dtype=np.uint8))
    return path


def region(label_id: int, x0: float, y0: float, x1: float, y1: float, **kw) -> AnnotationObject:
    return AnnotationObject(
        label_id=label_id,
        geometry=shapely.box(x0, y0, x1, y1),
        provenance=Provenance.new("human", "tester"),
        **kw,
    )


def box(label_id: int, x0: float, y0: float, x1: float, y1: float, **kw) -> AnnotationObject:
    return AnnotationObject(
        label_id=label_id,
        geometry=Box(x0, y0, x1, y1),
        provenance=Provenance.new("human", "tester"),
        **kw,
    )


def make_version_1(path: Path) -> None:
    """Turn a new project file into what roadmark's first project version looked like
    (no region outlines, no object versions, no team tables)."""
    import sqlite3

    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE uncertainty_regions DROP COLUMN outline")
        conn.execute("ALTER TABLE predictions DROP COLUMN expected_errors")
        conn.execute("ALTER TABLE objects DROP COLUMN version")
        for table in ("members", "frame_leases", "prelabel_claims"):
            conn.execute(f"DROP TABLE {table}")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    conn.close()


class CancelAfterChecks(CancelToken):
    """A cancel token that cancels itself once a job has checked it ``checks`` times, so a
    test stops a job at a chosen point (``checks=2``: the third check raises)."""

    def __init__(self, checks: int) -> None:
        super().__init__()
        self.checks_left = checks

    def raise_if_cancelled(self, message: str = "cancelled") -> None:
        self.checks_left -= 1
        if self.checks_left < 0:
            self.cancel()
        super().raise_if_cancelled(message)
