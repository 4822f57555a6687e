"""Cityscapes polygons <-> roadmark regions, with rasterizations that agree.

cityscapesScripts' ``json2labelImg`` and ``json2instanceImg`` draw each polygon with
PIL's ``ImageDraw.polygon``: integer vertices are pixel *centers*, and each row is filled
from the left edge's crossing rounded to the nearest pixel to the right edge's crossing
rounded to the nearest pixel (horizontal edges are drawn whole). Roadmark rasterizes
regions with pycocotools, sampling pixel centers, with the origin at the top-left corner
of the top-left pixel. The two rules are made to agree as follows.

Import (:func:`polygon_to_region`): a point ``(X, Y)`` becomes ``(X + 0.5, Y + 0.5)``
(the same pixel center), and the polygon is widened by half a pixel to the left and to
the right: the region is its Minkowski sum with a horizontal segment ``[-0.5, 0.5]``
(computed as a buffer in a space stretched 10^5 times vertically, which also lifts
horizontal edges by 5e-6 px so that pixel centers exactly on them count as inside, as
PIL's whole-edge drawing does). A center is then inside the region exactly when PIL
fills that pixel, up to pycocotools' 1/5-pixel vertex grid. A self-intersecting polygon
is repaired with ``make_valid`` (and reported), and where the repaired region's raster
differs from what PIL fills for the points (PIL fills crossings even-odd; a traced
outline doubling back along a one-pixel spike), the exact pixel region of PIL's fill is
taken instead, so an import never disagrees with json2labelImg; zero-width cuts and
spikes are dropped silently; a polygon with no area becomes the thin line PIL draws for it.

Export (:func:`region_to_polygons`): roadmark's own raster of the region is traced
through the centers of its boundary pixels (OpenCV ``findContours``), so that PIL fills
exactly those pixels; straight runs are merged. Each separate part becomes one polygon;
a hole is joined to the outline by a zero-width horizontal cut through the object's own
pixels (PIL draws horizontal edges whole and they add no row crossings, so a cut adds no
pixel and removes none). Every written polygon is filled with PIL again and compared
with the raster; a mismatch falls back to the unmerged trace and is counted. Objects
imported from Cityscapes and not edited since are written with their original points
instead (see :mod:`roadmark.io.formats.cityscapes`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import LineString, MultiPolygon, Point, Polygon

from roadmark.core.annotation import Region, as_region, region_parts
from roadmark.core.errors import GeometryError
from roadmark.core.raster import mask_to_region, region_mask_in_box
from roadmark.io.formats.pil_fill import fill, mismatched_pixels

SWEEP = 0.5  # half-width of the horizontal segment PIL's rounding adds on each side
MAX_CHECKED_PIXELS = 1 << 26  # a self-crossing polygon's box is compared with PIL's fill
STRETCH = 1e5  # vertical stretch under which a round buffer becomes a horizontal sweep
Point2 = tuple[int, int]


@dataclass(frozen=True)
class ImportedPolygon:
    """The region of a Cityscapes polygon and what happened on the way.

    Attributes:
        region: The region (widened as PIL fills it).
        repaired: The polygon crossed itself and was repaired with ``make_valid``.
        degenerate: The polygon has no area; the region is the line PIL draws for it.
    """

    region: Region
    repaired: bool
    degenerate: bool


Points = Sequence[tuple[float, float]] | NDArray[np.float64]  # a polygon's (x, y) points


def polygon_to_region(points: Points) -> ImportedPolygon:
    """The region whose pixels are those PIL fills for a Cityscapes polygon.

    Args:
        points: The polygon's points in Cityscapes (PIL) coordinates, at least 3.

    Raises:
        GeometryError: Fewer than 3 points or non-finite values.
    """
    if len(points) < 3:
        raise GeometryError(f"a polygon needs at least 3 points, got {len(points)}")
    ring = np.asarray(points, dtype=float) + 0.5
    if not np.isfinite(ring).all():
        raise GeometryError("polygon points must be finite")
    polygon = Polygon(ring)
    repaired = False
    base: shapely.Geometry
    if polygon.is_valid and polygon.area > 0:
        base = polygon
    else:
        try:
            base = as_region(_structure(polygon) if _whole(np.asarray(points, dtype=float))
                             else polygon)
        except GeometryError:
            distinct = np.unique(ring, axis=0)
            base = Point(distinct[0]) if len(distinct) == 1 else LineString(ring)
            return ImportedPolygon(_sweep(base), repaired=False, degenerate=True)
        # A ring whose signed area is the repaired area only touched itself (zero-width
        # cuts to holes or between parts, spikes): nothing to report.
        repaired = not math.isclose(abs(_signed_area(ring)), base.area, rel_tol=1e-9, abs_tol=1e-6)
        return ImportedPolygon(
            _as_filled(_sweep(base), points), repaired=repaired, degenerate=False
        )
    return ImportedPolygon(_sweep(base), repaired=repaired, degenerate=False)


def polygons_to_regions(
    outlines: Sequence[Points],
) -> list[ImportedPolygon]:
    """:func:`polygon_to_region` of each outline, the usual ones all at once.

    A frame's polygons that are valid and have an area (most of them) are built, swept
    and checked with shapely's array functions, one call each for all of them; the others
    go through :func:`polygon_to_region` one by one. The regions are the same either way
    (the same GEOS operations on the same numbers).

    Raises:
        GeometryError: As :func:`polygon_to_region`.
    """
    out: list[ImportedPolygon | None] = [None] * len(outlines)
    usual = [i for i, outline in enumerate(outlines) if len(outline) >= 3]
    rings = [np.asarray(outlines[i], dtype=float) + 0.5 for i in usual]
    if rings and all(np.isfinite(ring).all() for ring in rings):
        owner = np.repeat(np.arange(len(rings)), [len(ring) for ring in rings])
        polygons = shapely.polygons(shapely.linearrings(np.concatenate(rings), indices=owner))
        simple = shapely.is_valid(polygons) & (shapely.area(polygons) > 0)
        stretched = shapely.transform(polygons[simple], lambda xy: xy * (1.0, STRETCH))
        grown = shapely.buffer(
            stretched, SWEEP, join_style="mitre", mitre_limit=2.0, quad_segs=2
        )  # as _sweep does, for all of them
        swept = shapely.transform(grown, lambda xy: xy * (1.0, 1.0 / STRETCH))
        fine = shapely.is_valid(swept) & (shapely.area(swept) > 0)
        for index, region, ok in zip(np.flatnonzero(simple), swept, fine, strict=True):
            if ok and isinstance(region, Polygon | MultiPolygon):
                out[usual[index]] = ImportedPolygon(region, repaired=False, degenerate=False)
    return [
        done if done is not None else polygon_to_region(outlines[i])
        for i, done in enumerate(out)
    ]


def _as_filled(region: Region, points: Points) -> Region:
    """``region``, or the exact pixel region PIL fills for ``points`` where they differ.

    ``make_valid`` keeps the area of a ring that crosses or touches itself, but PIL fills
    crossings row by row (even-odd), so the two can disagree by a few pixels (a traced
    outline that doubles back along a one-pixel spike, a figure eight). The pixels
    cityscapesScripts draws are what the dataset means, so those win. Integer points only
    (PIL truncates others), and only for polygons of a sensible size.
    """
    corners = np.asarray(points, dtype=float)
    if not _whole(corners):
        return region
    x0, y0 = (int(v) - 1 for v in corners.min(axis=0))
    x1, y1 = (int(v) + 2 for v in corners.max(axis=0))
    if (x1 - x0) * (y1 - y0) > MAX_CHECKED_PIXELS:
        return region
    width, height = x1 - x0, y1 - y0
    drawn = fill([(corners - (x0, y0)).astype(np.int64)], height, width)
    ours = _box_raster(region, (x0, y0), drawn.shape)
    if np.array_equal(drawn, ours) or not drawn.any():
        return region
    patched = _patched(region, drawn, ours, (x0, y0))
    if patched is not None:
        return patched
    exact = mask_to_region(drawn, offset=(float(x0), float(y0)))
    return region if exact is None else exact


def _patched(region: Region, drawn: NDArray[np.bool_], ours: NDArray[np.bool_],
             corner: tuple[int, int]) -> Region | None:
    """``region`` with the pixels PIL fills and it lacks added and those it has beyond
    PIL's fill taken away (pixel squares; a few pixels of a long outline, where vectorizing
    the whole fill would cost far more); ``None`` unless its raster is then PIL's fill."""
    offset = (float(corner[0]), float(corner[1]))
    added = mask_to_region(drawn & ~ours, offset=offset)
    removed = mask_to_region(ours & ~drawn, offset=offset)
    try:
        out = as_region(region if added is None else shapely.union(region, added))
        if removed is not None:
            out = as_region(shapely.difference(out, removed))
    except GeometryError:
        return None
    return out if np.array_equal(_box_raster(out, corner, drawn.shape), drawn) else None


