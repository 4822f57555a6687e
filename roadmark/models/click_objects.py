"""What kind of object a ground-truth mask is, for the click model: its size bucket (NoC
by size) and whether it is narrow (drawn more often in training)."""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from roadmark.models.click_net import mask_window

NARROW_RADIUS = 4.0  # an object is narrow when no disk of a larger radius (pixels) fits in it
SIZE_BUCKETS = ("small", "medium", "large", "thin")
SMALL_AREA = 2_000  # "small": fewer pixels than this
LARGE_AREA = 20_000  # "large": more pixels than this
THIN_ASPECT = 5.0  # "thin": the box's long side over its short side is above this


def size_bucket(gt: NDArray[np.bool_]) -> str:
    """An object's size bucket for NoC by size (thin first, then by its pixels)."""
    window = mask_window(gt)
    if window is None:
        return "small"
    w, h = window[2] - window[0], window[3] - window[1]
    if max(w, h) / max(min(w, h), 1.0) > THIN_ASPECT:
        return "thin"
    area = int(np.count_nonzero(gt))
    return "small" if area < SMALL_AREA else "large" if area > LARGE_AREA else "medium"


def narrow(gt: NDArray[np.bool_]) -> bool:
    """Whether no disk wider than :data:`NARROW_RADIUS` fits in the object (a pole, a lamp
    post's arm, a strip along a facade: where the click model needs the most clicks)."""
    window = mask_window(gt)
    if window is None:
        return False
    x0, y0, x1, y1 = (int(v) for v in window)
    piece = np.pad(gt[y0:y1, x0:x1].astype(np.uint8), 1)
    return float(cv2.distanceTransform(piece, cv2.DIST_L2, 3).max()) <= NARROW_RADIUS
