"""The Smart tool: clicks and boxes become masks through a promptable model.

Gestures (image pixels, like every tool):

- hover: shows the mask a positive click at the pointer would give;
- click: a positive point; Alt+click or right click: a negative point;
- drag: a box around the object (replaces an earlier box);
- Tab: the next candidate mask (models give several for an ambiguous click);
- Return: accept: the mask becomes a region of the current label (one undoable command,
  source ``model:NAME``, the model's quality score as its confidence), on top or behind
  (paint behind), like every new region;
- Escape: drop the prompts.

With exactly one region selected when the first click comes, the clicks refine it: the
region's mask is the starting mask, and Return replaces its outline (one undoable update).

The tool does not run the model: each gesture makes a :class:`SmartRequest` for
:attr:`SmartTool.segmenter` (the GUI decodes on a worker with the frame's cached
embedding, a script can decode at once) and the answer comes back through
:meth:`SmartTool.set_result`; answers to outdated requests are ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from roadmark.analysis.pixel_outline import traced_region
from roadmark.annotators import geometry as geo
from roadmark.annotators.errors import ToolInputError
from roadmark.annotators.simplify import simplify_region
from roadmark.annotators.tools.base import (
    Button,
    Pointer,
    Preview,
    Tool,
    ToolContext,
    answers_pending,
)
from roadmark.core.annotation import AnnotationObject, Box, ObjectKind, Provenance, Region
from roadmark.core.edits import AddObjects, UpdateObjects
from roadmark.core.errors import RoadmarkError
from roadmark.core.history import Command
from roadmark.core.raster import region_mask

HINT = "click: add · Alt/right click: remove · drag: box · Tab: next mask · Return: accept"
SIMPLIFY_TOLERANCE = 1.0  # pixels an accepted outline may stray from the mask's pixel edges
MIN_PART_AREA = 4.0  # parts and holes smaller than this (square pixels) are dropped
DRAG_PIXELS = 4.0  # a press and release further apart than this is a box, else a click


@dataclass(frozen=True)
class SmartRequest:
    """One decode to run.

    Attributes:
        serial: Increases with every request; only the latest one's answer is used.
        frame_id: The frame it is for.
        points: ``(x, y, positive)`` clicks.
        box: The box prompt, or ``None``.
        mask: The starting mask (the region being refined), or ``None``.
        hover: A preview for the pointer position, not a click.
    """

    serial: int
    frame_id: int
    points: tuple[tuple[float, float, bool], ...]
    box: tuple[float, float, float, float] | None
    mask: NDArray[np.bool_] | None = field(default=None, compare=False)
    hover: bool = False


@dataclass(frozen=True)
class SmartResult:
    """A decoder's answer: candidate masks (best first) and their quality scores."""

    masks: NDArray[np.bool_]
    scores: tuple[float, ...]
    model: str


def mask_region(mask: NDArray[np.bool_], tolerance: float = SIMPLIFY_TOLERANCE) -> Region | None:
    """A mask as a region: vectorized along pixel edges, then simplified within
    ``tolerance`` pixels (small specks and holes dropped); ``None`` when empty."""
    region = traced_region(mask)
    if region is None:
        return None
    try:
        return simplify_region(region, tolerance, min_area=MIN_PART_AREA)
    except RoadmarkError:
        return region


def model_provenance(context: ToolContext, model: str, score: float) -> Provenance:
    """Provenance of a region a person made with model ``model`` (checked by them)."""
    return Provenance.new(
        f"model:{model}", context.user, verified=True, confidence=round(float(score), 4)
    )


