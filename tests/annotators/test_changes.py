"""Sequence changes as one undoable command; edits make machine-made objects keyframes."""

from __future__ import annotations

from dataclasses import replace

from roadmark.annotators.changes import (
    HUMAN,
    INTERPOLATED,
    PROPAGATED,
    ObjectChange,
    changes_command,
    is_machine_made,
)
from roadmark.core.annotation import Box
from roadmark.core.edits import CommandGroup
from roadmark.io.store import FrameSpec
from tests.annotators.conftest import Bench
from tests.helpers import box

CAR = 26


def _sourced(obj, source: str):
    return replace(obj, provenance=replace(obj.provenance, source=source, confidence=0.7))


def test_changes_on_two_frames_are_one_undo_step(bench: Bench, tmp_path):
    (other,), _ = bench.project.add_frames([FrameSpec(tmp_path / "g.png", None, 200, 100, "s", 1)])
    (kept,) = bench.seed([box(CAR, 0, 0, 10, 10, track_id=1)])
    moved = replace(kept, geometry=Box(5, 0, 15, 10))
    added = _sourced(box(CAR, 20, 0, 30, 10, track_id=1), INTERPOLATED)
    command = changes_command(
        [ObjectChange(bench.frame_id, kept, moved), ObjectChange(other, None, added)],
        "Interpolate track 1",
    )
    assert isinstance(command, CommandGroup) and command.frame_ids == (bench.frame_id, other)
    bench.editor.execute(command)
    assert bench.stored()[0].geometry == Box(5, 0, 15, 10)
    assert [o.provenance.source for o in bench.project.objects(other).live()] == [INTERPOLATED]
    bench.editor.undo()
    assert bench.stored()[0].geometry == Box(0, 0, 10, 10)
    assert bench.project.objects(other).live() == []
    bench.editor.redo()
    assert len(bench.project.objects(other).live()) == 1
    assert changes_command([], "nothing") is None


def test_editing_an_interpolated_or_propagated_object_makes_it_human(bench: Bench):
    stored = bench.seed(
        [
            _sourced(box(CAR, 0, 0, 10, 10, track_id=1), INTERPOLATED),
            _sourced(box(CAR, 50, 0, 60, 10, track_id=2), PROPAGATED),
            _sourced(box(CAR, 100, 0, 110, 10), "model:seg"),
        ]
    )
    assert [is_machine_made(o) for o in stored] == [True, True, False]
    bench.doc.select([o.uid for o in stored])
    bench.editor.nudge(1, 0)
    after = bench.stored()
    assert [o.provenance.source for o in after] == [HUMAN, HUMAN, "model:seg"]
    assert after[0].provenance.confidence is None and after[0].track_id == 1
    assert after[2].provenance.confidence == 0.7
    assert after[0].geometry == Box(1, 0, 11, 10)