def _box_raster(region: Region, corner: tuple[int, int], shape: tuple[int, int]
                ) -> NDArray[np.bool_]:
    """Roadmark's raster of ``region`` in the box of ``shape`` (rows, columns) whose
    top-left pixel is ``corner`` (x, y)."""
    height, width = shape
    shift = np.array(corner, dtype=np.float64)  # (shapely's affinity took a third longer)
    mask, row0, col0 = region_mask_in_box(shapely.transform(region, lambda xy: xy - shift),
                                          height, width)
    out = np.zeros(shape, dtype=bool)
    out[row0 : row0 + mask.shape[0], col0 : col0 + mask.shape[1]] = mask
    return out


def _whole(points: NDArray[np.float64]) -> bool:
    """Whether a polygon's points are integers: PIL's fill then decides its pixels
    (:func:`_as_filled`)."""
    return bool(np.array_equal(points, np.round(points)))


def _structure(polygon: Polygon) -> shapely.Geometry:
    """``polygon`` made valid by its rings' structure (a shell, holes; several times
    quicker than the default tracing of its lines on a long traced outline); as given
    where GEOS cannot (:func:`~roadmark.core.annotation.as_region` repairs it then).
    :func:`_as_filled` makes the pixels PIL's either way."""
    try:
        return shapely.make_valid(polygon, method="structure", keep_collapsed=False)
    except shapely.errors.GEOSException:
        return polygon


