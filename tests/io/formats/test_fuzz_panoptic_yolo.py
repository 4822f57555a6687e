"""Fuzzing the COCO panoptic and YOLO importers: no input makes them fail with anything
but a RoadmarkError that names the file (and the project is unchanged when they fail)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from roadmark.core.errors import RoadmarkError
from roadmark.io.formats.coco_panoptic_read import id_to_rgb
from roadmark.io.formats.jobs import import_dataset
from roadmark.io.stats import project_info
from roadmark.io.store import Project
from tests.io.formats.conftest import make_images

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

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


def sometimes_anything(strategy: st.SearchStrategy, odds: int = 4) -> st.SearchStrategy:
    """``strategy`` most of the time (``odds`` to 1), any JSON value now and then."""
    return st.integers(0, odds).flatmap(lambda n: anything if n == 0 else strategy)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Project]]:
    """The images, a panoptic PNG with segments 1, 2 and 300, and one project for every
    example (one that fails must leave it as it was)."""
    root = tmp_path_factory.mktemp("fuzz")
    make_images(root, 1, width=64, height=48)
    make_images(root / "images" / "train", 1, width=64, height=48)
    (root / "labels" / "train").mkdir(parents=True)
    ids = np.zeros((48, 64), dtype=np.int64)
    ids[5:20, 5:30] = 1
    ids[25:40, 10:60] = 2
    ids[0:3, 50:64] = 300
    (root / "pan").mkdir()
    cv2.imwrite(str(root / "pan" / "frame0.png"), id_to_rgb(ids)[:, :, ::-1])
    with Project.create(root / "p.roadmark") as project:
        yield root, project


def _import(project: Project, fmt: str, path: Path) -> None:
    frames, objects = project.frame_count(), project_info(project)["objects"]
    try:
        report = import_dataset(project, fmt, path)
    except RoadmarkError as error:
        event(f"refused: {type(error).__name__} {(error.field or '').split('[')[0]}")
        assert error.path, f"{type(error).__name__} without a file: {error}"
        assert (project.frame_count(), project_info(project)["objects"]) == (frames, objects)
    else:
        event(f"imported {'no' if not report.objects else 'some'} objects")


segment = st.fixed_dictionaries(
    {
        "id": sometimes_anything(st.sampled_from([1, 2, 1, 2, 300, 7, 0, 256**3]), 8),
        "category_id": sometimes_anything(st.sampled_from([7, 26, 7, 26, 99]), 8),
    },
    optional={
        "iscrowd": sometimes_anything(st.sampled_from([0, 1])),
        "area": sometimes_anything(st.integers(0, 5000)),
        "bbox": anything,
        "score": sometimes_anything(st.floats(0, 1)),
        "roadmark": sometimes_anything(
            st.fixed_dictionaries(
                {},
                optional={
                    "object": sometimes_anything(st.integers(0, 3)),
                    "instance_id": anything,
                    "track_id": anything,
                    "attributes": anything,
                    "verified": anything,
                    "created_at": sometimes_anything(st.just("2024-01-01T00:00:00+00:00")),
                },
            )
        ),
    },
)
box = st.fixed_dictionaries(
    {
        "category_id": sometimes_anything(st.sampled_from([7, 26]), 8),
        "bbox": sometimes_anything(st.lists(st.floats(-10, 80), min_size=4, max_size=4), 8),
    },
    optional={"iscrowd": anything, "roadmark": anything},
)
unseen = st.fixed_dictionaries(
    {
        "category_id": sometimes_anything(st.sampled_from([7, 26]), 8),
        "wkt": sometimes_anything(
            st.sampled_from(
                ["POLYGON ((1 1, 9 1, 9 9, 1 1))", "POLYGON ((0 0, 5 5, 5 0, 0 5, 0 0))",
                 "POINT (1 1)", "POLYGON EMPTY", "POLYGON ((nan 1, 2 2, 3 1, nan 1))", "x"]
            ),
            8,
        ),
    },
    optional={"iscrowd": anything, "roadmark": anything},
)  # fmt: skip
annotation = st.fixed_dictionaries(
    {
        "image_id": sometimes_anything(st.sampled_from([1] * 6 + ["b"]), 10),
        "file_name": sometimes_anything(st.sampled_from(["frame0.png"] * 5 + ["../x.png"]), 10),
        "segments_info": sometimes_anything(
            st.lists(segment, max_size=3, unique_by=lambda info: repr(info["id"])), 10
        ),
    },
    optional={
        "roadmark": sometimes_anything(
            st.fixed_dictionaries(
                {"boxes": st.lists(box, max_size=2)}, optional={"unseen": st.lists(unseen)}
            )
        )
    },
)
panoptic_document = sometimes_anything(
    st.fixed_dictionaries(
        {
            "images": sometimes_anything(
                st.just([{"id": 1, "file_name": "frame0.png", "width": 64, "height": 48}]), 20
            ),
            "annotations": sometimes_anything(
                st.lists(annotation, min_size=1, max_size=1) | st.lists(annotation, max_size=2), 20
            ),
            "categories": sometimes_anything(
                st.just([{"id": 7, "name": "road", "isthing": 0}, {"id": 26, "name": "car"}]), 20
            ),
        }
    ),
    10,
)


@SETTINGS
@given(document=panoptic_document)
def test_panoptic_importer_never_crashes(workspace, document):
    root, project = workspace
    path = root / "pan.json"
    path.write_text(json.dumps(document))
    _import(project, "coco-panoptic", path)


token = st.one_of(
    st.floats(0, 1).map(lambda v: f"{v:.6f}"),
    st.integers(-1, 3).map(str),
    st.sampled_from(["nan", "inf", "1e309", "x", "-0.5", "1.5", "0.5e0"]),
)
label_line = st.one_of(
    st.tuples(st.integers(0, 2), st.lists(st.floats(0, 1), min_size=4, max_size=11)).map(
        lambda t: " ".join([str(t[0]), *(f"{v:.6f}" for v in t[1])])
    ),
    st.lists(token, min_size=0, max_size=12).map(" ".join),
)
label_text = st.lists(label_line, max_size=4).map("\n".join) | st.text(max_size=30)
yolo_yaml = sometimes_anything(
    st.fixed_dictionaries(
        {
            "names": sometimes_anything(st.just(["car", "road", "person"]), 8),
            "train": sometimes_anything(
                st.sampled_from(["images/train"] * 4 + ["nothing", "x.txt"]), 8
            ),
        },
        optional={
            "nc": sometimes_anything(st.just(3)),
            "path": sometimes_anything(st.sampled_from([".", ".", "/no/such"]), 8),
        },
    ),
    10,
)


@SETTINGS
@given(text=label_text, document=yolo_yaml)
def test_yolo_importer_never_crashes(workspace, text, document):
    root, project = workspace
    (root / "labels" / "train" / "frame0.txt").write_text(text)
    path = root / "data.yaml"
    path.write_text(yaml.safe_dump(document))
    _import(project, "yolo", path)


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=64))
def test_arbitrary_bytes_are_refused_cleanly(workspace, data: bytes):
    root, project = workspace
    for fmt, path in (
        ("coco-panoptic", root / "pan.json"),
        ("yolo", root / "data.yaml"),
        ("yolo", root / "labels" / "train" / "frame0.txt"),
    ):
        if fmt == "yolo" and path.suffix == ".txt":
            (root / "data.yaml").write_text("train: images/train\nnames: [car]\n")
        path.write_bytes(data)
        _import(project, fmt, root / "data.yaml" if fmt == "yolo" else path)
