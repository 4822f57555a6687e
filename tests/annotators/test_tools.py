"""Tools without Qt: pointer events in, commands out, geometry and store checked."""

from __future__ import annotations

import pytest
import shapely

from roadmark.annotators.tools.base import Button, Pointer
from roadmark.core.annotation import Box, ObjectKind
from roadmark.core.edits import AddObjects, UpdateObjects
from tests.annotators.conftest import HEIGHT, WIDTH, Bench
from tests.helpers import box, region


def drag(bench: Bench, points: list[tuple[float, float]], **mods: bool):
    editor = bench.editor
    editor.press(Pointer(*points[0], **mods))
    for point in points[1:]:
        editor.move(Pointer(*point, **mods))
    return editor.release(Pointer(*points[-1], **mods))


def click(bench: Bench, x: float, y: float, **mods: bool):
    command = bench.editor.press(Pointer(x, y, **mods))
    return bench.editor.release(Pointer(x, y, **mods)) or command


# -- box ---------------------------------------------------------------------------------


def test_box_is_drawn_snapped_to_the_image_and_selected(bench: Bench):
    bench.editor.set_tool("box")
    bench.editor.set_label(26)
    command = drag(bench, [(150, 40), (180, 70), (260, 130)])
    assert isinstance(command, AddObjects) and command.text == "Draw box"
    (obj,) = bench.stored()
    assert obj.geometry == Box(150, 40, WIDTH, HEIGHT)
    assert obj.label_id == 26 and obj.instance_id == 1 and obj.provenance.source == "human"
    assert obj.attributes == {"occluded": False, "truncated": False}
    assert bench.doc.selection == (obj.uid,)


def test_a_tiny_box_is_a_click_that_selects(bench: Bench):
    (car,) = bench.seed([box(26, 10, 10, 40, 40)])
    bench.editor.set_tool("box")
    assert drag(bench, [(20, 20), (20.5, 20.5)]) is None
    assert len(bench.stored()) == 1 and bench.doc.selection == (car.uid,)


def test_box_handles_resize_the_selected_box(bench: Bench):
    (car,) = bench.seed([box(26, 10, 10, 40, 40)])
    bench.doc.select([car.uid])
    bench.editor.set_tool("box")
    bench.editor.set_tolerance(3)
    command = drag(bench, [(40, 40), (60, 50), (70, 55)])
    assert isinstance(command, UpdateObjects) and command.text == "Resize box"
    assert bench.stored()[0].geometry == Box(10, 10, 70, 55)


# -- polygon -----------------------------------------------------------------------------


def test_polygon_closes_on_the_first_vertex(bench: Bench):
    bench.editor.set_tool("polygon")
    for point in [(10, 10), (60, 10), (60, 50)]:
        assert click(bench, *point) is None
    command = click(bench, 10.5, 10.5)
    assert isinstance(command, AddObjects) and command.text == "Draw polygon"
    (obj,) = bench.stored()
    assert obj.region.equals(shapely.Polygon([(10, 10), (60, 10), (60, 50)]))
    assert bench.doc.label_at(50, 20) == bench.editor.context.label_id


def test_polygon_keys_double_click_and_clipping(bench: Bench):
    editor = bench.editor
    editor.set_tool("polygon")
    for point in [(150, 50), (250, 50), (250, 150), (199, 199)]:
        click(bench, *point)
    assert editor.wants_key("Backspace")
    editor.key("Backspace")
    assert len(editor.tool.points) == 3  # type: ignore[attr-defined]
    command = editor.key("Return")
    assert isinstance(command, AddObjects)
    (obj,) = bench.stored()
    assert obj.region.bounds == (150, 50, 200, 100)  # clipped to the image
    for point in [(10, 10), (30, 10)]:
        click(bench, *point)
    editor.key("Escape")
    assert not editor.tool.busy and not editor.wants_key("Escape")
    click(bench, 10, 60)
    click(bench, 40, 60)
    click(bench, 40, 90)
    assert isinstance(editor.double_click(Pointer(40, 90)), AddObjects)
    assert len(bench.stored()) == 2


def test_polygon_tracing_adds_vertices_while_dragging(bench: Bench):
    bench.editor.set_tool("polygon")
    bench.editor.set_tolerance(1)
    path = [(10 + t, 10 + (t % 7)) for t in range(0, 60, 1)]
    drag(bench, path)
    assert len(bench.editor.tool.points) > 10  # type: ignore[attr-defined]


