"""Geometry operations of the editing tools: vertices, edges, box handles, strokes.

Regions are shapely (Multi)Polygons. A vertex is addressed by a :data:`VertexKey`
``(part, ring, index)``: the polygon among the region's parts (in shapely's order), the
ring (0 the exterior, 1.. the holes) and the vertex's position in the ring (the closing
point is not counted). Every function returns a new geometry; nothing is modified.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import LineString, MultiPolygon, Point, Polygon

from roadmark.core.annotation import Box, Geometry, Region, as_region
from roadmark.core.errors import GeometryError

VertexKey = tuple[int, int, int]
Coords = NDArray[np.float64]
BOX_HANDLES = ("nw", "n", "ne", "e", "se", "s", "sw", "w")


def parts(region: Region) -> list[Polygon]:
    """The region's polygons in shapely's order (not sorted)."""
    return list(region.geoms) if isinstance(region, MultiPolygon) else [region]


def rings(region: Region) -> list[tuple[int, int, Coords]]:
    """``(part, ring, coords)`` for every ring; coords without the closing point."""
    out = []
    for p, polygon in enumerate(parts(region)):
        out.append((p, 0, shapely.get_coordinates(polygon.exterior)[:-1]))
        for r, interior in enumerate(polygon.interiors, start=1):
            out.append((p, r, shapely.get_coordinates(interior)[:-1]))
    return out


def vertex_count(region: Region) -> int:
    return sum(len(coords) for _, _, coords in rings(region))


def grabbable(coords: Coords, spacing: float) -> Coords:
    """The vertices that get a handle when handles are ``spacing`` image pixels wide: one
    per square cell of that size (the first vertex in it), so that handles never pile up
    on a region drawn small, and every handle drawn is one that can be grabbed."""
    if len(coords) == 0 or spacing <= 0:
        return coords
    cells = np.floor(coords / spacing).astype(np.int64)
    _, first = np.unique(cells, axis=0, return_index=True)
    return coords[np.sort(first)]


def vertices(region: Region) -> Coords:
    """All vertices of all rings as one ``(N, 2)`` array."""
    found = [coords for _, _, coords in rings(region)]
    return np.concatenate(found) if found else np.zeros((0, 2))


def nearest_vertex(region: Region, x: float, y: float, tolerance: float) -> VertexKey | None:
    """The vertex closest to ``(x, y)`` within ``tolerance`` pixels."""
    best: VertexKey | None = None
    best_distance = tolerance
    for p, r, coords in rings(region):
        if not len(coords):
            continue
        distances = np.hypot(coords[:, 0] - x, coords[:, 1] - y)
        i = int(np.argmin(distances))
        if distances[i] <= best_distance:
            best, best_distance = (p, r, i), float(distances[i])
    return best


def nearest_edge(
    region: Region, x: float, y: float, tolerance: float
) -> tuple[VertexKey, tuple[float, float]] | None:
    """The edge closest to ``(x, y)`` within ``tolerance``.

    Returns:
        The key a vertex inserted into that edge would get, and the closest point on it.
    """
    best = None
    best_distance = tolerance
    for p, r, coords in rings(region):
        n = len(coords)
        if n < 2:
            continue
        a = coords
        b = np.roll(coords, -1, axis=0)
        d = b - a
        length2 = np.maximum((d**2).sum(axis=1), 1e-12)
        t = np.clip(((x - a[:, 0]) * d[:, 0] + (y - a[:, 1]) * d[:, 1]) / length2, 0.0, 1.0)
        px = a[:, 0] + t * d[:, 0]
        py = a[:, 1] + t * d[:, 1]
        distances = np.hypot(px - x, py - y)
        i = int(np.argmin(distances))
        if distances[i] <= best_distance:
            best_distance = float(distances[i])
            best = ((p, r, i + 1), (float(px[i]), float(py[i])))
    return best


def _rebuild(region: Region, ring_coords: dict[tuple[int, int], Coords]) -> Polygon | MultiPolygon:
    built = []
    for p, polygon in enumerate(parts(region)):
        shell = ring_coords.get((p, 0), shapely.get_coordinates(polygon.exterior)[:-1])
        holes = [
            ring_coords.get((p, r), shapely.get_coordinates(interior)[:-1])
            for r, interior in enumerate(polygon.interiors, start=1)
        ]
        if len(shell) < 3:
            continue
        built.append(Polygon(shell, [hole for hole in holes if len(hole) >= 3]))
    if not built:
        return Polygon()
    return built[0] if len(built) == 1 else MultiPolygon(built)


def _ring_of(region: Region, key: VertexKey) -> Coords:
    p, r, _ = key
    polygon = parts(region)[p]
    ring = polygon.exterior if r == 0 else polygon.interiors[r - 1]
    coords: Coords = shapely.get_coordinates(ring)[:-1].copy()
    return coords


def move_vertex(region: Region, key: VertexKey, x: float, y: float) -> Polygon | MultiPolygon:
    """The region with vertex ``key`` at ``(x, y)`` (not repaired; see :func:`finish`)."""
    coords = _ring_of(region, key)
    coords[key[2]] = (x, y)
    return _rebuild(region, {key[:2]: coords})


def insert_vertex(region: Region, key: VertexKey, x: float, y: float) -> Polygon | MultiPolygon:
    """The region with a new vertex at ``(x, y)`` placed at position ``key[2]`` of its ring."""
    coords = _ring_of(region, key)
    coords = np.insert(coords, key[2], (x, y), axis=0)
    return _rebuild(region, {key[:2]: coords})


def delete_vertex(region: Region, key: VertexKey) -> Region | None:
    """The region without vertex ``key``.

    A ring left with fewer than 3 vertices disappears with it: a hole closes, a part of a
    multi-part region goes. Returns ``None`` when nothing would be left.
    """
    coords = np.delete(_ring_of(region, key), key[2], axis=0)
    rebuilt = _rebuild(region, {key[:2]: coords})
    try:
        return finish(rebuilt)
    except GeometryError:
        return None


def finish(geometry: Polygon | MultiPolygon) -> Region:
    """Repair a geometry built during a gesture into a valid region.

    Raises:
        GeometryError: It has no area.
    """
    return as_region(geometry)


def translate(geometry: Geometry, dx: float, dy: float) -> Geometry:
    """The geometry shifted by ``(dx, dy)``."""
    if isinstance(geometry, Box):
        return Box(geometry.x0 + dx, geometry.y0 + dy, geometry.x1 + dx, geometry.y1 + dy)
    shift = np.array([dx, dy])
    return shapely.transform(geometry, lambda coords: coords + shift)


def clamp_shift(
    bounds: tuple[float, float, float, float], dx: float, dy: float, width: float, height: float
) -> tuple[float, float]:
    """Limit a shift so that bounds inside the image stay inside it."""
    x0, y0, x1, y1 = bounds
    if x0 >= 0 and x1 <= width:
        dx = min(max(dx, -x0), width - x1)
    if y0 >= 0 and y1 <= height:
        dy = min(max(dy, -y0), height - y1)
    return dx, dy


def clamp_point(x: float, y: float, width: float, height: float) -> tuple[float, float]:
    """The point moved onto the image if it lies outside."""
    return min(max(x, 0.0), float(width)), min(max(y, 0.0), float(height))


def image_rect(width: float, height: float) -> Polygon:
    return shapely.box(0.0, 0.0, float(width), float(height))


def clip_to_image(region: Polygon | MultiPolygon, width: float, height: float) -> Region:
    """The repaired region limited to the image.

    Raises:
        GeometryError: Nothing with area is left.
    """
    return as_region(as_region(region).intersection(image_rect(width, height)))


# -- boxes -------------------------------------------------------------------------------


def box_handle_points(box: Box) -> dict[str, tuple[float, float]]:
    """The eight resize handles of a box: corners and edge midpoints."""
    cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
    return {
        "nw": (box.x0, box.y0),
        "n": (cx, box.y0),
        "ne": (box.x1, box.y0),
        "e": (box.x1, cy),
        "se": (box.x1, box.y1),
        "s": (cx, box.y1),
        "sw": (box.x0, box.y1),
        "w": (box.x0, cy),
    }


def box_handle_at(box: Box, x: float, y: float, tolerance: float) -> str | None:
    """The handle of ``box`` within ``tolerance`` of ``(x, y)`` (corners win ties)."""
    best, best_distance = None, tolerance
    for name, (hx, hy) in box_handle_points(box).items():
        distance = math.hypot(hx - x, hy - y)
        if distance < best_distance or (distance == best_distance and len(name) == 2):
            best, best_distance = name, distance
    return best


def near_box_edge(box: Box, x: float, y: float, tolerance: float) -> bool:
    """``(x, y)`` lies within ``tolerance`` of the box's outline."""
    inside_x = box.x0 - tolerance <= x <= box.x1 + tolerance
    inside_y = box.y0 - tolerance <= y <= box.y1 + tolerance
    near_x = min(abs(x - box.x0), abs(x - box.x1)) <= tolerance
    near_y = min(abs(y - box.y0), abs(y - box.y1)) <= tolerance
    return (near_x and inside_y) or (near_y and inside_x)


