"""Fuzzing the KITTI and BDD100K importers, and every registered format by mutating its own
export: no input makes an import fail with anything but a RoadmarkError that names the
file, and the project is unchanged whenever one fails."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roadmark.io.formats import Capability, get_format, registered_formats
from roadmark.io.formats.jobs import export_dataset
from roadmark.io.store import Project
from tests.io.formats.conftest import make_images, project_with, rich_objects
from tests.io.formats.test_fuzz import _import, _maybe, anything, coordinate

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROUND_TRIP = sorted(
    set(registered_formats(Capability.IMPORT)) & set(registered_formats(Capability.EXPORT))
)

number_token = st.one_of(
    st.sampled_from(["0", "1", "2", "3", "-1", "-10", "-1000", "0.50", "nan", "inf", "x", "1e999"]),
    st.floats(-50, 200).map(lambda v: f"{v:.2f}"),
)
kitti_type = st.sampled_from(["Car", "Pedestrian", "DontCare", "traffic_sign", "Tram", ""])
kitti_line = st.builds(
    lambda name, values: " ".join([name, *values]),
    kitti_type,
    st.integers(0, 5).flatmap(
        lambda n: (
            st.lists(number_token, min_size=12, max_size=16)
            if n == 0
            else st.lists(number_token, min_size=14, max_size=15)
        )
    ),
)
box2d = st.fixed_dictionaries(
    {"x1": coordinate, "y1": coordinate, "x2": coordinate, "y2": coordinate}
)
poly2d = st.fixed_dictionaries(
    {"vertices": _maybe(st.lists(st.lists(coordinate, min_size=2, max_size=2), max_size=6))},
    optional={
        "types": _maybe(st.text(alphabet="LC", max_size=6)),
        "closed": _maybe(st.booleans()),
    },
)
bdd_label = st.fixed_dictionaries(
    {"category": _maybe(st.sampled_from(["car", "pedestrian", "road", "bike", ""]))},
    optional={
        "id": _maybe(st.one_of(st.integers(0, 5), st.sampled_from(["1", "a", "007"]))),
        "box2d": _maybe(box2d),
        "poly2d": _maybe(st.lists(poly2d, max_size=2)),
        "rle": _maybe(
            st.fixed_dictionaries({"size": _maybe(st.just([48, 64])), "counts": st.text()})
        ),
        "attributes": _maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "occluded": anything,
                    "crowd": _maybe(st.booleans()),
                    "trafficLightColor": anything,
                },
            )
        ),
        "score": _maybe(st.floats(0, 1)),
        "roadmark": anything,
    },
)
bdd_frame = st.fixed_dictionaries(
    {"name": _maybe(st.sampled_from(["frame0.png"] * 5 + ["../x.png", "v/frame0.png"]), 10)},
    optional={
        "videoName": _maybe(st.sampled_from(["v", "w"])),
        "frameIndex": _maybe(st.integers(0, 3)),
        "size": _maybe(st.just({"width": 64, "height": 48})),
        "labels": _maybe(st.lists(bdd_label, max_size=4), 10),
    },
)
bdd_document = _maybe(
    st.one_of(
        st.lists(bdd_frame, max_size=2, unique_by=lambda f: repr(f["name"])),
        st.fixed_dictionaries({"frames": st.lists(bdd_frame, max_size=1)}),
    ),
    10,
)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Project]]:
    root = tmp_path_factory.mktemp("fuzz2")
    make_images(root, 1, width=64, height=48)
    make_images(root / "kitti" / "image_2", 1, width=64, height=48)[0].rename(
        root / "kitti" / "image_2" / "000000.png"
    )
    (root / "kitti" / "label_2").mkdir()
    with Project.create(root / "p.roadmark") as project:
        yield root, project


@SETTINGS
@given(document=bdd_document)
def test_bdd100k_importer_never_crashes(workspace, document):
    root, project = workspace
    path = root / "bdd.json"
    path.write_text(json.dumps(document))
    _import(project, "bdd100k", path)


@SETTINGS
@given(lines=st.lists(kitti_line, max_size=4), blank=st.booleans())
def test_kitti_importer_never_crashes(workspace, lines, blank):
    root, project = workspace
    text = "\n".join(lines) + ("\n\n" if blank else "")
    (root / "kitti" / "label_2" / "000000.txt").write_text(text)
    _import(project, "kitti", root / "kitti")


# -- every format: its own export, mutated ------------------------------------------------------


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[Path, Project]]]:
    """Per format: its export of the rich frame, and a project to import into."""
    root = tmp_path_factory.mktemp("mutate")
    image = make_images(root / "images", 1)[0]
    out: dict[str, tuple[Path, Project]] = {}
    with project_with(root / "rich.roadmark", [(image, rich_objects())]) as rich:
        for format_id in ROUND_TRIP:
            fmt = get_format(format_id)
            target = root / (format_id + (fmt.suffix if fmt.output == "file" else ""))
            export_dataset(rich, format_id, target)
            out[format_id] = (target, Project.create(root / f"{format_id}.roadmark"))
    yield out
    for _, project in out.values():
        project.close()


def _text_files(target: Path) -> list[Path]:
    if target.is_file():
        return [target]
    return sorted(p for p in target.rglob("*") if p.suffix in (".json", ".txt"))


tokens = [b"-", b"1e999", b'"', b"{", b"]", b",", b"null", b"NaN", b"9", b"0", b" ", b"\n", b"x"]
payloads = st.integers(0, 5).flatmap(
    lambda n: (
        st.binary(min_size=1, max_size=4)
        if n == 0
        else st.lists(st.sampled_from(tokens), min_size=1, max_size=2).map(b"".join)
    )
)


@pytest.mark.parametrize("format_id", ROUND_TRIP)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    choice=st.integers(0, 10_000),
    where=st.integers(0, 1 << 20),
    kind=st.sampled_from(["replace"] * 3 + ["insert"] * 2 + ["truncate"]),
    payload=payloads,
)
def test_a_mutated_export_imports_or_is_refused_cleanly(
    exports, format_id: str, choice: int, where: int, kind: str, payload: bytes
):
    target, project = exports[format_id]
    files = _text_files(target)
    file = files[choice % len(files)]
    original = file.read_bytes()
    at = where % (len(original) + 1)
    if kind == "replace":
        mutated = original[:at] + payload + original[at + len(payload) :]
    elif kind == "insert":
        mutated = original[:at] + payload + original[at:]
    else:
        mutated = original[:at]
    try:
        file.write_bytes(mutated)
        _import(project, format_id, target)
    finally:
        file.write_bytes(original)


def test_the_mutation_fuzzer_covers_the_new_formats():
    assert {"kitti", "bdd100k"} <= set(ROUND_TRIP)
