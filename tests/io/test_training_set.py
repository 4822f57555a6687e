from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from roadmark.core.annotation import FrameStatus, Provenance
from roadmark.io.frames import scan
from roadmark.io.store import Project
from roadmark.io.training_set import is_trusted, labeled_frames, split_frames
from tests.helpers import make_image, region


def _project(tmp_path: Path, count: int) -> tuple[Project, list[int]]:
    project = Project.create(tmp_path / "p.roadmark")
    paths = [make_image(tmp_path / f"f{i}.png", seed=i) for i in range(count)]
    ids, _ = project.add_frames(scan(paths))
    return project, ids


def test_labeled_frames_are_finished_or_imported(tmp_path: Path):
    project, ids = _project(tmp_path, 6)
    road = project.schema.by_name["road"].id
    imported = Provenance.new("import:coco", "tester")
    model = Provenance.new("model:m", "tester", confidence=0.9)
    with project:
        project.add_objects(ids[0], [region(road, 0, 0, 10, 10)])
        project.set_frame_status(ids[0], FrameStatus.DONE)  # finished by a person
        project.add_objects(
            ids[1], [replace(region(road, 0, 0, 10, 10), provenance=imported)]
        )  # dataset
        project.add_objects(ids[2], [region(road, 0, 0, 10, 10)])  # in progress: partial
        project.set_frame_status(ids[2], FrameStatus.IN_PROGRESS)
        project.add_objects(
            ids[3], [replace(region(road, 0, 0, 10, 10), provenance=model)]
        )  # a guess
        project.add_objects(ids[4], [region(road, 0, 0, 10, 10)])
        project.set_frame_status(ids[4], FrameStatus.REJECTED)  # reviewer said wrong
        found = labeled_frames(project)
    assert [item.frame.id for item in found] == ids[:2]
    assert len(found[0].objects) == 1


def test_unverified_model_objects_are_not_trusted():
    model = replace(region(7, 0, 0, 1, 1), provenance=Provenance.new("model:m", "u"))
    verified = replace(
        region(7, 0, 0, 1, 1), provenance=Provenance.new("model:m", "u", verified=True)
    )
    assert not is_trusted(model)
    assert is_trusted(verified)
    assert is_trusted(region(7, 0, 0, 1, 1))


def test_split_holds_out_the_last_frames():
    frames = list(range(10))
    train, val = split_frames(frames, 0.2)  # type: ignore[arg-type]
    assert (train, val) == (list(range(8)), [8, 9])
    assert split_frames([1], 0.2) == ([1], [])  # type: ignore[list-item]
    assert split_frames([1, 2], 0.5) == ([1], [2])  # type: ignore[list-item]
