"""The open frame as the editor sees it: objects in z-order, selection, visibility.

A :class:`FrameDocument` is the in-memory model that widgets observe. It changes only
through the editing session (after the store has committed) and through selection and
visibility calls; each change is announced on the :attr:`FrameDocument.changed` signal as one
:class:`DocumentChange` naming the objects concerned and the image area whose rendering
changed, so views redraw only that area. No Qt here.

The document also owns the frame's :class:`~roadmark.core.pixelmap.ObjectPixelMap` (the
topmost visible region per pixel), kept up to date on every change.

Edits cost what they change, not the frame's object count: the derived lists (live,
visible, regions, boxes), the label counts and the pixel map are patched in place when an
edit changes objects' content without changing which lists they are in (a moved vertex,
a brush stroke on the selection) or adds objects on top of the stack (a new stroke); other
changes rebuild them. :meth:`FrameDocument.regions_meeting` finds the visible regions
near a rectangle from the pixel map's box index, without a pass over the objects.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import shapely
from psygnal import Signal

from roadmark.core.annotation import (
    AnnotationObject,
    Frame,
    FrameAnnotations,
    FrameStatus,
    ObjectKind,
)
from roadmark.core.pixelmap import ObjectPixelMap, Window, union_window, window_of
from roadmark.core.signals import emit


@dataclass(frozen=True)
class DocumentChange:
    """What changed in a document.

    Attributes:
        objects: Object content changed (geometry, label, attributes, deletion).
        order: The list of live objects changed (added, deleted, restored, reordered).
        selection: The selection changed.
        visibility: Objects or labels were hidden or shown.
        uids: The objects concerned.
        window: The pixel window ``(row0, col0, row1, col1)`` whose drawing changed, or
            ``None`` when nothing drawn changed.
        boxes: A box (drawn as a vector outline, not in the pixel map) changed.
    """

    objects: bool = False
    order: bool = False
    selection: bool = False
    visibility: bool = False
    uids: frozenset[int] = frozenset()
    window: Window | None = None
    boxes: bool = False

    def __or__(self, other: DocumentChange) -> DocumentChange:
        return DocumentChange(
            objects=self.objects or other.objects,
            order=self.order or other.order,
            selection=self.selection or other.selection,
            visibility=self.visibility or other.visibility,
            uids=self.uids | other.uids,
            window=union_window(self.window, other.window),
            boxes=self.boxes or other.boxes,
        )


class FrameDocument:
    """One frame's objects (z-order, soft-deleted ones included), selection and visibility.

    Args:
        annotations: The frame and its objects as the store returned them.
        hidden_labels: Label ids whose objects are not drawn (a view setting that the
            editor carries from frame to frame).

    Signals:
        changed: ``(document, change)`` after every change (once per batch).
    """

    changed = Signal(object, DocumentChange)

    def __init__(self, annotations: FrameAnnotations, *, hidden_labels: Iterable[int] = ()) -> None:
        self.frame: Frame = annotations.frame
        self._objects: list[AnnotationObject] = list(annotations)
        self._index: dict[int, int] = {}
        self._cache: dict[str, list[AnnotationObject]] = {}
        self._positions: dict[str, dict[int, int]] = {}  # cached list -> uid -> position
        self._counts: Counter[int] | None = None
        self._reindex()
        self._selection: tuple[int, ...] = ()
        self.hidden: set[int] = set()
        self.hidden_labels: set[int] = set(hidden_labels)
        self.pixel_map = ObjectPixelMap(self.frame.height, self.frame.width)
        self.pixel_map.set_regions(self.visible_regions())
        self._batch: DocumentChange | None = None
        self._batch_depth = 0

    # -- observing -------------------------------------------------------------------------

    def _emit(self, change: DocumentChange) -> None:
        if self._batch_depth:
            self._batch = change if self._batch is None else (self._batch | change)
            return
        emit(self.changed, self, change)

    def begin_batch(self) -> None:
        """Collect changes until :meth:`end_batch`, then announce them as one."""
        self._batch_depth += 1

    def end_batch(self) -> None:
        self._batch_depth -= 1
        if self._batch_depth == 0 and self._batch is not None:
            change, self._batch = self._batch, None
            self._emit(change)

    # -- reading ---------------------------------------------------------------------------

    @property
    def width(self) -> int:
        return self.frame.width

    @property
    def height(self) -> int:
        return self.frame.height

    @property
    def objects(self) -> tuple[AnnotationObject, ...]:
        """All objects in z-order (bottom first), soft-deleted ones included."""
        return tuple(self._objects)

    def live(self) -> list[AnnotationObject]:
        """Objects that are not soft-deleted, bottom first."""
        return list(self._live_list())

    def z_order(self) -> list[int]:
        """The uids of all objects, bottom first (what the store's z-order lists)."""
        return [obj.uid for obj in self._objects if obj.uid is not None]

    def get(self, uid: int) -> AnnotationObject | None:
        index = self._index.get(uid)
        return None if index is None else self._objects[index]

    def __contains__(self, uid: object) -> bool:
        return uid in self._index

    def index_of(self, uid: int) -> int:
        return self._index[uid]

    def is_visible(self, obj: AnnotationObject) -> bool:
        return (
            not obj.deleted
            and obj.uid not in self.hidden
            and obj.label_id not in self.hidden_labels
        )

    def visible(self) -> list[AnnotationObject]:
        """Live objects that are drawn, bottom first."""
        return list(
            self._cached("visible", lambda: [o for o in self._objects if self.is_visible(o)])
        )

    def visible_regions(self) -> list[AnnotationObject]:
        return list(
            self._cached(
                "regions", lambda: [o for o in self.visible() if o.kind is ObjectKind.REGION]
            )
        )

    def visible_boxes(self) -> list[AnnotationObject]:
        return list(
            self._cached("boxes", lambda: [o for o in self.visible() if o.kind is ObjectKind.BOX])
        )

    def label_counts(self) -> Counter[int]:
        """How many live objects each label has (a copy)."""
        if self._counts is None:
            self._counts = Counter(obj.label_id for obj in self._live_list())
        return Counter(self._counts)

    def regions_meeting(self, x0: float, y0: float, x1: float, y1: float) -> list[AnnotationObject]:
        """Visible regions whose drawn pixels' box meets the rectangle ``[x0, x1] x [y0,
        y1]``, bottom first: the candidates for an exact test, found from the pixel map's
        box index (regions that cover no pixel are not drawn and not found)."""
        window = window_of((x0, y0, x1, y1), self.height, self.width)
        if window is None:
            return []
        found = [self.get(uid) for uid in self.pixel_map.uids_in(window)]
        return [obj for obj in found if obj is not None]

    def _live_list(self) -> list[AnnotationObject]:
        return self._cached("live", lambda: [o for o in self._objects if not o.deleted])

    def _cached(
        self, key: str, compute: Callable[[], list[AnnotationObject]]
    ) -> list[AnnotationObject]:
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = compute()
        return found

    def _invalidate(self) -> None:
        """Forget the derived lists and counts (they are computed again when asked)."""
        self._cache.clear()
        self._positions.clear()
        self._counts = None

    def _lists_of(self, obj: AnnotationObject) -> tuple[str, ...]:
        """The derived lists ``obj`` belongs in."""
        if obj.deleted:
            return ()
        if not self.is_visible(obj):
            return ("live",)
        return ("live", "visible", "regions" if obj.kind is ObjectKind.REGION else "boxes")

    def _patch_updated(self, pairs: Sequence[tuple[AnnotationObject, AnnotationObject]]) -> bool:
        """Put new versions of objects in the derived lists in place of the old ones, when
        each stays in the same lists; returns ``False`` (nothing patched) otherwise."""
        if any(self._lists_of(a) != self._lists_of(b) for a, b in pairs):
            return False
        for key, items in self._cache.items():
            positions = self._positions.get(key)
            if positions is None:
                positions = self._positions[key] = {
                    o.uid: i for i, o in enumerate(items) if o.uid is not None
                }
            for before, after in pairs:
                if key in self._lists_of(before):
                    items[positions[before.uid]] = after  # type: ignore[index]
        if self._counts is not None:
            for before, after in pairs:
                if not before.deleted:
                    self._counts[before.label_id] -= 1
                    self._counts[after.label_id] += 1
        return True

    def _patch_added(self, objects: Sequence[AnnotationObject]) -> None:
        """Append objects added on top of the stack to the derived lists."""
        for key, items in self._cache.items():
            positions = self._positions.get(key)
            for obj in objects:
                if key in self._lists_of(obj):
                    if positions is not None and obj.uid is not None:
                        positions[obj.uid] = len(items)
                    items.append(obj)
        if self._counts is not None:
            self._counts.update(obj.label_id for obj in objects if not obj.deleted)

    def region_at(self, x: float, y: float) -> AnnotationObject | None:
        """The topmost visible region whose pixel contains ``(x, y)``."""
        uid = self.pixel_map.uid_at(x, y)
        return None if uid is None else self.get(uid)

    def objects_at(self, x: float, y: float) -> list[AnnotationObject]:
        """Every visible object containing the point, topmost first."""
        found = []
        for obj in reversed(self._objects):
            if not self.is_visible(obj):
                continue
            b = obj.bounds
            if b.x0 <= x <= b.x1 and b.y0 <= y <= b.y1:
                if obj.kind is ObjectKind.BOX or shapely.contains_xy(obj.region, x, y):
                    found.append(obj)
        return found

    def label_at(self, x: float, y: float) -> int | None:
        """The label of the topmost visible region at ``(x, y)``."""
        return self.pixel_map.label_at(x, y)

    def next_instance_id(self) -> int:
        """An instance id no object of this frame has (deleted ones included)."""
        ids = [obj.instance_id for obj in self._objects if obj.instance_id is not None]
        return max(ids, default=0) + 1

    # -- selection -------------------------------------------------------------------------

    @property
    def selection(self) -> tuple[int, ...]:
        """The selected uids, in the order they were selected."""
        return self._selection

    def selected(self) -> list[AnnotationObject]:
        """The selected live objects, in z-order."""
        places = sorted(self._index[uid] for uid in self._selection if uid in self._index)
        return [self._objects[i] for i in places if not self._objects[i].deleted]

    def select(self, uids: Iterable[int]) -> None:
        """Make ``uids`` (live objects of this frame) the selection."""
        selection = tuple(
            dict.fromkeys(
                uid
                for uid in uids
                if uid in self._index and not self._objects[self._index[uid]].deleted
            )
        )
        if selection != self._selection:
            changed = frozenset(self._selection) ^ frozenset(selection)
            self._selection = selection
            self._emit(DocumentChange(selection=True, uids=changed))

    def toggle_selected(self, uid: int) -> None:
        if uid in self._selection:
            self.select(u for u in self._selection if u != uid)
        else:
            self.select((*self._selection, uid))

    def clear_selection(self) -> None:
        self.select(())

    # -- visibility ------------------------------------------------------------------------

    def set_hidden(self, uids: Iterable[int], hidden: bool) -> None:
        """Hide or show objects (a view setting; nothing is stored)."""
        uids = [uid for uid in uids if uid in self._index]
        changed = [uid for uid in uids if (uid in self.hidden) != hidden]
        if not changed:
            return
        if hidden:
            self.hidden.update(changed)
        else:
            self.hidden.difference_update(changed)
        self._invalidate()
        self._redraw(changed, visibility=True)

    def set_label_hidden(self, label_id: int, hidden: bool) -> None:
        """Hide or show every object of a label."""
        if (label_id in self.hidden_labels) == hidden:
            return
        if hidden:
            self.hidden_labels.add(label_id)
        else:
            self.hidden_labels.discard(label_id)
        self._invalidate()
        uids = [
            obj.uid for obj in self._objects if obj.label_id == label_id and obj.uid is not None
        ]
        self._redraw(uids, visibility=True)

    def set_hidden_labels(self, label_ids: Iterable[int]) -> None:
        """Replace the set of hidden labels and redraw the whole frame."""
        labels = set(label_ids)
        if labels == self.hidden_labels:
            return
        self.hidden_labels = labels
        self._invalidate()
        window = self.pixel_map.set_regions(self.visible_regions())
        self._emit(DocumentChange(visibility=True, window=window, boxes=True))

    def show_all(self) -> None:
        """Show every hidden object and label."""
        uids = list(self.hidden) + [
            obj.uid
            for obj in self._objects
            if obj.label_id in self.hidden_labels and obj.uid is not None
        ]
        self.hidden.clear()
        self.hidden_labels.clear()
        self._invalidate()
        if uids:
            self._redraw(uids, visibility=True)

    def _redraw(self, uids: Sequence[int], **flags: bool) -> None:
        window = None
        boxes = False
        for uid in uids:
            obj = self.get(uid)
            if obj is None:
                continue
            if obj.kind is ObjectKind.BOX:
                boxes = True
            else:
                window = union_window(window, self._window(obj))
        if window is not None:
            self.pixel_map.set_regions(self.visible_regions(), window)
        self._emit(DocumentChange(uids=frozenset(uids), window=window, boxes=boxes, **flags))

    # -- changes from the session (after the store committed) ------------------------------

    def apply_added(self, objects: Sequence[AnnotationObject], *, at_bottom: bool = False) -> None:
        """Insert newly stored objects on top (or at the bottom) of the stack."""
        objects = list(objects)
        if at_bottom:
            self._objects[:0] = objects
            self._reindex()
            self._after_change(objects, [], order=True)
            return
        start = len(self._objects)
        self._objects.extend(objects)
        for offset, obj in enumerate(objects):
            if obj.uid is not None:
                self._index[obj.uid] = start + offset
        self._patch_added(objects)
        self._after_change(objects, [], order=True, on_top=True)

    def apply_updated(self, objects: Sequence[AnnotationObject]) -> None:
        """Replace objects by their new versions (matched by uid)."""
        old: list[AnnotationObject] = []
        pairs: list[tuple[AnnotationObject, AnnotationObject]] = []
        order = False
        for obj in objects:
            if obj.uid is None or obj.uid not in self._index:
                continue
            index = self._index[obj.uid]
            before = self._objects[index]
            old.append(before)
            pairs.append((before, obj))
            order = order or before.deleted != obj.deleted
            self._objects[index] = obj
        if old:
            in_place = self._patch_updated(pairs)
            if not in_place:
                self._invalidate()
            if order:
                self._selection = tuple(
                    uid for uid in self._selection if not self._objects[self._index[uid]].deleted
                )
            self._after_change(
                [o for o in objects if o.uid in self._index], old, order=order, in_place=in_place
            )

    def apply_z_order(self, uids: Sequence[int]) -> None:
        """Reorder the objects to ``uids`` (bottom first)."""
        before = [obj.uid for obj in self._objects]
        by_uid = {obj.uid: obj for obj in self._objects}
        listed = set(uids)
        self._objects = [by_uid[uid] for uid in uids if uid in by_uid]
        self._objects.extend(obj for obj in by_uid.values() if obj.uid not in listed)
        self._reindex()
        moved = [
            obj for obj, old_uid in zip(self._objects, before, strict=False) if obj.uid != old_uid
        ]
        self._after_change(moved, [], order=True, objects=False)

    def set_frame_status(self, status: FrameStatus) -> None:
        self.frame = replace(self.frame, status=status)

    def _after_change(
        self,
        new: Sequence[AnnotationObject],
        old: Sequence[AnnotationObject],
        *,
        order: bool,
        objects: bool = True,
        in_place: bool = False,
        on_top: bool = False,
    ) -> None:
        """Redraw what changed and announce it. ``in_place``: the changed objects kept
        their places in the visible lists; ``on_top``: ``new`` was added on top."""
        window: Window | None = None
        boxes = False
        for obj in (*new, *old):
            if obj.kind is ObjectKind.BOX:
                boxes = True
            elif obj.uid not in self.hidden and obj.label_id not in self.hidden_labels:
                window = union_window(window, self._window(obj))
        if window is not None:
            drawn = [o for o in new if o.kind is ObjectKind.REGION and self.is_visible(o)]
            patched = (in_place and self.pixel_map.replace_regions(drawn, window)) or (
                on_top and self.pixel_map.add_on_top(drawn, window)
            )
            if not patched:
                self.pixel_map.set_regions(self.visible_regions(), window)
        self._emit(
            DocumentChange(
                objects=objects,
                order=order,
                uids=frozenset(o.uid for o in (*new, *old) if o.uid is not None),
                window=window,
                boxes=boxes,
            )
        )

    def _window(self, obj: AnnotationObject) -> Window | None:
        b = obj.bounds
        return window_of((b.x0, b.y0, b.x1, b.y1), self.height, self.width)

    def _reindex(self) -> None:
        self._invalidate()
        self._index = {obj.uid: i for i, obj in enumerate(self._objects) if obj.uid is not None}
