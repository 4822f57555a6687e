"""The standard simulated clicker and NoC (number of clicks), as in the interactive
segmentation literature (Xu et al. 2016; RITM).

The first click goes to the interior point of the object farthest from its boundary; each
next click goes to the center (the point farthest from the boundary) of the largest error
region: positive where the object was missed, negative where the mask covers something
else. NoC@IoU is the mean number of clicks until the mask reaches that IoU (at most
:data:`MAX_CLICKS`; an object never reached counts as :data:`MAX_CLICKS`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

MAX_CLICKS = 20
Click = tuple[float, float, bool]


def iou(a: NDArray[np.bool_], b: NDArray[np.bool_]) -> float:
    union = int(np.count_nonzero(a | b))
    return float(np.count_nonzero(a & b)) / union if union else 1.0


def _center(region: NDArray[np.bool_]) -> tuple[int, int, float]:
    """``(row, col, distance)`` of the region's pixel farthest from its boundary."""
    padded = np.pad(region.astype(np.uint8), 1)
    distance = cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]
    row, col = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return int(row), int(col), float(distance[row, col])


def _largest_component(mask: NDArray[np.bool_]) -> tuple[NDArray[np.bool_], int]:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=8
    )
    if count <= 1:
        return np.zeros_like(mask), 0
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == best, int(stats[best, cv2.CC_STAT_AREA])


def next_click(gt: NDArray[np.bool_], pred: NDArray[np.bool_] | None) -> Click | None:
    """The clicker's next click for ``pred`` against ``gt`` (``None``: nothing is wrong).

    Returns:
        ``(x, y, positive)`` at the pixel center, in frame pixels.
    """
    if pred is None:
        pred = np.zeros_like(gt)
    missed, missed_area = _largest_component(gt & ~pred)
    extra, extra_area = _largest_component(pred & ~gt)
    if missed_area == 0 and extra_area == 0:
        return None
    positive = missed_area >= extra_area
    row, col, _ = _center(missed if positive else extra)
    return (col + 0.5, row + 0.5, positive)


@dataclass(frozen=True)
class ClickRun:
    """One object's simulated session: IoU after each click."""

    ious: tuple[float, ...]

    def clicks_to(self, threshold: float) -> int:
        for index, value in enumerate(self.ious):
            if value >= threshold:
                return index + 1
        return MAX_CLICKS


def simulate(
    predict: Callable[[Sequence[Click], NDArray[np.bool_] | None], NDArray[np.bool_]],
    gt: NDArray[np.bool_],
    *,
    stop_at: float = 0.9,
    max_clicks: int = MAX_CLICKS,
) -> ClickRun:
    """Click on ``gt`` until the IoU reaches ``stop_at`` or ``max_clicks`` clicks.

    Args:
        predict: ``(clicks, previous mask) -> mask``: the model under test.
        gt: The object's mask.
    """
    clicks: list[Click] = []
    pred: NDArray[np.bool_] | None = None
    ious: list[float] = []
    for _ in range(max_clicks):
        click = next_click(gt, pred)
        if click is None:
            ious.append(1.0)
            break
        clicks.append(click)
        pred = predict(clicks, pred)
        ious.append(iou(pred, gt))
        if ious[-1] >= stop_at:
            break
    return ClickRun(tuple(ious))


def noc(runs: Sequence[ClickRun], threshold: float) -> float:
    """Mean clicks to reach ``threshold`` over ``runs``."""
    if not runs:
        return float("nan")
    return float(np.mean([run.clicks_to(threshold) for run in runs]))
