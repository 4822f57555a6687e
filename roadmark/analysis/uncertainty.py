"""Uncertain regions from prediction maps and boxes (numpy and OpenCV, no torch).

Pixels: the per-pixel uncertainty (``1 - margin`` by default, see
:mod:`roadmark.core.prediction`) is smoothed with a Gaussian, thresholded, and split into
8-connected components; a component wider or taller than ``max_extent`` frame pixels is
cut into pieces that fit (:mod:`roadmark.analysis.region_pieces`). Each piece becomes an
:class:`UncertainRegion` with its outline, bounding box, area, mean (unsmoothed)
uncertainty, the labels predicted inside it (most pixels first) and a score: the
expected number of wrong pixels, the sum of ``1 - confidence`` over its pixels, in frame
pixels. Smoothing keeps the thin band of
low margin that runs along every class boundary (where the model is right to hesitate
by a pixel) from drowning the patches where it really does not know what it sees.

Boxes: a box whose score lies in the middle band (neither clearly an object nor clearly
background) or whose horizontally flipped prediction disagrees (no same-label box with
IoU >= ``flip_iou`` on the flipped frame, or found only on the flipped frame) is uncertain
too; its score is the box area times the probability that the decision about it is wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import cv2
import numpy as np
from numpy.typing import NDArray

from roadmark.analysis.pixel_counts import LEVELS, MAX_OWNERS, labelled_parts, level_counts
from roadmark.analysis.region_pieces import piece_outlines, split_components
from roadmark.core.annotation import Box
from roadmark.core.errors import RoadmarkError
from roadmark.core.prediction import (
    DEFAULT_MEASURE,
    NO_LABEL,
    UNCERTAINTY_MEASURES,
    PredictedBox,
    RegionKind,
    SegmentationMaps,
    UncertainRegion,
    pixel_uncertainty,
    wrong_probability_of,
)

MAX_CLASSES_PER_REGION = 4
MAX_EXTENT = 256.0  # largest queue region box side, frame pixels (see RegionParams)
MIN_EXTENT = 16.0
_MAX_COUNTS = 1 << 22  # per-component label counts held at once (32 MiB)


@dataclass(frozen=True)
class RegionParams:
    """How uncertain regions are found.

    Attributes:
        measure: ``margin`` (uncertainty = 1 - margin) or ``entropy``.
        sigma: Gaussian smoothing of the uncertainty, in map pixels (0 = none).
        threshold: Smoothed uncertainty at or above which a pixel is uncertain.

            The defaults (0.2, sigma 1.0) were chosen with ``benchmarks/review.py
            --sweep`` so that the queue holds most of the errors the model expects: on
            the generated drives (size cap scaled to their resolution) the queue then
            holds 64 % of the expected and 86 % of the real wrong pixels; the earlier
            0.5 / 1.5 held 9 % and 12 %. 0.1 holds a little more (72 %) for 8 % more
            regions.
        min_area: Smallest region kept, in map pixels.
        max_extent: Largest region box side, in frame pixels (``None``: no cap). Larger
            connected patches are cut along predicted-class boundaries, then by a grid
            (:mod:`roadmark.analysis.region_pieces`), so that every queue item fits one screen
            at the review zoom: the view shows the box grown by
            :data:`roadmark.annotators.review.guided.CONTEXT` (1.5), so 256 px show as at most
            384 frame pixels, 2.5x zoom or more on a 1000-pixel-wide canvas.
        max_regions: Most pixel regions kept per frame (highest scores).
        box_band: Box scores in ``[low, high]`` are uncertain.
        flip_iou: A box whose flipped counterpart overlaps less than this disagrees.
    """

    measure: str = DEFAULT_MEASURE
    sigma: float = 1.0
    threshold: float = 0.2
    min_area: int = 16
    max_extent: float | None = MAX_EXTENT
    max_regions: int = 200
    box_band: tuple[float, float] = (0.3, 0.7)
    flip_iou: float = 0.5

    def __post_init__(self) -> None:
        problems = []
        if self.measure not in UNCERTAINTY_MEASURES:
            problems.append(f"measure must be one of {list(UNCERTAINTY_MEASURES)}")
        if self.sigma < 0:
            problems.append("sigma must be >= 0")
        if not 0.0 < self.threshold <= 1.0:
            problems.append("threshold must be in (0, 1]")
        if self.max_extent is not None and not self.max_extent >= MIN_EXTENT:
            problems.append(f"max_extent must be >= {MIN_EXTENT:g} frame pixels (or none)")
        if self.min_area < 1 or self.max_regions < 1:
            problems.append("min_area and max_regions must be >= 1")
        low, high = self.box_band
        if not 0.0 <= low < high <= 1.0:
            problems.append("box_band must be 0 <= low < high <= 1")
        if not 0.0 < self.flip_iou <= 1.0:
            problems.append("flip_iou must be in (0, 1]")
        if problems:
            raise RoadmarkError("; ".join(problems), field="uncertainty parameters")


def pixel_regions(
    maps: SegmentationMaps, params: RegionParams | None = None
) -> list[UncertainRegion]:
    """Regions of uncertain pixels, each at most ``params.max_extent`` across, highest
    score first (see the module doc and :mod:`roadmark.analysis.region_pieces`)."""
    params = params or RegionParams()
    source = maps.margin if params.measure == "margin" else maps.entropy
    levels = np.arange(LEVELS, dtype=np.uint8)
    uncertainty_of = pixel_uncertainty(levels, levels, params.measure)  # per level
    uncertainty = cv2.LUT(source, uncertainty_of)  # maps.uncertainty(), by table lookup
    smooth = (
        cv2.GaussianBlur(uncertainty, (0, 0), params.sigma) if params.sigma > 0 else uncertainty
    )
    mask = (smooth >= params.threshold).astype(np.uint8)
    count, components, stats = labelled_parts(mask)
    if count <= 1:
        return []
    candidates = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] >= params.min_area)
    candidates = candidates[candidates > 0]
    if candidates.size == 0:
        return []
    sx, sy = maps.scale
    max_cells = None
    if params.max_extent is not None:
        max_cells = (
            max(1, int(params.max_extent // sx)),
            max(1, int(params.max_extent // sy)),
        )
    pieces_map, pieces = split_components(
        components,
        stats,
        maps.label_ids,
        candidates,
        max_cells=max_cells,
    )
    pieces = [piece for piece in pieces if piece.area >= params.min_area]
    if not pieces:
        return []
    count = int(pieces_map.max()) + 1
    pixel_area = sx * sy
    sums = _PieceSums(pieces_map, sum(piece.area for piece in pieces), count)
    scores = sums.total(maps.confidence, wrong_probability_of(levels)) * pixel_area
    pieces.sort(key=lambda piece: (-scores[piece.id], piece.id))
    pieces = pieces[: params.max_regions]
    uncertainty_sum = sums.total(source, uncertainty_of)
    kept = np.array([piece.id for piece in pieces], dtype=np.int64)
    classes = sums.classes(maps.label_ids, kept)
    height, width = maps.frame_height, maps.frame_width
    outlines = piece_outlines(pieces_map, pieces, (sx, sy))
    regions = []
    for piece in pieces:
        left, top = piece.left, piece.top
        box = Box(
            left * sx, top * sy, (left + piece.width) * sx, (top + piece.height) * sy
        ).clipped(width, height)
        regions.append(
            UncertainRegion(
                kind=RegionKind.PIXELS,
                box=box,
                area=float(piece.area * pixel_area),
                mean_uncertainty=float(uncertainty_sum[piece.id] / piece.area),
                classes=classes.get(piece.id, ()),
                score=float(scores[piece.id]),
                outline=outlines.get(piece.id),
            )
        )
    return regions


def queue_coverage(regions: Sequence[UncertainRegion], expected_errors: float | None) -> float:
    """Share of a frame's expected wrong pixels that its pixel regions hold, in ``[0, 1]``.

    Args:
        regions: The frame's regions (box regions are left out).
        expected_errors: :meth:`SegmentationMaps.expected_errors` of the frame.

    Returns:
        The share (1.0 when the model expects no errors at all).
    """
    return coverage_share(
        sum(r.score for r in regions if r.kind == RegionKind.PIXELS), expected_errors
    )


def coverage_share(held: float, expected_errors: float | None) -> float:
    """``held / expected_errors`` in ``[0, 1]`` (1.0 when no errors are expected)."""
    if expected_errors is None or expected_errors <= 0:
        return 1.0
    return float(min(1.0, held / expected_errors))


class _PieceSums:
    """Sums over the pixels of each piece of a piece image (0 = no piece).

    A quantized map (uint8) is summed through its histogram per piece, the counts of each
    of its 256 levels times the level's value. Every value is a multiple of 2**-32 in
    ``[0, 1]``, so the sum over up to 2**21 pixels (a whole 2048x1024 map) is exact in
    float64: the same as adding the pixels' values one by one, at a fraction of the cost
    (no float map). Only the pieces' pixels are read where they cover little of the map.
    """

    def __init__(self, pieces_map: NDArray[np.int32], covered: int, count: int) -> None:
        self._count = count
        self._at: NDArray[np.intp] | None = None
        owners = pieces_map.ravel()
        if covered * 4 < owners.size:  # few pieces: gather their pixels once
            self._at = np.flatnonzero(owners)
            owners = owners[self._at]
        self._owners = owners
        # Up to 256 pieces, the piece ids as bytes: (piece, level) pairs of two byte images
        # counted in one pass (level_counts: a sixth of np.bincount's time on int64 keys).
        # More pieces: keys piece id * 256 + level, counted by numpy.
        self._ids8: NDArray[np.uint8] | None = None
        self._keys: NDArray[np.int64] | None = None
        if count <= MAX_OWNERS:
            self._ids8 = owners.astype(np.uint8)
        elif count * LEVELS <= _MAX_COUNTS:
            self._keys = owners.astype(np.int64) << 8

    def _pixels(self, array: np.ndarray) -> np.ndarray:
        flat = array.ravel()
        return flat if self._at is None else flat[self._at]

    @property
    def _by_histogram(self) -> bool:
        return self._ids8 is not None or self._keys is not None

    def _histogram(self, levels: NDArray[np.uint8]) -> np.ndarray:
        """Pixels per piece id (rows) and level (columns)."""
        pixels = self._pixels(levels)
        if self._ids8 is not None:
            return level_counts(pixels, self._ids8, self._count)
        assert self._keys is not None
        counts = np.bincount(self._keys | pixels, minlength=self._count * LEVELS)
        return counts.reshape(self._count, LEVELS)

    def total(self, levels: NDArray[np.uint8], table: NDArray[np.float32]) -> NDArray[np.float64]:
        """Per piece id, the sum over its pixels of ``table[level]`` (``table``: the value
        of each of the 256 levels)."""
        if not self._by_histogram:  # too many pieces for histograms: pixel by pixel
            weights = table[self._pixels(levels)]
            sums = np.bincount(self._owners, weights=weights, minlength=self._count)
            return cast(NDArray[np.float64], sums)
        return cast(NDArray[np.float64], self._histogram(levels) @ table.astype(np.float64))

    def classes(self, labels: NDArray[Any], kept: NDArray[np.int64]) -> dict[int, tuple[int, ...]]:
        """The labels inside each kept piece, most pixels first (``NO_LABEL`` left out)."""
        if self._by_histogram and labels.dtype == np.uint8:
            counts = self._histogram(labels)[kept]
            return _ranked_classes(counts, kept, None)
        return _classes_by_component(self._owners, self._pixels(labels), kept, self._count)


def _classes_by_component(
    components: np.ndarray, labels: np.ndarray, kept: np.ndarray, count: int
) -> dict[int, tuple[int, ...]]:
    """The labels inside each kept component, most pixels first (``NO_LABEL`` left out).

    ``components`` and ``labels`` are the same pixels' component ids and labels.
    """
    slot = np.full(count, -1, dtype=np.int64)
    slot[kept] = np.arange(len(kept))
    owner_slot = slot[components]
    inside = owner_slot >= 0
    values = labels[inside].astype(np.int64)
    names = None  # label id of each value where the values were made compact
    span = int(values.max(initial=0)) + 1
    if span * len(kept) > _MAX_COUNTS:  # large label ids: count over the ids present
        names, values = np.unique(values, return_inverse=True)
        span = len(names)
    counts = np.bincount(owner_slot[inside] * span + values, minlength=len(kept) * span)
    return _ranked_classes(counts.reshape(len(kept), span), kept, names)


def _ranked_classes(
    counts: np.ndarray, kept: np.ndarray, names: np.ndarray | None
) -> dict[int, tuple[int, ...]]:
    """Per kept component (a row of ``counts``, pixels per label value; ``names``: the
    label id of each value, ascending, ``None`` where the value is the id), its labels:
    most pixels first, then the smaller id (all rows sorted at once)."""
    if counts.size == 0:
        return {}
    ids = np.arange(counts.shape[1]) if names is None else np.asarray(names)
    wanted = MAX_CLASSES_PER_REGION + 1  # (one more: NO_LABEL may be among them)
    # a stable sort keeps equal counts in column order, which is id order
    top = np.argsort(-counts, axis=1, kind="stable")[:, :wanted]
    top_ids = ids[top]
    found = (np.take_along_axis(counts, top, axis=1) > 0) & (top_ids != NO_LABEL)
    out: dict[int, tuple[int, ...]] = {}
    for owner, labels, present in zip(kept.tolist(), top_ids.tolist(), found.tolist(),
                                      strict=True):
        classes = tuple(label for label, there in zip(labels, present, strict=True) if there)
        if classes:
            out[owner] = classes[:MAX_CLASSES_PER_REGION]
    return out


def box_regions(
    boxes: list[PredictedBox] | tuple[PredictedBox, ...], params: RegionParams | None = None
) -> list[UncertainRegion]:
    """Uncertain boxes (middle-band score or flip disagreement), highest score first."""
    params = params or RegionParams()
    low, high = params.box_band
    regions = []
    for predicted in boxes:
        score = float(predicted.score)
        if score < low:
            continue  # clearly background in both passes: nothing to look at
        band = 1.0 - abs(2.0 * score - 1.0) if score <= high else 0.0
        if predicted.flip_only:
            flip = 1.0
        elif predicted.flip_iou is not None and predicted.flip_iou < params.flip_iou:
            flip = 1.0 - float(predicted.flip_iou)
        else:
            flip = 0.0
        if band <= 0.0 and flip <= 0.0:
            continue
        # Probability that deciding about this box goes wrong: a middle-band score s is
        # wrong with probability min(s, 1 - s); two passes that disagree are a coin flip,
        # scaled by how little they overlap.
        p_wrong = max(min(score, 1.0 - score) if band > 0 else 0.0, 0.5 * flip)
        area = predicted.box.area
        regions.append(
            UncertainRegion(
                kind=RegionKind.BOX_FLIP if flip >= band else RegionKind.BOX_SCORE,
                box=predicted.box,
                area=float(area),
                mean_uncertainty=float(max(band, flip)),
                classes=(predicted.label_id,),
                score=float(area * p_wrong),
            )
        )
    regions.sort(key=lambda region: -region.score)
    return regions


def frame_regions(
    maps: SegmentationMaps | None,
    boxes: list[PredictedBox] | tuple[PredictedBox, ...],
    params: RegionParams | None = None,
) -> list[UncertainRegion]:
    """All uncertain regions of one frame's prediction, highest score first."""
    regions = pixel_regions(maps, params) if maps is not None else []
    regions += box_regions(boxes, params)
    regions.sort(key=lambda region: -region.score)
    return regions


