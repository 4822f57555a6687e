"""The audit log: every change to an object, who made it, when, and the object before and after.

:class:`roadmark.io.store.Project` calls the ``log_*`` functions inside the transaction
that writes the objects, so the log and the objects can never disagree: an edit that
rolls back leaves no log row. Objects are kept in the JSON form of :mod:`roadmark.io.codec`
(geometry as base64 WKB, so a logged object restores exactly).

Stored compactly: an edit keeps only the fields that changed (a changed geometry once, as
it was before, :func:`diff`) and an added region no geometry (:func:`log_added`); the
readers (:func:`object_history`, :func:`frame_history`) give whole objects before and
after, from entries of either kind (logs written before edits were compact hold whole
objects).

Actions: ``add`` (new object), ``edit`` (content changed), ``delete`` / ``restore`` (soft
delete flag), ``remove`` (hard delete, when an import replaces a frame's objects) and
``reorder`` (the frame's z-order; ``object_id`` is empty and before/after are uid lists).
An update that changes nothing is not logged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from roadmark.core.annotation import AnnotationObject, Box, utc_now
from roadmark.core.schema import LabelSchema
from roadmark.io import tables as t
from roadmark.io import workflow_tables as wt
from roadmark.io.codec import (
    Bounds,
    JsonObject,
    json_text,
    object_to_json,
    objects_bounds,
    row_to_json,
)
from roadmark.io.engine import Reader

# -- hooks called by the store inside its transactions ------------------------------------


def log_added(
    conn: sa.Connection,
    user: str,
    frame_id: int,
    objects: Sequence[AnnotationObject],
    bounds: Sequence[Bounds] | None = None,
) -> None:
    """Record new objects (call after storing them, so they carry their uids); ``bounds``:
    theirs, when the caller worked them out already (:func:`~roadmark.io.codec.objects_bounds`).

    A region's geometry is not copied into the log: it is what the object's next logged
    change has as "before", or the stored object when there is none, and the readers here
    fill it in from there (:data:`ELIDED`). Imports then add a few hundred bytes per object
    to the log rather than a second copy of every polygon.
    """
    when = utc_now().isoformat()
    rows = [
        _row(frame_id, obj.uid, user, when, "add", None, _added(obj, box))
        for obj, box in zip(
            objects, objects_bounds(objects) if bounds is None else bounds, strict=True
        )
    ]
    if rows:
        conn.execute(wt.object_changes.insert(), rows)


ELIDED = "geometry_elided"


def _added(obj: AnnotationObject, bounds: Bounds) -> JsonObject:
    """``obj``'s JSON form as logged when it is added: a region's geometry left out and
    marked :data:`ELIDED` (never encoded, since it is not kept)."""
    data = object_to_json(obj, geometry=False, bounds=bounds)
    return data if isinstance(obj.geometry, Box) else data | {ELIDED: True}


def log_updates(conn: sa.Connection, user: str, objects: Sequence[AnnotationObject]) -> None:
    """Record edits (call before writing them: the stored rows are the "before")."""
    uids = [obj.uid for obj in objects if obj.uid is not None]
    if not uids:
        return
    stored = conn.execute(sa.select(t.objects).where(t.objects.c.id.in_(uids))).mappings()
    before = {row["id"]: (row["frame_id"], row_to_json(row)) for row in stored}
    when = utc_now().isoformat()
    rows = []
    for obj in objects:
        if obj.uid not in before:
            continue
        frame_id, old = before[obj.uid]
        new = object_to_json(obj)
        if new == old:
            continue
        rows.append(_row(frame_id, obj.uid, user, when, _edit_action(old, new), *diff(old, new)))
    if rows:
        conn.execute(wt.object_changes.insert(), rows)


COMPACT = "compact"


def diff(old: JsonObject, new: JsonObject) -> tuple[JsonObject, JsonObject]:
    """The compact log entry of an edit: the fields that changed, before and after.

    A changed geometry is kept once, in "before" (what undoing the edit needs); "after"
    marks it :data:`ELIDED`: it is the next logged change's "before", or the stored object.
    Both sides carry :data:`COMPACT`; the readers here expand them into whole objects.
    """
    changed = [key for key in old if old[key] != new.get(key)]
    before = {key: old[key] for key in changed} | {COMPACT: True}
    after = {key: new[key] for key in changed if key != "geometry"} | {COMPACT: True}
    if "geometry" in changed:
        after[ELIDED] = True
    return before, after


def log_z_order(conn: sa.Connection, user: str, frame_id: int, uids: Sequence[int]) -> None:
    """Record a new z-order of a frame (call before writing it)."""
    old = list(
        conn.execute(
            sa.select(t.objects.c.id)
            .where(t.objects.c.frame_id == frame_id)
            .order_by(t.objects.c.z, t.objects.c.id)
        ).scalars()
    )
    if old == list(uids):
        return
    conn.execute(
        wt.object_changes.insert(),
        [_row(frame_id, None, user, utc_now().isoformat(), "reorder", old, list(uids))],
    )


def log_removal(conn: sa.Connection, user: str, frame_id: int) -> None:
    """Record that all of a frame's objects are about to be removed (hard delete)."""
    stored = conn.execute(
        sa.select(t.objects).where(t.objects.c.frame_id == frame_id).order_by(t.objects.c.z)
    ).mappings()
    when = utc_now().isoformat()
    rows = [
        _row(frame_id, row["id"], user, when, "remove", row_to_json(row), None) for row in stored
    ]
    if rows:
        conn.execute(wt.object_changes.insert(), rows)


