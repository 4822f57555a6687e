"""Open a 10,000-frame project and list its frames; print times and peak memory as JSON.

    python benchmarks/store.py [--frames 10000] [--objects-per-frame 20]

The project is built once in a temporary folder (frames reference one small image; no
image is decoded when opening or listing). Times are the median of 5 runs; peak memory
(Python allocations while opening and listing) comes from one more run under tracemalloc.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

import shapely

from roadmark.core.annotation import AnnotationObject, Provenance
from roadmark.io.store import FrameSpec, Project


def build(path: Path, frames: int, objects_per_frame: int) -> None:
    image = path.parent / "frame.png"
    specs = [
        FrameSpec(image.with_name(f"f{i:06d}.png"), None, 2048, 1024, f"seq{i // 1000}", i % 1000)
        for i in range(frames)
    ]
    provenance = Provenance.new("human", "bench")
    with Project.create(path, user="bench") as project:
        with project.transaction():
            ids, _ = project.add_frames(specs)
            for frame_id in ids[: max(1, frames // 10)]:
                project.add_objects(
                    frame_id,
                    [
                        AnnotationObject(
                            label_id=26,
                            geometry=shapely.box(k * 10, 5, k * 10 + 8, 40),
                            provenance=provenance,
                        )
                        for k in range(objects_per_frame)
                    ],
                )


def measure(path: Path, repeats: int = 5) -> dict[str, float]:
    open_s, list_s, objects_s = [], [], []
    for _ in range(repeats):
        start = time.perf_counter()
        project = Project.open(path)
        opened = time.perf_counter()
        frames = project.frames()
        listed = time.perf_counter()
        project.objects(frames[0].id)
        loaded = time.perf_counter()
        project.close()
        open_s.append(opened - start)
        list_s.append(listed - opened)
        objects_s.append(loaded - listed)
    # Peak memory in a separate run: tracemalloc slows Python down too much to time with it.
    tracemalloc.start()
    with Project.open(path) as project:
        project.frames()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "frames": len(frames),
        "open_ms": round(statistics.median(open_s) * 1000, 2),
        "list_frames_ms": round(statistics.median(list_s) * 1000, 2),
        "open_and_list_ms": round(
            statistics.median(a + b for a, b in zip(open_s, list_s, strict=True)) * 1000, 2
        ),
        "load_one_frame_objects_ms": round(statistics.median(objects_s) * 1000, 2),
        "peak_python_memory_mb": round(peak / 2**20, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--objects-per-frame", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.roadmark"
        start = time.perf_counter()
        build(path, args.frames, args.objects_per_frame)
        result = {"build_s": round(time.perf_counter() - start, 2), **measure(path)}
        result["file_mb"] = round(path.stat().st_size / 2**20, 2)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