def test_a_degenerate_polygon_makes_nothing(bench: Bench):
    bench.editor.set_tool("polygon")
    for point in [(10, 10), (20, 20), (30, 30)]:
        click(bench, *point)
    assert bench.editor.key("Return") is None and bench.stored() == []


# -- select: move, vertices, marquee -----------------------------------------------------


def test_select_and_move_keeps_objects_on_the_image(bench: Bench):
    car, road = bench.seed([box(26, 10, 10, 40, 40), region(7, 100, 20, 150, 60)])
    bench.editor.set_tool("select")
    assert click(bench, 120, 30) is None and bench.doc.selection == (road.uid,)
    command = drag(bench, [(120, 30), (150, 30), (190, 35)])
    assert isinstance(command, UpdateObjects) and command.text == "Move 1 object"
    moved = next(o for o in bench.stored() if o.uid == road.uid)
    assert moved.region.bounds == (150, 25, 200, 65)  # clamped at the right edge
    click(bench, 20, 20, shift=True)
    assert set(bench.doc.selection) == {car.uid, road.uid}
    command = drag(bench, [(20, 20), (20, 30)])
    assert isinstance(command, UpdateObjects) and command.text == "Move 2 objects"


def test_vertex_move_insert_delete(bench: Bench):
    (road,) = bench.seed([region(7, 20, 20, 80, 60)])
    bench.doc.select([road.uid])
    bench.editor.set_tool("select")
    bench.editor.set_tolerance(2)
    command = drag(bench, [(80, 60), (90, 70)])
    assert isinstance(command, UpdateObjects) and command.text == "Move vertex"
    assert bench.stored()[0].region.covers(shapely.Point(85, 65))
    command = drag(bench, [(50, 20.5), (50, 5)])
    assert command is not None and command.text == "Insert vertex"
    region_now = bench.stored()[0].region
    assert len(region_now.exterior.coords) == 6 and region_now.covers(shapely.Point(50, 8))
    command = click(bench, 50, 5, ctrl=True)
    assert command is not None and command.text == "Delete vertex"
    assert len(bench.stored()[0].region.exterior.coords) == 5


def test_marquee_and_alt_click_cycling(bench: Bench):
    road, car, person = bench.seed(
        [region(7, 0, 0, 200, 100), box(26, 10, 10, 40, 40), region(24, 20, 20, 30, 30)]
    )
    bench.editor.set_tool("select")
    click(bench, 25, 25)
    assert bench.doc.selection == (person.uid,)
    click(bench, 25, 25, alt=True)
    assert bench.doc.selection == (car.uid,)
    click(bench, 25, 25, alt=True)
    assert bench.doc.selection == (road.uid,)
    bench.doc.clear_selection()
    bench.editor.set_label_hidden(7, True)  # the road covers everything; hide it
    drag(bench, [(2, 2), (45, 45)])
    assert set(bench.doc.selection) == {car.uid, person.uid}


# -- brush, eraser, fill -----------------------------------------------------------------


def test_brush_makes_a_region_then_extends_it_one_stroke_per_step(bench: Bench):
    editor = bench.editor
    editor.set_tool("brush")
    editor.set_label(8)
    editor.set_brush_radius(5)
    command = drag(bench, [(20, 20), (40, 20), (60, 20)])
    assert isinstance(command, AddObjects) and command.text == "Brush stroke"
    (obj,) = bench.stored()
    assert obj.label_id == 8 and obj.region.area == pytest.approx(40 * 10 + 3.14159 * 25, rel=0.03)
    command = drag(bench, [(60, 20), (60, 60)])
    assert isinstance(command, UpdateObjects)
    (extended,) = bench.stored()
    assert extended.uid == obj.uid and extended.region.covers(shapely.Point(60, 55))
    assert len(bench.session.history) == 2
    editor.undo()
    assert bench.stored()[0].region.equals(obj.region)


def test_paint_behind_puts_new_regions_under_existing_ones(bench: Bench):
    (car,) = bench.seed([region(26, 40, 10, 80, 50)])
    editor = bench.editor
    editor.set_tool("brush")
    editor.set_label(7)
    editor.set_brush_radius(10)
    editor.set_paint_behind(True)
    bench.doc.clear_selection()
    drag(bench, [(20, 30), (100, 30)])
    road, top = bench.stored()
    assert road.label_id == 7 and top.uid == car.uid
    assert bench.doc.label_at(60, 30) == 26 and bench.doc.label_at(25, 30) == 7


