"""Edits patch the document's derived lists, counts and pixel map in place, with the same
result as building the document afresh (issue #21: edits cost what they change)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from roadmark.core.annotation import AnnotationObject, Box, Frame, FrameAnnotations
from roadmark.core.document import FrameDocument
from tests.core.test_pixelmap import PROVENANCE, H, W, blob, objects

FRAME = Frame(1, "f.png", None, W, H, "s", 0)


def fresh(document: FrameDocument) -> FrameDocument:
    """The same objects, hidden objects and labels, built from scratch."""
    twin = FrameDocument(
        FrameAnnotations(document.frame, list(document.objects)),
        hidden_labels=document.hidden_labels,
    )
    twin.set_hidden(document.hidden, True)
    return twin


def assert_same(document: FrameDocument) -> None:
    twin = fresh(document)
    for name in ("live", "visible", "visible_regions", "visible_boxes"):
        assert getattr(document, name)() == getattr(twin, name)(), name
    assert document.label_counts() == twin.label_counts()
    assert np.array_equal(document.pixel_map.label_ids(), twin.pixel_map.label_ids())
    uids = np.vectorize(lambda s: document.pixel_map.uid_of(int(s)) or 0)(document.pixel_map.owner)
    expected = np.vectorize(lambda s: twin.pixel_map.uid_of(int(s)) or 0)(twin.pixel_map.owner)
    assert np.array_equal(uids, expected)
    for obj in document.objects:
        assert obj.uid is not None and document.get(obj.uid) is obj


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), edits=st.integers(1, 8))
def test_patched_document_equals_a_fresh_one(seed: int, edits: int):
    items = objects(seed, 10)
    items.append(AnnotationObject(24, Box(3, 3, 20, 18), PROVENANCE, uid=50))
    document = FrameDocument(FrameAnnotations(FRAME, items), hidden_labels=[11])
    document.set_hidden([2], True)
    rng = np.random.default_rng(seed)
    next_uid = 100
    for _ in range(edits):
        document.visible(), document.visible_regions(), document.label_counts()  # cached
        live = document.live()
        kind = int(rng.integers(5))
        if kind == 0 and live:  # new outline (a vertex move, a stroke on the selection)
            obj = live[int(rng.integers(len(live)))]
            shape = blob(rng)
            if obj.kind.value == "region" and not shape.is_empty:
                document.apply_updated([replace(obj, geometry=shape)])
        elif kind == 1 and live:  # relabel, possibly to the hidden label
            obj = live[int(rng.integers(len(live)))]
            document.apply_updated([replace(obj, label_id=int(rng.choice([7, 11, 26])))])
        elif kind == 2 and live:  # delete
            obj = live[int(rng.integers(len(live)))]
            document.apply_updated([replace(obj, deleted=True)])
        elif kind == 3:  # a new region on top, or below with paint behind
            shape = blob(rng)
            if not shape.is_empty:
                new = AnnotationObject(8, shape, PROVENANCE, uid=next_uid)
                next_uid += 1
                document.apply_added([new], at_bottom=bool(rng.integers(2)))
        else:  # reorder
            uids = document.z_order()
            rng.shuffle(uids)
            document.apply_z_order(uids)
        assert_same(document)


def test_an_update_in_place_repaints_only_its_window():
    items = [
        AnnotationObject(7, shapely.box(0, 0, 40, 40), PROVENANCE, uid=1),
        AnnotationObject(26, shapely.box(50, 10, 70, 30), PROVENANCE, uid=2),
    ]
    document = FrameDocument(FrameAnnotations(FRAME, items))
    heard = []
    document.changed.connect(lambda _doc, change: heard.append(change))
    document.visible_regions()
    moved = replace(items[1], geometry=shapely.box(52, 10, 72, 30))
    document.apply_updated([moved])
    assert heard[-1].window == (10, 50, 30, 72)
    assert document.visible_regions()[1] is moved and document.label_at(71, 20) == 26
    assert document.label_at(51, 20) is None
    assert document.label_counts() == Counter({7: 1, 26: 1})


def test_regions_meeting_finds_the_regions_near_a_rectangle():
    items = objects(7, 30)
    document = FrameDocument(FrameAnnotations(FRAME, items))
    x0, y0, x1, y1 = 20.0, 10.0, 40.0, 30.0
    found = [obj.uid for obj in document.regions_meeting(x0, y0, x1, y1)]
    rect = shapely.box(x0, y0, x1, y1)
    touching = {obj.uid for obj in items if shapely.intersection(obj.region, rect).area > 1.0}
    assert touching and touching <= set(found)  # no region that overlaps is missed
    assert found == [obj.uid for obj in document.visible_regions() if obj.uid in set(found)]
    assert len(found) < len(items)  # and the far ones are not listed
    assert document.regions_meeting(W + 5, 0, W + 9, 4) == []