def resize_box(
    box: Box, handle: str, x: float, y: float, width: float, height: float, min_size: float
) -> Box:
    """``box`` with ``handle`` dragged to ``(x, y)``, kept on the image and at least
    ``min_size`` wide and high (the opposite side stays put)."""
    x, y = clamp_point(x, y, width, height)
    x0, y0, x1, y1 = box.x0, box.y0, box.x1, box.y1
    if "w" in handle:
        x0 = min(x, x1 - min_size)
    if "e" in handle:
        x1 = max(x, x0 + min_size)
    if "n" in handle:
        y0 = min(y, y1 - min_size)
    if "s" in handle:
        y1 = max(y, y0 + min_size)
    return Box(x0, y0, x1, y1)


def box_from_drag(xa: float, ya: float, xb: float, yb: float, width: float, height: float) -> Box:
    """The box spanned by a drag, snapped to the image bounds."""
    xa, ya = clamp_point(xa, ya, width, height)
    xb, yb = clamp_point(xb, yb, width, height)
    return Box.from_corners(xa, ya, xb, yb)


# -- strokes -----------------------------------------------------------------------------


def stroke_region(
    points: Sequence[tuple[float, float]], radius: float, width: float, height: float
) -> Region | None:
    """The area a round brush of ``radius`` covers along ``points``, clipped to the image."""
    if not points or radius <= 0:
        return None
    unique = [points[0]]
    for point in points[1:]:
        if point != unique[-1]:
            unique.append(point)
    path = Point(unique[0]) if len(unique) == 1 else LineString(unique)
    area = path.buffer(radius, quad_segs=8)
    try:
        return clip_to_image(area, width, height)
    except GeometryError:
        return None
