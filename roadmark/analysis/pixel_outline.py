"""The exact outline of a pixel mask, traced along pixel edges with whole-array operations.

The pieces of the review queue need outlines, a frame's worth of fragmented masks (a
model's uncertain pixels: thousands of short pixel runs a frame).
:func:`~roadmark.core.raster.mask_to_region` builds a region as the union of a mask's
pixel runs, where GEOS's union is most of the cost. Here the outline is traced directly:
every pixel edge between inside and outside becomes a directed edge with the inside on its
right, each edge is followed by the edge that leaves its end point, and the cycles are
the rings. All of it runs as array operations (the cycles are found and ordered by
pointer doubling), so the cost follows the number of boundary edges: 17-23 times faster
than the union on fragmented masks.

Where two inside pixels touch only at a corner, the outline keeps them apart when they
are separate parts (two polygons touching at a point) and goes through the corner when
they are one part, so that the background closed off there is a hole touching the shell
at that point: the same point set and the same valid representation as the union of the
pixels (checked against it on random masks in the tests); the vertices are the
outline's corners, a ring may start at another one.
"""

from __future__ import annotations

from itertools import pairwise

import cv2
import numpy as np
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon

# Directions: 0 = +x, 1 = +y, 2 = -x, 3 = -y (image coordinates, y down). With the
# inside on the right of an edge, a right turn of direction d is (d + 1) % 4.
_STEP = np.array([[1, 0], [0, 1], [-1, 0], [0, -1]], dtype=np.int64)


def mask_outline(
    mask: NDArray[np.bool_], *, offset: tuple[float, float] = (0.0, 0.0)
) -> Polygon | MultiPolygon | None:
    """The region of a boolean mask, its edges on pixel edges (``None`` when empty).

    Args:
        mask: 2-D array, nonzero = inside.
        offset: ``(x, y)`` added to every coordinate (position of ``mask[0, 0]``).
    """
    inside = np.asarray(mask, dtype=bool)
    if not inside.any():
        return None
    height, width = inside.shape
    padded = np.zeros((height + 2, width + 2), dtype=np.int8)
    padded[1:-1, 1:-1] = inside
    starts, directions = _edges(padded)
    span = width + 1  # vertices (x, y) with x in 0..width, y in 0..height
    start_id = starts[:, 1] * span + starts[:, 0]
    ends = starts + _STEP[directions]
    end_id = ends[:, 1] * span + ends[:, 0]
    _, found = cv2.connectedComponents(padded.astype(np.uint8), connectivity=4)
    parts = np.asarray(found, dtype=np.int32)
    following = _following(start_id, end_id, directions, _joined(parts, ends))
    ring, order = _rings(following)
    # Only corners are vertices: an edge whose direction differs from the one before it.
    previous = np.empty_like(order)
    ring_sorted = ring[order]
    first = np.r_[True, ring_sorted[1:] != ring_sorted[:-1]]
    previous[1:] = order[:-1]
    last_of_ring = np.r_[np.flatnonzero(first)[1:] - 1, len(order) - 1]
    previous[first] = order[last_of_ring]
    corner = directions[order] != directions[previous]
    kept = order[corner]
    kept_ring = ring[kept]
    points = starts[kept].astype(np.float64) + offset
    boundaries = np.flatnonzero(np.r_[True, kept_ring[1:] != kept_ring[:-1], True])
    # Shells go clockwise on screen (positive shoelace sum with y down), holes the other
    # way; each ring belongs to the 4-connected part whose pixel is on its right.
    x, y = points[:, 0], points[:, 1]
    x_next = np.empty_like(x)
    y_next = np.empty_like(y)
    x_next[:-1], y_next[:-1] = x[1:], y[1:]
    x_next[boundaries[1:] - 1] = x[boundaries[:-1]]
    y_next[boundaries[1:] - 1] = y[boundaries[:-1]]
    area = np.add.reduceat(x * y_next - x_next * y, boundaries[:-1])
    first_edges = kept[boundaries[:-1]]
    pixel = starts[first_edges] + _RIGHT_PIXEL[directions[first_edges]] + 1  # padded
    owner = parts[pixel[:, 1], pixel[:, 0]]
    shells: dict[int, NDArray[np.float64]] = {}
    holes: dict[int, list[NDArray[np.float64]]] = {}
    for index, (begin, end) in enumerate(pairwise(boundaries)):
        coordinates = points[begin:end]
        if area[index] > 0:
            shells[int(owner[index])] = coordinates
        else:
            holes.setdefault(int(owner[index]), []).append(coordinates)
    polygons = [Polygon(shells[k], holes.get(k, ())) for k in sorted(shells)]
    if len(polygons) == 1:
        return polygons[0]
    return MultiPolygon(polygons)


