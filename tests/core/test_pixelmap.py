"""The incremental pixel map agrees with a full rasterization after any edits."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Polygon

from roadmark.core.annotation import AnnotationObject, Frame, FrameAnnotations, Provenance
from roadmark.core.document import FrameDocument
from roadmark.core.pixelmap import (
    ObjectPixelMap,
    masks_in_boxes,
    union_window,
    window_of,
)
from roadmark.core.raster import label_id_map, region_mask_in_box
from roadmark.core.schema import cityscapes_schema

W, H = 96, 64
PROVENANCE = Provenance.new("human", "t")


def blob(rng: np.random.Generator) -> Polygon:
    cx, cy = rng.uniform(-10, W + 10), rng.uniform(-10, H + 10)
    angles = np.sort(rng.uniform(0, 2 * np.pi, 9))
    radii = rng.uniform(3, 25) * rng.uniform(0.5, 1.0, 9)
    return shapely.make_valid(
        Polygon(np.c_[cx + radii * np.cos(angles), cy + radii * np.sin(angles)])
    ).buffer(0)


def objects(seed: int, count: int) -> list[AnnotationObject]:
    rng = np.random.default_rng(seed)
    out = []
    for uid in range(1, count + 1):
        geometry = blob(rng)
        if geometry.is_empty or not isinstance(geometry, Polygon | MultiPolygon):
            geometry = shapely.box(1, 1, 5, 5)
        out.append(
            AnnotationObject(
                label_id=int(rng.choice([7, 8, 11, 24, 26])),
                geometry=geometry,
                provenance=PROVENANCE,
                uid=uid,
            )
        )
    return out


def test_batched_rasterization_gives_the_reference_masks():
    rng = np.random.default_rng(5)
    shapes = [blob(rng) for _ in range(120)]
    shapes += [
        shapely.box(-20, -20, 300, 30),  # larger than a batch canvas
        shapely.box(10, 10, 50, 40).difference(shapely.box(20, 20, 30, 30)),  # a hole
        MultiPolygon([shapely.box(0, 0, 5, 5), shapely.box(60, 30, 70.5, 44.2)]),
        shapely.box(W + 5, 0, W + 9, 4),  # outside the image
    ]
    shapes = [shape for shape in shapes if not shape.is_empty]
    batched = masks_in_boxes(shapes, H, W)
    for shape, result in zip(shapes, batched, strict=True):
        reference, row0, col0 = region_mask_in_box(shape, H, W)
        if reference.size == 0:
            assert result is None
            continue
        assert result is not None
        assert result[1:] == (row0, col0) and np.array_equal(result[0], reference)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), edits=st.integers(1, 6))
def test_incremental_updates_equal_a_full_repaint(seed: int, edits: int):
    schema = cityscapes_schema()
    items = objects(seed, 12)
    pixel_map = ObjectPixelMap(H, W)
    pixel_map.set_regions(items)
    rng = np.random.default_rng(seed + 1)
    for _ in range(edits):
        i = int(rng.integers(len(items)))
        old = items[i]
        kind = rng.integers(3)
        if kind == 0:
            shape = blob(rng)
            new = replace(old, geometry=old.geometry if shape.is_empty else shape)
            items[i] = new
        elif kind == 1:
            new = items.pop(i)
            items.insert(int(rng.integers(len(items) + 1)), new)
        else:
            new = old
            items.pop(i)
        window = None
        for obj in (old, new):
            b = obj.region.bounds
            window = union_window(window, window_of(b, H, W))
        if kind == 1:
            window = (0, 0, H, W)
        pixel_map.set_regions(items, window)
        expected = label_id_map(items, schema, H, W)
        assert np.array_equal(pixel_map.label_ids(), expected)


def test_lookups_and_free_pixels():
    items = objects(1, 5)
    pixel_map = ObjectPixelMap(H, W)
    pixel_map.set_regions(items)
    top = pixel_map.owner.max()
    assert top > 0
    rows, cols = np.nonzero(pixel_map.owner == top)
    uid = pixel_map.uid_at(cols[0] + 0.5, rows[0] + 0.5)
    assert uid is not None and pixel_map.slot_of(uid) == top
    label = next(obj.label_id for obj in items if obj.uid == uid)
    assert pixel_map.label_at(cols[0] + 0.5, rows[0] + 0.5) == label
    assert pixel_map.uid_at(-5, 3) is None and pixel_map.label_at(W + 1, 3) is None
    assert np.array_equal(pixel_map.free_mask(), pixel_map.owner == 0)


def test_document_hides_objects_and_labels_from_the_pixel_map():
    items = [
        AnnotationObject(7, shapely.box(0, 0, W, H), PROVENANCE, uid=1),
        AnnotationObject(26, shapely.box(10, 10, 30, 30), PROVENANCE, uid=2),
    ]
    frame = Frame(1, "f.png", None, W, H, "s", 0)
    document = FrameDocument(FrameAnnotations(frame, items))
    heard = []
    document.changed.connect(lambda _doc, change: heard.append(change))
    assert document.label_at(15, 15) == 26
    document.set_hidden([2], True)
    assert document.label_at(15, 15) == 7 and heard[-1].window == (10, 10, 30, 30)
    document.set_label_hidden(7, True)
    assert document.label_at(15, 15) is None and document.visible() == []
    document.show_all()
    assert document.label_at(15, 15) == 26
    assert [o.uid for o in document.objects_at(15, 15)] == [2, 1]
    assert document.region_at(50, 50).uid == 1  # type: ignore[union-attr]


def test_document_selection_and_instance_ids():
    items = [
        AnnotationObject(26, shapely.box(0, 0, 5, 5), PROVENANCE, instance_id=4, uid=1),
        AnnotationObject(
            26, shapely.box(5, 5, 9, 9), PROVENANCE, instance_id=9, uid=2, deleted=True
        ),
    ]
    document = FrameDocument(FrameAnnotations(Frame(1, "f.png", None, W, H, "s", 0), items))
    assert document.next_instance_id() == 10
    document.select([2, 1, 99])
    assert document.selection == (1,)  # deleted and unknown objects cannot be selected
    document.toggle_selected(1)
    assert document.selection == ()
    document.begin_batch()
    document.select([1])
    document.clear_selection()
    heard = []
    document.changed.connect(lambda _doc, change: heard.append(change))
    document.end_batch()
    assert len(heard) == 1 and heard[0].selection
