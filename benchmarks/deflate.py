"""The Cityscapes export's label maps compressed by the compiled deflate and by Python's
zlib, side by side; prints one JSON object.

    python benchmarks/deflate.py [--frames 6] [--size 2048x1024] [--repeats 5]

Frames of the synthetic drive (``roadmark.demo.drive.render_frame``, about 100 regions a
frame at 2048x1024, as in ``benchmarks/export.py``) are written as a Cityscapes export
writes them (``cityscapes_files.write_frame``: trace, rasterize, encode the four maps,
JSON, image copy). The filtered rows each map's PNG compresses are caught on their way to
``raw_deflate`` and compressed again, in turn, by ``roadmark.io.fast_deflate`` (csrc/, built
by pip where a C compiler is found) and by ``zlib.compress``: ``maps_ms`` is the median
milliseconds for a frame's four maps, ``same_bytes`` whether every stream is identical.
``write_frame_ms`` times the whole frame both ways (the module switched off for the zlib
figure), on one OpenCV thread.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import cv2

from roadmark.core.annotation import Frame
from roadmark.core.schema import cityscapes_schema
from roadmark.demo.drive import render_frame
from roadmark.io import deflate
from roadmark.io.formats import owner_png
from roadmark.io.formats.cityscapes_files import write_frame
from roadmark.io.formats.common import ExportFrame
from roadmark.io.frames import write_image


def _median_ms(run: Callable[[], None], repeats: int, per: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) / per * 1000)
    return round(statistics.median(times), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--size", default="2048x1024")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    cv2.setNumThreads(1)
    schema = cityscapes_schema()
    compiled = deflate.fast_deflate
    out: dict[str, object] = {"frames": args.frames, "size": args.size,
                              "compiled": compiled is not None}
    with tempfile.TemporaryDirectory(prefix="deflate-bench-") as folder:
        root = Path(folder)
        items = []
        for index in range(args.frames):
            rendered = render_frame(index, frames=args.frames, width=width, height=height)
            path = root / f"bench_000000_{index:06d}_leftImg8bit.png"
            write_image(path, rendered.image)
            frame = Frame(index + 1, path.name, None, width, height, "bench", index)
            items.append(ExportFrame(frame, path, list(rendered.objects), {}))
        gt, left = root / "gt", root / "left"
        gt.mkdir()
        left.mkdir()

        def export_all() -> None:
            for index, item in enumerate(items):
                write_frame(item, gt, left, f"f{index}", schema)

        rows: list[bytes] = []
        passing = owner_png.raw_deflate

        def catch(data: bytes | bytearray | memoryview, level: int) -> bytes:
            rows.append(bytes(data))
            return passing(data, level)

        owner_png.raw_deflate = catch  # type: ignore[assignment]
        try:
            export_all()  # (also the first map of each kind checked against OpenCV)
        finally:
            owner_png.raw_deflate = passing  # type: ignore[assignment]
        out["maps"] = len(rows)
        out["filtered_mb_per_frame"] = round(sum(map(len, rows)) / args.frames / 2**20, 1)
        level = owner_png.LEVEL
        maps_ms = {"zlib": _median_ms(
            lambda: [zlib.compress(data, level, wbits=-15) for data in rows],
            args.repeats, args.frames)}
        if compiled is not None:
            maps_ms["compiled"] = _median_ms(
                lambda: [compiled.compress(data, level) for data in rows],
                args.repeats, args.frames)
            out["same_bytes"] = all(
                compiled.compress(data, level) == zlib.compress(data, level, wbits=-15)
                for data in rows)
            out["maps_speedup"] = round(maps_ms["zlib"] / maps_ms["compiled"], 2)
        out["maps_ms"] = maps_ms
        frame_ms = {}
        for name, module in (("zlib", None), ("compiled", compiled)):
            if name == "compiled" and module is None:
                continue
            deflate.fast_deflate = module
            try:
                frame_ms[name] = _median_ms(export_all, args.repeats, args.frames)
            finally:
                deflate.fast_deflate = compiled
        out["write_frame_ms"] = frame_ms
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
