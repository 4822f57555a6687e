"""One writer of the 4-writer stress test (run as a process by test_writers.py).

``python -m tests.hostile.stress_writer ROLE PROJECT WORKDIR SECONDS`` writes to PROJECT
until SECONDS have passed, then prints what it wrote as JSON: ``{"frames": F,
"objects": O, "writes": W}``. Every write must succeed (a writer waits for the lock; a
failure exits 1 with the error). Roles: ``add`` (``roadmark add``), ``import``
(``roadmark import --format coco``), ``edit`` (the store API the GUI uses: add, update and
soft-delete objects, set statuses, one transaction per action).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from roadmark.core.annotation import FrameStatus
from roadmark.io.store import Project
from tests.helpers import box, make_image, region

CAR = 26


def _cli(*args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "roadmark", *args], capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        sys.exit(f"roadmark {args[0]} failed ({result.returncode}): {result.stderr.strip()}")


def run_add(project: Path, work: Path, deadline: float) -> dict[str, int]:
    frames = writes = 0
    while time.monotonic() < deadline:
        folder = work / f"add{writes}"
        folder.mkdir()
        for i in range(2):
            make_image(folder / f"a{writes}_{i}.png", seed=1000 + writes * 2 + i)
        _cli("add", str(project), str(folder))
        frames += 2
        writes += 1
    return {"frames": frames, "objects": 0, "writes": writes}


def run_import(project: Path, work: Path, deadline: float) -> dict[str, int]:
    frames = objects = writes = 0
    while time.monotonic() < deadline:
        folder = work / f"imp{writes}"
        folder.mkdir()
        name = f"i{writes}.png"
        make_image(folder / name, seed=5000 + writes)
        dataset = {
            "images": [{"id": 1, "file_name": name, "width": 64, "height": 48}],
            "categories": [{"id": CAR, "name": "car"}],
            "annotations": [
                {"id": 1, "image_id": 1, "category_id": CAR, "bbox": [2, 2, 10, 10],
                 "area": 100, "iscrowd": 0, "segmentation": [[2, 2, 12, 2, 12, 12, 2, 12]]},
                {"id": 2, "image_id": 1, "category_id": CAR, "bbox": [20, 20, 10, 10],
                 "area": 100, "iscrowd": 0},
            ],
        }  # fmt: skip
        (folder / "coco.json").write_text(json.dumps(dataset))
        _cli("import", str(project), "--format", "coco", str(folder / "coco.json"))
        frames += 1
        objects += 2
        writes += 1
    return {"frames": frames, "objects": objects, "writes": writes}


def run_edit(project_path: Path, deadline: float, seed: int) -> dict[str, int]:
    objects = writes = 0
    with Project.open(project_path, user=f"editor{seed}") as project:
        frame_ids = [frame.id for frame in project.frames()]
        while time.monotonic() < deadline:
            frame_id = frame_ids[(writes + seed) % len(frame_ids)]
            x = float(writes % 30)
            added = project.add_objects(
                frame_id, [box(CAR, x, 1, x + 5, 9), region(CAR, x, 10, x + 8, 20)]
            )
            objects += 2
            project.update_objects(
                [replace(added[0], geometry=type(added[0].geometry)(x, 2, x + 6, 9))]
            )
            project.update_objects([replace(added[1], deleted=True)])  # soft delete
            project.set_frame_status(frame_id, FrameStatus.IN_PROGRESS)
            writes += 4
    return {"frames": 0, "objects": objects, "writes": writes}


def main() -> None:
    role, project, work, seconds = sys.argv[1:5]
    deadline = time.monotonic() + float(seconds)
    work_dir = Path(work)
    work_dir.mkdir(parents=True, exist_ok=True)
    if role == "add":
        result = run_add(Path(project), work_dir, deadline)
    elif role == "import":
        result = run_import(Path(project), work_dir, deadline)
    else:
        result = run_edit(Path(project), deadline, seed=int(role.removeprefix("edit")))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
