"""Export the demo drive at 2048x1024 to COCO and Cityscapes; print frames/s and memory.

    python benchmarks/export.py [--frames 500] [--distinct 40] [--detail 1.5]
                                [--formats all | coco,cityscapes,...] [--keep DIR]

A project of ``--frames`` frames is built in a temporary folder (or ``--keep DIR``) from
``--distinct`` rendered frames of the synthetic drive (about 100 regions each at detail
1.5), repeated in order with hard-linked image files, so building stays quick while every
exported frame carries a full frame's objects. Each export then runs in a fresh process
(``roadmark.io.formats.jobs.export_dataset``, as ``roadmark export`` does), which reports
its wall time and its peak resident memory (``VmHWM``); ``--tracemalloc`` adds the peak of Python
allocations (slower). Output: JSON with frames/s, peak memory and output sizes.

The COCO and Cityscapes exports are then imported back into a new project, each in a
fresh process (``--no-import`` skips it): ``coco_import_fps``, ``cityscapes_import_fps``,
their peak memory and ``*_import_peak_ratio`` (peak resident memory of the import over
the size of the JSON it reads).

``--formats all`` runs every exporter in the format registry (:func:`every_format`), each
into the target its registry entry asks for (a ``.json`` file or a folder, plus companion
paths such as COCO panoptic's PNG folder, counted in ``output_mb``).

The COCO file is written item by item, so its size does not show in the memory figures:
run with a larger ``--frames`` (for example 8000, about 0.45 GB of COCO) and compare.

``--many-frames N`` also imports a COCO file of N small frames (64x48, hard links of one
PNG) with one box each into a new project, in a fresh process: what grows with the number
of frames rather than with the objects (``coco_many_frames``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

WIDTH, HEIGHT = 2048, 1024


def build(folder: Path, frames: int, distinct: int, detail: float) -> tuple[Path, dict]:
    from roadmark.demo.drive import render_frame
    from roadmark.io.frames import write_image
    from roadmark.io.store import FrameSpec, Project

    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    rendered = []
    for index in range(distinct):
        frame = render_frame(index, frames=distinct, width=WIDTH, height=HEIGHT, detail=detail)
        path = images / f"bench_000000_{index:06d}_leftImg8bit.png"
        write_image(path, frame.image)
        rendered.append((path, frame.objects))
    render_s = time.perf_counter() - start
    project_path = folder / "bench.roadmark"
    regions = 0
    with Project.create(project_path, user="bench") as project:
        specs = []
        for index in range(frames):
            source, _ = rendered[index % distinct]
            path = (
                source
                if index < distinct
                else images
                / f"bench_{index // distinct:06d}_{index % distinct:06d}_leftImg8bit.png"
            )
            if index >= distinct:
                os.link(source, path)
            specs.append(
                FrameSpec(
                    path, None, WIDTH, HEIGHT, f"bench_{index // distinct:06d}", index % distinct
                )
            )
        with project.transaction():
            ids, _ = project.add_frames(specs)
            for index, frame_id in enumerate(ids):
                objects = rendered[index % distinct][1]
                project.add_objects(frame_id, objects)
                regions += len(objects)
    return project_path, {
        "frames": frames,
        "distinct_frames": distinct,
        "size": f"{WIDTH}x{HEIGHT}",
        "regions_per_frame": round(regions / frames, 1),
        "render_s": round(render_s, 1),
        "build_s": round(time.perf_counter() - start, 1),
    }


def size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status, in MiB.

    ``VmHWM`` is the peak resident size of this program only; ``getrusage``'s
    ``ru_maxrss`` would also count the parent's peak from before ``exec`` on Linux.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024


def import_worker(format_id: str, source: str, folder: str) -> None:
    """Import a COCO file or a Cityscapes tree into a new project in this process; print
    its figures as JSON.

    ``peak_ratio`` = (peak resident memory - resident memory before the import) / size of
    what is read (the COCO file; a Cityscapes tree's JSON files): what the import itself
    holds, against the file it reads.
    """
    # the formats loaded before the baseline is taken
    import roadmark.io.formats.cityscapes
    import roadmark.io.formats.coco  # noqa: F401
    from roadmark.io.formats.jobs import import_dataset
    from roadmark.io.store import Project

    baseline = _status_mb("VmRSS")
    path = Path(source)
    read = [path] if path.is_file() else list(path.rglob("*.json"))
    size_mb = sum(file.stat().st_size for file in read) / 2**20
    start = time.perf_counter()
    cpu_start = _cpu_seconds()
    with Project.create(Path(folder) / "imported.roadmark", user="bench") as project:
        report = import_dataset(project, format_id, source)
    elapsed = time.perf_counter() - start
    cpu = _cpu_seconds() - cpu_start
    peak = _status_mb("VmHWM")
    print(
        json.dumps(
            {
                "format": format_id,
                "frames": report.frames,
                "objects": report.objects,
                "seconds": round(elapsed, 1),
                "frames_per_s": round(report.frames / elapsed, 2),
                # CPU time of the import: comparable on a loaded machine
                "cpu_seconds_per_frame": round(cpu / report.frames, 4),
                "file_mb": round(size_mb, 1),
                "rss_before_import_mb": baseline,
                "peak_rss_mb": peak,
                "peak_ratio": round((peak - baseline) / size_mb, 2),
            }
        )
    )


def synthetic_coco(path: Path, megabytes: int) -> int:
    """Write a COCO file of about ``megabytes`` MB: 2048x1024 images with 100 polygons each
    (24 vertices), annotations listed before the categories; returns its image count."""
    images = max(1, megabytes * 2**20 // (100 * 420))
    with open(path, "w", encoding="utf-8") as out:
        out.write('{"images": [')
        for i in range(images):
            entry = {"id": i + 1, "file_name": f"f{i}.png", "width": 2048, "height": 1024}
            out.write(("," if i else "") + json.dumps(entry))
        out.write('], "annotations": [')
        ring = [round(500 + 300 * math.cos(a / 4), 2) for a in range(48)]
        for k in range(images * 100):
            ann = {"id": k + 1, "image_id": k // 100 + 1, "category_id": 26, "iscrowd": 0}
            ann |= {"segmentation": [ring], "bbox": [200.0, 200.0, 600.0, 600.0], "area": 1.0}
            out.write(("," if k else "") + json.dumps(ann))
        out.write('], "categories": [{"id": 26, "name": "car"}]}')
    return images


def stream_worker(source: str) -> None:
    """Run the COCO reader's streaming pass over ``source`` (no images needed: the pass
    reads and spills the file, then every image's annotations are read back); print the
    peak memory against the file size."""
    from roadmark.io.formats.coco_stream import CocoStream

    baseline = _status_mb("VmRSS")
    size_mb = Path(source).stat().st_size / 2**20
    start = time.perf_counter()
    images: list = []
    with CocoStream(Path(source)) as stream:
        stream.read(lambda _index, ann: ann["image_id"], images.extend)
        annotations = sum(len(stream.annotations_of(image["id"])) for image in images)
    elapsed = time.perf_counter() - start
    peak = _status_mb("VmHWM")
    print(
        json.dumps(
            {
                "file_mb": round(size_mb, 1),
                "images": len(images),
                "annotations": annotations,
                "seconds": round(elapsed, 1),
                "rss_before_mb": baseline,
                "peak_rss_mb": peak,
                "peak_ratio": round((peak - baseline) / size_mb, 3),
            }
        )
    )


def many_frames_worker(count: int, folder: str) -> None:
    """Import a COCO file of ``count`` small frames with one box each (made in ``folder``)
    into a new project in this process; print its figures as JSON."""
    import numpy as np

    from roadmark.io.formats.jobs import import_dataset
    from roadmark.io.frames import write_image
    from roadmark.io.store import Project

    root = Path(folder)
    write_image(root / "f0.png", np.zeros((48, 64, 3), np.uint8))
    for index in range(1, count):
        os.link(root / "f0.png", root / f"f{index}.png")
    images = [
        {"id": i + 1, "file_name": f"f{i}.png", "width": 64, "height": 48} for i in range(count)
    ]
    boxes = [
        {"id": i + 1, "image_id": i + 1, "category_id": 26, "bbox": [1, 1, 5, 5]}
        for i in range(count)
    ]
    source = root / "many.json"
    categories = [{"id": 26, "name": "car"}]
    source.write_text(
        json.dumps({"images": images, "annotations": boxes, "categories": categories})
    )
    start = time.perf_counter()
    cpu_start = _cpu_seconds()
    with Project.create(root / "many.roadmark", user="bench") as project:
        report = import_dataset(project, "coco", source)
    elapsed = time.perf_counter() - start
    cpu = _cpu_seconds() - cpu_start
    figures = {"frames": report.frames, "objects": report.objects, "seconds": round(elapsed, 1)}
    figures |= {"frames_per_s": round(report.frames / elapsed, 1), "cpu_seconds": round(cpu, 1)}
    print(json.dumps(figures))


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


def worker(format_id: str, project_path: str, target: str, trace: bool) -> None:
    """Run one export in this process and print its figures as JSON."""
    from roadmark.io.formats.jobs import export_dataset
    from roadmark.io.store import Project

    baseline = _status_mb("VmRSS")
    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    with Project.open(project_path, read_only=True) as project:
        report = export_dataset(project, format_id, target)
    elapsed = time.perf_counter() - start
    result = {
        "format": format_id,
        "frames": report.frames,
        "seconds": round(elapsed, 1),
        "frames_per_s": round(report.frames / elapsed, 2),
        "peak_rss_mb": _status_mb("VmHWM"),
        # CPU time of this process and its workers: comparable on a loaded machine
        "cpu_seconds_per_frame": round(_cpu_seconds() / report.frames, 4),
        # the largest export worker process (Cityscapes writes from spawned workers)
        "peak_worker_rss_mb": round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
        ),
        "rss_before_export_mb": baseline,
        "output_mb": round(size_of(Path(target)) / 2**20, 1),
        "stats": report.stats,
    }
    if trace:
        result["peak_python_mb"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
    print(json.dumps(result))


def every_format(
    project_path: Path, scratch: Path, trace: bool, only: list[str] | None = None
) -> list[dict]:
    """Export ``project_path`` with every registered exporter (or those in ``only``), each
    in a fresh process.

    Returns:
        One result per format (as :func:`worker` prints it), ``output_mb`` including the
        format's companion paths; a format that cannot export the project (predictions,
        without stored predictions) is listed with ``skipped`` and its error.
    """
    from roadmark.io.formats import Capability, get_format, registered_formats

    results = []
    for format_id, cls in registered_formats(Capability.EXPORT).items():
        if only is not None and format_id not in only:
            continue
        name = f"out-{format_id}"
        target = scratch / (name + cls.suffix if cls.output == "file" else name)
        made = [target, *get_format(format_id).companions(target)]
        command = [sys.executable, __file__, "--worker", format_id, str(project_path), str(target)]
        if trace:
            command.append("--tracemalloc")
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode:  # the predictions format needs stored model predictions
            reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"
            results.append({"format": format_id, "skipped": reason})
            continue
        result = json.loads(done.stdout.strip().splitlines()[-1])
        result["output_mb"] = round(sum(size_of(p) for p in made if p.exists()) / 2**20, 1)
        results.append(result)
        for path in made:
            subprocess.run(["rm", "-rf", str(path)], check=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--distinct", type=int, default=40)
    parser.add_argument("--detail", type=float, default=1.5)
    parser.add_argument("--formats", default="all", help="comma-separated ids, or all")
    parser.add_argument("--keep", type=Path, help="build (or reuse) the project in this folder")
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument(
        "--worker", nargs=3, metavar=("FORMAT", "PROJECT", "TARGET"), help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--import-worker", nargs=3, metavar=("FORMAT", "SOURCE", "FOLDER"), help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--no-import",
        action="store_true",
        help="do not import the COCO and Cityscapes exports back",
    )
    parser.add_argument(
        "--stream-mb",
        type=int,
        default=0,
        help="also stream a synthetic COCO file of this size (MB) through the reader",
    )
    parser.add_argument("--stream-worker", help=argparse.SUPPRESS)
    parser.add_argument(
        "--many-frames",
        type=int,
        default=0,
        help="also import a COCO file of this many small frames with one box each",
    )
    parser.add_argument(
        "--many-worker", nargs=2, metavar=("COUNT", "FOLDER"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker, trace=args.tracemalloc)
        return
    if args.import_worker:
        import_worker(*args.import_worker)
        return
    if args.stream_worker:
        stream_worker(args.stream_worker)
        return
    if args.many_worker:
        many_frames_worker(int(args.many_worker[0]), args.many_worker[1])
        return
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        project_path = folder / "bench.roadmark"
        if args.keep and project_path.exists():
            setup = {"reused": str(project_path)}
        else:
            project_path, setup = build(folder, args.frames, args.distinct, args.detail)
        results = {"setup": setup, "exports": []}
        chosen = [f for f in args.formats.split(",") if f]
        if args.formats == "all" or set(chosen) - {"coco", "cityscapes"}:
            only = None if args.formats == "all" else chosen
            results["exports"] = every_format(project_path, Path(scratch), args.tracemalloc, only)
            chosen = []
        for format_id in chosen:
            target = Path(scratch) / ("out.json" if format_id == "coco" else "out")
            command = [
                sys.executable,
                __file__,
                "--worker",
                format_id,
                str(project_path),
                str(target),
            ]
            if args.tracemalloc:
                command.append("--tracemalloc")
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode:
                raise SystemExit(done.stderr)
            results["exports"].append(json.loads(done.stdout.strip().splitlines()[-1]))
            if not args.no_import:
                # The export imported back into a new project, in a fresh process.
                imported = Path(scratch) / "imported"
                imported.mkdir()
                command = [sys.executable, __file__, "--import-worker", format_id]
                done = subprocess.run(
                    [*command, str(target), str(imported)],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if done.returncode:
                    raise SystemExit(done.stderr)
                figures = json.loads(done.stdout.strip().splitlines()[-1])
                results.setdefault("imports", []).append(figures)
                results[f"{format_id}_import_fps"] = figures["frames_per_s"]
                results[f"{format_id}_import_peak_ratio"] = figures["peak_ratio"]
                results[f"{format_id}_import_peak_rss_mb"] = figures["peak_rss_mb"]
                subprocess.run(["rm", "-rf", str(imported)], check=True)
            subprocess.run(["rm", "-rf", str(target)], check=True)
        if args.stream_mb:
            big = Path(scratch) / "synthetic_coco.json"
            synthetic_coco(big, args.stream_mb)
            command = [sys.executable, __file__, "--stream-worker", str(big)]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode:
                raise SystemExit(done.stderr)
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            results["coco_stream"] = figures
            results["coco_stream_peak_ratio"] = figures["peak_ratio"]
            big.unlink()
        if args.many_frames:
            many = Path(scratch) / "many"
            many.mkdir()
            command = [sys.executable, __file__, "--many-worker", str(args.many_frames), str(many)]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode:
                raise SystemExit(done.stderr)
            results["coco_many_frames"] = json.loads(done.stdout.strip().splitlines()[-1])
            subprocess.run(["rm", "-rf", str(many)], check=True)
        for figures in results["exports"]:
            if figures["format"] == "cityscapes":
                results["cityscapes_fps"] = figures["frames_per_s"]
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