def test_eraser_cuts_visible_regions_and_deletes_what_is_gone(bench: Bench):
    _small, big = bench.seed([region(24, 10, 10, 14, 14), region(7, 0, 40, 200, 60)])
    editor = bench.editor
    editor.set_tool("eraser")
    editor.set_brush_radius(6)
    command = drag(bench, [(12, 12), (12, 50), (100, 50)])
    assert isinstance(command, UpdateObjects) and command.text == "Erase from 2 regions"
    live = bench.stored()
    assert [o.uid for o in live] == [big.uid]
    assert not live[0].region.covers(shapely.Point(50, 50))
    assert live[0].region.covers(shapely.Point(150, 50))
    editor.undo()
    assert len(bench.stored()) == 2


def test_fill_takes_the_unlabeled_area_enclosed_by_regions(bench: Bench):
    bench.seed(
        [
            region(7, 0, 0, 200, 20),
            region(7, 0, 80, 200, 100),
            region(11, 0, 20, 30, 80),
            region(11, 100, 20, 130, 80),
        ]
    )
    editor = bench.editor
    editor.set_tool("fill")
    editor.set_label(21)
    command = click(bench, 60, 50)
    assert isinstance(command, AddObjects) and command.text == "Fill"
    filled = bench.stored()[-1]
    assert filled.region.equals(shapely.box(30, 20, 100, 80))
    assert click(bench, 60, 50) is None  # covered now
    assert click(bench, 10, 10) is None
    assert (bench.doc.pixel_map.owner[20:80, 30:200] > 0).sum() == 60 * 100


def test_object_kinds_from_each_tool(bench: Bench):
    editor = bench.editor
    editor.set_tool("box")
    drag(bench, [(0, 0), (10, 10)])
    editor.set_tool("brush")
    bench.doc.clear_selection()
    drag(bench, [(50, 50), (60, 60)])
    kinds = [o.kind for o in bench.stored()]
    assert kinds == [ObjectKind.BOX, ObjectKind.REGION]
    assert editor.press(Pointer(5, 5, Button.RIGHT)) is None


def test_only_selected_objects_move_and_jitter_is_a_click(bench: Bench):
    road, car = bench.seed([region(7, 0, 0, 200, 100), box(26, 50, 40, 70, 60)])
    bench.editor.set_tool("select")
    bench.editor.set_tolerance(6)
    # Dragging the (unselected) road draws a selection rectangle instead of moving it.
    assert drag(bench, [(10, 10), (40, 30), (90, 80)]) is None
    assert bench.doc.selection == (car.uid,)
    assert bench.stored()[0].region.equals(road.region)
    # A press with a slight jitter on the selected car is a click, not a move.
    assert drag(bench, [(60, 50), (60.5, 50.4)]) is None
    assert bench.stored()[1].geometry == car.geometry
    # A clicked outline point gets a new vertex even without a drag.
    bench.doc.select([road.uid])
    command = click(bench, 100, 99)
    assert command is not None and command.text == "Insert vertex"
    assert len(bench.stored()[0].region.exterior.coords) == 6


def test_brush_with_another_label_starts_a_new_region(bench: Bench):
    editor = bench.editor
    editor.set_tool("brush")
    editor.set_label(7)
    drag(bench, [(20, 20), (40, 20)])
    editor.set_label(8)  # the road stroke is still selected
    command = drag(bench, [(20, 60), (40, 60)])
    assert isinstance(command, AddObjects)
    assert [o.label_id for o in bench.stored()] == [7, 8]


def test_hover_reports_the_object_under_the_pointer(bench: Bench):
    (car,) = bench.seed([box(26, 10, 10, 40, 40)])
    editor = bench.editor
    editor.set_tool("select")
    editor.move(Pointer(20, 20, Button.NONE))
    assert editor.hover_uid == car.uid and editor.tool.cursor() == "arrow"
    bench.doc.select([car.uid])
    editor.move(Pointer(20, 20, Button.NONE))
    assert editor.tool.cursor() == "move"
    editor.move(Pointer(150, 80, Button.NONE))
    assert editor.hover_uid is None
    editor.set_tool("brush")
    editor.move(Pointer(30, 30, Button.NONE))
    preview = editor.preview()
    assert preview is not None and preview.brush == (30, 30, editor.context.brush_radius)
    editor.leave()
    assert editor.preview() is None
