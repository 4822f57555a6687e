"""Fuzzing the importers: no input makes them fail with anything but a RoadmarkError that
names the file (and the project is unchanged whenever they fail)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from shapely.geometry import Polygon

from roadmark.core.annotation import as_region
from roadmark.core.errors import GeometryError, RoadmarkError
from roadmark.core.raster import region_mask
from roadmark.io.formats.cityscapes_geometry import fill, polygon_to_region, region_to_polygons
from roadmark.io.formats.jobs import import_dataset
from roadmark.io.stats import project_info
from roadmark.io.store import Project
from tests.io.formats.conftest import make_images

NAME = "fz_000000_000001"
_INDEX = re.compile(r"\[\d+\]|\(.*\)")
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 70),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
anything = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


def _maybe(strategy: st.SearchStrategy, odds: int = 4) -> st.SearchStrategy:
    """``strategy`` most of the time (``odds`` to 1), anything JSON now and then."""
    return st.integers(0, odds).flatmap(lambda n: anything if n == 0 else strategy)


coordinate = _maybe(st.one_of(st.integers(-10, 80), st.floats(-10, 80)), 60)
point = _maybe(st.lists(coordinate, min_size=2, max_size=2), 60)
polygon = _maybe(st.lists(point, min_size=2, max_size=7), 30)
labels = st.sampled_from(["car", "road", "cargroup", "person", "polegroup", "nothing", ""])


cityscapes_object = st.fixed_dictionaries(
    {"label": _maybe(labels), "polygon": polygon},
    optional={
        "deleted": _maybe(st.sampled_from([0, 1])),
        "verified": _maybe(st.sampled_from([0, 1])),
        "user": _maybe(st.text(max_size=5)),
        "date": _maybe(st.sampled_from(["28-Feb-2016 14:48:51", "yesterday"])),
        "roadmark": _maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "object": _maybe(st.integers(0, 3)),
                    "instance_id": anything,
                    "attributes": anything,
                    "created_at": _maybe(st.just("2024-01-01T00:00:00+00:00")),
                    "verified": anything,
                    "confidence": anything,
                },
            )
        ),
    },
)
cityscapes_document = _maybe(
    st.fixed_dictionaries(
        {
            "imgHeight": _maybe(st.just(48), 30),
            "imgWidth": _maybe(st.just(64), 30),
            "objects": _maybe(st.lists(cityscapes_object, max_size=5), 20),
        }
    ),
    10,
)

flat_polygon = st.lists(coordinate, min_size=4, max_size=12)
rle = st.fixed_dictionaries(
    {
        "size": _maybe(st.just([48, 64]), 10),
        "counts": _maybe(st.lists(st.integers(0, 3100), max_size=5)),
    }
) | st.fixed_dictionaries({"size": st.just([48, 64]), "counts": st.text(max_size=12)})
coco_annotation = st.fixed_dictionaries(
    {
        "image_id": _maybe(st.sampled_from([0, "b"]), 10),
        "category_id": _maybe(st.sampled_from([0, 1, 0]), 10),
    },
    optional={
        "id": _maybe(st.integers(0, 3)),
        "segmentation": st.one_of(
            st.lists(_maybe(flat_polygon, 10), min_size=1, max_size=3),
            st.lists(_maybe(flat_polygon, 10), min_size=1, max_size=3),
            rle,
            anything,
        ),
        "bbox": _maybe(st.lists(coordinate, min_size=4, max_size=4)),
        "iscrowd": _maybe(st.sampled_from([0, 1]), 10),
        "score": _maybe(st.floats(0, 1)),
        "attributes": _maybe(st.fixed_dictionaries({}, optional={"occluded": anything})),
        "track_id": _maybe(st.integers(0, 9)),
        "roadmark": anything,
    },
)
coco_image = st.fixed_dictionaries(
    {
        "id": _maybe(st.sampled_from([0, "b"]), 10),
        "file_name": _maybe(st.sampled_from(["frame0.png"] * 6 + ["../x.png", "a/b.png"]), 10),
        "width": _maybe(st.just(64), 20),
        "height": _maybe(st.just(48), 20),
    }
)
coco_document = _maybe(
    st.fixed_dictionaries(
        {
            "images": _maybe(
                st.lists(coco_image, min_size=1, max_size=2, unique_by=lambda i: repr(i["id"])),
                20,
            ),
            "categories": _maybe(
                st.just([{"id": 0, "name": "car"}, {"id": 1, "name": "tramway"}]), 20
            ),
            "annotations": _maybe(st.lists(coco_annotation, max_size=4), 20),
        },
        optional={
            "info": _maybe(
                st.fixed_dictionaries(
                    {},
                    optional={"roadmark": _maybe(st.fixed_dictionaries({"images_root": anything}))},
                )
            )
        },
    ),
    10,
)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Project]]:
    """One folder with the images and one project for every example (an example that
    imports adds to it; one that fails must leave it as it was)."""
    root = tmp_path_factory.mktemp("fuzz")
    image = make_images(root, 1, width=64, height=48)[0]
    image.rename(root / f"{NAME}_leftImg8bit.png")
    make_images(root, 1, width=64, height=48)
    with Project.create(root / "p.roadmark") as project:
        yield root, project


def _import(project: Project, fmt: str, path: Path) -> None:
    frames, objects = project.frame_count(), project_info(project)["objects"]
    try:
        report = import_dataset(project, fmt, path)
    except RoadmarkError as error:
        field = _INDEX.sub("", error.field or "")
        event(f"refused: {type(error).__name__} {field}")
        assert error.path, f"{type(error).__name__} without a file: {error}"
        assert (project.frame_count(), project_info(project)["objects"]) == (frames, objects)
    else:
        event(f"imported {'no' if not report.objects else 'some'} objects")


@SETTINGS
@given(document=cityscapes_document)
def test_cityscapes_importer_never_crashes(workspace, document):
    root, project = workspace
    path = root / f"{NAME}_gtFine_polygons.json"
    path.write_text(json.dumps(document))
    _import(project, "cityscapes", path)


@SETTINGS
@given(document=coco_document)
def test_coco_importer_never_crashes(workspace, document):
    root, project = workspace
    path = root / "coco.json"
    path.write_text(json.dumps(document))
    _import(project, "coco", path)


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=64))
def test_arbitrary_bytes_are_refused_cleanly(workspace, data: bytes):
    root, project = workspace
    for fmt, name in (("cityscapes", f"{NAME}_gtFine_polygons.json"), ("coco", "c.json")):
        path = root / name
        path.write_bytes(data)
        _import(project, fmt, path)


finite = st.floats(-20, 120, allow_nan=False, allow_infinity=False)
lattice = st.integers(-5, 70)


@settings(max_examples=150, deadline=None)
@given(points=st.lists(st.tuples(lattice, lattice), min_size=3, max_size=9))
def test_any_integer_polygon_imports_as_a_valid_region(points):
    imported = polygon_to_region(points)
    assert imported.region.is_valid and imported.region.area > 0


@settings(max_examples=150, deadline=None)
@given(points=st.lists(st.tuples(finite, finite), min_size=3, max_size=9))
def test_any_region_exports_to_polygons_cityscapesscripts_fills_exactly(points):
    try:
        region = as_region(Polygon(points))
    except GeometryError:
        return
    exported = region_to_polygons(region, 64, 96)
    assert exported.mismatched == 0
    if exported.traced:
        drawn = fill(exported.polygons, 64, 96)
        assert np.array_equal(drawn, region_mask(region, 64, 96))
    for polygon in exported.polygons:
        assert len(polygon) >= 3 and all(isinstance(v, int) for p in polygon for v in p)
