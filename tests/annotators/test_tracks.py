"""Track operations on a stored sequence: re-interpolation, delete, split, merge."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from roadmark.annotators.changes import apply_changes, as_keyframe, is_interpolated
from roadmark.annotators.errors import TrackError
from roadmark.annotators.sequence.tracks import (
    delete_track,
    load_sequence,
    merge_tracks,
    new_track_id,
    next_track_id,
    reinterpolate,
    set_track_command,
    split_track,
    summarize_tracks,
)
from roadmark.core.annotation import Box, ObjectKind
from roadmark.io.store import FrameSpec, Project
from tests.helpers import box, region

CAR, PERSON = 26, 24


@pytest.fixture
def project(tmp_path: Path):
    specs = [FrameSpec(tmp_path / "drive.mp4", i, 320, 240, "drive", i) for i in range(0, 13)]
    with Project.create(tmp_path / "p.roadmark", user="ann") as project:
        project.add_frames(specs)
        yield project


def _ids(project: Project) -> dict[int, int]:
    return {frame.sequence_index: frame.id for frame in project.frames()}


def _track(project: Project, track_id: int, kind: ObjectKind = ObjectKind.BOX):
    out = {}
    for item in load_sequence(project, "drive"):
        live = [
            o for o in item.objects if o.track_id == track_id and not o.deleted and o.kind is kind
        ]
        if live:
            out[item.position] = live
    return out


def test_keyframes_fill_the_frames_between_and_edits_become_keyframes(project: Project):
    ids = _ids(project)
    project.add_objects(ids[2], [box(CAR, 10, 10, 30, 30, track_id=1, instance_id=1)])
    project.add_objects(ids[10], [box(CAR, 90, 50, 110, 70, track_id=1, instance_id=1)])
    changes = reinterpolate(load_sequence(project, "drive"), 1, user="ann")
    assert all(c.is_add for c in changes) and len(changes) == 7
    apply_changes(project, changes)
    track = _track(project, 1)
    assert sorted(track) == list(range(2, 11))
    assert track[6][0].geometry == Box(50, 30, 70, 50) and is_interpolated(track[6][0])
    assert reinterpolate(load_sequence(project, "drive"), 1, user="ann") == []

    # Adjusting an interpolated box makes it a keyframe; the others follow, in place.
    uids_before = {p: objs[0].uid for p, objs in track.items()}
    edited = as_keyframe(replace(track[6][0], geometry=Box(50, 80, 70, 100)), "ann")
    project.update_objects([edited])
    changes = reinterpolate(load_sequence(project, "drive"), 1, user="ann")
    assert {c.before.uid for c in changes if c.before} == {
        uids_before[p] for p in (3, 4, 5, 7, 8, 9)
    }
    assert not any(c.is_add for c in changes)
    apply_changes(project, changes)
    track = _track(project, 1)
    assert track[4][0].geometry == Box(30, 45, 50, 65)
    assert track[8][0].geometry == Box(70, 65, 90, 85)
    (summary,) = summarize_tracks(load_sequence(project, "drive"))
    assert (summary.track_id, summary.kind, summary.label_id) == (1, ObjectKind.BOX, CAR)
    assert summary.keyframes == (2, 6, 10)
    assert summary.frames == tuple(range(2, 11)) and summary.interpolated == 6


def test_boxes_and_regions_of_one_track_interpolate_separately(project: Project):
    ids = _ids(project)
    for position, x in ((0, 0), (4, 40)):
        project.add_objects(
            ids[position],
            [box(CAR, x, 0, x + 10, 10, track_id=5), region(CAR, x, 0, x + 10, 10, track_id=5)],
        )
    apply_changes(project, reinterpolate(load_sequence(project, "drive"), 5, user="ann"))
    assert sorted(_track(project, 5, ObjectKind.REGION)) == [0, 1, 2, 3, 4]
    assert _track(project, 5, ObjectKind.REGION)[1][0].region.bounds == (10, 0, 20, 10)
    kinds = {(s.track_id, s.kind) for s in summarize_tracks(load_sequence(project, "drive"))}
    assert kinds == {(5, ObjectKind.BOX), (5, ObjectKind.REGION)}


def test_a_sequence_read_for_its_tracks_only_holds_tracked_objects_and_sums_up_alike(
    project: Project,
):
    ids = _ids(project)
    project.add_objects(
        ids[0], [box(CAR, 0, 0, 10, 10, track_id=3), region(PERSON, 20, 20, 40, 40)]
    )
    project.add_objects(ids[6], [box(CAR, 60, 0, 70, 10, track_id=3), box(CAR, 1, 1, 5, 5)])
    apply_changes(project, reinterpolate(load_sequence(project, "drive"), 3, user="ann"))
    whole = load_sequence(project, "drive")
    tracked = load_sequence(project, "drive", tracked_only=True)
    assert [item.frame for item in tracked] == [item.frame for item in whole]
    assert sum(len(item.objects) for item in tracked) == 7  # 2 keyframes, 5 interpolated
    assert sum(len(item.objects) for item in whole) == 9
    assert all(o.track_id == 3 for item in tracked for o in item.objects)
    assert summarize_tracks(tracked) == summarize_tracks(whole)


def test_interpolated_objects_get_a_free_instance_id(project: Project):
    ids = _ids(project)
    project.add_objects(ids[0], [box(CAR, 0, 0, 10, 10, track_id=1, instance_id=1)])
    project.add_objects(ids[2], [box(CAR, 20, 0, 30, 10, track_id=1, instance_id=1)])
    project.add_objects(ids[1], [box(CAR, 50, 50, 60, 60, track_id=2, instance_id=1)])
    apply_changes(project, reinterpolate(load_sequence(project, "drive"), 1, user="ann"))
    assert _track(project, 1)[1][0].instance_id == 2


def test_delete_track_soft_deletes_everything_of_it(project: Project):
    ids = _ids(project)
    project.add_objects(ids[0], [box(CAR, 0, 0, 10, 10, track_id=1), box(CAR, 0, 0, 5, 5)])
    project.add_objects(ids[3], [box(CAR, 30, 0, 40, 10, track_id=1)])
    apply_changes(project, reinterpolate(load_sequence(project, "drive"), 1, user="ann"))
    changes = delete_track(load_sequence(project, "drive"), 1, user="rev")
    assert len(changes) == 4 and all(c.after.deleted for c in changes)
    assert all(c.after.provenance.updated_by == "rev" for c in changes)
    apply_changes(project, changes)
    assert _track(project, 1) == {}
    assert len(project.objects(ids[0]).live()) == 1
    with pytest.raises(TrackError, match="track 1"):
        delete_track(load_sequence(project, "drive"), 1, user="rev")


def test_split_ends_each_part_at_its_last_keyframe(project: Project):
    ids = _ids(project)
    for position, x in ((2, 0), (6, 40), (10, 80)):
        project.add_objects(ids[position], [box(CAR, x, 0, x + 10, 10, track_id=1)])
    apply_changes(project, reinterpolate(load_sequence(project, "drive"), 1, user="ann"))
    new_id, changes = split_track(load_sequence(project, "drive"), 1, 6, user="ann")
    assert new_id == 2
    apply_changes(project, changes)
    first, second = _track(project, 1), _track(project, 2)
    assert sorted(first) == [2]  # the interpolated boxes 3..5 lost their second keyframe
    assert sorted(second) == list(range(6, 11))
    assert [is_interpolated(second[p][0]) for p in range(6, 11)] == [False, True, True, True, False]
    with pytest.raises(TrackError, match="without keyframes"):
        split_track(load_sequence(project, "drive"), 2, 11, user="ann")
    with pytest.raises(TrackError, match="in use"):
        split_track(load_sequence(project, "drive"), 2, 8, user="ann", new_track_id=1)


def test_merge_joins_two_tracks_and_fills_the_gap(project: Project):
    ids = _ids(project)
    for position, x, track in ((0, 0, 1), (4, 40, 1), (8, 80, 2), (12, 120, 2)):
        project.add_objects(ids[position], [box(CAR, x, 0, x + 10, 10, track_id=track)])
    sequence = load_sequence(project, "drive")
    for track in (1, 2):
        apply_changes(project, reinterpolate(load_sequence(project, "drive"), track, user="ann"))
    assert next_track_id(o for item in sequence for o in item.objects) == 3
    apply_changes(project, merge_tracks(load_sequence(project, "drive"), 1, 2, user="ann"))
    track = _track(project, 1)
    assert sorted(track) == list(range(13)) and _track(project, 2) == {}
    assert track[6][0].geometry == Box(60, 0, 70, 10) and is_interpolated(track[6][0])


def test_merge_refuses_conflicts(project: Project):
    ids = _ids(project)
    project.add_objects(ids[0], [box(CAR, 0, 0, 10, 10, track_id=1)])
    project.add_objects(ids[0], [box(CAR, 50, 0, 60, 10, track_id=2)])
    project.add_objects(ids[1], [box(PERSON, 0, 0, 10, 10, track_id=3)])
    project.add_objects(ids[2], [region(CAR, 0, 0, 10, 10, track_id=4)])
    sequence = load_sequence(project, "drive")
    with pytest.raises(TrackError, match=r"keyframe on frame\(s\) \[0\]"):
        merge_tracks(sequence, 1, 2, user="ann")
    with pytest.raises(TrackError, match="different labels"):
        merge_tracks(sequence, 1, 3, user="ann")
    with pytest.raises(TrackError, match="different kinds"):
        merge_tracks(sequence, 1, 4, user="ann")
    with pytest.raises(TrackError, match="itself"):
        merge_tracks(sequence, 1, 1, user="ann")
    with pytest.raises(TrackError, match="track 9"):
        merge_tracks(sequence, 1, 9, user="ann")


def test_set_track_on_selected_objects(bench):
    stored = bench.seed(
        [box(CAR, 0, 0, 10, 10), region(CAR, 0, 0, 10, 10), box(CAR, 50, 0, 60, 10)]
    )
    context = bench.editor.context
    assert new_track_id(bench.project, "s") == 1
    command = set_track_command(context, [stored[0].uid, stored[1].uid], 1)
    assert command is not None and command.text == "Track 1"
    bench.editor.execute(command)
    assert [o.track_id for o in bench.stored()] == [1, 1, None]
    assert new_track_id(bench.project, "s") == 2
    with pytest.raises(TrackError, match="one box per frame"):
        set_track_command(context, [stored[2].uid], 1)
    assert set_track_command(context, [stored[0].uid], 1) is None
    bench.editor.undo()
    assert [o.track_id for o in bench.stored()] == [None, None, None]
    bench.editor.execute(set_track_command(context, [stored[0].uid], 1))
    removal = set_track_command(context, [stored[0].uid], None)
    assert removal is not None and removal.text == "Remove from track"
