"""Selection actions: delete, relabel, attributes, nudge, z-order, instance ids."""

from __future__ import annotations

import pytest

from roadmark.annotators import actions
from roadmark.annotators.editor import Editor, default_label, touched_uids
from roadmark.annotators.tools.base import ToolError
from roadmark.core.annotation import Box
from roadmark.core.edits import EditError, SetZOrder
from roadmark.core.errors import SchemaError
from tests.annotators.conftest import Bench
from tests.helpers import box, region


def test_delete_is_soft_and_undoable(bench: Bench):
    a, b = bench.seed([region(7, 0, 0, 10, 10), box(26, 5, 5, 20, 20)])
    bench.doc.select([a.uid, b.uid])
    command = bench.editor.delete_selection()
    assert command is not None and command.text == "Delete 2 objects"
    assert bench.stored() == [] and all(o.deleted for o in bench.project.objects(bench.frame_id))
    assert bench.doc.selection == ()
    bench.editor.undo()
    assert len(bench.stored()) == 2 and set(bench.doc.selection) == {a.uid, b.uid}
    bench.editor.redo()
    assert bench.stored() == []
    assert bench.editor.delete_selection() is None


def test_relabel_fixes_attributes_and_instance_ids(bench: Bench):
    road, sign = bench.seed(
        [region(7, 0, 0, 10, 10), region(20, 20, 20, 30, 30, attributes={"occluded": True})]
    )
    bench.doc.select([road.uid, sign.uid])
    command = bench.editor.relabel_selection(26)
    assert command is not None and command.text == "Label 2 objects car"
    car_road, car_sign = bench.stored()
    assert car_road.label_id == car_sign.label_id == 26
    assert {car_road.instance_id, car_sign.instance_id} == {1, 2}
    assert car_sign.attributes == {"occluded": True, "truncated": False}
    assert car_road.attributes == {"occluded": False, "truncated": False}
    bench.editor.relabel_selection(7)
    back = bench.stored()
    assert all(o.instance_id is None and o.attributes == {} for o in back)
    assert bench.editor.relabel_selection(7) is None  # nothing changes


def test_attributes_validate_and_merge(bench: Bench):
    (car,) = bench.seed([box(26, 0, 0, 10, 10, attributes={"occluded": False, "truncated": False})])
    bench.doc.select([car.uid])
    bench.editor.set_attribute("occluded", True)
    assert bench.stored()[0].attributes["occluded"] is True
    with pytest.raises(SchemaError):
        bench.editor.set_attribute("occluded", "very")
    assert bench.editor.set_attribute("nonexistent", True) is None
    bench.editor.set_fields("Set track id", track_id=5)
    bench.editor.set_fields("Set track id", track_id=6)
    assert len(bench.session.history) == 2  # the two track id edits merged
    bench.editor.set_fields("Set verified", verified=True)
    stored = bench.stored()[0]
    assert stored.track_id == 6 and stored.provenance.verified
    bench.editor.set_fields("Set crowd", crowd=True)
    assert bench.stored()[0].crowd


def test_toggle_attribute_switches_the_selection_that_has_it(bench: Bench):
    car, person, road = bench.seed(
        [
            box(26, 0, 0, 10, 10, attributes={"occluded": True, "truncated": False}),
            box(24, 20, 0, 30, 10, attributes={"occluded": False, "truncated": False}),
            region(7, 0, 50, 200, 100),
        ]
    )
    with pytest.raises(EditError, match="select the objects"):
        bench.editor.toggle_attribute("occluded")
    bench.doc.select([car.uid, person.uid, road.uid])
    bench.editor.toggle_attribute("occluded")  # not all on: all on (the road has none)
    stored = {o.uid: o for o in bench.stored()}
    assert stored[car.uid].attributes["occluded"] and stored[person.uid].attributes["occluded"]
    assert stored[road.uid].attributes == {}
    bench.editor.toggle_attribute("occluded")  # all on: all off, one more step
    assert not any(o.attributes.get("occluded") for o in bench.stored())
    assert len(bench.session.history) == 2
    bench.doc.select([road.uid])
    with pytest.raises(EditError, match="has the attribute 'truncated'"):
        bench.editor.toggle_attribute("truncated")


