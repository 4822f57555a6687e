"""A hand-made Cityscapes-format frame: a street scene drawn with integer polygons the way
annotators click them (slanted edges everywhere, fine outlines, thin poles, a crowd region,
a deleted object, a bow tie), written as ``*_gtFine_polygons.json`` with its image."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from roadmark.io.frames import write_image

WIDTH, HEIGHT = 2048, 1024
BASE = "handmade_000000_000001"


def _blob(rng: np.random.Generator, cx: float, cy: float, rx: float, ry: float, n: int):
    angles = np.sort(rng.uniform(0, 2 * math.pi, n))
    radius = rng.uniform(0.7, 1.0, n)
    return [
        [round(cx + rx * r * math.cos(a)), round(cy + ry * r * math.sin(a))]
        for a, r in zip(angles, radius, strict=True)
    ]


def scene_objects(seed: int = 0) -> list[dict]:
    """The objects of the scene in z-order."""
    rng = np.random.default_rng(seed)
    objects: list[dict] = []

    def add(label: str, polygon: list[list[int]], **extra) -> None:
        objects.append({"label": label, "polygon": polygon, **extra})

    skyline = [[0, 0], [2047, 0], [2047, 300]]
    for x in range(2000, 0, -73):
        skyline.append([x, int(260 + 60 * math.sin(x / 97.0) + rng.integers(-20, 20))])
    skyline.append([0, 310])
    add("sky", skyline)
    add("road", [[0, 1023], [0, 760], [870, 455], [1190, 452], [2047, 801], [2047, 1023]])
    add("sidewalk", [[0, 760], [0, 655], [860, 447], [875, 456]])
    add("sidewalk", [[2047, 801], [1188, 452], [1210, 446], [2047, 690]])
    for k, (x0, x1) in enumerate([(0, 410), (395, 700), (690, 865), (1205, 1500), (1480, 2047)]):
        top0, top1 = 120 + 40 * k % 90, 180 + 35 * k % 70
        bottom0 = 560 - 0.23 * x0 if x0 < 1000 else 450 + 0.18 * (x0 - 1200)
        bottom1 = 560 - 0.23 * x1 if x1 < 1000 else 450 + 0.18 * (x1 - 1200)
        add(
            "building",
            [[x0, int(top0)], [x1, int(top1)], [x1, int(bottom1)], [x0, int(bottom0)]],
        )
    for _ in range(6):
        cx, cy = rng.uniform(100, 1950), rng.uniform(250, 420)
        add("vegetation", _blob(rng, cx, cy, rng.uniform(40, 140), rng.uniform(40, 110), 40))
    for x in (310, 640, 1390, 1760):
        lean = int(rng.integers(-6, 7))
        add("pole", [[x, 200], [x + 5, 200], [x + 7 + lean, 640], [x + 1 + lean, 641]])
        add("traffic sign", _blob(rng, x + 3, 215, 18, 18, 8))
    add("cargroup", [[880, 470], [1000, 462], [1012, 520], [884, 528]])
    for k in range(7):
        cx, cy = 200 + 260 * k + rng.uniform(-30, 30), 640 + 40 * (k % 3)
        w, h = rng.uniform(90, 200), rng.uniform(50, 100)
        add("car", _blob(rng, cx, cy, w, h, 14), user="annotator3", date="28-Feb-2016 14:48:51")
    for k in range(5):
        cx, cy = 150 + 400 * k + rng.uniform(-40, 40), 600 + rng.uniform(-20, 40)
        add("person", _blob(rng, cx, cy, rng.uniform(12, 25), rng.uniform(45, 80), 16))
    add("person", [[1000, 700], [1010, 700], [1010, 760]], deleted=1)
    add("bicycle", [[1500, 700], [1560, 760], [1560, 700], [1500, 760]])  # a bow tie
    add("ego vehicle", [[0, 1023], [0, 960], [700, 930], [1400, 935], [2047, 970], [2047, 1023]])
    return objects


def write_example(folder: Path, seed: int = 0) -> Path:
    """Write the json and its image in ``folder``; returns the json path."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    write_image(
        folder / f"{BASE}_leftImg8bit.png",
        rng.integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8),
    )
    path = folder / f"{BASE}_gtFine_polygons.json"
    document = {"imgHeight": HEIGHT, "imgWidth": WIDTH, "objects": scene_objects(seed)}
    path.write_text(json.dumps(document), encoding="utf-8")
    return path
