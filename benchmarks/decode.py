"""Decode driving frames as roadmark does and as OpenCV alone does; print the times as JSON.

    python benchmarks/decode.py [--frames 8] [--size 2048x1024] [--repeats 5]

Frames of the synthetic drive are written as PNG (OpenCV's default compression, and
level 9 whose rows libpng filters with Paeth and the rest) and as JPEG (quality 95). Each
file is decoded by ``roadmark.io.frames.read_image`` (a PNG's image data inflated by ISA-L
and, where ``roadmark.io.fast_png`` is built, unfiltered by it, see ``roadmark.io.png_file``)
and by ``cv2.imread`` plus the RGB conversion that
``read_image`` makes, in turn, on one OpenCV thread; the figures are the median
milliseconds a frame over the repeats and the ratio of the two (``speedup``). The decoded
pixels are compared too (``same_pixels``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from roadmark.demo.drive import write_drive
from roadmark.io.frames import read_image


def _timed(decode, paths: list[Path], repeats: int) -> tuple[float, list[np.ndarray]]:
    runs, images = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        images = [decode(path) for path in paths]
        runs.append((time.perf_counter() - start) / len(paths) * 1000)
    return statistics.median(runs), images


def _opencv(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", default="2048x1024")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    cv2.setNumThreads(1)
    out: dict[str, object] = {"frames": args.frames, "size": args.size}
    with tempfile.TemporaryDirectory(prefix="decode-bench-") as folder:
        root = Path(folder)
        written = [path for path, _ in write_drive(root / "png", frames=args.frames,
                                                   width=width, height=height)]
        kinds = {"png": written}
        for name, suffix, params in (("png_level9", ".png", [cv2.IMWRITE_PNG_COMPRESSION, 9]),
                                     ("jpeg", ".jpg", [cv2.IMWRITE_JPEG_QUALITY, 95])):
            (root / name).mkdir()
            kinds[name] = []
            for path in written:
                target = root / name / path.with_suffix(suffix).name
                cv2.imwrite(str(target), cv2.imread(str(path)), params)
                kinds[name].append(target)
        for name, paths in kinds.items():
            read_image(paths[0]), _opencv(paths[0])  # (first use: libraries warmed up)
            ours, mine = _timed(read_image, paths, args.repeats)
            plain, theirs = _timed(_opencv, paths, args.repeats)
            out[name] = {
                "roadmark_ms": round(ours, 2),
                "opencv_ms": round(plain, 2),
                "speedup": round(plain / ours, 2),
                "same_pixels": all(np.array_equal(a, b) for a, b in zip(mine, theirs, strict=True)),
            }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
