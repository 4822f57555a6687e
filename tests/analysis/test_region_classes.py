"""The classes a queue region lists: the labels inside it, most pixels first, at most
four, the pixels of no label left out (small label ids and large uint16 ids alike)."""

from __future__ import annotations

import numpy as np
import pytest

from roadmark.analysis import uncertainty
from roadmark.analysis.uncertainty import RegionParams, pixel_regions
from roadmark.core.prediction import SegmentationMaps, wrong_probability_of


def _maps(labels: np.ndarray) -> SegmentationMaps:
    h, w = labels.shape
    margin = np.full((h, w), 255, dtype=np.uint8)
    margin[4:12, 4:40] = 0  # one uncertain patch, far from the other
    margin[30:36, 50:60] = 0
    confidence = (128 + margin // 2).astype(np.uint8)
    return SegmentationMaps(labels, confidence, margin, (255 - margin).astype(np.uint8), w, h)


@pytest.mark.parametrize(
    ("dtype", "factor", "compact"),
    [(np.uint8, 1, False), (np.uint16, 7000, False), (np.uint16, 7000, True)],
)
def test_a_region_lists_its_labels_most_pixels_first(
    dtype: type, factor: int, compact: bool, monkeypatch: pytest.MonkeyPatch
):
    if compact:  # count over the label ids present, as for many regions with large ids
        monkeypatch.setattr(uncertainty, "_MAX_COUNTS", 16)
    labels = np.zeros((40, 64), dtype=np.int64)
    labels[4:12, 4:20] = 3  # 128 pixels
    labels[4:12, 20:30] = 9  # 80
    labels[4:12, 30:34] = 5  # 32
    labels[4:12, 34:37] = 2  # 24
    labels[4:12, 37:39] = 8  # 16: fifth, left out
    labels[4:12, 39:40] = 0  # no label, left out
    labels[30:36, 50:60] = 6
    maps = _maps((labels * factor).astype(dtype))
    regions = pixel_regions(maps, RegionParams(sigma=0.0, max_extent=None))
    listed = sorted(region.classes for region in regions)
    assert listed == sorted([(3 * factor, 9 * factor, 5 * factor, 2 * factor), (6 * factor,)])


@pytest.mark.parametrize("uncertain_share", [0.05, 0.9])  # pieces' pixels gathered, whole map
@pytest.mark.parametrize("measure", ["margin", "entropy"])
def test_sums_by_level_histogram_equal_the_sums_pixel_by_pixel(
    uncertain_share: float, measure: str, monkeypatch: pytest.MonkeyPatch
):
    rng = np.random.default_rng(7)
    h, w = 96, 160
    labels = rng.integers(0, 6, size=(h, w)).astype(np.uint8)
    labels[: h // 2] = np.repeat(rng.integers(0, 6, size=(h // 16, w // 16)), 8, axis=0).repeat(
        16, axis=1
    )[: h // 2]
    margin = rng.integers(0, 256, size=(h, w)).astype(np.uint8)
    margin[rng.random((h, w)) >= uncertain_share] = 255
    confidence = rng.integers(0, 256, size=(h, w)).astype(np.uint8)
    entropy = (255 - margin).astype(np.uint8)
    maps = SegmentationMaps(labels, confidence, margin, entropy, 2 * w, 2 * h)
    params = RegionParams(measure=measure, sigma=0.0, min_area=1, max_extent=32.0)
    by_histogram = pixel_regions(maps, params)
    monkeypatch.setattr(uncertainty, "_MAX_COUNTS", 0)  # values and labels pixel by pixel
    by_pixel = pixel_regions(maps, params)
    assert len(by_histogram) > 10
    assert [(r.score, r.mean_uncertainty, r.classes, r.box) for r in by_histogram] == [
        (r.score, r.mean_uncertainty, r.classes, r.box) for r in by_pixel
    ]


@pytest.mark.parametrize("pieces", [30, 256, 257, 5000])  # ids as bytes up to 256 pieces
@pytest.mark.parametrize("covered", [0.1, 1.0])
def test_piece_sums_by_histogram_are_the_sums_pixel_by_pixel(pieces: int, covered: float):
    rng = np.random.default_rng(pieces)
    pieces_map = rng.integers(1, pieces, size=(120, 200)).astype(np.int32)
    pieces_map[rng.random(pieces_map.shape) >= covered] = 0
    pieces_map.ravel()[pieces - 1] = pieces - 1  # the highest id is there
    levels = rng.integers(0, 256, size=pieces_map.shape).astype(np.uint8)
    labels = rng.integers(0, 40, size=pieces_map.shape).astype(np.uint8)
    sums = uncertainty._PieceSums(pieces_map, int((pieces_map > 0).sum()), pieces)
    value = wrong_probability_of
    expected = np.bincount(pieces_map.ravel(), weights=value(levels).ravel(), minlength=pieces)
    table = value(np.arange(256, dtype=np.uint8))
    assert np.array_equal(sums.total(levels, table)[1:], expected[1:])
    kept = np.arange(1, pieces, 7)
    assert sums.classes(labels, kept) == uncertainty._classes_by_component(
        pieces_map.ravel(), labels.ravel(), kept, pieces
    )


@pytest.mark.parametrize("names", [None, np.array([0, 4, 9, 300, 70000])])
def test_equal_counts_list_the_smaller_label_first_and_no_label_is_left_out(names):
    counts = np.array([
        [50, 3, 3, 0, 3],  # no label has the most: left out; three ties, in id order
        [7, 0, 0, 0, 0],  # only no label: the region lists nothing
        [0, 1, 2, 3, 4],  # five labels: the four with the most
        [0, 0, 0, 0, 0],
    ])
    ids = np.arange(5) if names is None else names
    ranked = uncertainty._ranked_classes(counts, np.array([11, 12, 13, 14]), names)
    assert ranked == {11: (int(ids[1]), int(ids[2]), int(ids[4])),
                      13: (int(ids[4]), int(ids[3]), int(ids[2]), int(ids[1]))}
    assert all(type(label) is int for labels in ranked.values() for label in labels)
