"""Projects with every kind of object the formats must carry, and helpers to compare them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon

from roadmark.core.annotation import AnnotationObject, Box, Provenance
from roadmark.core.schema import cityscapes_schema
from roadmark.demo.drive import render_frame
from roadmark.io.frames import scan, write_image
from roadmark.io.store import Project

SCHEMA = cityscapes_schema()
WIDTH, HEIGHT = 160, 96
T0 = datetime(2024, 3, 1, 9, 30, 0, tzinfo=UTC)
T1 = datetime(2024, 3, 2, 17, 5, 12, tzinfo=UTC)


def label(name: str) -> int:
    return SCHEMA.label(name).id


def prov(source: str = "human", user: str = "ana", **extra) -> Provenance:
    return Provenance(source, user, T0, "ben", T1, **extra)


def rich_objects() -> list[AnnotationObject]:
    """Every kind of object, in z-order: stuff, a region with a hole, instances, a crowd,
    a two-part object, slanted edges, a box, a model box with a score, a deleted object."""
    building = Polygon(
        [(2, 2), (70, 2), (70, 50), (2, 50)], [[(20, 15), (40, 15), (40, 35), (20, 35)]]
    )
    person = MultiPolygon(
        [shapely.box(100.5, 40.25, 108.75, 70), shapely.box(112, 44, 118.5, 66.5)]
    )
    return [
        AnnotationObject(label("road"), shapely.box(0, 60, WIDTH, HEIGHT), prov()),
        AnnotationObject(label("building"), building, prov(verified=True)),
        AnnotationObject(
            label("car"),
            Polygon([(30.3, 55.2), (75.8, 52.1), (82.4, 80.6), (28.1, 84.9)]),
            prov(),
            instance_id=1,
            track_id=7,
            attributes={"occluded": True, "truncated": False},
        ),
        AnnotationObject(
            label("car"), shapely.box(120, 70, 150, 90), prov(), instance_id=2, track_id=8
        ),
        AnnotationObject(label("car"), shapely.box(84, 62, 118, 80), prov(), crowd=True),
        AnnotationObject(label("person"), person, prov(), instance_id=1, track_id=9),
        AnnotationObject(
            label("sky"), Polygon([(80, 0), (158, 0), (150, 30.7), (95.2, 22.9)]), prov()
        ),
        AnnotationObject(label("sidewalk"), shapely.box(0, 86, 60, 96), prov(), deleted=True),
        AnnotationObject(label("traffic sign"), Box(10.5, 5.25, 18.75, 14.0), prov()),
        AnnotationObject(
            label("car"),
            Box(121.0, 71.5, 149.0, 89.0),
            prov(source="model:demo", confidence=0.875),
            track_id=8,
        ),
    ]


def make_images(folder: Path, count: int, width: int = WIDTH, height: int = HEIGHT) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for index in range(count):
        rng = np.random.default_rng(index)
        path = folder / f"frame{index}.png"
        write_image(path, rng.integers(0, 255, (height, width, 3), dtype=np.uint8))
        out.append(path)
    return out


def project_with(path: Path, frames: list[tuple[Path, list[AnnotationObject]]]) -> Project:
    project = Project.create(path, user="tester")
    specs = scan([image for image, _ in frames])
    with project.transaction():
        ids, _ = project.add_frames(specs)
        for frame_id, (_, objects) in zip(ids, frames, strict=True):
            project.add_objects(frame_id, objects)
    return project


@pytest.fixture
def rich_project(tmp_path: Path) -> Project:
    """Two frames: every kind of object, and a few of them again on a second frame."""
    images = make_images(tmp_path / "images", 2)
    objects = rich_objects()
    again = [replace(obj, deleted=False) for obj in objects[:3]]
    project = project_with(tmp_path / "rich.roadmark", [(images[0], objects), (images[1], again)])
    yield project
    project.close()


def demo_project(path: Path, *, frames: int = 2, width: int = 256, height: int = 128) -> Project:
    """Frames of the synthetic drive with their ground truth."""
    folder = path.parent / f"{path.stem}-images"
    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for index in range(frames):
        rendered = render_frame(index, frames=frames, width=width, height=height)
        image = folder / f"demo_000000_{index:06d}_leftImg8bit.png"
        write_image(image, rendered.image)
        items.append((image, rendered.objects))
    return project_with(path, items)


def all_objects(project: Project) -> list[list[AnnotationObject]]:
    return [list(project.objects(frame.id)) for frame in project.frames()]


def assert_same_objects(
    first: list[list[AnnotationObject]],
    second: list[list[AnnotationObject]],
    tolerance=0.01,
    *,
    provenance: bool = True,
) -> None:
    """Same frames, and on each the same objects in the same order (labels, geometry,
    flags, ids, attributes and, unless ``provenance`` is false, provenance)."""
    assert len(first) == len(second)
    for frame_index, (a_objects, b_objects) in enumerate(zip(first, second, strict=True)):
        assert len(a_objects) == len(b_objects), f"frame {frame_index}"
        for index, (a, b) in enumerate(zip(a_objects, b_objects, strict=True)):
            where = f"frame {frame_index} object {index}"
            assert a.same_content(b, tolerance=tolerance), where
            if provenance:
                assert a.provenance == b.provenance, where
