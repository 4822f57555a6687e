"""Level of detail at scale (issue #21): simplified outlines when zoomed out."""

from __future__ import annotations

import numpy as np
import shapely

from roadmark.app.canvas.outline_layer import SIMPLIFY_SCREEN_PX, detail_level, simplified


def test_detail_level_rises_by_one_per_halving_of_the_zoom():
    levels = [detail_level(z) for z in (4.0, 1.0, 0.99, 0.5, 0.3, 0.25, 0.1)]
    assert levels == [0, 0, 0, 1, 1, 2, 3]
    for zoom in (0.9, 0.5, 0.3, 0.1, 0.03):  # the error on screen stays under the target
        assert SIMPLIFY_SCREEN_PX * 2 ** detail_level(zoom) * zoom <= SIMPLIFY_SCREEN_PX


def test_simplified_outlines_stay_within_a_screen_pixel():
    angles = np.linspace(0, 2 * np.pi, 600, endpoint=False)
    radii = 40 + 3 * np.sin(7 * angles)
    blob = shapely.Polygon(np.c_[100 + radii * np.cos(angles), 100 + radii * np.sin(angles)])
    assert simplified(blob, 0) is blob
    for level in (1, 2, 3):
        thin = simplified(blob, level)
        tolerance = SIMPLIFY_SCREEN_PX * 2**level  # image pixels
        assert len(thin.exterior.coords) < len(blob.exterior.coords)
        # Douglas-Peucker keeps within the tolerance but may move a ring's start point a
        # little further: about half a screen pixel, never a whole one
        assert shapely.hausdorff_distance(thin.exterior, blob.exterior) <= 2 * tolerance
    tiny = shapely.box(0, 0, 0.3, 0.3)
    assert not simplified(tiny, 4).is_empty  # never simplified away
