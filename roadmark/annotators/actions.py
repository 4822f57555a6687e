"""Edits of the selection that are not pointer gestures: delete, relabel, attributes,
nudge, z-order, instance ids. Each function returns one command, or ``None`` when it
would change nothing.

Z-order follows Cityscapes: the list order is depth, later objects paint over earlier
ones. "Raise" moves an object just above the next object above it that it overlaps (a
move past objects elsewhere in the frame would change nothing visible); "lower" is the
mirror image; "to top" and "to bottom" move to the ends of the stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import shapely

from roadmark.annotators.geometry import clamp_shift, translate
from roadmark.annotators.tools.base import ToolContext
from roadmark.core.annotation import AnnotationObject
from roadmark.core.document import FrameDocument
from roadmark.core.edits import EditError, SetZOrder, UpdateObjects, describe
from roadmark.core.history import Command
from roadmark.core.schema import LabelSchema


def _live(doc: FrameDocument, uids: Sequence[int]) -> list[AnnotationObject]:
    chosen = set(uids)
    return [obj for obj in doc.objects if obj.uid in chosen and not obj.deleted]


def delete(context: ToolContext, uids: Sequence[int]) -> Command | None:
    """Soft-delete the objects."""
    doc = context.doc()
    before = _live(doc, uids)
    if not before:
        return None
    after = [context.edited(obj, deleted=True) for obj in before]
    return UpdateObjects(doc.frame.id, before, after, text=f"Delete {describe(len(before))}")


def relabel(context: ToolContext, uids: Sequence[int], label_id: int) -> Command | None:
    """Give the objects another label.

    Attributes the new label does not have are dropped and its missing ones get their
    defaults; an object moving to a ``hasInstances`` label gets a new instance id, one
    moving away from such labels loses it.
    """
    doc = context.doc()
    schema = context.schema
    label = schema.label(label_id)
    before = [obj for obj in _live(doc, uids) if obj.label_id != label_id]
    if not before:
        return None
    next_instance = doc.next_instance_id()
    after = []
    for obj in before:
        attributes = schema.attribute_defaults(label_id)
        attributes.update({k: v for k, v in obj.attributes.items() if k in attributes})
        instance_id = obj.instance_id if label.has_instances else None
        if label.has_instances and instance_id is None:
            instance_id = next_instance
            next_instance += 1
        after.append(
            context.edited(obj, label_id=label_id, attributes=attributes, instance_id=instance_id)
        )
    return UpdateObjects(
        doc.frame.id, before, after, text=f"Label {describe(len(before))} {label.name}"
    )


def toggle_attribute(context: ToolContext, uids: Sequence[int], name: str) -> Command | None:
    """Switch a yes/no attribute on the objects whose label has it: on for all of them,
    or off when all of them have it on already (one command).

    Raises:
        EditError: Nothing is selected, or no selected object's label has the attribute.
    """
    doc = context.doc()
    schema: LabelSchema = context.schema
    chosen = _live(doc, uids)
    if not chosen:
        raise EditError(f"select the objects to mark {name} first")
    having = [obj for obj in chosen if name in schema.label(obj.label_id).attributes]
    if not having:
        raise EditError(f"no selected object's label has the attribute {name!r}")
    value = not all(bool(obj.attributes.get(name)) for obj in having)
    return set_attribute(context, [obj.uid for obj in having if obj.uid is not None], name, value)


def set_attribute(
    context: ToolContext, uids: Sequence[int], name: str, value: Any
) -> Command | None:
    """Set a schema attribute on the objects whose label has it.

    Raises:
        SchemaError: The value is not allowed.
    """
    doc = context.doc()
    schema: LabelSchema = context.schema
    before = [
        obj
        for obj in _live(doc, uids)
        if name in schema.label(obj.label_id).attributes and obj.attributes.get(name) != value
    ]
    if not before:
        return None
    for obj in before:
        schema.validate_attributes(obj.label_id, {name: value})
    after = [context.edited(obj, attributes={**obj.attributes, name: value}) for obj in before]
    return UpdateObjects(
        doc.frame.id,
        before,
        after,
        text=f"Set {name} of {describe(len(before))}",
        merge_key=("attribute", name, tuple(obj.uid for obj in before)),
    )


def set_fields(
    context: ToolContext, uids: Sequence[int], text: str, **changes: Any
) -> Command | None:
    """Set object fields (``crowd``, ``instance_id``, ``track_id``) or ``verified``."""
    doc = context.doc()
    verified = changes.pop("verified", None)
    before, after = [], []
    for obj in _live(doc, uids):
        new = context.edited(obj, **changes)
        if verified is not None:
            new = replace(new, provenance=replace(new.provenance, verified=bool(verified)))
        if new.same_content(obj) and new.provenance.verified == obj.provenance.verified:
            continue
        before.append(obj)
        after.append(new)
    if not before:
        return None
    return UpdateObjects(
        doc.frame.id,
        before,
        after,
        text=text,
        merge_key=("fields", tuple(sorted(changes)), tuple(obj.uid for obj in before)),
    )


def new_instance_ids(context: ToolContext, uids: Sequence[int]) -> Command | None:
    """Give each object of a ``hasInstances`` label an instance id no other object has."""
    doc = context.doc()
    before = [obj for obj in _live(doc, uids) if context.schema.label(obj.label_id).has_instances]
    if not before:
        return None
    first = doc.next_instance_id()
    after = [context.edited(obj, instance_id=first + i) for i, obj in enumerate(before)]
    return UpdateObjects(
        doc.frame.id, before, after, text=f"New instance id for {describe(len(before))}"
    )


def nudge(context: ToolContext, uids: Sequence[int], dx: float, dy: float) -> Command | None:
    """Shift the objects by ``(dx, dy)`` pixels (kept on the image); repeated nudges of
    the same objects merge into one undo step."""
    doc = context.doc()
    before = _live(doc, uids)
    if not before:
        return None
    bounds = [obj.bounds for obj in before]
    dx, dy = clamp_shift(
        (
            min(b.x0 for b in bounds),
            min(b.y0 for b in bounds),
            max(b.x1 for b in bounds),
            max(b.y1 for b in bounds),
        ),
        dx,
        dy,
        doc.width,
        doc.height,
    )
    if dx == 0 and dy == 0:
        return None
    after = [context.edited(obj, geometry=translate(obj.geometry, dx, dy)) for obj in before]
    return UpdateObjects(
        doc.frame.id,
        before,
        after,
        text=f"Move {describe(len(before))}",
        merge_key=("nudge", tuple(obj.uid for obj in before)),
    )


# -- z-order -------------------------------------------------------------------------------


def _reorder(doc: FrameDocument, order: list[int], text: str) -> Command | None:
    current = doc.z_order()
    if order == current:
        return None
    return SetZOrder(doc.frame.id, current, order, text=text)


def _overlaps(a: AnnotationObject, b: AnnotationObject) -> bool:
    ba, bb = a.bounds, b.bounds
    if ba.x1 <= bb.x0 or bb.x1 <= ba.x0 or ba.y1 <= bb.y0 or bb.y1 <= ba.y0:
        return False
    return bool(shapely.intersects(a.region, b.region))


def raise_objects(doc: FrameDocument, uids: Sequence[int]) -> Command | None:
    """Move each object just above the next live object above it that it overlaps."""
    return _step(doc, uids, up=True)


def lower_objects(doc: FrameDocument, uids: Sequence[int]) -> Command | None:
    """Move each object just below the next live object under it that it overlaps."""
    return _step(doc, uids, up=False)


def _step(doc: FrameDocument, uids: Sequence[int], *, up: bool) -> Command | None:
    chosen = set(uids)
    objects = list(doc.objects) if up else list(reversed(doc.objects))
    moving = [i for i, obj in enumerate(objects) if obj.uid in chosen and not obj.deleted]
    for i in reversed(moving):
        obj = objects[i]
        j = i + 1
        while j < len(objects) and (
            objects[j].deleted or objects[j].uid in chosen or not _overlaps(obj, objects[j])
        ):
            j += 1
        if j == len(objects):
            continue
        objects.insert(j, objects.pop(i))
    order = [obj.uid for obj in (objects if up else reversed(objects)) if obj.uid is not None]
    count = describe(len(moving))
    return _reorder(doc, order, f"{'Raise' if up else 'Lower'} {count}")


def to_top(doc: FrameDocument, uids: Sequence[int]) -> Command | None:
    """Move the objects to the top of the stack, keeping their own order."""
    chosen = set(uids)
    order = doc.z_order()
    moving = [uid for uid in order if uid in chosen]
    if not moving:
        return None
    rest = [uid for uid in order if uid not in chosen]
    return _reorder(doc, rest + moving, f"Bring {describe(len(moving))} to top")


def to_bottom(doc: FrameDocument, uids: Sequence[int]) -> Command | None:
    """Move the objects to the bottom of the stack, keeping their own order."""
    chosen = set(uids)
    order = doc.z_order()
    moving = [uid for uid in order if uid in chosen]
    if not moving:
        return None
    rest = [uid for uid in order if uid not in chosen]
    return _reorder(doc, moving + rest, f"Send {describe(len(moving))} to bottom")


def place(doc: FrameDocument, uids: Sequence[int], above: int | None) -> Command | None:
    """Put the objects directly above object ``above`` (at the bottom when ``None``),
    keeping their own order: what dragging rows in the objects list does."""
    chosen = set(uids)
    order = doc.z_order()
    moving = [uid for uid in order if uid in chosen]
    if not moving or above in chosen:
        return None
    rest = [uid for uid in order if uid not in chosen]
    at = 0 if above is None else rest.index(above) + 1
    return _reorder(doc, rest[:at] + moving + rest[at:], f"Reorder {describe(len(moving))}")
