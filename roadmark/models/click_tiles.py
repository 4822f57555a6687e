"""Tiled crops for thin objects (a kerb strip, a lane marking, a pole).

One square crop around a long thin object makes it thinner than a crop pixel (a 995 x 57
box of a 3 px kerb strip is 10 frame pixels per crop pixel, and the decoder works at half
that). RITM's answer to small detail is to zoom in; for an elongated object this module
zooms in *along* it: several overlapping square windows, each a few times the object's
thickness, placed along its long axis (following its pixels, so a curved marking is
followed too), decoded in one batch, and their probabilities merged on one grid over
frame pixels (a weighted mean, each crop weighted by the distance to its own border, so
overlaps blend and a crop's cut-off border counts least).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from roadmark.models.click_net import CROP, GUIDE_PIXELS, MIN_CROP, Window, square_window

TILE_ELONGATION = 5.0  # tile an object at least this many times longer than it is wide
TILE_THICKNESS = 4.0  # a tile's side in object thicknesses (at least MIN_CROP)
TILE_OVERLAP = 0.5  # neighbouring tiles overlap by this fraction of their side
THIN_PIXELS = 10.0  # tile only an object at most this many crop pixels thick in the single crop
TILE_ZOOM = 0.5  # tile only if a tile is at most this fraction of the single crop's side
TILE_SPREAD = 1.0  # a tile's side in cross-section widths of the object (at least)
MAX_TILES = 3  # tiles of a first click (one decoder batch), at most: the click-to-preview budget
LATER_TILES = 16  # tiles of a later click, at most (selection drives: NoC@85 3.91 -> 3.79)
MAX_SAMPLE = 4_000  # mask pixels used to place the tiles (a subsample beyond)
BAND_CELLS = 2.0  # tiles refine the single crop's mask within this many of its cells
BASE_WEIGHT = 1e-3  # weight of the single crop where tiles overlap it (it fills the rest)


def tile_windows(
    mask: NDArray[np.bool_],
    positives: Sequence[tuple[float, float]],
    single: Window,
    max_tiles: int = MAX_TILES,
) -> list[Window]:
    """Square windows along an elongated mask, or ``[]`` when it is not elongated or the
    tiles would not be at least 1 / :data:`TILE_ZOOM` times finer than ``single`` (the
    one crop that covers the object); at most ``max_tiles`` of them, besides one for each
    positive click that none of them holds.

    The thickness is the mask's area over its length along its principal axis; the
    windows' centres are the mean positions of the mask's pixels (and the positive clicks)
    in consecutive slices along that axis, so the tiles follow a curved object. Every
    positive click lies in a tile.
    """
    height, width = mask.shape
    rows, cols = np.nonzero(mask)
    if rows.size < 2:
        return []
    area = float(rows.size)
    if rows.size > MAX_SAMPLE:
        keep = np.linspace(0, rows.size - 1, MAX_SAMPLE).astype(np.int64)
        rows, cols = rows[keep], cols[keep]
    clicks = np.asarray(positives, dtype=np.float64).reshape(-1, 2)
    xy = np.concatenate([np.stack([cols + 0.5, rows + 0.5], 1), clicks])
    centre = xy.mean(axis=0)
    _, vectors = np.linalg.eigh(np.cov((xy - centre).T))
    axis = vectors[:, -1]  # the principal axis (largest eigenvalue last)
    along = (xy - centre) @ axis
    length = float(along.max() - along.min()) + 1.0
    thickness = max(area / length, 1.0)
    if length < TILE_ELONGATION * thickness:
        return []
    across = (xy - centre) @ np.array([-axis[1], axis[0]])
    side = max(TILE_THICKNESS * thickness, MIN_CROP)
    step = side * (1.0 - TILE_OVERLAP)
    count = int(np.ceil(max(length - side, 0.0) / step)) + 1
    if count > max_tiles:
        count = max_tiles
        side = length / (1.0 + (max_tiles - 1) * (1.0 - TILE_OVERLAP))
        step = side * (1.0 - TILE_OVERLAP)
    single_side = max(single[2] - single[0], single[3] - single[1])
    if thickness * CROP / single_side > THIN_PIXELS or side > TILE_ZOOM * single_side:
        return []
    start = float(along.min()) + min(side, length) / 2
    centres, spread = [], 0.0
    for k in range(count):
        t = start + k * step if count > 1 else float(along.min() + along.max()) / 2
        near = np.abs(along - t) <= step / 2 + 0.5
        centres.append(xy[near].mean(axis=0) if near.any() else centre + t * axis)
        if near.any():
            spread = max(spread, float(across[near].max() - across[near].min()) + 1.0)
    # a tile sees the object's whole cross-section with a margin (a wedge or a blob
    # along the strip is wider than the mean thickness there)
    side = max(side, TILE_SPREAD * spread)
    if length < TILE_ELONGATION * spread:  # a wedge or a blob, not a strip
        return []
    if side > TILE_ZOOM * single_side:
        return []
    windows = [square_window(float(x), float(y), side, width, height) for x, y in centres]
    for x, y in clicks:
        inside = any(w[0] <= x < w[2] and w[1] <= y < w[3] for w in windows)
        if not inside and len(windows) < max_tiles + len(clicks):
            windows.append(square_window(float(x), float(y), side, width, height))
    return windows


def _weight() -> NDArray[np.float32]:
    """A crop pixel's weight: its distance to the crop's border (in crop pixels, >= 0.5)."""
    edge = np.minimum(np.arange(CROP), np.arange(CROP)[::-1]).astype(np.float32) + 0.5
    return np.minimum(edge[None, :], edge[:, None])


def merge_tiles(
    probabilities: Sequence[NDArray[np.float32]],
    windows: Sequence[Window],
    base: tuple[NDArray[np.float32], Window] | None = None,
    *,
    band: bool = True,
) -> tuple[NDArray[np.float32], Window]:
    """The tiles' probabilities merged on one grid over the union of their windows.

    The grid has the tiles' resolution (a crop pixel per grid pixel) up to
    :data:`GUIDE_PIXELS` pixels (coarser beyond). Where tiles overlap, their weighted mean
    (:func:`_weight`); ``base`` (a single crop's probabilities and window) fills the
    grid where no tile reaches and counts :data:`BASE_WEIGHT` elsewhere. With ``band``,
    the tiles count only within :data:`BAND_CELLS` decoder cells (two crop pixels each)
    of ``base``'s mask and ``base`` stands beyond: the tiles refine its boundary at a
    finer scale, they do not add far-off parts (a tile without a click in it may take a
    neighbouring object for the object).

    Returns:
        ``(probabilities, window)``: ``rows x cols`` probabilities over ``window`` (frame
        pixels), the form :func:`~roadmark.models.click_net.paste_guided` takes.
    """
    x0 = min(w[0] for w in windows)
    y0 = min(w[1] for w in windows)
    x1 = max(w[2] for w in windows)
    y1 = max(w[3] for w in windows)
    pixel = min(min(w[2] - w[0], w[3] - w[1]) for w in windows) / CROP  # frame px per grid px
    pixel = max(pixel, float(np.sqrt((x1 - x0) * (y1 - y0) / GUIDE_PIXELS)))
    cols = max(int(np.ceil((x1 - x0) / pixel)), 1)
    rows = max(int(np.ceil((y1 - y0) / pixel)), 1)
    sx, sy = (x1 - x0) / cols, (y1 - y0) / rows  # frame px per grid px, exactly
    total = np.zeros((rows, cols), np.float32)
    base_grid = np.zeros((rows, cols), np.float32)
    inside = np.ones((rows, cols), np.uint8)
    weights = np.zeros((rows, cols), np.float32)
    tile_weight = _weight()
    sources = [(p, w, tile_weight) for p, w in zip(probabilities, windows, strict=True)]
    if base is not None:
        sources.append((base[0], base[1], np.full(base[0].shape, BASE_WEIGHT, np.float32)))
    for probability, (wx0, wy0, wx1, wy1), weight in sources:
        # grid pixel (u, v) -> frame (x0 + (u + .5) sx, ...) -> crop pixel index
        kx = probability.shape[1] / (wx1 - wx0)
        ky = probability.shape[0] / (wy1 - wy0)
        to_crop = np.array(
            [[sx * kx, 0.0, (x0 + 0.5 * sx - wx0) * kx - 0.5],
             [0.0, sy * ky, (y0 + 0.5 * sy - wy0) * ky - 0.5]],
            dtype=np.float64,
        )
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        p = cv2.warpAffine(probability.astype(np.float32), to_crop, (cols, rows), flags=flags,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
        w = cv2.warpAffine(weight, to_crop, (cols, rows), flags=flags,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
        if weight is not tile_weight:
            base_grid = np.asarray(p, dtype=np.float32)
            if band:
                radius = max(round(2 * BAND_CELLS), 1)
                kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE,
                                                   (2 * radius + 1, 2 * radius + 1))
                near = cv2.dilate((probability > 0.5).astype(np.uint8), kernel)
                inside = np.asarray(
                    cv2.warpAffine(near, to_crop, (cols, rows),
                                   flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=0),
                    dtype=np.uint8)
        total += p * w
        weights += w
    merged = np.where(weights > 0, total / np.maximum(weights, 1e-12), 0.0)
    if base is not None and band:
        merged = np.where(inside > 0, merged, base_grid)
    return merged.astype(np.float32), (x0, y0, x1, y1)
