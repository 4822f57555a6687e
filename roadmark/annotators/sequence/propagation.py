"""Propagate a frame's boxes and regions to the next frame along dense optical flow.

Flow is computed both ways between the two frames with OpenCV (DIS by default, Farneback
on request). The forward-backward check (Sundaram et al., 2010: a pixel is consistent when
``|F + B|^2 <= relative * (|F|^2 + |B|^2) + absolute``) marks where the flow cannot be
trusted: occlusions, disocclusions, motion boundaries, textureless areas.

Each object moves in one of two ways:

- **affine**: an affine motion is fitted with RANSAC to the forward flow on the object's
  consistent interior pixels (the mask eroded by an eighth of its size, up to 8 pixels).
  When nearly all of them agree with it (a car, a sign, a person standing still), the
  outline itself is transformed: it stays the drawn vector shape and a translated object
  lands within a fraction of a pixel. Boxes move by the affine fit too, or by the median
  flow inside them when the fit fails (``translate``).
- **warp**: otherwise (the road, sidewalks, buildings: perspective flow that no affine
  motion explains) the object's mask is warped backwards along the flow (``cv2.remap``,
  bilinear, threshold 0.5), vectorized exactly with
  :func:`~roadmark.analysis.pixel_outline.traced_region` and simplified. Regions that
  continue under objects drawn on top of them (Cityscapes' z-order) fill disoccluded areas
  correctly.
  Where a warped object uncovers the background, backward warping can leave a thin ghost
  of it; those pixels fail the consistency check and are reported (next point).

Propagated objects get provenance source :data:`~roadmark.annotators.changes.PROPAGATED`,
keep label, instance, track and attributes. Pixels whose label may be wrong (see
:func:`risky_pixels`: inconsistent flow whose error reaches an object edge, or content
that came from outside the frame) are grouped into connected :class:`UnreliableArea`s for
the review queue, and each propagated object carries as ``confidence`` the fraction of
its new area that is not risky.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal, cast

import cv2
import numpy as np
import shapely
import shapely.affinity
from numpy.typing import NDArray

from roadmark.analysis.pixel_outline import traced_region
from roadmark.annotators.changes import PROPAGATED, ChangeSet, ObjectChange, is_interpolated, stamp
from roadmark.annotators.errors import ToolInputError
from roadmark.annotators.simplify import simplify_region
from roadmark.core.annotation import (
    AnnotationObject,
    Box,
    Region,
    as_region,
    utc_now,
)
from roadmark.core.errors import GeometryError
from roadmark.core.raster import paint, region_mask_in_box

FlowMethod = Literal["dis", "farneback"]
FlowArray = NDArray[np.float32]
Motion = Literal["affine", "warp", "translate"]

_DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


@dataclass(frozen=True)
class FlowField:
    """Dense flow between two frames, both ways, with its consistency.

    Attributes:
        forward: ``H x W x 2`` displacement (dx, dy) of each pixel of the first frame.
        backward: ``H x W x 2`` displacement of each pixel of the second frame back to the
            first.
        error_prev: Forward-backward error (pixels) of each pixel of the first frame.
        error_next: Backward-forward error (pixels) of each pixel of the second frame.
        unreliable_prev: First-frame pixels that fail the consistency check.
        unreliable_next: Second-frame pixels that fail it.
        method: The method that computed it (``dis`` or ``farneback``).
    """

    forward: FlowArray
    backward: FlowArray
    error_prev: FlowArray
    error_next: FlowArray
    unreliable_prev: NDArray[np.bool_]
    unreliable_next: NDArray[np.bool_]
    method: FlowMethod = "dis"

    @property
    def height(self) -> int:
        return int(self.forward.shape[0])

    @property
    def width(self) -> int:
        return int(self.forward.shape[1])


def _gray(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    if image.ndim == 3:
        return cast(
            NDArray[np.uint8],
            cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY),
        )
    return np.ascontiguousarray(image, dtype=np.uint8)


def _one_way(
    a: NDArray[np.uint8], b: NDArray[np.uint8], method: FlowMethod, preset: str
) -> FlowArray:
    if method == "dis":
        dis = cv2.DISOpticalFlow.create(_DIS_PRESETS[preset])
        # OpenCV allocates the flow when given None; its stub does not allow None.
        return cast(FlowArray, dis.calc(a, b, None))  # type: ignore[call-overload]
    return cast(FlowArray, cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 5, 21, 3, 7, 1.5, 0))


def _sample(field: FlowArray, flow: FlowArray) -> FlowArray:
    """``field`` read at each pixel displaced by ``flow`` (bilinear, edges replicated)."""
    h, w = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cast(
        FlowArray,
        cv2.remap(
            field,
            xs + flow[..., 0],
            ys + flow[..., 1],
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        ),
    )


def _inconsistent(
    there: FlowArray, back: FlowArray, relative: float, absolute: float
) -> tuple[FlowArray, NDArray[np.bool_]]:
    total = there + back
    error2 = np.einsum("ijk,ijk->ij", total, total)
    magnitude2 = np.einsum("ijk,ijk->ij", there, there) + np.einsum("ijk,ijk->ij", back, back)
    h, w = there.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    tx, ty = xs + there[..., 0], ys + there[..., 1]
    outside = (tx < -0.5) | (ty < -0.5) | (tx > w - 0.5) | (ty > h - 0.5)
    bad = (error2 > relative * magnitude2 + absolute) | outside
    return np.sqrt(error2).astype(np.float32), bad


def estimate_flow(
    first: NDArray[np.uint8],
    second: NDArray[np.uint8],
    *,
    method: FlowMethod = "dis",
    preset: str = "medium",
    scale: float = 1.0,
    relative: float = 0.01,
    absolute: float = 0.5,
) -> FlowField:
    """Dense flow from ``first`` to ``second`` and back, with the consistency check.

    Args:
        first: RGB (or gray) image of frame t.
        second: Image of frame t+1, the same size.
        method: ``"dis"`` (OpenCV DIS) or ``"farneback"``.
        preset: DIS preset: ``ultrafast``, ``fast`` or ``medium``.
        scale: Compute the flow on images resized by this factor (<= 1) and scale it back.
        relative: Relative term of the consistency check.
        absolute: Absolute term (pixels squared) of the consistency check.

    Raises:
        ToolInputError: The images differ in size, or an option is unknown.
    """
    if first.shape[:2] != second.shape[:2]:
        raise ToolInputError(
            f"frames differ in size ({first.shape[1]}x{first.shape[0]} vs "
            f"{second.shape[1]}x{second.shape[0]})",
            field="image",
        )
    if method not in ("dis", "farneback"):
        raise ToolInputError(f"unknown flow method {method!r} (dis, farneback)", field="method")
    if preset not in _DIS_PRESETS:
        raise ToolInputError(f"unknown DIS preset {preset!r}", field="preset")
    if not 0 < scale <= 1:
        raise ToolInputError(f"scale must be in (0, 1], got {scale}", field="scale")
    a, b = _gray(first), _gray(second)
    height, width = a.shape
    if scale < 1:
        size = (max(8, round(width * scale)), max(8, round(height * scale)))
        a = cast(NDArray[np.uint8], cv2.resize(a, size, interpolation=cv2.INTER_AREA))
        b = cast(NDArray[np.uint8], cv2.resize(b, size, interpolation=cv2.INTER_AREA))
    forward = _one_way(a, b, method, preset)
    backward = _one_way(b, a, method, preset)
    if scale < 1:
        factors = np.array([width / a.shape[1], height / a.shape[0]], dtype=np.float32)
        forward = cv2.resize(forward, (width, height), interpolation=cv2.INTER_LINEAR) * factors
        backward = cv2.resize(backward, (width, height), interpolation=cv2.INTER_LINEAR) * factors
    error_prev, bad_prev = _inconsistent(forward, _sample(backward, forward), relative, absolute)
    error_next, bad_next = _inconsistent(backward, _sample(forward, backward), relative, absolute)
    return FlowField(forward, backward, error_prev, error_next, bad_prev, bad_next, method)


@dataclass(frozen=True)
class UnreliableArea:
    """A connected area of the new frame where the flow failed the consistency check.

    Attributes:
        bbox: Its bounding box in pixels.
        area: Its size in pixels.
        score: Mean forward-backward error over it, in pixels (larger = less reliable).
        region: Its outline.
        objects: Indices (into the propagated objects) of the objects it overlaps.
    """

    bbox: Box
    area: int
    score: float
    region: Region
    objects: tuple[int, ...]


@dataclass(frozen=True)
class PropagationResult:
    """What :func:`propagate_objects` made.

    Attributes:
        objects: The propagated objects, in the source's z-order (objects that left the
            frame are left out).
        sources: For each propagated object, the index of its source object.
        motions: How each one moved: ``affine``, ``translate`` or ``warp``.
        unreliable: Areas of inconsistent flow over them, largest score x area first.
    """

    objects: list[AnnotationObject]
    sources: list[int]
    motions: list[Motion]
    unreliable: list[UnreliableArea]


def _interior_points(
    mask: NDArray[np.bool_], row0: int, col0: int, flow: FlowField, erode: int, limit: int
) -> NDArray[np.float64]:
    if erode > 0 and min(mask.shape) > 2 * erode + 2:
        kernel = np.ones((2 * erode + 1, 2 * erode + 1), np.uint8)
        inner = cv2.erode(
            mask.astype(np.uint8), kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0
        ).astype(bool)
        if inner.sum() >= 12:
            mask = inner
    window = (slice(row0, row0 + mask.shape[0]), slice(col0, col0 + mask.shape[1]))
    good = mask & ~flow.unreliable_prev[window]
    if good.sum() < 12:
        good = mask
    rows, cols = np.nonzero(good)
    if rows.size > limit:
        pick = np.linspace(0, rows.size - 1, limit).astype(np.int64)
        rows, cols = rows[pick], cols[pick]
    return np.stack([cols + col0, rows + row0], axis=1).astype(np.float64)


def _fit_affine(
    points: NDArray[np.float64], flow: FlowField, threshold: float
) -> tuple[NDArray[np.float64] | None, float, NDArray[np.float64]]:
    cols, rows = points[:, 0].astype(np.int64), points[:, 1].astype(np.int64)
    src = points + 0.5
    dst = src + flow.forward[rows, cols].astype(np.float64)
    if len(points) < 6:
        return None, 0.0, dst - src
    cv2.setRNGSeed(0)  # RANSAC draws samples: the same input gives the same result
    matrix, inliers = cv2.estimateAffine2D(
        src,
        dst,
        method=cv2.RANSAC,
        ransacReprojThreshold=threshold,
        maxIters=2000,
        confidence=0.995,
        refineIters=10,
    )
    if matrix is None or inliers is None:
        return None, 0.0, dst - src
    return cast(NDArray[np.float64], matrix), float(inliers.mean()), dst - src


def _transform(geometry: Region, matrix: NDArray[np.float64]) -> Region:
    (a, b, tx), (d, e, ty) = matrix.tolist()
    return as_region(shapely.affinity.affine_transform(geometry, [a, b, d, e, tx, ty]))


def _warp_region(
    mask: NDArray[np.bool_], row0: int, col0: int, flow: FlowField, margin: int
) -> tuple[NDArray[np.bool_], int, int]:
    """Backward-warp a mask window into the next frame; returns the new window."""
    rows, cols = np.nonzero(mask)
    moved = flow.forward[rows + row0, cols + col0]
    tx = cols + col0 + 0.5 + moved[:, 0]
    ty = rows + row0 + 0.5 + moved[:, 1]
    h, w = flow.height, flow.width
    x0 = max(0, int(np.floor(tx.min())) - margin)
    y0 = max(0, int(np.floor(ty.min())) - margin)
    x1 = min(w, int(np.ceil(tx.max())) + margin)
    y1 = min(h, int(np.ceil(ty.max())) + margin)
    if x1 <= x0 or y1 <= y0:
        return np.zeros((0, 0), bool), y0, x0
    back = flow.backward[y0:y1, x0:x1]
    xs, ys = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
    # Content that enters the frame takes the label at the frame's edge (its source is
    # clamped to the image); such pixels are marked risky for review.
    warped = cv2.remap(
        mask.astype(np.float32),
        np.clip(xs + back[..., 0], 0, w - 1) - col0,
        np.clip(ys + back[..., 1], 0, h - 1) - row0,
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0.0,
    )
    return warped >= 0.5, y0, x0


def _clip(geometry: Region, width: int, height: int) -> Region | None:
    try:
        return as_region(shapely.clip_by_rect(geometry, 0, 0, width, height))
    except GeometryError:
        return None


def _move_box(
    box: Box, flow: FlowField, threshold: float, min_inliers: float, limit: int
) -> tuple[Box | None, Motion]:
    h, w = flow.height, flow.width
    clipped = box.clipped(w, h)
    mask, row0, col0 = region_mask_in_box(clipped.to_polygon(), h, w)
    if not mask.any():
        return None, "translate"
    points = _interior_points(mask, row0, col0, flow, erode=0, limit=limit)
    matrix, inliers, displacement = _fit_affine(points, flow, threshold)
    corners = np.array([[box.x0, box.y0], [box.x1, box.y0], [box.x1, box.y1], [box.x0, box.y1]])
    if matrix is not None and inliers >= min_inliers:
        moved = corners @ matrix[:, :2].T + matrix[:, 2]
        motion: Motion = "affine"
    else:
        moved = corners + np.median(displacement, axis=0)
        motion = "translate"
    xs, ys = moved[:, 0].tolist(), moved[:, 1].tolist()
    new = Box.from_corners(min(xs), min(ys), max(xs), max(ys))
    new = new.clipped(w, h)
    return (new if new.area > 0 else None), motion


def propagate_objects(
    objects: Sequence[AnnotationObject],
    flow: FlowField,
    *,
    user: str,
    at: datetime | None = None,
    ransac_threshold: float | None = None,
    min_inliers: float = 0.97,
    simplify_tolerance: float = 0.5,
    min_unreliable_area: int = 64,
    sample_limit: int = 3000,
) -> PropagationResult:
    """Move a frame's live objects into the next frame along ``flow``.

    Args:
        objects: The frame's objects in z-order (soft-deleted ones are skipped).
        flow: Flow from this frame to the next (:func:`estimate_flow`).
        user: Who propagates (written into provenance).
        at: Time written into provenance (now by default).
        ransac_threshold: Pixels within which a flow vector agrees with an affine motion;
            by default 1 for DIS and 2 for Farneback, whose smoother flow scatters more
            around an object's true motion.
        min_inliers: Fraction of agreeing pixels needed to move an outline affinely.
        simplify_tolerance: Tolerance (pixels) for simplifying warped outlines.
        min_unreliable_area: Smallest unreliable area reported, in pixels.
        sample_limit: Most interior pixels used to fit one object's motion.
    """
    when = at or utc_now()
    h, w = flow.height, flow.width
    if ransac_threshold is None:
        ransac_threshold = 2.0 if flow.method == "farneback" else 1.0
    made: list[AnnotationObject] = []
    sources: list[int] = []
    motions: list[Motion] = []
    footprints: list[tuple[NDArray[np.bool_], int, int]] = []
    risky = risky_pixels(flow, objects)
    for index, obj in enumerate(objects):
        if obj.deleted:
            continue
        geometry: Box | Region | None
        if isinstance(obj.geometry, Box):
            geometry, motion = _move_box(
                obj.geometry, flow, ransac_threshold, min_inliers, sample_limit
            )
        else:
            mask, row0, col0 = region_mask_in_box(obj.geometry, h, w)
            if not mask.any():
                continue
            erode = max(1, min(8, min(mask.shape) // 8))
            points = _interior_points(mask, row0, col0, flow, erode=erode, limit=sample_limit)
            matrix, inliers, _ = _fit_affine(points, flow, ransac_threshold)
            geometry = None
            motion = "warp"
            if matrix is not None and inliers >= min_inliers:
                geometry = _clip(_transform(obj.geometry, matrix), w, h)
                motion = "affine"
            else:
                warped, wr0, wc0 = _warp_region(mask, row0, col0, flow, margin=2)
                vector = traced_region(warped, offset=(wc0, wr0)) if warped.size else None
                if vector is not None and simplify_tolerance > 0:
                    vector = simplify_region(vector, simplify_tolerance)
                geometry = vector
        if geometry is None:
            continue
        footprint = region_mask_in_box(
            geometry.to_polygon() if isinstance(geometry, Box) else geometry, h, w
        )
        if not footprint[0].any():
            continue
        fmask, fr0, fc0 = footprint
        window = risky[fr0 : fr0 + fmask.shape[0], fc0 : fc0 + fmask.shape[1]]
        reliable = 1.0 - float(window[fmask].mean())
        copy = stamp(obj, PROPAGATED, user, when)
        copy = replace(
            copy,
            geometry=geometry,
            provenance=replace(copy.provenance, confidence=round(reliable, 4)),
        )
        made.append(copy)
        sources.append(index)
        motions.append(motion)
        footprints.append(footprint)
    unreliable = _unreliable_areas(flow, risky, footprints, min_unreliable_area)
    return PropagationResult(made, sources, motions, unreliable)


def _boundary_distance(objects: Sequence[AnnotationObject], height: int, width: int) -> FlowArray:
    """Distance (pixels) from each pixel of the source frame to the nearest object edge."""
    number = {id(obj): k + 1 for k, obj in enumerate(objects)}
    owner = paint(objects, lambda obj: number[id(obj)], height, width, dtype=np.int32)
    edges = np.zeros((height, width), dtype=np.uint8)
    edges[:, 1:] |= (owner[:, 1:] != owner[:, :-1]).astype(np.uint8)
    edges[1:, :] |= (owner[1:, :] != owner[:-1, :]).astype(np.uint8)
    for obj in objects:
        if not obj.deleted and isinstance(obj.geometry, Box):
            b = obj.geometry
            corner0 = (round(b.x0), round(b.y0))
            corner1 = (round(b.x1) - 1, round(b.y1) - 1)
            cv2.rectangle(edges, corner0, corner1, 1, 1)
    return cast(FlowArray, cv2.distanceTransform((edges == 0).astype(np.uint8), cv2.DIST_L2, 3))


def risky_pixels(flow: FlowField, objects: Sequence[AnnotationObject]) -> NDArray[np.bool_]:
    """Pixels of the next frame whose propagated label may be wrong.

    A pixel is risky when the flow fails the consistency check there *and* its error is
    large enough to reach an object edge of the source frame from where the pixel came
    from (inside a large uniform region a wrong flow still lands on the right label), or
    when it came from outside the frame (new content).
    """
    h, w = flow.height, flow.width
    distance = _boundary_distance(objects, h, w)
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    sx, sy = xs + flow.backward[..., 0], ys + flow.backward[..., 1]
    at_source = cv2.remap(distance, sx, sy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    outside = (sx < -0.5) | (sy < -0.5) | (sx > w - 0.5) | (sy > h - 0.5)
    return flow.unreliable_next & ((flow.error_next + 1.0 >= at_source) | outside)


def _unreliable_areas(
    flow: FlowField,
    risky: NDArray[np.bool_],
    footprints: list[tuple[NDArray[np.bool_], int, int]],
    min_area: int,
) -> list[UnreliableArea]:
    h, w = flow.height, flow.width
    owner = np.full((h, w), -1, dtype=np.int32)
    for k, (mask, row0, col0) in enumerate(footprints):
        owner[row0 : row0 + mask.shape[0], col0 : col0 + mask.shape[1]][mask] = k
    bad = (risky & (owner >= 0)).astype(np.uint8)
    bad = cast(NDArray[np.uint8], cv2.morphologyEx(bad, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8)))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(bad, connectivity=8)
    areas: list[UnreliableArea] = []
    for k in range(1, count):
        x, y, bw, bh, area = (int(v) for v in stats[k])
        if area < min_area:
            continue
        component = labels[y : y + bh, x : x + bw] == k
        region = traced_region(component, offset=(x, y))
        if region is None:
            continue
        owners = owner[y : y + bh, x : x + bw][component]
        score = float(flow.error_next[y : y + bh, x : x + bw][component].mean())
        areas.append(
            UnreliableArea(
                bbox=Box(x, y, x + bw, y + bh),
                area=area,
                score=score,
                region=simplify_region(region, 1.0),
                objects=tuple(sorted(set(owners[owners >= 0].tolist()))),
            )
        )
    areas.sort(key=lambda a: a.area * a.score, reverse=True)
    return areas


def propagation_changes(
    target_frame_id: int,
    target_objects: Sequence[AnnotationObject],
    propagated: Sequence[AnnotationObject],
    *,
    user: str,
    at: datetime | None = None,
) -> list[ObjectChange]:
    """The changes that put propagated objects onto the next frame.

    A tracked object whose track already has a keyframe there (same track id and kind) is
    not copied; one that has an interpolated object there replaces it (extra interpolated
    ones of the track are soft-deleted). Everything else is added on top.
    """
    when = at or utc_now()
    keyed: dict[tuple[int, str], list[AnnotationObject]] = defaultdict(list)
    for obj in target_objects:
        if not obj.deleted and obj.track_id is not None:
            keyed[(obj.track_id, obj.kind.value)].append(obj)
    changes = ChangeSet()
    for obj in propagated:
        if obj.track_id is None:
            changes.add(target_frame_id, obj)
            continue
        present = keyed.get((obj.track_id, obj.kind.value), [])
        if any(not is_interpolated(o) for o in present):
            continue
        if present:
            first, rest = present[0], present[1:]
            changes.update(target_frame_id, first, replace(obj, uid=first.uid))
            for extra in rest:
                changes.update(
                    target_frame_id,
                    extra,
                    replace(
                        extra, deleted=True, provenance=extra.provenance.touched(user, at=when)
                    ),
                )
            keyed[(obj.track_id, obj.kind.value)] = []
        else:
            changes.add(target_frame_id, obj)
    return changes.changes()
