"""Clicks that the decoder overruled, honoured by a geodesic split of the mask.

The decoder does not always obey a click: a negative click on a neighbouring facade of
the same texture, or inside a wide mask, can leave the mask as it was, and the next click
lands on the same spot (the simulated clicker stalls there for up to 20 clicks). Here a
part of the mask that holds a negative click is split between the clicks in it: each mask
pixel goes with the clicks of its region at the colour edge that separates the positive
from the negative clicks (a watershed level), or, where no edge does, to the click nearest
along the image (a path's cost grows with the colour steps it crosses); the pixels that go
with a negative click leave the mask. A part with no positive click in it goes
as a whole.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, dijkstra

COLOUR_COST = 0.05  # path cost per unit of RGB distance (0-255), on top of 1 per grid step
MAX_NODES = 40_000  # grid cells of a split, at most (a coarser grid beyond)


def honour_negatives(
    mask: NDArray[np.bool_],
    image: NDArray[np.uint8],
    points: Sequence[tuple[float, float, bool]],
) -> NDArray[np.bool_]:
    """``mask`` without the pixels geodesically nearer a negative click inside it than
    any positive click (``image``: the frame's pixels at any scale, RGB)."""
    height, width = mask.shape
    inside = [(x, y, positive) for x, y, positive in points
              if 0 <= int(y) < height and 0 <= int(x) < width and mask[int(y), int(x)]]
    if all(positive for _, _, positive in inside):
        return mask
    _, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    out = mask.copy()
    for part in {labels[int(y), int(x)] for x, y, positive in inside if not positive}:
        seeds = [(x, y, positive) for x, y, positive in inside
                 if labels[int(y), int(x)] == part]
        component = labels == part
        if not any(positive for _, _, positive in seeds):
            out &= ~component
            continue
        out &= ~_nearer_negative(component, image, seeds)
    return out


def _nearer_negative(
    component: NDArray[np.bool_],
    image: NDArray[np.uint8],
    seeds: Sequence[tuple[float, float, bool]],
) -> NDArray[np.bool_]:
    """The pixels of ``component`` whose geodesically nearest seed is negative."""
    height, width = component.shape
    rows, cols = np.nonzero(component)
    r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    step = max(1.0, float(np.sqrt(rows.size / MAX_NODES)),
               width / image.shape[1], height / image.shape[0])
    gw, gh = max(int(np.ceil((c1 - c0) / step)), 1), max(int(np.ceil((r1 - r0) / step)), 1)
    grid = cv2.resize(component[r0:r1, c0:c1].astype(np.uint8), (gw, gh),
                      interpolation=cv2.INTER_NEAREST).astype(bool)
    sx, sy = image.shape[1] / width, image.shape[0] / height
    ix0, iy0 = int(c0 * sx), int(r0 * sy)
    ix1, iy1 = max(int(np.ceil(c1 * sx)), ix0 + 1), max(int(np.ceil(r1 * sy)), iy0 + 1)
    colour = cv2.resize(image[iy0:iy1, ix0:ix1], (gw, gh),
                        interpolation=cv2.INTER_AREA).astype(np.float32)
    cells: dict[int, bool] = {}
    for x, y, positive in seeds:
        gx = min(int((x - c0) / (c1 - c0) * gw), gw - 1)
        gy = min(int((y - r0) / (r1 - r0) * gh), gh - 1)
        grid[gy, gx] = True
        cells.setdefault(gy * gw + gx, positive)
    index = np.full(grid.shape, -1, dtype=np.int64)
    index[grid] = np.arange(int(grid.sum()))
    sources, targets, costs = [], [], []
    for dy, dx in ((0, 1), (1, 0)):
        a = grid[: gh - dy, : gw - dx] & grid[dy:, dx:]
        ca = colour[: gh - dy, : gw - dx][a]
        cb = colour[dy:, dx:][a]
        sources.append(index[: gh - dy, : gw - dx][a])
        targets.append(index[dy:, dx:][a])
        costs.append(1.0 + COLOUR_COST * np.linalg.norm(ca - cb, axis=-1))
    nodes = int(grid.sum())
    src, dst = np.concatenate(sources), np.concatenate(targets)
    steps = np.concatenate(costs)
    seed_nodes = np.array([int(index.flat[cell]) for cell in cells])
    signs = np.array(list(cells.values()), dtype=bool)
    graph = coo_matrix((steps, (src, dst)), shape=(nodes, nodes)).tocsr()
    _, _, nearest = dijkstra(graph, directed=False, indices=seed_nodes, min_only=True,
                             return_predecessors=True)
    negative = np.isin(nearest, seed_nodes[~signs])
    # the colour edge that separates the clicks, where there is one: the regions of the
    # highest colour step below which no region holds clicks of both signs (a watershed
    # level); a region goes with its clicks, the nearest click decides the rest
    regions = _separating_regions(src, dst, steps - 1.0, nodes, seed_nodes, signs)
    if regions is not None:
        sign = np.full(int(regions.max()) + 1, -1, dtype=np.int8)
        sign[regions[seed_nodes]] = signs
        negative = np.where(sign[regions] >= 0, sign[regions] == 0, negative)
    cut = np.zeros(grid.shape, dtype=np.uint8)
    cut[grid] = negative
    out = np.zeros(component.shape, dtype=bool)
    out[r0:r1, c0:c1] = cv2.resize(cut, (c1 - c0, r1 - r0),
                                   interpolation=cv2.INTER_NEAREST).astype(bool)
    return out & component


def _separating_regions(
    src: NDArray[np.int64],
    dst: NDArray[np.int64],
    step: NDArray[np.float64],
    nodes: int,
    seeds: NDArray[np.int64],
    signs: NDArray[np.bool_],
) -> NDArray[np.int32] | None:
    """The connected regions of the edges at most the highest level (a rounded colour
    step) at which no region holds seeds of both signs; ``None`` if even level 0 mixes
    them (no edge between them)."""
    levels = np.unique(np.round(step))
    low, high = 0, len(levels) - 1
    best = None
    while low <= high:  # binary search: regions only merge as the level rises
        mid = (low + high) // 2
        keep = step <= levels[mid]
        graph = coo_matrix((np.ones(int(keep.sum())), (src[keep], dst[keep])),
                           shape=(nodes, nodes))
        regions = connected_components(graph, directed=False)[1]
        if set(regions[seeds[signs]].tolist()) & set(regions[seeds[~signs]].tolist()):
            high = mid - 1
        else:
            best, low = regions, mid + 1
    return best