class SmartTool(Tool):
    """Click-to-mask with a promptable model.

    Attributes:
        segmenter: Called with every new request (set by whoever holds the model).
        error: Why the last decode failed, for the status bar.
        hover_previews: Ask for a preview at the pointer while nothing is clicked yet.
    """

    name = "smart"
    title = "Smart (click to mask)"

    def __init__(self, context: ToolContext) -> None:
        super().__init__(context)
        self.segmenter: Callable[[SmartRequest], None] | None = None
        self.error = ""
        self.hover_previews = True
        self._serial = 0
        self._points: list[tuple[float, float, bool]] = []
        self._box: tuple[float, float, float, float] | None = None
        self._target: AnnotationObject | None = None
        self._start_mask: NDArray[np.bool_] | None = None
        self._drag_start: tuple[float, float] | None = None
        self._drag_end: tuple[float, float] = (0.0, 0.0)
        self._result: SmartResult | None = None
        self._index = 0
        self._pending: SmartRequest | None = None
        self._hover_result: SmartResult | None = None
        self._hover_region: Region | None = None
        self._region_cache: dict[tuple[int, int], Region | None] = {}

    # -- state -----------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return bool(self._points) or self._box is not None or self._drag_start is not None

    @property
    def pending(self) -> SmartRequest | None:
        """The request whose answer is awaited, if any."""
        return self._pending

    @property
    def points(self) -> tuple[tuple[float, float, bool], ...]:
        return tuple(self._points)

    @property
    def target(self) -> AnnotationObject | None:
        """The selected region being refined, if any."""
        return self._target

    @property
    def candidate(self) -> int:
        """Index of the candidate mask shown (Tab moves it)."""
        return self._index

    def current_mask(self) -> NDArray[np.bool_] | None:
        if self._result is None or len(self._result.masks) == 0:
            return None
        mask: NDArray[np.bool_] = self._result.masks[self._index]
        return mask

    def current_region(self) -> Region | None:
        """The shown candidate as a region (what Return would store)."""
        if self._result is None or len(self._result.masks) == 0:
            return None
        key = (self._serial, self._index)
        if key not in self._region_cache:
            self._region_cache = {key: mask_region(self._result.masks[self._index])}
        return self._region_cache[key]

    # -- gestures --------------------------------------------------------------------------

    def press(self, pointer: Pointer) -> Command | None:
        doc = self.context.doc()
        point = geo.clamp_point(pointer.x, pointer.y, doc.width, doc.height)
        if pointer.button is Button.RIGHT or (pointer.button is Button.LEFT and pointer.alt):
            self._begin()
            self._points.append((point[0], point[1], False))
            self._request()
        elif pointer.button is Button.LEFT:
            self._drag_start = point
            self._drag_end = point
        return None

    def move(self, pointer: Pointer) -> Command | None:
        doc = self.context.doc()
        point = geo.clamp_point(pointer.x, pointer.y, doc.width, doc.height)
        self._hover = point
        if self._drag_start is not None:
            self._drag_end = point
        elif pointer.button is Button.NONE and not self.busy and self.hover_previews:
            self._request(hover=point)
        return None

    def release(self, pointer: Pointer) -> Command | None:
        if self._drag_start is None:
            return None
        doc = self.context.doc()
        start = self._drag_start
        end = geo.clamp_point(pointer.x, pointer.y, doc.width, doc.height)
        self._drag_start = None
        self._begin()
        if max(abs(end[0] - start[0]), abs(end[1] - start[1])) <= DRAG_PIXELS:
            self._points.append((start[0], start[1], True))
        else:
            box = geo.box_from_drag(*start, *end, doc.width, doc.height)
            self._box = (box.x0, box.y0, box.x1, box.y1)
        self._request()
        return None

    def wants_key(self, key: str) -> bool:
        if key == "Tab":
            return self._result is not None and len(self._result.masks) > 1
        return key in ("Return", "Enter", "Escape", "Backspace") and self.busy

    def key(self, key: str) -> Command | None:
        if key in ("Return", "Enter"):
            return self.accept()
        if key == "Escape":
            self.cancel()
        elif key == "Tab":
            self.next_candidate()
        elif key == "Backspace" and self._points:
            self._points.pop()
            if self._points or self._box is not None:
                self._request()
            else:
                self.cancel()
        return None

    def next_candidate(self) -> None:
        """Show the next candidate mask (wraps around)."""
        if self._result is not None and len(self._result.masks) > 1:
            self._index = (self._index + 1) % len(self._result.masks)

    def cancel(self) -> None:
        self._points.clear()
        self._box = None
        self._target = None
        self._start_mask = None
        self._drag_start = None
        self._result = None
        self._index = 0
        self._pending = None
        self._hover_result = None
        self._hover_region = None
        self.error = ""

    def leave(self) -> None:
        super().leave()
        self._hover_result = None
        self._hover_region = None

    def _begin(self) -> None:
        """First prompt of an object: take the selected region as the one to refine."""
        if self.busy:
            return
        doc = self.context.doc()
        self._hover_result = None
        self._hover_region = None
        selected = [doc.get(uid) for uid in doc.selection]
        regions = [o for o in selected if o is not None and o.kind is ObjectKind.REGION]
        if len(selected) == 1 and len(regions) == 1:
            self._target = regions[0]
            self._start_mask = region_mask(regions[0].region, doc.height, doc.width)

    # -- decoding --------------------------------------------------------------------------

    def _request(self, hover: tuple[float, float] | None = None) -> None:
        self._serial += 1
        self.error = ""
        doc = self.context.doc()
        points = tuple(self._points) if hover is None else ((hover[0], hover[1], True),)
        request = SmartRequest(
            serial=self._serial,
            frame_id=doc.frame.id,
            points=points,
            box=self._box if hover is None else None,
            mask=self._start_mask if hover is None else None,
            hover=hover is not None,
        )
        if self.segmenter is None:
            raise ToolInputError("the Smart tool has no model to run", field="smart")
        self._pending = request
        self.segmenter(request)

    def set_result(self, request: SmartRequest, outcome: SmartResult | RoadmarkError) -> bool:
        """Take the answer to ``request`` (candidates, or the error it raised).

        Returns:
            Whether it was used (``False`` for an outdated request or another frame).
        """
        if not answers_pending(self._pending, request, self.context.document):
            return False
        self._pending = None
        if request.hover:
            if isinstance(outcome, RoadmarkError) or self.busy:
                self._hover_result = None
                self._hover_region = None
            else:
                self._hover_result = outcome
                self._hover_region = mask_region(outcome.masks[0]) if len(outcome.masks) else None
            return True
        if isinstance(outcome, RoadmarkError):
            self._result = None
            self.error = outcome.message
        else:
            self._result = outcome
            self._index = 0
            self.error = ""
        return True

    def accept(self) -> Command | None:
        """The command storing the shown mask, and a fresh start; ``None`` if none."""
        if self._result is None or self._pending is not None:
            return None
        region = self.current_region()
        if region is None:
            self.error = "the mask is empty"
            return None
        doc = self.context.doc()
        model = self._result.model
        score = self._result.scores[self._index]
        target = self._target
        self.cancel()
        provenance = model_provenance(self.context, model, score)
        if target is not None and target.uid is not None and doc.get(target.uid) is not None:
            current = doc.get(target.uid)
            assert current is not None
            after = self.context.edited(current, geometry=region)
            after = replace(after, provenance=replace(after.provenance, source=provenance.source,
                                                      confidence=provenance.confidence))
            return UpdateObjects(doc.frame.id, [current], [after], text="Smart refine")
        obj = replace(self.context.new_object(region), provenance=provenance)
        return AddObjects(
            doc.frame.id, [obj], at_bottom=self.context.paint_behind, text="Smart region"
        )

    def preview(self) -> Preview | None:
        shapes: list[Box | Region] = []
        marquee = None
        if self._drag_start is not None:
            doc = self.context.doc()
            marquee = geo.box_from_drag(*self._drag_start, *self._drag_end, doc.width, doc.height)
        elif self._box is not None:
            marquee = Box(*self._box)
        region = self.current_region() if self.busy else self._hover_region
        if region is not None:
            shapes.append(region)
        path = tuple((x, y) for x, y, _ in self._points)
        if not shapes and marquee is None and not path:
            return None
        if self._pending is not None and not self._pending.hover:
            hint = "Smart: segmenting…"
        elif self.error:
            hint = f"Smart: {self.error}"
        elif self._result is not None and len(self._result.masks) > 1:
            hint = (
                f"Smart: mask {self._index + 1}/{len(self._result.masks)} "
                f"(quality {self._result.scores[self._index]:.2f}) · {HINT}"
            )
        else:
            hint = f"Smart: {HINT}"
        return Preview(
            label_id=self.context.label_id,
            shapes=tuple(shapes),
            marquee=marquee,
            hint=hint,
            edited_uids=(self._target.uid,) if self._target is not None and
            self._target.uid is not None and self.busy else (),
            clicks=tuple(self._points),
        )
