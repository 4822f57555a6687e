"""What the safety checks cost; prints JSON.

    python benchmarks/safety.py [--frames 2000] [--objects 20]

- ``open_s`` / ``open_quick_check_s``: opening a project of ``--frames`` frames with
  ``--objects`` polygon regions each (``Project.open``, which runs SQLite's
  ``quick_check`` before anything else), and the ``quick_check`` alone; ``project_mb``
  is the file's size;
- ``header_check_ms`` / ``decode_ms``: reading a 2048 x 1024 PNG's size from its header
  (the check before each decode) against decoding it (median of 20);
- ``bomb_refused_ms``: refusing a 400 KB PNG that declares 30000 x 30000 pixels;
- ``program_digest_ms``: the SHA-256 of a torch.export program of ``--program-mb`` MB of
  weights, computed before each load;
- ``target_check_100k_frames_s``: checking an export target against a project of 100,000
  frames (the project file, side files and every frame file, links resolved);
- ``import_polygons_per_s``: COCO import of 5,000 polygons on one frame, with the per-object
  coordinate checks (see ``roadmark/io/formats/validate.py``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _median_ms(run, repeats: int = 20) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1000, 3)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--objects", type=int, default=20)
    parser.add_argument("--program-mb", type=int, default=50)
    args = parser.parse_args()

    import shapely

    from roadmark.core.annotation import AnnotationObject, Provenance
    from roadmark.io.frames import decode_image, write_image
    from roadmark.io.image_limits import check_encoded
    from roadmark.io.store import FrameSpec, Project
    from tests.hostile.test_absurd_values import png_claiming

    out: dict[str, float | int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "big.roadmark"
        rng = np.random.default_rng(0)
        with Project.create(path) as project, project.transaction():
            specs = [
                FrameSpec(folder / f"f{i}.png", None, 2048, 1024, "s", i)
                for i in range(args.frames)
            ]
            ids, _ = project.add_frames(specs)
            for frame_id in ids:
                objects = []
                for _ in range(args.objects):
                    x, y = rng.uniform(0, 1900), rng.uniform(0, 900)
                    ring = shapely.Point(x, y).buffer(40, quad_segs=5)
                    objects.append(AnnotationObject(26, ring, Provenance.new("human", "b")))
                project.add_objects(frame_id, objects)
        out["project_mb"] = round(path.stat().st_size / 1e6, 1)
        started = time.perf_counter()
        Project.open(path).close()
        out["open_s"] = round(time.perf_counter() - started, 3)
        import sqlite3

        conn = sqlite3.connect(path)
        started = time.perf_counter()
        conn.execute("PRAGMA quick_check(1)").fetchone()
        out["open_quick_check_s"] = round(time.perf_counter() - started, 3)
        conn.close()

        image = folder / "frame.png"
        write_image(image, rng.integers(0, 255, (1024, 2048, 3), dtype=np.uint8))
        data = image.read_bytes()
        out["header_check_ms"] = _median_ms(lambda: check_encoded(data, name="frame.png"))
        out["decode_ms"] = _median_ms(lambda: decode_image(data, name="frame.png"), 5)
        bomb = png_claiming(30000, 30000)

        def refuse() -> None:
            try:
                decode_image(bomb, name="bomb.png")
            except Exception:  # the refusal is what is timed
                return
            raise AssertionError("the bomb was decoded")

        out["bomb_refused_ms"] = _median_ms(refuse)

        import torch

        from roadmark.models.programs import program_digest

        class Big(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.weight = torch.nn.Parameter(torch.zeros(args.program_mb * 262144))

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return x * self.weight.sum()

        program_file = folder / "big.pt2"
        torch.export.save(torch.export.export(Big(), (torch.zeros(2),)), str(program_file))
        out["program_mb"] = round(program_file.stat().st_size / 1e6, 1)
        out["program_digest_ms"] = _median_ms(lambda: program_digest(program_file), 5)

        from roadmark.io.formats.jobs import import_dataset
        from tests.helpers import make_image

        make_image(folder / "img.png", width=2048, height=1024)
        anns = []
        for index in range(5000):
            x, y = rng.uniform(0, 1900), rng.uniform(0, 900)
            ring = np.array(shapely.Point(x, y).buffer(40, quad_segs=5).exterior.coords).ravel()
            anns.append({"id": index + 1, "image_id": 1, "category_id": 26, "iscrowd": 0,
                         "segmentation": [ring.round(2).tolist()]})  # fmt: skip
        coco = folder / "coco.json"
        coco.write_text(json.dumps({
            "images": [{"id": 1, "file_name": "img.png", "width": 2048, "height": 1024}],
            "categories": [{"id": 26, "name": "car"}], "annotations": anns,
        }))  # fmt: skip
        with Project.create(folder / "imp.roadmark") as project:
            started = time.perf_counter()
            import_dataset(project, "coco", coco)
            out["import_polygons_per_s"] = round(5000 / (time.perf_counter() - started))
        from roadmark.io.formats.targets import check_target_is_safe, protected_paths

        frames = [folder / "images" / f"frame{i:06d}.png" for i in range(100_000)]
        started = time.perf_counter()
        check_target_is_safe(folder / "out", protected_paths(path, frames))
        out["target_check_100k_frames_s"] = round(time.perf_counter() - started, 3)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
