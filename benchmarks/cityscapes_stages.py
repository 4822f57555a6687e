"""Split a sampling profile of a Cityscapes export into its stages; print JSON.

    py-spy record -r 100 --subprocesses -f raw -o cs.txt -- \\
        python benchmarks/export.py --worker cityscapes PROJECT OUT
    python benchmarks/cityscapes_stages.py cs.txt --cpu-per-frame 0.15

``PROJECT`` is the project that ``benchmarks/export.py --keep DIR`` builds
(``DIR/bench.roadmark``); the worker line prints ``cpu_seconds_per_frame`` (all
processes), which turns each stage's share of the samples into CPU seconds per frame.
py-spy (``pip install py-spy``) is not a dependency of roadmark.

Each sample goes to the stage of the innermost function it passes through that names a
stage (:data:`STAGES`); samples blocked in a system call (a worker waiting on a pipe, the
executor's selector) are left out, since they use no CPU.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("png encodes: zlib", ("_deflate", "compress")),
    ("png encodes: row filters", ("OwnerMaps",)),
    ("label, train, instance and color tables", ("_tables",)),
    ("polygon tracing and the PIL check", ("region_to_polygons",)),
    ("rasterizing the owner map", ("region_mask_in_box",)),
    (
        "polygon and box entries, JSON",
        ("_write_json", "_common_fields", "_ordered", "format_date", "extras_of"),
    ),
    ("image copy or link", ("write_frame_image",)),
    ("frame_payload's own code", ("frame_payload",)),
    (
        "hand-off to the worker processes",
        ("_process_worker", "Queue._feed", "_ExecutorManagerThread", "ForkingPickler"),
    ),
    ("reading the project", ("_export_frames", "Project.objects", "Project.frames")),
    ("start-up and imports", ("_find_and_load", "spawn_main")),
)
WAITS = (
    "_PollLikeSelector.select",
    "Connection._send",
    "Connection._recv",
    "Condition.wait",
    "Event.wait",
)


def stage_of(frames: list[str]) -> str | None:
    """The stage of one sample (its functions, outermost first); ``None``: waiting."""
    if frames and frames[-1].startswith(WAITS):
        return None
    for name in reversed(frames):
        for stage, prefixes in STAGES:
            if name.startswith(prefixes):
                return stage
    return "other"


def split(raw: Path) -> Counter[str]:
    """Samples per stage of a py-spy ``--format raw`` file (``stack count`` lines)."""
    counts: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if not stack or not number.isdigit():
            continue
        stage = stage_of([frame.split(" (")[0] for frame in stack.split(";")])
        if stage is not None:
            counts[stage] += int(number)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", type=Path, help="py-spy record --format raw output")
    parser.add_argument("--cpu-per-frame", type=float, help="the export's CPU s per frame")
    args = parser.parse_args()
    counts = split(args.raw)
    total = sum(counts.values())
    result = {}
    for stage, samples in counts.most_common():
        share = samples / total
        entry = {"share": round(share, 3)}
        if args.cpu_per_frame:
            entry["cpu_s_per_frame"] = round(share * args.cpu_per_frame, 4)
        result[stage] = entry
    print(json.dumps({"samples": total, "stages": result}, indent=1))


if __name__ == "__main__":
    main()