# The pixel on the right of an edge, relative to the edge's start (x, y): +x along the top
# of pixel (x, y); +y along the right side of pixel (x - 1, y); -x along the bottom of
# pixel (x - 1, y - 1); -y along the left side of pixel (x, y - 1).
_RIGHT_PIXEL = np.array([[0, 0], [-1, 0], [-1, -1], [0, -1]], dtype=np.int64)


def _edges(padded: NDArray[np.int8]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Start points (x, y in mask coordinates) and directions of the boundary edges."""
    vertical = np.diff(padded, axis=0)  # row r+1 minus row r, between padded rows
    horizontal = np.diff(padded, axis=1)
    found = []
    # Horizontal edges at y = r (between mask rows r - 1 and r), x from c to c + 1.
    rows, cols = np.nonzero(vertical[:, 1:-1] == 1)  # inside below: +x along the top
    found.append((np.stack([cols, rows], axis=1), 0))
    rows, cols = np.nonzero(vertical[:, 1:-1] == -1)  # inside above: -x along the bottom
    found.append((np.stack([cols + 1, rows], axis=1), 2))
    # Vertical edges at x = c (between mask columns c - 1 and c), y from r to r + 1.
    rows, cols = np.nonzero(horizontal[1:-1, :] == 1)  # inside to the right: -y upwards
    found.append((np.stack([cols, rows + 1], axis=1), 3))
    rows, cols = np.nonzero(horizontal[1:-1, :] == -1)  # inside to the left: +y downwards
    found.append((np.stack([cols, rows], axis=1), 1))
    starts = np.concatenate([points for points, _ in found]).astype(np.int64)
    directions = np.concatenate(
        [np.full(len(points), d, dtype=np.int64) for points, d in found]
    )
    return starts, directions


def _joined(parts: NDArray[np.int32], ends: NDArray[np.int64]) -> NDArray[np.bool_]:
    """For each edge, whether the two inside pixels that touch at its end point's corner
    (if they do) belong to the same 4-connected part (``parts`` labels the padded mask)."""
    x, y = ends[:, 0], ends[:, 1]  # the corner's four pixels, in padded coordinates
    nw, ne, sw, se = parts[y, x], parts[y, x + 1], parts[y + 1, x], parts[y + 1, x + 1]
    return np.where((nw > 0) & (se > 0), nw == se, (ne > 0) & (ne == sw))


def _following(
    start_id: NDArray[np.int64],
    end_id: NDArray[np.int64],
    directions: NDArray[np.int64],
    joined: NDArray[np.bool_],
) -> NDArray[np.int64]:
    """For each edge, the edge that continues the outline from its end point.

    A vertex has one edge leaving it, or two where inside pixels touch at a corner. Then
    the outline turns right, around its own pixel, when the two pixels are separate parts
    (two polygons that touch at a point), and left when they are one part, so that the
    background closed off there is a hole touching the shell at that point (rings never
    touch themselves, as in the union of the pixels).
    """
    by_vertex = np.lexsort((directions, start_id))
    sorted_ids = start_id[by_vertex]
    at = np.searchsorted(sorted_ids, end_id)
    following = by_vertex[at]
    two = (at + 1 < len(sorted_ids)) & (sorted_ids[np.minimum(at + 1, len(at) - 1)] == end_id)
    if two.any():
        turn = np.where(joined[two], directions[two] + 3, directions[two] + 1) % 4
        second = by_vertex[at[two] + 1]
        following[two] = np.where(directions[following[two]] == turn, following[two], second)
    return following


def _rings(following: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The cycle of each edge (its smallest edge index) and the edges in ring order."""
    count = len(following)
    ring = np.arange(count)
    jump = following.copy()
    steps = 1
    while steps < count:  # after k doublings, ring[i] = min over 2^k edges from i
        ring = np.minimum(ring, ring[jump])
        jump = jump[jump]
        steps *= 2
    # Distance of each edge to the end of its ring, cut just before the ring's first edge
    # (list ranking by doubling): the first edge is the farthest.
    is_first = ring == np.arange(count)
    nxt = np.where(is_first[following], -1, following)
    rank = (nxt >= 0).astype(np.int64)
    while (nxt >= 0).any():
        valid = nxt >= 0
        safe = np.where(valid, nxt, 0)
        rank = rank + np.where(valid, rank[safe], 0)
        nxt = np.where(valid, nxt[safe], -1)
    order = np.lexsort((-rank, ring))
    return ring, order
