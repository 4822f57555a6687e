"""Bytes the change log keeps per brush stroke on a region; print them as JSON.

    python benchmarks/changelog.py [--strokes 50] [--regions 4]

Each stroke adds a round dab to a region (the union of the region and a disc, as the brush
tool writes it) and is stored as one update. The figures are the bytes of the log entries
(``before_json`` + ``after_json``) of those updates: mean and median per stroke, their
total, and the size of the region's WKB for comparison. Runs in a temporary folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import tempfile
import time
from pathlib import Path

import shapely
import sqlalchemy as sa

from roadmark.core.annotation import AnnotationObject, Provenance
from roadmark.io import workflow_tables as wt
from roadmark.io.store import FrameSpec, Project


def run(path: Path, strokes: int, regions: int) -> dict[str, float]:
    with Project.create(path, user="bench") as project:
        (frame_id,), _ = project.add_frames(
            [FrameSpec(path.with_name("f.png"), None, 2048, 1024, "s", 0)]
        )
        objects = project.add_objects(
            frame_id,
            [
                AnnotationObject(
                    label_id=26,
                    geometry=shapely.Point(200 + 400 * k, 300).buffer(40),
                    provenance=Provenance.new("human", "bench"),
                )
                for k in range(regions)
            ],
        )
        start = time.perf_counter()
        for stroke in range(strokes):
            for k, obj in enumerate(objects):
                dab = shapely.Point(200 + 400 * k + 6 * stroke, 300 + (stroke % 7) * 4).buffer(12)
                objects[k] = dataclasses.replace(obj, geometry=obj.geometry.union(dab))
                project.update_objects([objects[k]])
        seconds = time.perf_counter() - start
        c = wt.object_changes.c
        with project.reading() as conn:
            sizes = [
                len(before) + len(after)
                for before, after in conn.execute(
                    sa.select(c.before_json, c.after_json).where(c.action == "edit")
                )
            ]
        wkb = statistics.mean(len(shapely.to_wkb(obj.geometry)) for obj in objects)
    return {
        "updates": len(sizes),
        "bytes_per_stroke_mean": round(statistics.mean(sizes), 1),
        "bytes_per_stroke_median": statistics.median(sizes),
        "log_bytes_total": sum(sizes),
        "region_wkb_bytes_mean_at_end": round(wkb, 1),
        "update_ms_mean": round(seconds / max(1, len(sizes)) * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strokes", type=int, default=50)
    parser.add_argument("--regions", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        result = run(Path(folder) / "bench.roadmark", args.strokes, args.regions)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