def _edit_action(old: JsonObject, new: JsonObject) -> str:
    if not old["deleted"] and new["deleted"]:
        return "delete"
    if old["deleted"] and not new["deleted"]:
        return "restore"
    return "edit"


def _row(
    frame_id: int,
    object_id: int | None,
    user: str,
    when: str,
    action: str,
    before: Any,
    after: Any,
) -> dict[str, Any]:
    return {
        "frame_id": frame_id,
        "object_id": object_id,
        "user_name": user,
        "at": when,
        "action": action,
        "before_json": None if before is None else json_text(before, sort_keys=True),
        "after_json": None if after is None else json_text(after, sort_keys=True),
    }


# -- reading ------------------------------------------------------------------------------


def last_change(conn: sa.Connection, uid: int) -> tuple[str, str] | None:
    """Who last changed object ``uid`` and when (ISO text), ``None`` if nothing is logged."""
    c = wt.object_changes.c
    row = conn.execute(
        sa.select(c.user_name, c.at).where(c.object_id == uid).order_by(c.id.desc()).limit(1)
    ).first()
    return None if row is None else (row.user_name, row.at)


@dataclass(frozen=True)
class ObjectChange:
    """One row of the audit log.

    Attributes:
        id: Row id (increasing in the order changes were made).
        frame_id: The frame.
        object_uid: The object, ``None`` for a z-order change.
        user: Who made the change.
        at: When.
        action: ``add``, ``edit``, ``delete``, ``restore``, ``remove`` or ``reorder``.
        before: The object before (JSON), a uid list for ``reorder``, ``None`` for ``add``.
        after: The object after, a uid list for ``reorder``, ``None`` for ``remove``.
    """

    id: int
    frame_id: int
    object_uid: int | None
    user: str
    at: datetime
    action: str
    before: Any
    after: Any

    def describe(self, schema: LabelSchema) -> str:
        """What changed, in one line (``label car -> truck; geometry moved``)."""
        if self.action == "reorder":
            return "z-order changed"
        if self.action in ("add", "remove"):
            obj = self.after if self.action == "add" else self.before
            return f"{self.action} {_label_name(schema, obj['label_id'])} {obj['kind']}"
        return "; ".join(describe_difference(self.before, self.after, schema)) or self.action


def describe_difference(before: JsonObject, after: JsonObject, schema: LabelSchema) -> list[str]:
    """The fields that differ between two JSON objects, as short phrases."""
    out = []
    if before["deleted"] != after["deleted"]:
        out.append("deleted" if after["deleted"] else "restored")
    if before["label_id"] != after["label_id"]:
        out.append(
            f"label {_label_name(schema, before['label_id'])} -> "
            f"{_label_name(schema, after['label_id'])}"
        )
    if before["geometry"] != after["geometry"] or before["bounds"] != after["bounds"]:
        out.append("geometry changed")
    for key in ("instance_id", "track_id", "crowd", "verified", "attributes"):
        if before[key] != after[key]:
            out.append(f"{key.replace('_', ' ')} {before[key]} -> {after[key]}")
    return out


