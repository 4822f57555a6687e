"""Guided review without Qt: the queue of uncertain regions, and accepting, rejecting and
verifying model labels region by region.

:class:`ReviewQueue` walks the project's (or one frame's) unresolved uncertain regions in
score order (expected wrong pixels, highest first): :meth:`ReviewQueue.next` and
:meth:`ReviewQueue.previous` move a cursor, :meth:`ReviewQueue.resolve` marks the current
region dealt with (it leaves the queue, stored at once). :func:`focus_rect` is the view
rectangle to zoom to (the region with context around it), :func:`objects_in` the objects
to select there.

Accepting one region takes the model's proposals (:mod:`roadmark.annotators.review.prelabels`)
clipped to the region's outline (the uncertain pixels themselves, stored with the
prediction; the box for regions stored without one), so the rest of the frame is left
as it is; a box region takes the matching predicted box. Every accept, reject and
verify is ONE command for the editing session (one undo step).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import shapely

from roadmark.annotators.review.prelabels import Proposal, accept_command
from roadmark.core.annotation import AnnotationObject, Box, ObjectKind, Region, as_region
from roadmark.core.document import FrameDocument
from roadmark.core.edits import AddObjects, EditError, UpdateObjects, describe
from roadmark.core.errors import GeometryError
from roadmark.core.prediction import RegionKind, UncertainRegion
from roadmark.core.schema import LabelSchema
from roadmark.io.predictions import ranked_regions, set_regions_resolved
from roadmark.io.store import Project

CONTEXT = 1.5  # the view shows the region's box grown by this factor (plus a margin)
MIN_VIEW = 96.0  # ... and never less than this many frame pixels across
BOX_MATCH_IOU = 0.9


def focus_rect(box: Box, width: float, height: float) -> Box:
    """The frame rectangle to show for a region: its box with context, inside the frame."""
    cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
    half_w = max(box.width * CONTEXT, MIN_VIEW) / 2
    half_h = max(box.height * CONTEXT, MIN_VIEW) / 2
    return Box(cx - half_w, cy - half_h, cx + half_w, cy + half_h).clipped(width, height)


def objects_in(document: FrameDocument, box: Box, shape: Region | None = None) -> list[int]:
    """Uids of the visible objects overlapping ``shape`` (a region's outline; ``box`` when
    ``None``), topmost first."""
    area = shape if shape is not None else box.to_polygon()
    found = []
    for obj in reversed(document.visible()):
        if obj.uid is None:
            continue
        if obj.kind is ObjectKind.BOX:
            if obj.bounds.iou(box) > 0 or shapely.intersects(obj.bounds.to_polygon(), area):
                found.append(obj.uid)
        elif shapely.intersects(obj.region, area):
            found.append(obj.uid)
    return found


class ReviewQueue:
    """The unresolved uncertain regions of a project or of one frame, in score order.

    Args:
        project: The project (regions are read from and resolved in its store).
        model: Only this model's regions (all models by default).
    """

    def __init__(self, project: Project, *, model: str | None = None) -> None:
        self.project = project
        self.model = model
        self.frame_id: int | None = None
        self.regions: list[UncertainRegion] = []
        self.index = -1

    def reload(self, frame_id: int | None = None) -> None:
        """Read the regions again: of ``frame_id`` only, or of the whole project (``None``).

        The cursor stays on the same region when it is still in the queue.
        """
        current = self.current
        self.frame_id = frame_id
        self.regions = ranked_regions(self.project, model=self.model, frame_id=frame_id)
        uids = [region.uid for region in self.regions]
        self.index = uids.index(current.uid) if current is not None and current.uid in uids else -1

    @property
    def current(self) -> UncertainRegion | None:
        return self.regions[self.index] if 0 <= self.index < len(self.regions) else None

    def __len__(self) -> int:
        return len(self.regions)

    def go(self, index: int) -> UncertainRegion | None:
        """Make region ``index`` the current one (``None`` when out of range)."""
        if not 0 <= index < len(self.regions):
            return None
        self.index = index
        return self.regions[index]

    def next(self) -> UncertainRegion | None:
        """The next region (wrapping to the first); ``None`` when the queue is empty."""
        if not self.regions:
            return None
        return self.go((self.index + 1) % len(self.regions))

    def previous(self) -> UncertainRegion | None:
        """The previous region (wrapping to the last); ``None`` when the queue is empty."""
        if not self.regions:
            return None
        start = self.index if self.index >= 0 else 0
        return self.go((start - 1) % len(self.regions))

    def resolve(self, region: UncertainRegion | None = None) -> UncertainRegion | None:
        """Mark ``region`` (the current one by default) resolved: stored, and out of the
        queue; the cursor moves to the region that took its place."""
        region = region or self.current
        if region is None or region.uid is None:
            return None
        set_regions_resolved(self.project, [region.uid])
        uids = [r.uid for r in self.regions]
        if region.uid in uids:
            position = uids.index(region.uid)
            del self.regions[position]
            if position < self.index:
                self.index -= 1
            elif position == self.index:
                self.index = min(position, len(self.regions)) - 1  # next() lands on it
        return region

    def unresolve(self, region: UncertainRegion) -> None:
        """Put a resolved region back in the store's queue (the next reload shows it)."""
        if region.uid is not None:
            set_regions_resolved(self.project, [region.uid], resolved=False)


