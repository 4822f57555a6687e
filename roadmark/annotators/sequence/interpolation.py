"""Keyframe interpolation of tracked boxes and regions, as in CVAT.

A track is the objects of one kind (box or region) that share a ``track_id`` across the
frames of a sequence. Its *keyframes* are the objects a person (or a model, an import, the
flow propagation) made; the frames strictly between two consecutive keyframes get
*interpolated* objects (provenance source :data:`~roadmark.annotators.changes.INTERPOLATED`).
Time is the frames' ``sequence_index``, so frames taken every Nth video frame interpolate
with the right weights.

- Boxes: each corner moves linearly from one keyframe to the next.
- Regions: the bounding box is interpolated linearly and the outline of the nearer
  keyframe is mapped onto it (scale and translation). The outline's shape therefore stays
  a drawn shape; only its place and size change smoothly.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime

import shapely
import shapely.affinity

from roadmark.annotators.changes import INTERPOLATED, stamp
from roadmark.annotators.errors import TrackError
from roadmark.core.annotation import AnnotationObject, Box, Region, as_region, geometry_bounds


def lerp(a: float, b: float, t: float) -> float:
    return a + (b - a) * t


def interpolate_box(a: Box, b: Box, t: float) -> Box:
    """The box a fraction ``t`` (0..1) of the way from ``a`` to ``b``."""
    return Box(lerp(a.x0, b.x0, t), lerp(a.y0, b.y0, t), lerp(a.x1, b.x1, t), lerp(a.y1, b.y1, t))


def fit_region(region: Region, target: Box) -> Region:
    """``region`` scaled and moved so that its bounding box becomes ``target``."""
    source = geometry_bounds(region)
    sx = target.width / source.width if source.width > 0 else 1.0
    sy = target.height / source.height if source.height > 0 else 1.0
    moved = shapely.affinity.affine_transform(
        region, [sx, 0.0, 0.0, sy, target.x0 - sx * source.x0, target.y0 - sy * source.y0]
    )
    return as_region(moved)


def interpolate_region(a: Region, b: Region, t: float) -> Region:
    """The region a fraction ``t`` of the way from ``a`` to ``b`` (see the module notes)."""
    target = interpolate_box(geometry_bounds(a), geometry_bounds(b), t)
    return fit_region(a if t <= 0.5 else b, target)


def interpolate_object(
    before: AnnotationObject,
    after: AnnotationObject,
    t: float,
    *,
    user: str,
    at: datetime | None = None,
) -> AnnotationObject:
    """An interpolated object between two keyframes of one track.

    Label, ids, attributes and flags come from the nearer keyframe.

    Raises:
        TrackError: The keyframes are of different kinds (a box and a region).
    """
    if not 0.0 <= t <= 1.0 or not math.isfinite(t):
        raise ValueError(f"interpolation weight must be in 0..1, got {t}")
    if before.kind is not after.kind:
        raise TrackError(
            f"cannot interpolate a {before.kind.value} into a {after.kind.value}",
            field=f"track {before.track_id}",
        )
    if isinstance(before.geometry, Box) and isinstance(after.geometry, Box):
        geometry: Box | Region = interpolate_box(before.geometry, after.geometry, t)
    else:
        geometry = interpolate_region(before.region, after.region, t)
    nearer = before if t <= 0.5 else after
    made = stamp(nearer, INTERPOLATED, user, at)
    return replace(made, geometry=geometry, track_id=before.track_id)


def interpolate_track(
    keyframes: Mapping[int, AnnotationObject],
    positions: Iterable[int],
    *,
    user: str,
    at: datetime | None = None,
) -> dict[int, AnnotationObject]:
    """Interpolated objects for the ``positions`` strictly between two keyframes.

    Args:
        keyframes: Keyframe objects of one track, by sequence index.
        positions: Sequence indices that may need an object (those of the sequence's
            frames); positions outside the keyframes' span, or on a keyframe, get none.
        user: Who is interpolating (written into provenance).
        at: The time written into provenance (now by default).

    Returns:
        An object for every position between two keyframes, by position.
    """
    keys = sorted(keyframes)
    out: dict[int, AnnotationObject] = {}
    if len(keys) < 2:
        return out
    spans = list(itertools.pairwise(keys))
    span = 0
    for position in sorted(set(positions)):
        while span < len(spans) and position >= spans[span][1]:
            span += 1
        if span == len(spans):
            break
        start, end = spans[span]
        if position <= start:
            continue
        t = (position - start) / (end - start)
        out[position] = interpolate_object(keyframes[start], keyframes[end], t, user=user, at=at)
    return out