def _label_name(schema: LabelSchema, label_id: int) -> str:
    label = schema.by_id.get(label_id)
    return label.name if label else f"label {label_id}"


def object_history(project: Reader, uid: int) -> list[ObjectChange]:
    """Every logged change of the object with store id ``uid``, oldest first.

    SQLite may give a new object the id of one that an import removed; the history starts
    at the latest ``add`` of the id, so it is the history of the object that has it now
    (or had it last).
    """
    changes = _changes(project, wt.object_changes.c.object_id == uid)
    starts = [i for i, change in enumerate(changes) if change.action == "add"]
    return changes[starts[-1] :] if starts else changes


def frame_history(project: Reader, frame_id: int) -> list[ObjectChange]:
    """Every logged change to a frame's objects (and its z-order), oldest first."""
    return _changes(project, wt.object_changes.c.frame_id == frame_id)


def _changes(project: Reader, where: Any) -> list[ObjectChange]:
    c = wt.object_changes.c
    with project.reading() as conn:
        rows = conn.execute(sa.select(wt.object_changes).where(where).order_by(c.id)).mappings()
        changes = [
            ObjectChange(
                id=row["id"],
                frame_id=row["frame_id"],
                object_uid=row["object_id"],
                user=row["user_name"],
                at=datetime.fromisoformat(row["at"]),
                action=row["action"],
                before=None if row["before_json"] is None else json.loads(row["before_json"]),
                after=None if row["after_json"] is None else json.loads(row["after_json"]),
            )
            for row in rows
        ]
        uids = {change.object_uid for change in changes if change.object_uid is not None}
        stored = {
            row["id"]: (row["frame_id"], row_to_json(row))
            for row in conn.execute(sa.select(t.objects).where(t.objects.c.id.in_(uids)))
            .mappings()
            .all()
        }
    return expand(changes, stored)


def expand(
    changes: Sequence[ObjectChange], stored: Mapping[int, tuple[int, JsonObject]]
) -> list[ObjectChange]:
    """The log entries with whole objects as "before" and "after".

    Compact entries (:func:`diff`) and elided geometries (:func:`log_added`) are filled in
    by walking each object's changes backwards from where its state is known: the object
    as it is stored now (``stored``: uid -> frame id and JSON form), or the "before" of
    its removal. Entries written before the log was compact hold whole objects already.
    SQLite may reuse the id of a removed object: each ``add`` starts a new life of the id.

    Args:
        changes: Log entries, oldest first.
        stored: The stored objects that the entries' uids have now.
    """
    lives: dict[int, list[list[int]]] = {}
    for index, change in enumerate(changes):
        if change.object_uid is None:
            continue
        uid_lives = lives.setdefault(change.object_uid, [])
        if change.action == "add" or not uid_lives:
            uid_lives.append([index])
        else:
            uid_lives[-1].append(index)
    out = list(changes)
    for uid, uid_lives in lives.items():
        for number, life in enumerate(uid_lives):
            last = changes[life[-1]]
            state: JsonObject | None = None
            if last.action == "remove":
                state = last.before
            elif number == len(uid_lives) - 1 and stored.get(uid, (None,))[0] == last.frame_id:
                state = stored[uid][1]
            for index in reversed(life):
                out[index], state = _expanded(changes[index], state)
    return out


def _expanded(
    change: ObjectChange, state: JsonObject | None
) -> tuple[ObjectChange, JsonObject | None]:
    """One entry made whole, given the object's state after it; and the state before it."""
    if change.action == "remove":
        return change, change.before
    if change.action == "add":
        after = dict(change.after)
        if after.pop(ELIDED, False):
            after["geometry"] = None if state is None else state["geometry"]
        return replace(change, after=after), None
    if not change.before.get(COMPACT):  # a whole-object entry (an older log)
        return change, change.before
    old = {key: value for key, value in change.before.items() if key != COMPACT}
    if state is None:  # nothing known after it: the changed fields are all there is
        new = {k: v for k, v in change.after.items() if k not in (COMPACT, ELIDED)}
        return replace(change, before=old, after=new), None
    # Keys sorted, as in the stored JSON (whole-object entries read back the same).
    before, after = dict(sorted((state | old).items())), dict(sorted(state.items()))
    return replace(change, before=before, after=after), before