# -- accept, reject, verify ----------------------------------------------------------------


def region_proposals(found: Sequence[Proposal], region: UncertainRegion) -> list[Proposal]:
    """The proposals inside one uncertain region.

    A pixel region takes every region proposal clipped to its outline (its box when it
    has none); a box region takes the predicted box that matches it (IoU >= 0.9).
    """
    if region.kind != RegionKind.PIXELS:
        return [
            p
            for p in found
            if p.kind is ObjectKind.BOX and p.object.bounds.iou(region.box) >= BOX_MATCH_IOU
        ]
    area = region.shape
    out = []
    for proposal in found:
        if proposal.kind is not ObjectKind.REGION:
            continue
        piece = shapely.intersection(proposal.object.region, area)
        try:
            clipped = as_region(piece)
        except GeometryError:
            continue
        if clipped.area < 1.0:
            continue
        obj = replace(proposal.object, geometry=clipped)
        out.append(replace(proposal, key=f"{proposal.key}@{region.uid}", object=obj))
    return out


def accept_region_command(
    document: FrameDocument, found: Sequence[Proposal], region: UncertainRegion
) -> AddObjects | None:
    """ONE command adding the model's labels inside ``region`` (``None``: nothing to add)."""
    return accept_command(document, region_proposals(found, region))


def accept_region_above(
    document: FrameDocument,
    found: Sequence[Proposal],
    region: UncertainRegion,
    threshold: float,
) -> tuple[AddObjects | None, list[Proposal]]:
    """ONE command adding the model's labels inside ``region`` whose confidence reaches
    ``threshold`` (``None``: nothing to add), and the proposals left out below it."""
    inside = region_proposals(found, region)
    below = [p for p in inside if p.confidence < threshold]
    return accept_command(document, inside, min_confidence=threshold), below


def accepted_text(
    schema: LabelSchema, command: AddObjects | None, below: Sequence[Proposal], threshold: float
) -> str:
    """What an accept did, in one line: ``Accepted 2 labels: car 0.91, road 0.97; 1 label
    below the 0.50 threshold left out``."""
    left_out = (
        f"; {describe(len(below), 'label')} below the {threshold:.2f} threshold left out"
        if below
        else ""
    )
    if command is None or not command.stored:
        return f"Nothing accepted here{left_out or ': the labels are already on it'}"
    names = ", ".join(
        f"{_name(schema, obj.label_id)} {obj.provenance.confidence or 0:.2f}"
        for obj in command.stored
    )
    return f"Accepted {describe(len(command.stored), 'label')}: {names}{left_out}"


def _name(schema: LabelSchema, label_id: int) -> str:
    label = schema.by_id.get(label_id)
    return label.name if label else str(label_id)


def reject_command(document: FrameDocument, uids: Sequence[int], user: str) -> UpdateObjects:
    """ONE command removing (soft-deleting) model labels that are wrong.

    Raises:
        EditError: None of ``uids`` is a live model label of the frame.
    """
    before = [obj for obj in document.live() if obj.uid in set(uids) and obj.provenance.is_model]
    if not before:
        raise EditError("select the model labels to reject first")
    after = [replace(obj, deleted=True, provenance=obj.provenance.touched(user)) for obj in before]
    return UpdateObjects(
        document.frame.id, before, after, text=f"Reject {describe(len(before), 'model label')}"
    )


def verify_command(document: FrameDocument, uids: Sequence[int], user: str) -> UpdateObjects | None:
    """ONE command marking objects as checked by a person (``None``: all already are)."""
    chosen = set(uids)
    before: list[AnnotationObject] = [
        obj for obj in document.live() if obj.uid in chosen and not obj.provenance.verified
    ]
    if not before:
        return None
    after = [
        replace(obj, provenance=replace(obj.provenance.touched(user), verified=True))
        for obj in before
    ]
    return UpdateObjects(document.frame.id, before, after, text=f"Verify {describe(len(before))}")
