"""Simplify and smooth region outlines (from the brush, GrabCut, flow or model masks).

Vectorized masks follow pixel edges: a diagonal edge becomes a staircase with a vertex at
every pixel. :func:`simplify_region` removes vertices that stray less than a tolerance (in
pixels) from the simplified outline (shapely's topology-preserving Douglas-Peucker, so
holes stay inside and parts do not cross), optionally rounds corners with Chaikin's
corner cutting, and drops parts and holes smaller than a minimum area.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import LinearRing, MultiPolygon, Polygon

from roadmark.core.annotation import AnnotationObject, ObjectKind, Region, as_region, region_parts
from roadmark.core.edits import UpdateObjects
from roadmark.core.errors import GeometryError

if TYPE_CHECKING:
    from roadmark.annotators.tools.base import ToolContext

DEFAULT_TOLERANCE = 1.0  # pixels: removes the staircase of pixel-edge outlines (0.71 px deep)


def chaikin_ring(coords: NDArray[np.float64], iterations: int = 1) -> NDArray[np.float64]:
    """Chaikin corner cutting of a closed ring (``N x 2``, first point not repeated).

    Each iteration replaces every edge ``p -> q`` by the points at 1/4 and 3/4 of it, which
    doubles the vertex count and converges to a quadratic B-spline inside the outline.
    """
    points = np.asarray(coords, dtype=np.float64)
    for _ in range(iterations):
        following = np.roll(points, -1, axis=0)
        quarter = 0.75 * points + 0.25 * following
        three_quarters = 0.25 * points + 0.75 * following
        points = np.stack([quarter, three_quarters], axis=1).reshape(-1, 2)
    return points


def _smooth_polygon(polygon: Polygon, iterations: int) -> Polygon:
    def ring(r: LinearRing) -> NDArray[np.float64]:
        return chaikin_ring(np.asarray(r.coords)[:-1, :2], iterations)

    return Polygon(ring(polygon.exterior), [ring(hole) for hole in polygon.interiors])


def _drop_small(region: Region, min_area: float) -> list[Polygon]:
    kept = []
    for part in region_parts(region):
        if part.area < min_area:
            continue
        holes = [hole for hole in part.interiors if Polygon(hole).area >= min_area]
        kept.append(Polygon(part.exterior, holes))
    return kept


def simplify_region(
    region: Region,
    tolerance: float,
    *,
    smooth: int = 0,
    min_area: float = 0.0,
) -> Region:
    """A simpler outline of ``region``.

    Args:
        region: A (Multi)Polygon in image pixels.
        tolerance: Largest distance (pixels) a removed vertex may lie from the result
            (Douglas-Peucker; GEOS may also drop a ring's start point, which can stray a
            little further); 0 only merges collinear vertices.
        smooth: Chaikin iterations applied after simplifying (0 = none; 2 rounds corners
            well). Smoothing moves corners inwards by at most a quarter of the adjacent
            edges.
        min_area: Parts and holes smaller than this (square pixels) are dropped.

    Returns:
        A valid (Multi)Polygon.

    Raises:
        GeometryError: The tolerance is negative, or nothing with area is left.
    """
    if tolerance < 0 or not np.isfinite(tolerance):
        raise GeometryError(f"simplify tolerance must be a finite number >= 0, got {tolerance}")
    if smooth < 0:
        raise GeometryError(f"smoothing iterations must be >= 0, got {smooth}")
    simplified = shapely.simplify(region, tolerance, preserve_topology=True)
    parts = _drop_small(as_region(simplified), min_area)
    if smooth:
        parts = [_smooth_polygon(part, smooth) for part in parts]
    if not parts:
        raise GeometryError(f"nothing is left of the region above {min_area} square pixels")
    result = parts[0] if len(parts) == 1 else MultiPolygon(parts)
    return as_region(result)


def vertex_count(region: Region) -> int:
    """Number of distinct vertices of all rings of a region."""
    return sum(
        len(ring.coords) - 1
        for part in region_parts(region)
        for ring in (part.exterior, *part.interiors)
    )


def simplify_command(
    context: ToolContext,
    uids: Sequence[int],
    tolerance: float,
    *,
    smooth: int = 0,
    min_area: float = 0.0,
) -> UpdateObjects | None:
    """Simplify (and smooth) the selected regions as one undoable command.

    Boxes and objects that would not change are left out; ``None`` when nothing changes.
    A region that would vanish (every part below ``min_area``) is kept as it is.

    Raises:
        GeometryError: A negative tolerance or smoothing count.
    """
    if tolerance < 0 or smooth < 0:
        raise GeometryError(f"bad simplify settings: tolerance {tolerance}, smooth {smooth}")
    document = context.doc()
    before: list[AnnotationObject] = []
    after: list[AnnotationObject] = []
    for uid in uids:
        obj = document.get(uid)
        if obj is None or obj.deleted or obj.kind is not ObjectKind.REGION:
            continue
        try:
            region = simplify_region(obj.region, tolerance, smooth=smooth, min_area=min_area)
        except GeometryError:
            continue
        if vertex_count(region) == vertex_count(obj.region) and region.equals(obj.region):
            continue
        before.append(obj)
        after.append(context.edited(obj, geometry=region))
    if not before:
        return None
    noun = "region" if len(before) == 1 else "regions"
    return UpdateObjects(document.frame.id, before, after, text=f"Simplify {len(before)} {noun}")