def test_nudges_merge_into_one_step_and_stay_on_the_image(bench: Bench):
    (car,) = bench.seed([box(26, 2, 2, 12, 12)])
    bench.doc.select([car.uid])
    for _ in range(5):
        bench.editor.nudge(-1, 0)
    assert bench.stored()[0].geometry == Box(0, 2, 10, 12)
    assert len(bench.session.history) == 1
    assert bench.editor.nudge(-1, 0) is None
    bench.editor.undo()
    assert bench.stored()[0].geometry == Box(2, 2, 12, 12)


def test_new_instance_ids(bench: Bench):
    a, b, road = bench.seed(
        [
            box(26, 0, 0, 5, 5, instance_id=3),
            box(26, 5, 5, 9, 9, instance_id=3),
            region(7, 0, 0, 4, 4),
        ]
    )
    bench.doc.select([a.uid, b.uid, road.uid])
    command = bench.editor.new_instance_ids()
    assert command is not None and command.text == "New instance id for 2 objects"
    ids = [o.instance_id for o in bench.stored()]
    assert ids == [4, 5, None]


def test_z_order_raise_lower_top_bottom_and_place(bench: Bench):
    a, b, c, far = bench.seed(
        [
            region(7, 0, 0, 50, 50),
            region(8, 10, 10, 60, 60),
            region(11, 20, 20, 70, 70),
            region(21, 150, 80, 160, 90),
        ]
    )
    doc, editor = bench.doc, bench.editor
    order = lambda: [o.uid for o in bench.stored()]  # noqa: E731
    doc.select([a.uid])
    command = editor.raise_selection()
    assert isinstance(command, SetZOrder) and order() == [b.uid, a.uid, c.uid, far.uid]
    editor.raise_selection()
    assert order() == [b.uid, c.uid, a.uid, far.uid]  # far does not overlap: a stays below it
    assert editor.raise_selection() is None
    editor.lower_selection()
    assert order() == [b.uid, a.uid, c.uid, far.uid]
    editor.selection_to_top()
    assert order() == [b.uid, c.uid, far.uid, a.uid]
    editor.selection_to_bottom()
    assert order() == [a.uid, b.uid, c.uid, far.uid]
    assert bench.doc.label_at(25, 25) == 11
    editor.place([c.uid], None)
    assert order() == [c.uid, a.uid, b.uid, far.uid]
    editor.place([c.uid, a.uid], b.uid)
    assert order() == [b.uid, c.uid, a.uid, far.uid]
    assert editor.place([b.uid], b.uid) is None
    for _ in range(7):
        editor.undo()
    assert order() == [a.uid, b.uid, c.uid, far.uid]
    assert actions.to_top(doc, []) is None


def test_editor_state_and_errors(bench: Bench):
    editor = bench.editor
    assert editor.context.label_id == default_label(bench.project.schema) == 7
    with pytest.raises(ToolError):
        editor.set_tool("lasso")
    with pytest.raises(SchemaError):
        editor.set_label(999)
    heard: list[str] = []
    editor.changed.connect(heard.append)
    editor.set_tool("brush")
    editor.scale_brush(2)
    editor.set_label(26)
    editor.set_paint_behind(True)
    assert heard == ["tool", "settings", "label", "settings"]
    assert editor.context.brush_radius == 24
    editor.set_brush_radius(10_000)
    assert editor.context.brush_radius == 500


def test_undo_targets_and_touched_uids(bench: Bench, tmp_path):
    editor: Editor = bench.editor
    assert editor.frame_of_next("undo") is None
    (obj,) = bench.seed([box(26, 0, 0, 5, 5)])
    bench.doc.select([obj.uid])
    command = editor.nudge(1, 1)
    assert command is not None and touched_uids(command) == [obj.uid]
    assert editor.frame_of_next("undo") is None  # it is on the open frame