def _sweep(geometry: shapely.Geometry) -> Region:
    stretched = shapely.transform(geometry, lambda xy: xy * (1.0, STRETCH))
    grown = stretched.buffer(SWEEP, join_style="mitre", mitre_limit=2.0, quad_segs=2)
    return as_region(shapely.transform(grown, lambda xy: xy * (1.0, 1.0 / STRETCH)))


def _signed_area(ring: NDArray) -> float:
    x, y = ring[:, 0], ring[:, 1]
    # The shoelace sum with the wrap-around term added last (no np.roll copies).
    forward = float(np.dot(x[:-1], y[1:])) + float(x[-1] * y[0])
    backward = float(np.dot(x[1:], y[:-1])) + float(x[0] * y[-1])
    return 0.5 * (forward - backward)


# -- export ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportedPolygons:
    """Cityscapes polygons for one region.

    Attributes:
        polygons: One polygon per separate part, largest first, ``[[x, y], ...]`` integer
            pixel centers.
        mismatched: Pixels where PIL's fill of ``polygons`` differs from roadmark's raster
            of the region (0: identical).
        traced: The polygons were traced from the raster (``False``: the region covers no
            pixel and its rounded outline was written).
    """

    polygons: list[list[list[int]]]
    mismatched: int
    traced: bool


