"""The GrabCut tool as a state machine: box, scribbles, result, accept, undo."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import shapely
import shapely.affinity

from roadmark.annotators.errors import ToolInputError
from roadmark.annotators.simplify import DEFAULT_TOLERANCE, vertex_count
from roadmark.annotators.tools.base import Button, Pointer
from roadmark.annotators.tools.grabcut_tool import GrabCutRequest, GrabCutTool, segment
from roadmark.core.annotation import HUMAN, ObjectKind
from roadmark.core.errors import RoadmarkError
from tests.annotators.conftest import HEIGHT, WIDTH, Bench
from tests.helpers import box, region

CAR = 26


def _image() -> np.ndarray:
    rng = np.random.default_rng(3)
    image = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    image[:] = (90, 120, 90)
    cv2.ellipse(image, (100, 50), (40, 25), 0, 0, 360, (200, 40, 40), -1)
    cv2.rectangle(image, (150, 20), (170, 40), (200, 40, 40), -1)  # a second red thing
    noisy = image.astype(np.int16) + rng.normal(0, 6, image.shape).astype(np.int16)
    return np.clip(noisy, 0, 255).astype(np.uint8)


@pytest.fixture
def tool(bench: Bench) -> GrabCutTool:
    tool = GrabCutTool(bench.editor.context)
    bench.editor.tools[tool.name] = tool
    bench.editor.set_tool(tool.name)
    bench.editor.set_label(CAR)
    image = _image()
    requests: list[GrabCutRequest] = []

    def run(request: GrabCutRequest) -> None:
        requests.append(request)
        try:
            outcome: object = segment(request, image)
        except RoadmarkError as error:
            outcome = error
        tool.set_result(request, outcome)  # type: ignore[arg-type]

    tool.segmenter = run
    tool.requests = requests  # type: ignore[attr-defined]
    return tool


def _drag(bench: Bench, a, b, **keys) -> None:
    bench.editor.press(Pointer(*a, **keys))
    bench.editor.move(Pointer(*((a[0] + b[0]) / 2, (a[1] + b[1]) / 2), **keys))
    bench.editor.release(Pointer(*b, **keys))


def test_box_then_accept_adds_one_undoable_region(bench: Bench, tool: GrabCutTool):
    _drag(bench, (52, 18), (148, 82))
    assert tool.result is not None and tool.busy
    preview = bench.editor.preview()
    assert preview is not None and preview.shapes and "Return" in preview.hint
    assert bench.editor.wants_key("Return")
    command = bench.editor.key("Return")
    assert command is not None and not tool.busy
    (obj,) = bench.stored()
    assert obj.label_id == CAR and obj.provenance.source == HUMAN and obj.instance_id == 1
    ellipse = shapely.affinity.scale(shapely.Point(100, 50).buffer(1, 64), 40, 25)
    assert obj.region.intersection(ellipse).area / obj.region.union(ellipse).area > 0.9
    bench.editor.undo()
    assert bench.stored() == []


def test_scribbles_refine_and_stale_results_are_ignored(bench: Bench, tool: GrabCutTool):
    _drag(bench, (40, 10), (180, 90))
    assert tool.result is not None and tool.result.contains(shapely.Point(100, 50))
    _drag(bench, (155, 25), (165, 35), shift=True)  # mark the small square as the object
    _drag(bench, (80, 45), (120, 55), button=Button.RIGHT)  # and the ellipse as background
    requests = tool.requests  # type: ignore[attr-defined]
    assert [r.serial for r in requests] == [1, 2, 3]
    assert requests[-1].foreground is not None and requests[-1].background is not None
    assert tool.result is not None
    assert tool.result.contains(shapely.Point(160, 30))
    assert not tool.result.contains(shapely.Point(100, 50))
    assert tool.set_result(requests[0], shapely.box(0, 0, 5, 5)) is False  # outdated


def test_errors_show_and_escape_cancels(bench: Bench, tool: GrabCutTool):
    _drag(bench, (0, 0), (200, 100))  # the whole frame: no background to learn from
    assert tool.result is None and "no background" in tool.error
    assert "no background" in bench.editor.preview().hint
    assert bench.editor.key("Return") is None
    _drag(bench, (10, 10), (12, 12))  # too small to be a box
    assert len(tool.requests) == 1  # type: ignore[attr-defined]
    bench.editor.key("Escape")
    assert not tool.busy and bench.editor.preview() is None
    tool.segmenter = None
    with pytest.raises(ToolInputError, match="no frame pixels"):
        _drag(bench, (52, 18), (148, 82))


def test_start_from_a_box_keeps_its_object_and_draws_the_scribbles(bench: Bench, tool: GrabCutTool):
    (source,) = bench.seed([box(CAR, 52, 18, 148, 82, instance_id=7, track_id=3)])
    tool.start_from(bench.doc.get(source.uid))
    assert tool.source is not None and tool.result is not None
    assert tool.requests[-1].simplify_tolerance == DEFAULT_TOLERANCE
    _drag(bench, (95, 50), (105, 52), shift=True)
    _drag(bench, (60, 25), (62, 30), alt=True)
    preview = tool.preview()
    assert [erase for _, _, erase in preview.scribbles] == [False, True]
    assert preview.bounds()[0] <= 60 - tool.stroke_width / 2
    bench.editor.key("Return")
    added = bench.stored()[-1]
    assert added.kind is ObjectKind.REGION and added.uid != source.uid
    assert (added.label_id, added.instance_id, added.track_id) == (CAR, 7, 3)
    assert vertex_count(added.region) <= 40


def test_start_from_refuses_a_region(bench: Bench, tool: GrabCutTool):
    (road,) = bench.seed([region(7, 0, 50, 200, 100)])
    with pytest.raises(ToolInputError, match="starts from a box"):
        tool.start_from(bench.doc.get(road.uid))
