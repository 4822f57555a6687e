from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import shapely
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from pycocotools import mask as coco_mask

from roadmark.core import raster, rle
from roadmark.core.errors import GeometryError
from roadmark.core.raster import (
    color_map,
    instance_id_map,
    label_id_map,
    mask_to_region,
    region_mask,
    region_mask_in_box,
    train_id_map,
)
from roadmark.core.schema import cityscapes_schema
from tests.helpers import box, region

SCHEMA = cityscapes_schema()


def test_pixel_edge_square_gives_exactly_its_pixels():
    mask = region_mask(shapely.box(2, 1, 5, 4), 6, 8)
    expected = np.zeros((6, 8), bool)
    expected[1:4, 2:5] = True
    assert (mask == expected).all()


def test_z_order_later_objects_paint_over_earlier():
    objects = [region(7, 0, 0, 10, 10), region(26, 2, 2, 6, 6), region(26, 4, 4, 8, 8)]
    labels = label_id_map(objects, SCHEMA, 10, 10)
    assert labels[0, 0] == 7 and labels[3, 3] == 26 and labels[9, 9] == 7
    instances = instance_id_map(objects, SCHEMA, 10, 10)
    assert instances[0, 0] == 7  # road has no instances: bare id
    assert instances[2, 2] == 26000 and instances[5, 5] == 26001  # second car on top
    assert instances[3, 3] == 26000
    reordered = label_id_map(objects[::-1], SCHEMA, 10, 10)
    assert (reordered == 7).all()  # road on top hides both cars


def test_deleted_boxes_crowd_and_license_plate():
    objects = [
        region(7, 0, 0, 10, 10),
        region(26, 0, 0, 5, 5, deleted=True),
        box(24, 0, 0, 10, 10),
        region(26, 5, 5, 10, 10, crowd=True),
        region(-1, 0, 5, 5, 10),
    ]
    labels = label_id_map(objects, SCHEMA, 10, 10)
    assert labels[1, 1] == 7  # deleted object and box are not drawn
    assert labels[7, 2] == 7  # license plate (id -1) never drawn
    instances = instance_id_map(objects, SCHEMA, 10, 10)
    assert instances[7, 7] == 26  # crowd keeps the bare id
    train = train_id_map([*objects, region(4, 0, 0, 2, 2)], SCHEMA, 10, 10)
    assert train[1, 1] == 255 and train[5, 5] == 13 and train[3, 3] == 0


def test_holes_show_what_is_beneath():
    ring = shapely.box(0, 0, 10, 10).difference(shapely.box(3, 3, 7, 7))
    objects = [region(7, 0, 0, 10, 10), region(26, 0, 0, 1, 1)]
    objects[1] = dataclasses.replace(objects[1], geometry=ring)
    labels = label_id_map(objects, SCHEMA, 10, 10)
    assert labels[5, 5] == 7 and labels[1, 1] == 26


def test_out_of_image_parts_are_clipped():
    labels = label_id_map([region(7, -5, -5, 3, 3), region(8, 50, 50, 60, 60)], SCHEMA, 10, 10)
    assert labels[:3, :3].tolist() == [[7] * 3] * 3
    assert (labels[3:, 3:] == 0).all()


def test_mask_in_box_holds_the_pixels_whose_centers_are_inside():
    rows, cols = np.mgrid[0:40, 0:64]
    shapes = [
        shapely.box(10.3, 3.2, 30.7, 20.1).difference(shapely.box(15.2, 8.1, 20.2, 12.3)),
        shapely.MultiPolygon([shapely.box(0, 0, 5, 5), shapely.box(50.1, 30.2, 70.6, 44.2)]),
        shapely.box(-5.1, -5.3, 20.2, 30.2),  # partly outside (pycocotools is exact on
        # axis-parallel edges; slanted ones follow its own line rule)
    ]
    for shape in shapes:
        mask, row0, col0 = region_mask_in_box(shape, 40, 64)
        assert mask.flags.c_contiguous and mask.dtype == bool and mask.any()
        full = np.zeros((40, 64), dtype=bool)
        full[row0 : row0 + mask.shape[0], col0 : col0 + mask.shape[1]] = mask
        assert full.sum() == mask.sum()
        assert np.array_equal(full, shapely.contains_xy(shape, cols + 0.5, rows + 0.5))
    outside, _, _ = region_mask_in_box(shapely.box(70, 0, 80, 10), 40, 64)
    assert outside.shape == (0, 0)


def test_color_map():
    colors = color_map(np.array([[7, 26]]), SCHEMA)
    assert colors.tolist() == [[[128, 64, 128], [0, 0, 142]]]


