"""The parts of an object's mask that a click works on.

An occluded object comes in parts: a kerb strip on both sides of the road with cars in
between, a facade cut by a tree. Decoding one crop over all its parts shrinks each part
to a few crop pixels, so a click on the far part spoils both. A click instead works on
its own part: the pieces of the mask whose boxes, widened by the decoder's zoom margin,
overlap (:func:`mask_parts`) are one part; a click inside a part's widened box works on
that part in a crop around it, the other parts stay as they are, and a positive click
outside every part starts a new part in a crop of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce
from typing import cast

import cv2
import numpy as np
from numpy.typing import NDArray

from roadmark.models.click_net import ZOOM_MARGIN, Window, union_window, widen

Click = tuple[float, float, bool]
MAX_PIECES = 48  # pieces of a mask told apart, at most (more: the mask is one part)


@dataclass(frozen=True)
class Part:
    """A part of a mask: its pixels and its box widened by the zoom margin."""

    mask: NDArray[np.bool_]
    reach: Window

    def holds(self, x: float, y: float) -> bool:
        x0, y0, x1, y1 = self.reach
        return x0 <= x < x1 and y0 <= y < y1

    def distance(self, x: float, y: float) -> float:
        x0, y0, x1, y1 = self.reach
        return float(np.hypot(max(x0 - x, 0.0, x - x1), max(y0 - y, 0.0, y - y1)))


def mask_parts(mask: NDArray[np.bool_]) -> list[Part]:
    """The parts of ``mask``: its 8-connected pieces, those whose widened boxes overlap
    merged (until no two parts' widened boxes overlap)."""
    height, width = mask.shape
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8),
                                                               connectivity=8)
    boxes = [
        (float(s[cv2.CC_STAT_LEFT]), float(s[cv2.CC_STAT_TOP]),
         float(s[cv2.CC_STAT_LEFT] + s[cv2.CC_STAT_WIDTH]),
         float(s[cv2.CC_STAT_TOP] + s[cv2.CC_STAT_HEIGHT]))
        for s in stats[1:count]
    ]
    if len(boxes) > MAX_PIECES:  # a speckled mask: one part (merging pairwise would not end soon)
        return [Part(mask, widen(reduce(_union, boxes), ZOOM_MARGIN, width, height))]
    groups = [[k + 1] for k in range(len(boxes))]
    reach = [widen(box, ZOOM_MARGIN, width, height) for box in boxes]
    merged = True
    while merged:
        merged = False
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                if _overlap(reach[i], reach[j]):
                    groups[i] += groups.pop(j)
                    boxes[i] = _union(boxes[i], boxes.pop(j))
                    reach.pop(j)
                    reach[i] = widen(boxes[i], ZOOM_MARGIN, width, height)
                    merged = True
                    break
            if merged:
                break
    if len(groups) == 1:
        return [Part(mask, reach[0])]
    return [Part(np.isin(labels, members), area) for members, area in zip(groups, reach,
                                                                        strict=True)]


def part_of(parts: Sequence[Part], click: Click) -> int | None:
    """The index of the part ``click`` works on; ``None`` for a positive click outside
    every part's widened box (a new part). A negative click outside them all works on the
    nearest part."""
    x, y, positive = click
    holding = [k for k, part in enumerate(parts) if part.holds(x, y)]
    if not holding and positive:
        return None
    candidates = holding or list(range(len(parts)))
    row, col = int(y), int(x)
    for k in candidates:
        mask = parts[k].mask
        if 0 <= row < mask.shape[0] and 0 <= col < mask.shape[1] and mask[row, col]:
            return k
    return min(candidates, key=lambda k: parts[k].distance(x, y))


def keep_parts(mask: NDArray[np.bool_], parts: Sequence[Part]) -> NDArray[np.bool_]:
    """``mask`` outside the widened boxes of ``parts``, with the parts' own pixels."""
    out = mask.copy()
    for part in parts:
        x0, y0, x1, y1 = part.reach
        out[int(y0) : int(np.ceil(y1)), int(x0) : int(np.ceil(x1))] = False
    for part in parts:
        out |= part.mask
    return out


def _union(a: Window, b: Window) -> Window:
    return cast(Window, union_window(a, b))  # of two boxes: never None


def _overlap(a: Window, b: Window) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
