"""``roadmark new``, ``add`` and ``info``: create projects, add frames, count things."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    new = subparsers.add_parser("new", help="create an empty project")
    new.add_argument(
        "project", help="the .roadmark file to create, or a postgresql://HOST/DATABASE URL"
    )
    new.add_argument(
        "--schema",
        default="cityscapes",
        help="'cityscapes' (default), 'kitti', 'bdd100k' or a JSON/YAML schema file",
    )
    new.set_defaults(handler=cmd_new)

    add = subparsers.add_parser("add", help="add images, folders or videos as frames")
    add.add_argument("project", help="the .roadmark file or database URL")
    add.add_argument("paths", type=Path, nargs="+", metavar="PATH")
    add.add_argument("--every", type=int, default=1, metavar="N", help="every Nth video frame")
    add.add_argument("--start", type=int, default=0, metavar="N", help="first video frame kept")
    add.add_argument(
        "--end", type=int, default=None, metavar="N", help="leave out video frames from N on"
    )
    add.add_argument(
        "--extract",
        nargs="?",
        const="png",
        choices=("png", "jpg"),
        metavar="FORMAT",
        help="decode video frames once into NAME-frames/ beside the project (png or jpg) "
        "and add those images: faster to browse than seeking in the video",
    )
    add.set_defaults(handler=cmd_add)

    info = subparsers.add_parser("info", help="counts: frames, objects, labels, statuses")
    info.add_argument("project")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(handler=cmd_info)


def cmd_new(args: argparse.Namespace) -> int:
    from roadmark.io.locations import is_url
    from roadmark.io.schema_files import load_schema
    from roadmark.io.store import PROJECT_SUFFIX, Project

    location: str | Path = args.project
    if not is_url(location):
        path = Path(location)
        location = (
            path if path.suffix == PROJECT_SUFFIX else path.with_name(path.name + PROJECT_SUFFIX)
        )
    schema = load_schema(args.schema)
    with Project.create(location, schema) as project:
        shown = project.location if is_url(location) else location
    print(f"created {shown} (schema {schema.name}, {len(schema)} labels)")
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from roadmark.io.frames import scan
    from roadmark.io.store import Project

    with Project.open(args.project) as project:
        with tqdm(desc="checking images", unit="img", leave=False, disable=None) as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            specs = scan(
                args.paths, every=args.every, start=args.start, end=args.end, progress=progress
            )
        if args.extract:
            from roadmark.io.errors import FrameSourceError
            from roadmark.io.video_cache import extract_frames, frame_folder

            if "://" in project.location:
                raise FrameSourceError(
                    "frames can only be extracted beside a project file, not a database URL",
                    field="--extract",
                )

            with tqdm(desc="extracting frames", unit="frame", leave=False, disable=None) as bar:

                def extracted(done: int, total: int) -> None:
                    bar.total = total
                    bar.update(done - bar.n)

                specs = extract_frames(
                    specs,
                    frame_folder(Path(project.location)),
                    image_format=args.extract,
                    progress=extracted,
                )
        added, skipped = project.add_frames(specs)
        total = project.frame_count()
    note = f", {skipped} already in the project" if skipped else ""
    print(f"added {len(added)} frames{note}; {total} in total")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from roadmark.io.stats import project_info
    from roadmark.io.store import Project

    with Project.open(args.project, read_only=True) as project:
        info = project_info(project)
        location = str(project.location)
    if "://" not in location:  # the cache beside a project file (embeddings; safe to delete)
        from roadmark.io.embedding_cache import cache_folder, folder_bytes

        info["cache_bytes"] = folder_bytes(cache_folder(Path(location)))
    if args.json:
        print(json.dumps(info, indent=1))
    else:
        print(format_info(info))
    return 0


def format_info(info: dict[str, Any]) -> str:
    lines = [
        f"project  {info['project']}",
        f"schema   {info['schema']} ({info['labels']} labels)",
        f"frames   {info['frames']}  "
        + "  ".join(f"{k}={v}" for k, v in info["statuses"].items() if v),
        f"objects  {info['objects']}  "
        + "  ".join(f"{k}={v}" for k, v in info["objects_by_kind"].items()),
    ]
    if info["objects_by_source"]:
        lines.append(
            "sources  " + "  ".join(f"{k}={v}" for k, v in info["objects_by_source"].items())
        )
    if info["objects_by_label"]:
        lines.append(
            "labels   " + "  ".join(f"{k}={v}" for k, v in info["objects_by_label"].items())
        )
    if info.get("cache_bytes"):
        lines.append(f"cache    {info['cache_bytes'] / 1e6:.1f} MB (embeddings; safe to delete)")
    return "\n".join(lines)