@settings(max_examples=60, deadline=None)
@given(arrays(np.bool_, st.tuples(st.integers(1, 24), st.integers(1, 24))))
def test_vectorize_then_rasterize_is_lossless(mask):
    vector = mask_to_region(mask)
    if not mask.any():
        assert vector is None
        return
    assert (region_mask(vector, *mask.shape) == mask).all()
    assert vector.area == pytest.approx(mask.sum())


@settings(max_examples=60, deadline=None)
@given(arrays(np.bool_, st.tuples(st.integers(1, 12), st.integers(1, 12))))
def test_an_rle_window_is_its_mask_inside_the_box(mask):
    """``decode_window`` gives the mask's bounding box (or more, where a run crosses a
    column) and nothing outside it; ``to_region`` from it equals the whole-frame region."""
    encoded = rle.encode(mask)
    window, (x, y) = rle.decode_window(encoded)
    rebuilt = np.zeros_like(mask)
    rebuilt[y : y + window.shape[0], x : x + window.shape[1]] = window
    assert (rebuilt == mask).all()
    if mask.any():
        rows, cols = np.nonzero(mask)
        assert x == cols.min() and x + window.shape[1] - 1 == cols.max()
        assert y <= rows.min() and y + window.shape[0] - 1 >= rows.max()
        whole = mask_to_region(mask)
        assert whole is not None and shapely.equals_exact(rle.to_region(encoded), whole, 0)
    else:
        assert window.size == 0 and rle.to_region(encoded) is None


@example(case=((7, 1), "u"))  # covers 4 of 7 pixels: was decoded from uninitialized memory
@settings(max_examples=200, deadline=None)
@given(
    st.tuples(st.integers(1, 9), st.integers(1, 9)).flatmap(
        lambda size: st.tuples(
            st.just(size), st.text(alphabet=st.characters(min_codepoint=40, max_codepoint=120))
        )
    )
)
def test_compressed_counts_read_as_pycocotools_reads_them(case):
    """Any counts text: the window holds what :func:`rle.decode` (pycocotools' whole
    decode) gives, or it fails as that does."""
    (height, width), text = case
    encoded = {"size": [height, width], "counts": text}
    try:
        expected = rle.decode(encoded)
    except (GeometryError, ValueError):
        with pytest.raises((GeometryError, ValueError)):
            rle.decode_window(encoded)
        return
    window, (x, y) = rle.decode_window(encoded)
    rebuilt = np.zeros((height, width), bool)
    rebuilt[y : y + window.shape[0], x : x + window.shape[1]] = window
    assert (rebuilt == expected).all()


@pytest.mark.parametrize("side", [40, 255, 256, 700])  # boxes of 1,600 .. 490,000 pixels
def test_ring_raster_is_pycocotools_decode_on_both_sides_of_the_numpy_threshold(side):
    """Large boxes expand pycocotools' runs in numpy, small ones use its ``decode``: the
    same pixels in the same (column-major) order for any ring, inside, across or outside
    the box, with the box wholly in or out of it."""
    rng = np.random.default_rng(side)
    rings = [rng.uniform(-0.2 * side, 1.2 * side, (int(rng.integers(3, 40)), 2))
             for _ in range(40)]
    rings += [np.array([[-5, -5], [side + 5, -5], [side + 5, side + 5], [-5, side + 5]]),
              np.array([[side + 1, 0], [side + 9, 0], [side + 9, 9]]),  # outside
              np.array([[0, 0], [side, 0], [0, side]], dtype=np.float64)]
    for ring in rings:
        height, width = side, side + 17
        expected = coco_mask.decode(coco_mask.frPyObjects([ring.ravel().tolist()], height, width))
        got = raster._ring_mask(ring, height, width)
        assert got.shape == (height, width) and got.dtype == bool
        assert np.array_equal(got, expected[:, :, 0].astype(bool))
        assert got.flags.f_contiguous


@settings(max_examples=100, deadline=None)
@given(arrays(np.bool_, st.tuples(st.integers(1, 40), st.integers(1, 3000))))
def test_run_lengths_read_compressed_counts_as_pycocotools_writes_them(mask):
    """Long runs (several characters), runs shorter than the one two before (negative
    differences), masks starting with a foreground pixel (a first run of 0)."""
    counts = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))["counts"]
    flat = mask.ravel(order="F")
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    expected = np.diff(np.concatenate([[0], changes, [flat.size]]))
    if flat[0]:
        expected = np.concatenate([[0], expected])
    assert raster.run_lengths(counts).tolist() == expected.tolist()


def _covered_as_before(text: bytes) -> int | None:
    """The pure-Python reading of compressed counts that ``rle`` had before numpy's: how
    many pixels they cover, ``None`` for text that is no such counts."""
    counts: list[int] = []
    value = shift = 0
    for char in text:
        bits = char - 48
        if not 0 <= bits < 64 or shift > 30:
            return None
        value |= (bits & 0x1F) << shift
        shift += 5
        if bits & 0x20:
            continue
        if bits & 0x10:
            value |= -1 << shift
        if len(counts) > 2:
            value += counts[-2]
        if not 0 <= value < 2**32:
            return None
        counts.append(value)
        value = shift = 0
    return None if shift else sum(counts)