def region_padded_in_box(
    region: Region, height: int, width: int
) -> tuple[NDArray[np.uint8], int, int]:
    """:func:`~roadmark.core.raster.region_mask_in_box` as 0 and 1 in a uint8 array with a
    border of one zero pixel (what contour tracing wants): ``padded[1:-1, 1:-1]`` is the
    mask. Made from pycocotools' column-major raster by OpenCV's blocked transpose (about
    four times faster than numpy's copy of it), written into the zeroed padded array."""
    mask, row0, col0 = region_mask_in_box(region, height, width, contiguous=False)
    padded = np.zeros((mask.shape[0] + 2, mask.shape[1] + 2), dtype=np.uint8)
    if mask.size:  # transposed straight into the border's inside (no second copy)
        inside = padded[1:-1, 1:-1]
        written = cv2.transpose(np.ascontiguousarray(mask.T).view(np.uint8), dst=inside)
        if written.ctypes.data != inside.ctypes.data:  # (should OpenCV ever reallocate)
            inside[...] = written
    return padded, row0, col0


def region_to_polygons(
    region: Region,
    height: int,
    width: int,
    raster: tuple[NDArray[np.uint8], int, int] | None = None,
) -> ExportedPolygons:
    """Polygons that cityscapesScripts fills exactly as roadmark rasterizes ``region``.

    A region whose raster falls apart in several pieces (a thin connection narrower than
    a pixel, or separate parts) gives one polygon per piece, largest first.

    Args:
        region: The region.
        height: Image height.
        width: Image width.
        raster: ``region_padded_in_box(region, height, width)`` when already computed.
    """
    padded, row0, col0 = (
        raster if raster is not None else region_padded_in_box(region, height, width)
    )
    if not cv2.hasNonZero(padded):
        return ExportedPolygons(_rounded(region), mismatched=0, traced=False)
    # Straight runs come merged (CHAIN_APPROX_SIMPLE); an outline with holes is traced again
    # through every boundary pixel, where the cuts can start and end anywhere.
    contours, hierarchy = cv2.findContours(padded, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    links = hierarchy[0]
    full: Sequence[NDArray] | None = None
    polygons: list[NDArray] = []
    for index, link in enumerate(links):
        if link[3] >= 0:
            continue  # a hole; joined to its outline below
        if link[2] < 0:
            polygons.append(_oriented(contours[index][:, 0, :], positive=True))
            continue
        if full is None:
            full = cv2.findContours(padded, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)[0]
        ring, forced = _join(_chain(full[index]), _hole_chains(full, links, index), padded)
        polygons.append(np.asarray(_merge_runs(ring, forced), dtype=np.int64))
    mismatched = mismatched_pixels(polygons, padded)
    if mismatched:
        # Not seen in practice: fall back to the trace through every boundary pixel.
        full = cv2.findContours(padded, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)[0]
        raw = [
            np.asarray(_join(_chain(full[i]), _hole_chains(full, links, i), padded)[0])
            for i, link in enumerate(links)
            if link[3] < 0
        ]
        fallback = mismatched_pixels(raw, padded)
        if fallback < mismatched:
            polygons, mismatched = raw, fallback
    if len(polygons) > 1:
        polygons.sort(key=lambda ring: -abs(_signed_area(ring.astype(float))))
    offset = np.array([col0 - 1, row0 - 1])
    out = [_at_least_three((ring + offset).tolist()) for ring in polygons]
    return ExportedPolygons(out, mismatched=mismatched, traced=True)


def _chain(contour: NDArray) -> list[Point2]:
    return [(x, y) for x, y in contour[:, 0, :].tolist()]


def _hole_chains(contours: Sequence[NDArray], links: NDArray, index: int) -> list[list[Point2]]:
    holes = []
    child = int(links[index][2])
    while child >= 0:
        holes.append(_chain(contours[child]))
        child = int(links[child][0])
    return holes


def _oriented(ring: NDArray, *, positive: bool) -> NDArray:
    area = _signed_area(ring.astype(float)) if len(ring) > 2 else 0.0
    return ring[::-1] if area != 0 and (area < 0) == positive else ring


def _rounded(region: Region) -> list[list[list[int]]]:
    out = []
    for part in region_parts(region):
        coords = np.asarray(part.exterior.coords)[:-1]
        ring = [(int(v[0]), int(v[1])) for v in np.floor(coords).astype(int)]
        out.append([list(p) for p in _at_least_three(_dedupe(ring))])
    return out


def _at_least_three(ring: list) -> list:
    return ring + [ring[-1]] * (3 - len(ring)) if len(ring) < 3 else ring


def _dedupe(ring: list[Point2]) -> list[Point2]:
    out = [p for i, p in enumerate(ring) if i == 0 or p != ring[i - 1]]
    while len(out) > 1 and out[-1] == out[0]:
        out.pop()
    return out


def _orient(chain: list[Point2], positive: bool) -> list[Point2]:
    area = _signed_area(np.asarray(chain, dtype=float)) if len(chain) > 2 else 0.0
    return chain[::-1] if (area < 0) == positive and area != 0 else chain


def _join(
    outline: list[Point2], holes: list[list[Point2]], padded: NDArray[np.uint8]
) -> tuple[list[Point2], set[int]]:
    """One ring: ``outline`` with every hole spliced in through a horizontal cut.

    Holes are taken from left to right; a cut runs left from a hole's leftmost point over
    the object's pixels to the first pixel of an already joined ring. Returns the ring
    and the positions of cut ends (kept when straight runs are merged).
    """
    rings = [_orient(outline, True)] + [_orient(hole, False) for hole in holes]
    owner: dict[Point2, int] = {}
    for point in rings[0]:
        owner.setdefault(point, 0)
    children: dict[int, list[tuple[Point2, int, Point2]]] = {}
    order = sorted(range(1, len(rings)), key=lambda k: min(rings[k]))
    for k in order:
        start = min(rings[k])
        x, y = start
        target = owner.get(start)
        while target is None:
            x -= 1
            if x < 0 or not padded[y, x]:
                break  # cannot happen for a traced hole; keep the hole as its own loop
            target = owner.get((x, y))
        if target is None:
            target, anchor = 0, rings[0][0]
        else:
            anchor = (x, y)
        children.setdefault(target, []).append((anchor, k, start))
        for point in rings[k]:
            owner.setdefault(point, k)
    out: list[Point2] = []
    forced: set[int] = set()

    def emit(k: int, begin: Point2) -> None:
        ring = rings[k]
        first = ring.index(begin)
        sequence = ring[first:] + ring[:first] + ([begin] if k else [])
        pending: dict[Point2, list[tuple[int, Point2]]] = {}
        for anchor, child, start in children.get(k, []):
            pending.setdefault(anchor, []).append((child, start))
        for point in sequence:
            out.append(point)
            for child, start in pending.pop(point, []):
                forced.add(len(out) - 1)
                emit(child, start)
                forced.add(len(out))
                out.append(point)

    emit(0, rings[0][0])
    return out, forced


def _merge_runs(ring: list[Point2], forced: set[int]) -> list[Point2]:
    """``ring`` without the points inside straight runs (cut ends are kept)."""
    if len(ring) < 4:
        return ring
    pts = np.asarray(ring, dtype=np.int64)
    before = pts - np.roll(pts, 1, axis=0)
    after = np.roll(pts, -1, axis=0) - pts
    cross = before[:, 0] * after[:, 1] - before[:, 1] * after[:, 0]
    dot = (before * after).sum(axis=1)
    keep = ~((cross == 0) & (dot > 0))
    if forced:
        keep[list(forced)] = True
    if keep.sum() < 3:
        return ring
    return [ring[i] for i in np.flatnonzero(keep)]


def region_of_polygons(polygons: Sequence[Sequence[tuple[float, float]]]) -> Region:
    """The union of several polygons' regions (parts of one object).

    Raises:
        GeometryError: A polygon has fewer than 3 points.
    """
    regions = [polygon_to_region(points).region for points in polygons]
    merged = regions[0] if len(regions) == 1 else shapely.union_all(regions)
    if not isinstance(merged, Polygon | MultiPolygon):
        merged = as_region(merged)
    return merged
