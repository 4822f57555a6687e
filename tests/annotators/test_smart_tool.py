"""The Smart tool as a state machine: hover, clicks, box, Tab, accept, refine, undo."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from roadmark.annotators.errors import ToolInputError
from roadmark.annotators.tools.base import Button, Pointer
from roadmark.annotators.tools.smart import SmartRequest, SmartResult, SmartTool, mask_region
from roadmark.core.annotation import AnnotationObject, Provenance
from roadmark.core.errors import RoadmarkError
from tests.annotators.conftest import HEIGHT, WIDTH, Bench

CAR = 26
ROAD = 7


def _disk(x: float, y: float, r: float) -> np.ndarray:
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    return (cols + 0.5 - x) ** 2 + (rows + 0.5 - y) ** 2 <= r * r


def fake_decode(request: SmartRequest) -> SmartResult:
    """Disks of radius 20 (quality 0.9) and 10 (0.6) around positive clicks, minus disks
    around negative ones; a box gives the box; a start mask is kept and grown."""
    big = np.zeros((HEIGHT, WIDTH), bool)
    small = np.zeros((HEIGHT, WIDTH), bool)
    if request.mask is not None:
        big |= request.mask
        small |= request.mask
    if request.box is not None:
        x0, y0, x1, y1 = (int(v) for v in request.box)
        big[y0:y1, x0:x1] = True
        small[y0:y1, x0:x1] = True
    for x, y, positive in request.points:
        if positive:
            big |= _disk(x, y, 20)
            small |= _disk(x, y, 10)
    for x, y, positive in request.points:
        if not positive:
            big &= ~_disk(x, y, 8)
            small &= ~_disk(x, y, 8)
    return SmartResult(np.stack([big, small]), (0.9, 0.6), "fake")


@pytest.fixture
def tool(bench: Bench) -> SmartTool:
    tool = SmartTool(bench.editor.context)
    bench.editor.tools[tool.name] = tool
    bench.editor.set_tool(tool.name)
    bench.editor.set_label(CAR)
    requests: list[SmartRequest] = []

    def run(request: SmartRequest) -> None:
        requests.append(request)
        tool.set_result(request, fake_decode(request))

    tool.segmenter = run
    tool.requests = requests  # type: ignore[attr-defined]
    return tool


def _click(bench: Bench, x: float, y: float, **keys) -> None:
    bench.editor.press(Pointer(x, y, **keys))
    bench.editor.release(Pointer(x, y, **keys))


def test_hover_previews_the_mask_a_click_would_give(bench: Bench, tool: SmartTool):
    bench.editor.move(Pointer(60, 50, button=Button.NONE))
    (request,) = tool.requests  # type: ignore[attr-defined]
    assert request.hover and request.points == ((60, 50, True),)
    preview = bench.editor.preview()
    assert preview is not None and preview.shapes
    assert preview.shapes[0].contains(shapely.Point(60, 50))
    assert not tool.busy and bench.stored() == []


def test_click_tab_return_adds_one_undoable_model_region(bench: Bench, tool: SmartTool):
    _click(bench, 100, 50)
    assert tool.busy and tool.points == ((100, 50, True),)
    big = tool.current_region()
    assert big is not None and abs(big.area - np.pi * 400) / (np.pi * 400) < 0.1
    assert bench.editor.wants_key("Tab")
    bench.editor.key("Tab")
    assert tool.candidate == 1
    small = tool.current_region()
    assert small is not None and small.area < big.area / 2
    preview = bench.editor.preview()
    assert preview is not None and "mask 2/2" in preview.hint and preview.clicks
    command = bench.editor.key("Return")
    assert command is not None and not tool.busy
    (obj,) = bench.stored()
    assert obj.label_id == CAR and obj.instance_id == 1
    assert obj.provenance.source == "model:fake" and obj.provenance.confidence == 0.6
    assert obj.provenance.verified
    assert abs(obj.region.area - small.area) < 1e-6
    bench.editor.undo()
    assert bench.stored() == []
    bench.editor.redo()
    assert len(bench.stored()) == 1


def test_negative_clicks_and_box(bench: Bench, tool: SmartTool):
    _click(bench, 100, 50)
    _click(bench, 115, 50, alt=True)
    _click(bench, 85, 50, button=Button.RIGHT)
    assert tool.points == ((100, 50, True), (115, 50, False), (85, 50, False))
    region = tool.current_region()
    assert region is not None
    assert region.contains(shapely.Point(100, 50)) and not region.contains(shapely.Point(115, 50))
    bench.editor.key("Escape")
    assert not tool.busy and tool.current_region() is None
    bench.editor.press(Pointer(20, 20))
    bench.editor.move(Pointer(40, 30))
    bench.editor.release(Pointer(60, 40))
    requests = tool.requests  # type: ignore[attr-defined]
    assert requests[-1].box == (20, 20, 60, 40) and requests[-1].points == ()
    region = tool.current_region()
    assert region is not None and abs(region.area - 800) < 1e-6


def test_paint_behind_puts_the_region_under_the_others(bench: Bench, tool: SmartTool):
    road = AnnotationObject(ROAD, shapely.box(0, 0, WIDTH, HEIGHT), Provenance.new("human", "u"))
    bench.seed([road])
    bench.editor.set_tool(tool.name)
    bench.editor.set_paint_behind(True)
    _click(bench, 100, 50)
    bench.editor.key("Return")
    bottom, top = bench.stored()
    assert bottom.label_id == CAR and top.label_id == ROAD


def test_clicks_refine_the_selected_region_in_one_undo_step(bench: Bench, tool: SmartTool):
    car = AnnotationObject(CAR, shapely.box(10, 10, 40, 40), Provenance.new("human", "u"),
                           instance_id=1)
    (stored,) = bench.seed([car])
    bench.doc.select([stored.uid])
    bench.editor.set_tool(tool.name)
    _click(bench, 60, 25)
    request = tool.requests[-1]  # type: ignore[attr-defined]
    assert request.mask is not None and request.mask[20, 20] and not request.mask[80, 150]
    assert tool.target is not None and tool.target.uid == stored.uid
    bench.editor.key("Return")
    (obj,) = bench.stored()
    assert obj.uid == stored.uid and obj.instance_id == 1
    assert obj.region.contains(shapely.Point(20, 20)) and obj.region.contains(shapely.Point(60, 25))
    assert obj.provenance.source == "model:fake"
    bench.editor.undo()
    (obj,) = bench.stored()
    assert obj.region.equals(shapely.box(10, 10, 40, 40))


def test_stale_answers_errors_and_no_model(bench: Bench, tool: SmartTool):
    answers: list[SmartRequest] = []
    tool.segmenter = answers.append
    _click(bench, 100, 50)
    _click(bench, 120, 50)
    first, second = answers
    assert tool.set_result(first, fake_decode(first)) is False
    assert bench.editor.key("Return") is None  # still waiting
    assert tool.set_result(second, RoadmarkError("decoder failed")) is True
    preview = bench.editor.preview()
    assert preview is not None and "decoder failed" in preview.hint
    tool.segmenter = None
    with pytest.raises(ToolInputError):
        _click(bench, 10, 10)


def test_mask_region_follows_pixel_edges_and_simplifies():
    mask = np.zeros((50, 60), bool)
    mask[10:30, 5:45] = True
    mask[0, 0] = True  # a one-pixel speck is dropped
    region = mask_region(mask)
    assert region is not None and region.equals(shapely.box(5, 10, 45, 30))
    assert mask_region(np.zeros((5, 5), bool)) is None
