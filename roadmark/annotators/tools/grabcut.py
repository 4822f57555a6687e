"""GrabCut: a rough box (and optional scribbles) around an object becomes a snapped region.

OpenCV's ``grabCut`` runs on a window around the box (the box plus a margin of definite
background), so the cost follows the object's size, not the frame's. Inside the box pixels
start as probable foreground; foreground and background scribbles fix pixels for certain.
The result keeps the connected part that holds the foreground scribbles (the largest part
when there are none), fills its holes unless asked not to, and is vectorized exactly
(:func:`~roadmark.analysis.pixel_outline.traced_region`) then simplified to a tolerance in
pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import shapely
import shapely.affinity
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from roadmark.analysis.pixel_outline import traced_region
from roadmark.annotators.errors import ToolInputError
from roadmark.annotators.simplify import simplify_region
from roadmark.core.annotation import Box, Region
from roadmark.core.raster import region_mask_in_box


@dataclass(frozen=True)
class GrabCutResult:
    """A GrabCut segmentation.

    Attributes:
        region: The object's outline in image pixels (simplified).
        mask: The segmentation inside the window (before vectorizing).
        row0: Image row of ``mask[0, 0]``.
        col0: Image column of ``mask[0, 0]``.
    """

    region: Region
    mask: NDArray[np.bool_]
    row0: int
    col0: int


def _areal(geometry: BaseGeometry | None, width: float) -> BaseGeometry | None:
    if geometry is None or geometry.is_empty:
        return None
    if isinstance(geometry, Polygon | MultiPolygon):
        return geometry
    return shapely.buffer(geometry, width / 2, cap_style="round")


def _window(rect: Box, width: int, height: int, margin: float, min_margin: int) -> Box:
    pad_x = max(min_margin, margin * rect.width)
    pad_y = max(min_margin, margin * rect.height)
    return Box(
        max(0, math.floor(rect.x0 - pad_x)),
        max(0, math.floor(rect.y0 - pad_y)),
        min(width, math.ceil(rect.x1 + pad_x)),
        min(height, math.ceil(rect.y1 + pad_y)),
    )


def _paint(mask: NDArray[np.uint8], geometry: BaseGeometry, window: Box, value: int) -> None:
    shifted = shapely.affinity.translate(geometry, -window.x0, -window.y0)
    h, w = mask.shape
    for part in getattr(shifted, "geoms", [shifted]):
        if not isinstance(part, Polygon) or part.is_empty:
            continue
        sub, row0, col0 = region_mask_in_box(part, h, w)
        mask[row0 : row0 + sub.shape[0], col0 : col0 + sub.shape[1]][sub] = value


def _keep_part(fg: NDArray[np.bool_], seeds: NDArray[np.bool_] | None) -> NDArray[np.bool_]:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(fg.astype(np.uint8), connectivity=8)
    if count <= 1:
        return fg
    if seeds is not None and seeds.any():
        keep = np.unique(labels[seeds & fg])
        keep = keep[keep > 0]
        if keep.size:
            kept: NDArray[np.bool_] = np.isin(labels, keep)
            return kept
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    part: NDArray[np.bool_] = labels == largest
    return part


def _fill_holes(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    background = (~mask).astype(np.uint8)
    _, labels = cv2.connectedComponents(background, connectivity=4)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    holes = ~np.isin(labels, border) & (labels > 0)
    return mask | holes


def grabcut(
    image: NDArray[np.uint8],
    rect: Box | None = None,
    *,
    foreground: BaseGeometry | None = None,
    background: BaseGeometry | None = None,
    stroke_width: float = 5.0,
    iterations: int = 5,
    margin: float = 0.2,
    min_margin: int = 12,
    fill_holes: bool = True,
    simplify_tolerance: float = 0.75,
    seed: int = 0,
) -> GrabCutResult:
    """Segment the object in ``rect`` (and/or marked by scribbles) with GrabCut.

    Args:
        image: The frame, RGB ``uint8``.
        rect: A rough box around the object. Without one, the box around all scribbles.
        foreground: Scribbles on the object (lines are widened to ``stroke_width``).
        background: Scribbles on what is not the object.
        stroke_width: Width in pixels of line scribbles.
        iterations: GrabCut iterations.
        margin: Background margin around the box, as a fraction of its size.
        min_margin: Smallest margin in pixels.
        fill_holes: Fill holes inside the object (windows of a car, for instance).
        simplify_tolerance: Tolerance in pixels of the outline's simplification.
        seed: Seed of OpenCV's random generator (GrabCut's GMM initialization).

    Raises:
        ToolInputError: No box and no scribbles, a box with no area inside the image, no
            background left around it, or nothing was segmented.
    """
    if image.ndim != 3 or image.shape[2] < 3:
        raise ToolInputError("GrabCut needs a color image", field="image")
    height, width = image.shape[:2]
    fg = _areal(foreground, stroke_width)
    bg = _areal(background, stroke_width)
    if rect is None:
        marks = [g for g in (fg, bg) if g is not None]
        if not marks:
            raise ToolInputError("draw a box or foreground scribbles first", field="rect")
        rect = Box(*shapely.union_all(marks).bounds)
    inside = rect.clipped(width, height)
    if inside.width < 2 or inside.height < 2:
        raise ToolInputError(
            f"the box must cover at least 2x2 pixels of the {width}x{height} frame", field="rect"
        )
    window = _window(inside, width, height, margin, min_margin)
    x0, y0, x1, y1 = int(window.x0), int(window.y0), int(window.x1), int(window.y1)
    crop = cv2.cvtColor(np.ascontiguousarray(image[y0:y1, x0:x1, :3]), cv2.COLOR_RGB2BGR)
    labels = np.full(crop.shape[:2], cv2.GC_BGD, dtype=np.uint8)
    _paint(labels, inside.to_polygon(), window, cv2.GC_PR_FGD)
    seeds = None
    if bg is not None:
        _paint(labels, bg, window, cv2.GC_BGD)
    if fg is not None:
        fixed = np.zeros_like(labels)
        _paint(fixed, fg, window, 1)
        seeds = fixed.astype(bool)
        labels[seeds] = cv2.GC_FGD
    if not np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD)).any():
        raise ToolInputError("no pixel is marked as possible object", field="rect")
    cv2.setRNGSeed(seed)
    bgd_model = np.zeros((1, 65), np.float64)
    fgd_model = np.zeros((1, 65), np.float64)
    if not (labels == cv2.GC_BGD).any():
        raise ToolInputError(
            "the box leaves no background to learn from; draw it tighter or add "
            "background scribbles",
            field="rect",
        )
    whole = (0, 0, crop.shape[1], crop.shape[0])  # not read when starting from the mask
    cv2.grabCut(crop, labels, whole, bgd_model, fgd_model, iterations, cv2.GC_INIT_WITH_MASK)
    segmented = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
    segmented = _keep_part(segmented, seeds)
    if fill_holes:
        segmented = _fill_holes(segmented)
    region = traced_region(segmented, offset=(x0, y0))
    if region is None:
        raise ToolInputError("GrabCut found no object in the box", field="rect")
    if simplify_tolerance > 0:
        region = simplify_region(region, simplify_tolerance)
    return GrabCutResult(region=region, mask=segmented, row0=y0, col0=x0)
