"""The comment pin tool: points, areas, clipping, no edits to the labels."""

from __future__ import annotations

from roadmark.annotators.review.pins import CommentPinTool
from roadmark.annotators.tools.base import Button, Pointer
from roadmark.core.annotation import Box
from tests.annotators.conftest import HEIGHT, WIDTH, Bench


def pin_tool(bench: Bench) -> tuple[CommentPinTool, list[Box]]:
    pins: list[Box] = []
    tool = CommentPinTool(bench.editor.context, pins.append)
    bench.editor.tools[tool.name] = tool
    bench.editor.set_tool(tool.name)
    return tool, pins


def test_click_pins_a_point_and_drag_an_area(bench: Bench):
    tool, pins = pin_tool(bench)
    bench.editor.set_tolerance(3)
    assert bench.editor.press(Pointer(40, 30)) is None
    assert tool.busy
    bench.editor.move(Pointer(41, 31))
    assert bench.editor.release(Pointer(41, 31)) is None  # within tolerance: a point
    assert pins == [Box(40, 30, 40, 30)] and not tool.busy
    bench.editor.press(Pointer(60, 50))
    bench.editor.move(Pointer(30, 20))
    preview = bench.editor.preview()
    assert preview is not None and preview.marquee == Box(30, 20, 60, 50)
    bench.editor.release(Pointer(20, 10))
    assert pins[-1] == Box(20, 10, 60, 50) and tool.last_anchor == pins[-1]
    assert bench.stored() == [] and not bench.session.history.can_undo


def test_anchor_is_clipped_to_the_frame_and_right_button_is_ignored(bench: Bench):
    tool, pins = pin_tool(bench)
    bench.editor.press(Pointer(-20, 50))
    bench.editor.release(Pointer(WIDTH + 50, HEIGHT + 10))
    assert pins == [Box(0, 50, WIDTH, HEIGHT)]
    bench.editor.press(Pointer(10, 10, button=Button.RIGHT))
    bench.editor.release(Pointer(10, 10, button=Button.RIGHT))
    assert len(pins) == 1
    bench.editor.press(Pointer(10, 10))
    tool.cancel()
    assert not tool.busy and bench.editor.release(Pointer(50, 50)) is None and len(pins) == 1
    assert "click to pin" in bench.editor.preview().hint


def test_a_pin_names_the_object_it_is_about(bench: Bench):
    from tests.helpers import box, region

    road, car, sign = bench.seed(
        [region(7, 0, 50, 200, 100), region(26, 40, 40, 80, 70), box(20, 150, 10, 160, 30)]
    )
    tool, pins = pin_tool(bench)
    bench.editor.set_tolerance(2)
    bench.editor.press(Pointer(60, 60))
    bench.editor.release(Pointer(60, 60))
    assert tool.pinned_uid == car.uid  # the topmost object under the point
    bench.editor.press(Pointer(10, 80))
    bench.editor.release(Pointer(10, 80))
    assert tool.pinned_uid == road.uid
    bench.editor.press(Pointer(35, 35))
    bench.editor.release(Pointer(85, 75))  # an area around the car: the car, not the road
    assert tool.pinned_uid == car.uid
    bench.editor.press(Pointer(140, 5))
    bench.editor.release(Pointer(170, 40))
    assert tool.pinned_uid == sign.uid
    bench.editor.press(Pointer(100, 5))
    bench.editor.release(Pointer(100, 5))
    assert tool.pinned_uid is None and len(pins) == 5  # nothing there
