"""How many human minutes a frame still needs: the cost model behind the review queue.

The model is deliberately simple and documented so that later work can calibrate it
against measured times (the time recorder stores active seconds per frame and tool):

- **region fix** (an uncertain patch of pixels): ``region_fix_s`` to look at it and decide,
  plus redrawing its outline when it is wrong: a boundary of ``length /
  vertex_spacing_px`` vertices (at least ``min_vertices``), the length of the region's
  stored outline (its box's perimeter for a region stored without one), each
  ``vertex_s`` seconds, weighted by the chance it really is wrong (the region's mean
  uncertainty).
- **box check** (a middle-score box, or one whose flipped prediction disagrees):
  ``box_check_s`` to accept, reject or drag a corner.
- **frame overhead**: ``frame_overhead_s`` per frame that still has work (open it, look
  over it once, mark it done).
- **from scratch** (no model): every object outlined by hand, ``vertex_s`` per vertex of
  its outline (boxes count as ``box_draw_s``).

Default numbers: 8 s to judge a region, 2 s per vertex (the figure polygon tools are
usually quoted at for careful outlines), 4 s per box check, 20 s per frame. They are
assumptions, not measurements; :class:`CostModel` takes others.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import shapely

from roadmark.core.annotation import AnnotationObject, Box, ObjectKind, region_parts
from roadmark.core.errors import RoadmarkError
from roadmark.core.prediction import RegionKind, UncertainRegion

OUTLINE_TOLERANCE_PX = 1.0


@dataclass(frozen=True)
class CostModel:
    """Seconds a person needs for each kind of review step (see the module doc).

    Attributes:
        region_fix_s: Judging one uncertain pixel region.
        vertex_s: Placing one outline vertex.
        vertex_spacing_px: Frame pixels between outline vertices when redrawing.
        min_vertices: Fewest vertices a redrawn region needs.
        box_check_s: Checking (accepting, rejecting or adjusting) one uncertain box.
        box_draw_s: Drawing one box from scratch.
        frame_overhead_s: Opening, looking over and finishing a frame with work left.
    """

    region_fix_s: float = 8.0
    vertex_s: float = 2.0
    vertex_spacing_px: float = 24.0
    min_vertices: int = 4
    box_check_s: float = 4.0
    box_draw_s: float = 6.0
    frame_overhead_s: float = 20.0

    def __post_init__(self) -> None:
        values = {
            "region_fix_s": self.region_fix_s,
            "vertex_s": self.vertex_s,
            "vertex_spacing_px": self.vertex_spacing_px,
            "box_check_s": self.box_check_s,
            "box_draw_s": self.box_draw_s,
            "frame_overhead_s": self.frame_overhead_s,
        }
        bad = [name for name, value in values.items() if not math.isfinite(value) or value < 0]
        if bad or self.vertex_spacing_px <= 0 or self.min_vertices < 0:
            raise RoadmarkError(
                f"cost model values must be finite and >= 0 (spacing > 0): {', '.join(bad)}",
                field="cost model",
            )

    def region_vertices(self, box: Box) -> int:
        """Vertices of an outline around a region with bounding box ``box``."""
        perimeter = 2.0 * (box.width + box.height)
        return max(self.min_vertices, math.ceil(perimeter / self.vertex_spacing_px))

    def outline_vertices(self, region: UncertainRegion) -> int:
        """Vertices of a region's redrawn outline: its stored outline's length (simplified
        by a pixel, so pixel staircases count as the lines they draw), or the perimeter
        of its box for a region stored without one."""
        if region.outline is None:
            return self.region_vertices(region.box)
        length = float(shapely.simplify(region.outline, OUTLINE_TOLERANCE_PX).length)
        return max(self.min_vertices, math.ceil(length / self.vertex_spacing_px))

    def region_seconds(self, region: UncertainRegion) -> float:
        """Expected seconds to deal with one uncertain region."""
        if region.kind != RegionKind.PIXELS:
            return self.box_check_s
        wrong = min(max(region.mean_uncertainty, 0.0), 1.0)
        return self.region_fix_s + wrong * self.outline_vertices(region) * self.vertex_s

    def object_seconds(self, obj: AnnotationObject) -> float:
        """Seconds to draw ``obj`` from scratch."""
        if obj.kind is ObjectKind.BOX:
            return self.box_draw_s
        vertices = 0
        for part in region_parts(obj.region):
            vertices += len(part.exterior.coords) - 1
            vertices += sum(len(ring.coords) - 1 for ring in part.interiors)
        return vertices * self.vertex_s


DEFAULT_COST_MODEL = CostModel()


@dataclass(frozen=True)
class FrameEffort:
    """What is left to do on one frame.

    Attributes:
        frame_id: The frame.
        regions: Unresolved pixel regions.
        boxes: Unresolved uncertain boxes.
        seconds: Expected human seconds, overhead included (0 when nothing is left).
    """

    frame_id: int
    regions: int = 0
    boxes: int = 0
    seconds: float = 0.0

    @property
    def minutes(self) -> float:
        return self.seconds / 60.0

    def to_json(self) -> dict[str, Any]:
        return {
            "frame_id": self.frame_id,
            "regions": self.regions,
            "boxes": self.boxes,
            "minutes": round(self.minutes, 2),
        }


@dataclass(frozen=True)
class EffortEstimate:
    """Remaining effort of a set of frames.

    Attributes:
        frames: Per frame, for every frame with work left (and any frame asked for).
        model: The cost model used.
    """

    frames: Mapping[int, FrameEffort] = field(default_factory=dict)
    model: CostModel = DEFAULT_COST_MODEL

    @property
    def seconds(self) -> float:
        return sum(effort.seconds for effort in self.frames.values())

    @property
    def minutes(self) -> float:
        return self.seconds / 60.0

    @property
    def regions_left(self) -> int:
        return sum(effort.regions + effort.boxes for effort in self.frames.values())

    def frame_seconds(self, frame_id: int) -> float:
        effort = self.frames.get(frame_id)
        return 0.0 if effort is None else effort.seconds

    def frame_minutes(self, frame_id: int) -> float:
        return self.frame_seconds(frame_id) / 60.0

    def to_json(self) -> dict[str, Any]:
        return {
            "minutes_left": round(self.minutes, 2),
            "regions_left": self.regions_left,
            "frames": [effort.to_json() for effort in self.frames.values() if effort.seconds > 0],
        }


def estimate(
    regions: Iterable[UncertainRegion],
    *,
    model: CostModel | None = None,
    frame_ids: Iterable[int] = (),
) -> EffortEstimate:
    """Remaining effort from the unresolved regions (resolved ones are skipped).

    Args:
        regions: Uncertain regions, each with its ``frame_id``.
        model: The cost model (:data:`DEFAULT_COST_MODEL` by default).
        frame_ids: Frames to list even when nothing is left on them (0 minutes).
    """
    model = model or DEFAULT_COST_MODEL
    seconds: dict[int, float] = defaultdict(float)
    pixel_counts: dict[int, int] = defaultdict(int)
    box_counts: dict[int, int] = defaultdict(int)
    for region in regions:
        if region.resolved or region.frame_id is None:
            continue
        seconds[region.frame_id] += model.region_seconds(region)
        if region.kind == RegionKind.PIXELS:
            pixel_counts[region.frame_id] += 1
        else:
            box_counts[region.frame_id] += 1
    frames: dict[int, FrameEffort] = {}
    for frame_id in sorted(set(seconds) | set(frame_ids)):
        work = seconds.get(frame_id, 0.0)
        frames[frame_id] = FrameEffort(
            frame_id,
            regions=pixel_counts.get(frame_id, 0),
            boxes=box_counts.get(frame_id, 0),
            seconds=work + model.frame_overhead_s if work > 0 else 0.0,
        )
    return EffortEstimate(frames, model)


def scratch_seconds(objects: Iterable[AnnotationObject], model: CostModel | None = None) -> float:
    """Seconds to label a frame's live objects from nothing (vertex by vertex)."""
    model = model or DEFAULT_COST_MODEL
    live = [obj for obj in objects if not obj.deleted]
    if not live:
        return 0.0
    return model.frame_overhead_s + sum(model.object_seconds(obj) for obj in live)