@example(text=b"PPPPPPP0")  # a run of 8 characters (0 all the same): refused
@example(text=b"PPPPPP0")  # 7: read
@example(text=b"P")  # cut off
@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=40),
        st.text(alphabet=st.characters(min_codepoint=40, max_codepoint=120), max_size=40).map(
            str.encode
        ),
        st.lists(st.sampled_from(b"0123456789:;<=>?@ABCDEFGHOPQRSTUVWXYZ[\\]^_o"), max_size=60)
        .map(bytes),
    )
)
def test_compressed_counts_are_checked_as_before(text):
    """Characters out of range, runs of 8 characters, cut off, negative or of 2**32: refused
    exactly where the character-by-character reading refused them; otherwise the same
    pixels covered."""
    runs = rle._runs(text, len(text))
    expected = _covered_as_before(text)
    assert (runs is None) == (expected is None)
    if runs is not None:
        assert int(runs.sum()) == expected


@settings(max_examples=150, deadline=None)
@given(arrays(np.bool_, st.tuples(st.integers(1, 30), st.integers(1, 30))))
def test_decoding_is_pycocotools_decoding(mask):
    """Compressed and uncompressed counts give pycocotools' mask, column-major as it."""
    encoded = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    for counts in (encoded["counts"], encoded["counts"].decode("ascii")):
        decoded = rle.decode({"size": list(mask.shape), "counts": counts})
        assert np.array_equal(decoded, coco_mask.decode(encoded).astype(bool))
        assert np.array_equal(decoded, mask) and decoded.flags.f_contiguous
    flat = mask.ravel(order="F")
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate([[0], changes, [flat.size]])).tolist()
    listed = {"size": list(mask.shape), "counts": ([0] if flat[0] else []) + runs}
    assert np.array_equal(rle.decode(listed), mask)
    window, (x, y) = rle.decode_window(listed)
    rebuilt = np.zeros_like(mask)
    rebuilt[y : y + window.shape[0], x : x + window.shape[1]] = window
    assert np.array_equal(rebuilt, mask)
    if window.size:  # the box is tight: its first and last rows and columns hold pixels
        assert window.any(axis=0)[[0, -1]].all() and window.any(axis=1)[[0, -1]].all()


def test_counts_of_more_runs_than_pixels_are_refused_before_they_are_read():
    """A small mask's counts padded with millions of empty runs ("0" is a run of 0)."""
    padded = {"size": [2, 2], "counts": "4" + "0" * 2_000_000}
    with pytest.raises(GeometryError, match="do not cover"):
        rle.decode(padded)
    assert rle._runs(b"4" + b"0000", 4) is not None  # up to pixels + 1 runs: read
    assert rle._runs(b"4" + b"00000", 4) is None


def test_a_boolean_view_of_0_and_255_bytes_is_traced_as_its_true_pixels():
    from roadmark.analysis.pixel_outline import traced_region

    big = np.zeros((300, 300), np.uint8)
    big[50:250, 50:250] = 255
    big[100:120, 100:200] = 0  # a hole: more than a few runs, so traced
    region = traced_region(big.view(bool))
    assert region is not None and region.equals(mask_to_region(big.view(bool)))


def test_negative_uncompressed_counts_are_refused():
    with pytest.raises(GeometryError, match="negative"):
        rle.decode({"size": [2, 2], "counts": [5, -1]})


def test_counts_that_cover_too_few_pixels_are_refused_every_time():
    short = {"size": [7, 1], "counts": "u"}
    for _ in range(20):
        with pytest.raises(GeometryError, match="do not cover"):
            rle.decode(short)
    with pytest.raises(GeometryError, match="do not cover"):
        rle.decode({"size": [4, 4], "counts": "0"})  # a cut-off run


def test_rle_round_trip_and_bad_rle():
    mask = np.zeros((20, 30), bool)
    mask[3:9, 4:20] = True
    mask[5:7, 8:10] = False
    encoded = rle.encode(mask)
    assert isinstance(encoded["counts"], str)
    assert (rle.decode(encoded) == mask).all()
    assert rle.area(encoded) == mask.sum()
    assert (region_mask(rle.to_region(encoded), 20, 30) == mask).all()
    uncompressed = {"size": [2, 3], "counts": [1, 2, 3]}
    assert rle.decode(uncompressed).sum() == 2
    from roadmark.core.errors import GeometryError

    with pytest.raises(GeometryError, match="add up to"):
        rle.decode({"size": [2, 3], "counts": [1, 2]})
    with pytest.raises(GeometryError, match="needs 'size'"):
        rle.decode({"counts": "abc"})