def top_area_error_capture(
    uncertainty: np.ndarray, wrong: np.ndarray, fraction: float = 0.1
) -> float:
    """Share of wrong pixels among the ``fraction`` of pixels with the highest uncertainty.

    A random ordering captures ``fraction`` of the errors on average; a useful uncertainty
    measure captures far more. Pixels tied at the cut (quantized maps have many) count in
    proportion, as the expected value of breaking the ties at random.

    Args:
        uncertainty: Per-pixel uncertainty, any shape.
        wrong: Same shape, true where the prediction is wrong (pixels to ignore removed
            by the caller).
        fraction: Share of the pixels to take, in ``(0, 1]``.

    Returns:
        Wrong pixels captured / all wrong pixels (0 when nothing is wrong).
    """
    if not 0.0 < fraction <= 1.0:
        raise RoadmarkError(f"fraction must be in (0, 1], got {fraction}")
    u = np.asarray(uncertainty, dtype=np.float32).ravel()
    w = np.asarray(wrong, dtype=bool).ravel()
    if u.shape != w.shape:
        raise RoadmarkError(f"shapes differ: {uncertainty.shape} and {wrong.shape}")
    total = int(w.sum())
    if total == 0:
        return 0.0
    take = max(1, round(fraction * u.size))
    cut = float(np.partition(u, u.size - take)[u.size - take])  # the take-th largest value
    above = u > cut
    tied = u == cut
    slots = take - int(above.sum())
    captured = float(w[above].sum()) + float(w[tied].sum()) * slots / max(int(tied.sum()), 1)
    return captured / total
