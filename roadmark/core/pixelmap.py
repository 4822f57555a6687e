"""Which region is on top at each pixel: the editor's derived, incrementally updated map.

An :class:`ObjectPixelMap` holds one ``int32`` per pixel, the *slot* of the visible region
drawn last (on top) there, 0 where none is. A slot is a small number given to each
object's uid the first time the map sees it; lookup tables by slot give the uid and the
label, so the semantic label map, the label under the cursor, hit-testing and the
overlay colors are all table lookups.

Each region is rasterized once, inside its own bounding box, with the same pycocotools
rule as :mod:`roadmark.core.raster` (a pixel is inside when its center is), and the mask
is kept while the object's geometry stays the same object. An edit repaints only the
window it touched, from the cached masks of the regions that intersect that window, so the
cost of an edit follows its size, not the frame's object count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import shapely
from numpy.typing import NDArray
from pycocotools import mask as coco_mask
from shapely.geometry import Polygon

from roadmark.core.annotation import AnnotationObject, Region
from roadmark.core.raster import region_mask_in_box

Window = tuple[int, int, int, int]  # row0, col0, row1, col1 (end exclusive)
Mask = NDArray[np.bool_]


def _mask_or_none(region: Region, height: int, width: int) -> tuple[Mask, int, int] | None:
    """:func:`roadmark.core.raster.region_mask_in_box`, with ``None`` for a region that lies
    outside the image (the map keeps no mask for it)."""
    mask, row0, col0 = region_mask_in_box(region, height, width)
    return None if mask.size == 0 else (mask, row0, col0)


BATCH_MAX_SIDE = 256
BATCH_BYTES = 1 << 24
BATCH_STEP = 8


def masks_in_boxes(
    regions: Sequence[Region], height: int, width: int
) -> list[tuple[Mask, int, int] | None]:
    """:func:`~roadmark.core.raster.region_mask_in_box` for many regions at once (``None`` for
    one outside the image), with the same pixels.

    Small simple polygons (no holes, one part) are rasterized together: pycocotools fills
    a whole batch of them, each in its own canvas of a shared size, in one call,
    which removes most of the per-region overhead when a frame with thousands of regions
    opens. The rest are rasterized one by one.
    """
    results: list[tuple[Mask, int, int] | None] = [None] * len(regions)
    buckets: dict[tuple[int, int], list[tuple[int, int, int, int, int]]] = {}
    simple: list[int] = []
    for i, region in enumerate(regions):
        if isinstance(region, Polygon) and not region.interiors:
            simple.append(i)
        else:
            results[i] = _mask_or_none(region, height, width)
    if not simple:
        return results
    exteriors = shapely.get_rings([regions[i] for i in simple])
    bounds = shapely.bounds(exteriors)
    coords, owners = shapely.get_coordinates(exteriors, return_index=True)
    starts = np.searchsorted(owners, np.arange(len(simple)))
    ends = np.append(starts[1:], len(owners))
    flat: dict[int, list[float]] = {}
    for k, i in enumerate(simple):
        minx, miny, maxx, maxy = bounds[k]
        col0, row0 = max(0, math.floor(minx)), max(0, math.floor(miny))
        col1, row1 = min(width, math.ceil(maxx)), min(height, math.ceil(maxy))
        if col1 <= col0 or row1 <= row0:
            continue
        h, w = row1 - row0, col1 - col0
        if max(h, w) > BATCH_MAX_SIDE:
            results[i] = _mask_or_none(regions[i], height, width)
            continue
        # Canvases rounded up to BATCH_STEP pixels: few batches, little wasted area.
        shape = (-(-h // BATCH_STEP) * BATCH_STEP, -(-w // BATCH_STEP) * BATCH_STEP)
        ring = coords[starts[k] : ends[k] - 1] - (col0, row0)
        flat[i] = ring.ravel().tolist()
        buckets.setdefault(shape, []).append((i, h, w, row0, col0))
    for (canvas_h, canvas_w), items in buckets.items():
        chunk = max(1, BATCH_BYTES // (canvas_h * canvas_w))
        for at in range(0, len(items), chunk):
            part = items[at : at + chunk]
            rles = coco_mask.frPyObjects([flat[i] for i, *_ in part], canvas_h, canvas_w)
            decoded = coco_mask.decode(rles)
            for k, (i, h, w, row0, col0) in enumerate(part):
                results[i] = (decoded[:h, :w, k].astype(bool), row0, col0)
    return results


def window_of(bounds: tuple[float, float, float, float], height: int, width: int) -> Window | None:
    """The pixel window covering ``(x0, y0, x1, y1)``, clipped to the image; None if empty."""
    x0, y0, x1, y1 = bounds
    col0 = max(0, math.floor(x0))
    row0 = max(0, math.floor(y0))
    col1 = min(width, math.ceil(x1))
    row1 = min(height, math.ceil(y1))
    if col1 <= col0 or row1 <= row0:
        return None
    return (row0, col0, row1, col1)


def union_window(a: Window | None, b: Window | None) -> Window | None:
    """The smallest window containing both (``None`` counts as empty)."""
    if a is None:
        return b
    if b is None:
        return a
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


class ObjectPixelMap:
    """The topmost visible region at every pixel of one frame.

    Args:
        height: Frame height in pixels.
        width: Frame width in pixels.
    """

    def __init__(self, height: int, width: int) -> None:
        self.height = height
        self.width = width
        self.owner = np.zeros((height, width), dtype=np.int32)
        self._slot_of: dict[int, int] = {}
        self._uids: list[int] = [0]
        self._geometries: list[object] = [None]
        self._masks: list[Mask | None] = [None]
        self._boxes = np.zeros((64, 4), dtype=np.int64)  # row0, col0, row1, col1 per slot
        self._labels = np.zeros(64, dtype=np.int32)
        self._order = np.zeros(0, dtype=np.int64)  # visible slots, bottom first
        self._drawn = np.zeros(64, dtype=bool)  # by slot: in _order

    # -- slots -----------------------------------------------------------------------------

    def slot_of(self, uid: int) -> int | None:
        return self._slot_of.get(uid)

    def uid_of(self, slot: int) -> int | None:
        """The uid drawn with ``slot`` (``None`` for 0, "nothing")."""
        return self._uids[slot] if 0 < slot < len(self._uids) else None

    @property
    def slot_count(self) -> int:
        """Slots handed out so far, plus one for "nothing" (slot 0)."""
        return len(self._uids)

    def slot_labels(self) -> NDArray[np.int32]:
        """Label id by slot (index 0, "nothing", maps to 0)."""
        return self._labels[: len(self._uids)]

    def _slot(self, obj: AnnotationObject) -> int:
        uid = obj.uid
        if uid is None:
            raise ValueError("only stored objects (with a uid) can be drawn")
        slot = self._slot_of.get(uid)
        if slot is None:
            slot = len(self._uids)
            self._slot_of[uid] = slot
            self._uids.append(uid)
            self._geometries.append(None)
            self._masks.append(None)
            if slot >= len(self._labels):
                self._boxes = np.resize(self._boxes, (2 * slot, 4))
                self._labels = np.resize(self._labels, 2 * slot)
                drawn = np.zeros(2 * slot, dtype=bool)
                drawn[: len(self._drawn)] = self._drawn
                self._drawn = drawn
        self._labels[slot] = obj.label_id
        return slot

    def _store(self, slot: int, geometry: object, rasterized: tuple[Mask, int, int] | None) -> None:
        self._geometries[slot] = geometry
        if rasterized is None:
            self._masks[slot] = None
            self._boxes[slot] = (0, 0, 0, 0)
        else:
            mask, row0, col0 = rasterized
            self._masks[slot] = mask
            self._boxes[slot] = (row0, col0, row0 + mask.shape[0], col0 + mask.shape[1])

    # -- drawing ---------------------------------------------------------------------------

    def set_regions(
        self, regions: Sequence[AnnotationObject], window: Window | None = None
    ) -> Window:
        """Make ``regions`` (visible, in z-order) the drawn set and repaint ``window``.

        Regions whose geometry changed are rasterized again; the rest reuse their masks.

        Args:
            regions: The visible regions, bottom first.
            window: The part of the frame that changed; the whole frame when ``None``.

        Returns:
            The window that was repainted.
        """
        slots = [self._slot(obj) for obj in regions]
        stale = [
            (slot, obj)
            for slot, obj in zip(slots, regions, strict=True)
            if self._geometries[slot] is not obj.geometry
        ]
        if len(stale) > 8:
            masks = masks_in_boxes([obj.region for _, obj in stale], self.height, self.width)
        else:
            masks = [_mask_or_none(obj.region, self.height, self.width) for _, obj in stale]
        for (slot, obj), rasterized in zip(stale, masks, strict=True):
            self._store(slot, obj.geometry, rasterized)
        self._order = np.array(slots, dtype=np.int64)
        self._drawn[:] = False
        self._drawn[self._order] = True
        return self.repaint(window)

    def replace_regions(self, regions: Sequence[AnnotationObject], window: Window) -> bool:
        """Draw new versions of regions that keep their places in the stack (new geometry
        or label), repainting ``window``, which must cover their old and new pixels.

        The cost follows the regions changed and the window, not the frame's region count.

        Returns:
            ``False``, with nothing changed, when one of them is not drawn now (then
            :meth:`set_regions` is the call).
        """
        slots = [self._slot_of.get(obj.uid) if obj.uid is not None else None for obj in regions]
        if any(slot is None or not self._drawn[slot] for slot in slots):
            return False
        for obj in regions:
            slot = self._slot(obj)
            if self._geometries[slot] is not obj.geometry:
                self._store(slot, obj.geometry, _mask_or_none(obj.region, self.height, self.width))
        self.repaint(window)
        return True

    def add_on_top(self, regions: Sequence[AnnotationObject], window: Window) -> bool:
        """Draw regions new to the stack on top of the others, repainting ``window``,
        which must cover their pixels.

        Returns:
            ``False``, with nothing changed, when one of them is drawn already.
        """
        uids = [obj.uid for obj in regions]
        if any(uid is None for uid in uids) or len(set(uids)) != len(uids):
            return False
        if any(self._drawn[self._slot_of[uid]] for uid in uids if uid in self._slot_of):
            return False
        slots = []
        for obj in regions:
            slot = self._slot(obj)
            if self._geometries[slot] is not obj.geometry:
                self._store(slot, obj.geometry, _mask_or_none(obj.region, self.height, self.width))
            slots.append(slot)
        self._order = np.concatenate([self._order, np.array(slots, dtype=np.int64)])
        self._drawn[slots] = True
        self.repaint(window)
        return True

    def repaint(self, window: Window | None = None) -> Window:
        """Paint the current regions again inside ``window`` (whole frame when ``None``)."""
        if window is None:
            window = (0, 0, self.height, self.width)
        r0, c0, r1, c1 = window
        target = self.owner[r0:r1, c0:c1]
        target.fill(0)
        if not len(self._order):
            return window
        for slot in self._slots_in(window).tolist():
            mask = self._masks[slot]
            if mask is None:
                continue
            br0, bc0, br1, bc1 = self._boxes[slot].tolist()
            a0, a1 = max(br0, r0), min(br1, r1)
            b0, b1 = max(bc0, c0), min(bc1, c1)
            sub = mask[a0 - br0 : a1 - br0, b0 - bc0 : b1 - bc0]
            self.owner[a0:a1, b0:b1][sub] = slot
        return window

    def _slots_in(self, window: Window) -> NDArray[np.int64]:
        """The drawn slots whose pixels' box meets ``window``, bottom first (one vectorized
        pass over the box index, no Python loop over the regions)."""
        r0, c0, r1, c1 = window
        boxes = self._boxes[self._order]
        return self._order[
            (boxes[:, 0] < r1) & (boxes[:, 2] > r0) & (boxes[:, 1] < c1) & (boxes[:, 3] > c0)
        ]

    # -- lookups ---------------------------------------------------------------------------

    def uids_in(self, window: Window) -> list[int]:
        """The uids of the drawn regions whose pixels' box meets ``window``, bottom first."""
        return [self._uids[slot] for slot in self._slots_in(window).tolist()]

    def slot_at(self, x: float, y: float) -> int:
        """The slot drawn at image point ``(x, y)``; 0 outside the image or where none is."""
        row, col = math.floor(y), math.floor(x)
        if 0 <= row < self.height and 0 <= col < self.width:
            return int(self.owner[row, col])
        return 0

    def uid_at(self, x: float, y: float) -> int | None:
        """The uid of the topmost visible region at ``(x, y)``."""
        return self.uid_of(self.slot_at(x, y))

    def label_at(self, x: float, y: float) -> int | None:
        """The label id of the topmost visible region at ``(x, y)``."""
        slot = self.slot_at(x, y)
        return int(self._labels[slot]) if slot else None

    def label_ids(self, window: Window | None = None) -> NDArray[np.int32]:
        """The label id of the drawn region per pixel (0 where none), in ``window``."""
        owner = (
            self.owner
            if window is None
            else self.owner[window[0] : window[2], window[1] : window[3]]
        )
        lut = self.slot_labels().copy()
        lut[0] = 0
        return lut[owner]

    def free_mask(self) -> NDArray[np.bool_]:
        """Pixels no visible region covers."""
        free: NDArray[np.bool_] = self.owner == 0
        return free
