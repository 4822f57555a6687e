"""Propagate a frame's objects with a video mask tracker (SAM 2 and its kin) instead of
optical flow.

A tracker (:class:`MaskTracker`; :class:`roadmark.models.sam_video.VideoTracker` is one)
takes the objects' masks on one frame and returns, for each following frame, one mask per
object with the quality the model predicts for it. :func:`tracked_objects` turns one
frame's masks into objects the way an accepted Smart-tool mask becomes a region
(:func:`~roadmark.annotators.tools.smart.mask_region`: vectorized along pixel edges, then
simplified); a box stays a box (the tracked mask's bounding box). Each keeps the source
object's label, instance, track and attributes; its provenance source is
``model:NAME/tracked`` (:func:`~roadmark.annotators.changes.tracked_source`: a model's
proposal, which the review queue treats like a flow-propagated one), its ``confidence`` the
predicted quality. A mask that comes back empty (the object left the frame or is hidden)
makes no object.

Weak masks go to the propagation review queue
(:func:`~roadmark.annotators.sequence.ops.propagated_to_check`): those whose quality is
below :data:`WEAK_QUALITY`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from roadmark.annotators.changes import stamp, tracked_source
from roadmark.annotators.tools.smart import SIMPLIFY_TOLERANCE, mask_region
from roadmark.core.annotation import AnnotationObject, Box, Region, utc_now
from roadmark.core.jobs import CancelToken, ProgressReporter
from roadmark.core.raster import region_mask

# A tracked mask whose predicted quality (decoder IoU x object presence, in [0, 1]) is below
# this is weak: it is selected after propagating and queued for review. SAM 2 predicts an
# IoU above 0.9 for most masks it gets right; 0.8 leaves those alone and catches objects
# it is losing (occlusion, a presence score falling towards 0.5 and below).
WEAK_QUALITY = 0.8


class TrackedMasks(Protocol):
    """One following frame's answer: ``K x H x W`` bool masks, ``K`` qualities."""

    @property
    def masks(self) -> NDArray[np.bool_]: ...

    @property
    def quality(self) -> NDArray[np.float32]: ...


class MaskTracker(Protocol):
    """Carries object masks from one frame through the following ones."""

    @property
    def name(self) -> str: ...

    def track(
        self,
        frames: Sequence[NDArray[np.uint8]],
        masks: Sequence[NDArray[np.bool_]],
        *,
        cancel: CancelToken | None = None,
        progress: ProgressReporter | None = None,
    ) -> Sequence[TrackedMasks]: ...


def object_mask(obj: AnnotationObject, height: int, width: int) -> NDArray[np.bool_]:
    """An object's pixels on a ``height x width`` frame (a box filled)."""
    geometry: Box | Region = obj.geometry
    shape = geometry.to_polygon() if isinstance(geometry, Box) else geometry
    return region_mask(shape, height, width).astype(bool)


def is_weak(obj: AnnotationObject, below: float = WEAK_QUALITY) -> bool:
    """A tracked object whose predicted quality is below ``below``."""
    confidence = obj.provenance.confidence
    return confidence is not None and confidence < below


def _mask_box(mask: NDArray[np.bool_]) -> Box:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return Box(float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))


def tracked_objects(
    objects: Sequence[AnnotationObject],
    tracked: TrackedMasks,
    *,
    model: str,
    user: str,
    at: datetime | None = None,
    tolerance: float = SIMPLIFY_TOLERANCE,
) -> tuple[list[AnnotationObject], list[int]]:
    """The objects one following frame gets from the tracker's masks.

    Args:
        objects: The prompted objects, in the order their masks were given.
        tracked: The tracker's masks and qualities for the frame (one per object).
        model: The tracker's name (``model:NAME/tracked`` becomes the source).
        user: Who propagates.
        at: Time written into provenance (now by default).
        tolerance: How far (pixels) an outline may stray from the mask's pixel edges.

    Returns:
        The new objects (without uid) and, for each, the index of its source object.

    Raises:
        ValueError: The tracker answered for another number of objects.
    """
    if tracked.masks.shape[0] != len(objects):
        raise ValueError(
            f"the tracker gave {tracked.masks.shape[0]} masks for {len(objects)} objects"
        )
    when = at or utc_now()
    source = tracked_source(model)
    made: list[AnnotationObject] = []
    sources: list[int] = []
    for index, (obj, mask) in enumerate(zip(objects, tracked.masks, strict=True)):
        if not mask.any():
            continue
        geometry: Box | Region | None
        if isinstance(obj.geometry, Box):
            geometry = _mask_box(mask)
        else:
            geometry = mask_region(mask, tolerance)
        if geometry is None:
            continue
        copy = stamp(obj, source, user, when)
        quality = round(float(tracked.quality[index]), 4)
        provenance = replace(copy.provenance, confidence=quality)
        made.append(replace(copy, geometry=geometry, provenance=provenance))
        sources.append(index)
    return made, sources
