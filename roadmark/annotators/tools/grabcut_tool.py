"""The GrabCut tool: drag a rough box, refine with scribbles, accept a snapped region.

Gestures (image pixels, like every tool):

- drag with the left button: a rough box around the object; it is segmented at once;
- Shift+drag: a scribble on the object (foreground), Alt+drag or right-drag: a scribble
  on what is not the object (background); each one segments again;
- Return (or a double click): accept: the region becomes a new object of the current label
  (one undoable command), editable with the normal tools;
- Escape: drop everything.

Segmenting takes from a few milliseconds to a few seconds, so the tool does not run it:
each gesture makes a :class:`GrabCutRequest` and hands it to :attr:`GrabCutTool.segmenter`
(the GUI runs :func:`segment` in a worker thread and calls :meth:`GrabCutTool.set_result`
with what comes back; a script can do both at once). Results of outdated requests are
ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import LineString

from roadmark.annotators import geometry as geo
from roadmark.annotators.errors import ToolInputError
from roadmark.annotators.simplify import DEFAULT_TOLERANCE
from roadmark.annotators.tools.base import (
    Button,
    Pointer,
    Preview,
    Tool,
    ToolContext,
    answers_pending,
)
from roadmark.annotators.tools.grabcut import grabcut
from roadmark.core.annotation import AnnotationObject, Box, ObjectKind, Region
from roadmark.core.edits import AddObjects
from roadmark.core.errors import RoadmarkError
from roadmark.core.history import Command

HINT = "Shift-drag: mark object · Alt-drag: mark background · Return: accept · Esc: cancel"


@dataclass(frozen=True)
class GrabCutRequest:
    """One segmentation to run.

    Attributes:
        serial: Increases with every request; only the latest one's result is used.
        frame_id: The frame it is for.
        rect: The rough box.
        foreground: Object scribbles (polylines), or ``None``.
        background: Background scribbles, or ``None``.
        stroke_width: Scribble width in pixels.
        simplify_tolerance: The outline is simplified by this many pixels (the Simplify
            action's default: no staircase, few vertex handles).
    """

    serial: int
    frame_id: int
    rect: Box
    foreground: shapely.MultiLineString | None
    background: shapely.MultiLineString | None
    stroke_width: float
    simplify_tolerance: float = DEFAULT_TOLERANCE


def segment(request: GrabCutRequest, image: NDArray[np.uint8]) -> Region:
    """Run GrabCut for a request on the frame's pixels (call it in a worker).

    Raises:
        ToolInputError: GrabCut found nothing, or the box is unusable.
    """
    return grabcut(
        image,
        request.rect,
        foreground=request.foreground,
        background=request.background,
        stroke_width=request.stroke_width,
        simplify_tolerance=request.simplify_tolerance,
    ).region


class GrabCutTool(Tool):
    """Segment an object from a rough box (and scribbles) with GrabCut.

    Attributes:
        segmenter: Called with every new request (set by whoever owns the pixels).
        stroke_width: Width of scribbles in image pixels.
        error: Why the last segmentation failed, for the status bar.
    """

    name = "grabcut"
    title = "GrabCut"

    def __init__(self, context: ToolContext) -> None:
        super().__init__(context)
        self.segmenter: Callable[[GrabCutRequest], None] | None = None
        self.stroke_width = 5.0
        self.error = ""
        self._serial = 0
        self._rect: Box | None = None
        self._foreground: list[LineString] = []
        self._background: list[LineString] = []
        self._drag_start: tuple[float, float] | None = None
        self._drag_end: tuple[float, float] = (0.0, 0.0)
        self._scribble: list[tuple[float, float]] | None = None
        self._scribble_is_foreground = True
        self._result: Region | None = None
        self._pending: GrabCutRequest | None = None
        self._source: AnnotationObject | None = None  # the box it started from, if any

    @property
    def busy(self) -> bool:
        return self._rect is not None or self._drag_start is not None

    @property
    def source(self) -> AnnotationObject | None:
        """The box the segmentation started from (its label, instance and track carry
        over to the region), if any."""
        return self._source

    def start_from(self, obj: AnnotationObject) -> None:
        """Segment inside a box object at once; accepting makes the box's object a region
        too: same label, same instance id, same track.

        Raises:
            ToolInputError: ``obj`` is not a box, or too small.
        """
        if obj.kind is not ObjectKind.BOX:
            raise ToolInputError("GrabCut starts from a box; select one box", field="grabcut")
        doc = self.context.doc()
        rect = obj.bounds.clipped(doc.width, doc.height)
        if rect.width < 4 or rect.height < 4:
            raise ToolInputError("the box is too small for GrabCut", field="grabcut")
        self.cancel()
        self._source = obj
        self._rect = rect
        self._request()

    @property
    def pending(self) -> GrabCutRequest | None:
        """The request whose result is awaited, if any."""
        return self._pending

    @property
    def result(self) -> Region | None:
        """The latest segmentation (shown as the preview until accepted)."""
        return self._result

    # -- gestures --------------------------------------------------------------------------

    def press(self, pointer: Pointer) -> Command | None:
        doc = self.context.doc()
        point = geo.clamp_point(pointer.x, pointer.y, doc.width, doc.height)
        background = pointer.alt or pointer.button is Button.RIGHT
        if self._rect is not None and (pointer.shift or background):
            self._scribble = [point]
            self._scribble_is_foreground = not background
        elif pointer.button is Button.LEFT:
            self._drag_start = point
            self._drag_end = point
        return None

    def move(self, pointer: Pointer) -> Command | None:
        doc = self.context.doc()
        point = geo.clamp_point(pointer.x, pointer.y, doc.width, doc.height)
        if self._scribble is not None:
            self._scribble.append(point)
        elif self._drag_start is not None:
            self._drag_end = point
        return None

    def release(self, pointer: Pointer) -> Command | None:
        doc = self.context.doc()
        if self._scribble is not None:
            points = self._scribble
            self._scribble = None
            if len(points) == 1:
                points = [points[0], (points[0][0] + 0.5, points[0][1])]
            line = LineString(points)
            (self._foreground if self._scribble_is_foreground else self._background).append(line)
            self._request()
            return None
        if self._drag_start is None:
            return None
        self._drag_end = geo.clamp_point(pointer.x, pointer.y, doc.width, doc.height)
        rect = geo.box_from_drag(*self._drag_start, *self._drag_end, doc.width, doc.height)
        self._drag_start = None
        if rect.width < 4 or rect.height < 4:
            return None
        self._rect = rect
        self._source = None  # a new box of its own: a new object
        self._foreground.clear()
        self._background.clear()
        self._result = None
        self._request()
        return None

    def double_click(self, pointer: Pointer) -> Command | None:
        return self.accept()

    def wants_key(self, key: str) -> bool:
        return key in ("Return", "Enter", "Escape") and self.busy

    def key(self, key: str) -> Command | None:
        if key in ("Return", "Enter"):
            return self.accept()
        if key == "Escape":
            self.cancel()
        return None

    def cancel(self) -> None:
        self._rect = None
        self._drag_start = None
        self._scribble = None
        self._foreground.clear()
        self._background.clear()
        self._result = None
        self._pending = None
        self._source = None
        self.error = ""

    # -- segmentation ----------------------------------------------------------------------

    def _request(self) -> None:
        assert self._rect is not None
        self._serial += 1
        self.error = ""
        request = GrabCutRequest(
            serial=self._serial,
            frame_id=self.context.doc().frame.id,
            rect=self._rect,
            foreground=shapely.MultiLineString(self._foreground) if self._foreground else None,
            background=shapely.MultiLineString(self._background) if self._background else None,
            stroke_width=self.stroke_width,
        )
        self._pending = request
        if self.segmenter is None:
            raise ToolInputError("GrabCut has no frame pixels to work on", field="grabcut")
        self.segmenter(request)

    def set_result(self, request: GrabCutRequest, outcome: Region | RoadmarkError) -> bool:
        """Take the result of ``request`` (a region or the error it raised).

        Returns:
            Whether it was used (``False`` for an outdated request or another frame).
        """
        if not answers_pending(self._pending, request, self.context.document):
            return False
        self._pending = None
        if isinstance(outcome, RoadmarkError):
            self._result = None
            self.error = outcome.message
        else:
            self._result = outcome
            self.error = ""
        return True

    def accept(self) -> Command | None:
        """The command adding the segmented region, and a fresh start; ``None`` if none."""
        if self._result is None or self._pending is not None:
            return None
        region, source = self._result, self._source
        doc = self.context.doc()
        self.cancel()
        if source is None:
            obj = self.context.new_object(region)
        else:  # the box's object, outlined: same label, instance and track
            obj = replace(
                self.context.new_object(region, source.label_id),
                instance_id=source.instance_id,
                track_id=source.track_id,
                attributes=dict(source.attributes),
            )
        return AddObjects(
            doc.frame.id, [obj], at_bottom=self.context.paint_behind, text="GrabCut region"
        )

    def preview(self) -> Preview | None:
        shapes: list[Box | Region] = []
        marquee = None
        if self._drag_start is not None:
            doc = self.context.doc()
            marquee = geo.box_from_drag(*self._drag_start, *self._drag_end, doc.width, doc.height)
        elif self._rect is not None:
            marquee = self._rect
        if self._result is not None:
            shapes.append(self._result)
        stroke = None
        if self._scribble is not None:
            stroke = (tuple(self._scribble), self.stroke_width / 2)
        radius = self.stroke_width / 2
        scribbles = tuple(
            (tuple((float(x), float(y)) for x, y in line.coords), radius, erase)
            for lines, erase in ((self._foreground, False), (self._background, True))
            for line in lines
        )
        if marquee is None and not shapes and stroke is None and not scribbles:
            return None
        if self._pending is not None:
            hint = "GrabCut: segmenting…"
        else:
            hint = f"GrabCut: {self.error}" if self.error else HINT
        return Preview(
            label_id=self.context.label_id,
            shapes=tuple(shapes),
            marquee=marquee,
            stroke=stroke,
            erase=not self._scribble_is_foreground,
            scribbles=scribbles,
            hint=hint,
        )

    def cursor(self) -> str:
        return "busy" if self._pending is not None else "cross"
