"""Tracks across the frames of a sequence: listing, re-interpolation, delete, split, merge.

A track is identified by its ``track_id`` and kind (box or region): the box and the region
of the same car share a track id but are interpolated separately. Every operation here
reads a sequence (frames and their objects, as stored) and returns the
:class:`~roadmark.annotators.changes.ObjectChange` list that does it, with the track's
interpolated objects brought up to date; nothing is written.

Rules:

- Keyframes are the live objects of the track that are not interpolated.
- Frames strictly between two consecutive keyframes hold exactly one interpolated object
  of the track (updated in place when it exists, added otherwise); interpolated objects
  anywhere else are soft-deleted.
- Deleting a track soft-deletes all its objects. Splitting moves the objects from a
  sequence index on to a new track id. Merging gives the second track's objects the first
  one's id; the tracks must have the same label and kind and no frame may hold a keyframe
  of both.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from roadmark.annotators.changes import ChangeSet, ObjectChange, is_interpolated
from roadmark.annotators.errors import TrackError
from roadmark.annotators.sequence.interpolation import interpolate_track
from roadmark.annotators.tools.base import ToolContext
from roadmark.core.annotation import AnnotationObject, Frame, ObjectKind, utc_now
from roadmark.core.edits import UpdateObjects
from roadmark.io.store import Project

TrackKey = tuple[int, ObjectKind]


@dataclass(frozen=True)
class SequenceFrame:
    """One frame of a sequence with its objects in z-order (as stored, with uids)."""

    frame: Frame
    objects: Sequence[AnnotationObject]

    @property
    def position(self) -> int:
        return self.frame.sequence_index


@dataclass(frozen=True)
class TrackSummary:
    """What the track panel shows for one track.

    Attributes:
        track_id: The track's id.
        kind: Box or region.
        label_id: The label of its first keyframe (or first object).
        keyframes: Sequence indices of its keyframes, in order.
        frames: Sequence indices of all frames where it has a live object.
        interpolated: How many of those objects are interpolated.
    """

    track_id: int
    kind: ObjectKind
    label_id: int
    keyframes: tuple[int, ...]
    frames: tuple[int, ...]
    interpolated: int


def load_sequence(
    project: Project, sequence: str, *, tracked_only: bool = False
) -> list[SequenceFrame]:
    """The frames of one sequence, in order, with their objects (soft-deleted included;
    ``tracked_only``: only the objects on a track, all :func:`summarize_tracks` reads)."""
    frames = [frame for frame in project.frames() if frame.sequence == sequence]
    return [
        SequenceFrame(frame, project.frame_objects(frame.id, tracked_only=tracked_only))
        for frame in frames
    ]


def _ordered(sequence: Iterable[SequenceFrame]) -> list[SequenceFrame]:
    return sorted(sequence, key=lambda item: (item.position, item.frame.id))


def _track_objects(
    sequence: Sequence[SequenceFrame], key: TrackKey
) -> list[tuple[SequenceFrame, AnnotationObject]]:
    track_id, kind = key
    return [
        (item, obj)
        for item in sequence
        for obj in item.objects
        if not obj.deleted and obj.track_id == track_id and obj.kind is kind
    ]


def summarize_tracks(sequence: Iterable[SequenceFrame]) -> list[TrackSummary]:
    """The tracks of a sequence, by track id then kind."""
    keyframes: dict[TrackKey, set[int]] = defaultdict(set)
    frames: dict[TrackKey, set[int]] = defaultdict(set)
    interpolated: dict[TrackKey, int] = defaultdict(int)
    labels: dict[TrackKey, tuple[bool, int, int]] = {}
    for item in _ordered(sequence):
        for obj in item.objects:
            if obj.deleted or obj.track_id is None:
                continue
            key = (obj.track_id, obj.kind)
            frames[key].add(item.position)
            if is_interpolated(obj):
                interpolated[key] += 1
            else:
                keyframes[key].add(item.position)
            # The first keyframe names the label; an interpolated object only when the track
            # has no keyframe left.
            rank = (is_interpolated(obj), item.position, obj.label_id)
            if key not in labels or rank < labels[key]:
                labels[key] = rank
    return [
        TrackSummary(
            track_id=key[0],
            kind=key[1],
            label_id=labels[key][2],
            keyframes=tuple(sorted(keyframes[key])),
            frames=tuple(sorted(frames[key])),
            interpolated=interpolated[key],
        )
        for key in sorted(frames, key=lambda k: (k[0], k[1].value))
    ]


def next_track_id(objects: Iterable[AnnotationObject]) -> int:
    """A track id no object uses (one above the largest, deleted objects included)."""
    return max((obj.track_id for obj in objects if obj.track_id is not None), default=0) + 1


def new_track_id(project: Project, sequence: str) -> int:
    """A track id that no object of ``sequence`` uses (track ids are per sequence)."""
    return next_track_id(o for item in load_sequence(project, sequence) for o in item.objects)


def set_track_command(
    context: ToolContext, uids: Sequence[int], track_id: int | None
) -> UpdateObjects | None:
    """Put the selected objects of the open frame on track ``track_id`` (``None``: off).

    Returns ``None`` when nothing changes.

    Raises:
        TrackError: Two selected objects of the same kind would share the track on this
            frame (a track holds one box and one region per frame).
    """
    document = context.doc()
    chosen = [obj for uid in uids if (obj := document.get(uid)) is not None and not obj.deleted]
    if track_id is not None:
        kinds = [obj.kind for obj in chosen]
        others = [
            obj.kind
            for obj in document.live()
            if obj.track_id == track_id and obj.uid not in set(uids)
        ]
        for kind in set(kinds):
            if kinds.count(kind) + others.count(kind) > 1:
                raise TrackError(
                    f"a track holds one {kind.value} per frame", field=f"track {track_id}"
                )
    before = [obj for obj in chosen if obj.track_id != track_id]
    if not before:
        return None
    after = [context.edited(obj, track_id=track_id) for obj in before]
    text = f"Track {track_id}" if track_id is not None else "Remove from track"
    return UpdateObjects(document.frame.id, before, after, text=text)


def _free_instance_id(
    objects: Sequence[AnnotationObject], wanted: int | None, obj: AnnotationObject
) -> int | None:
    if wanted is None:
        return None
    taken = {
        o.instance_id
        for o in objects
        if not o.deleted and o.label_id == obj.label_id and o.track_id != obj.track_id
    }
    if wanted not in taken:
        return wanted
    return max(i for i in taken if i is not None) + 1


def _replace_objects(
    sequence: Sequence[SequenceFrame], edited: dict[int, AnnotationObject]
) -> list[SequenceFrame]:
    if not edited:
        return list(sequence)
    return [
        SequenceFrame(
            item.frame,
            [edited.get(obj.uid, obj) if obj.uid is not None else obj for obj in item.objects],
        )
        for item in sequence
    ]


def reinterpolate(
    sequence: Iterable[SequenceFrame],
    track_id: int,
    *,
    user: str,
    kinds: Iterable[ObjectKind] = (ObjectKind.BOX, ObjectKind.REGION),
    at: datetime | None = None,
) -> list[ObjectChange]:
    """The changes that make a track's interpolated objects match its keyframes."""
    ordered = _ordered(sequence)
    when = at or utc_now()
    changes = ChangeSet()
    for kind in kinds:
        members = _track_objects(ordered, (track_id, kind))
        keyframes: dict[int, AnnotationObject] = {}
        for item, obj in members:
            if not is_interpolated(obj):
                current = keyframes.get(item.position)
                if current is None or obj.region.area > current.region.area:
                    keyframes[item.position] = obj
        wanted = interpolate_track(
            keyframes, [item.position for item in ordered], user=user, at=when
        )
        existing: dict[int, list[AnnotationObject]] = defaultdict(list)
        for item, obj in members:
            if is_interpolated(obj):
                existing[item.frame.id].append(obj)
        for item in ordered:
            target = wanted.get(item.position)
            old = existing.get(item.frame.id, [])
            stale = old
            if target is not None:
                instance_id = _free_instance_id(item.objects, target.instance_id, target)
                target = replace(target, instance_id=instance_id)
                if old:
                    first, stale = old[0], old[1:]
                    if not first.same_content(target, tolerance=1e-6):
                        provenance = replace(
                            target.provenance,
                            created_by=first.provenance.created_by,
                            created_at=first.provenance.created_at,
                        )
                        changes.update(item.frame.id, first, replace(target, provenance=provenance))
                else:
                    changes.add(item.frame.id, target)
            for obj in stale:
                changes.update(item.frame.id, obj, _soft_deleted(obj, user, when))
    return changes.changes()


def _soft_deleted(obj: AnnotationObject, user: str, at: datetime) -> AnnotationObject:
    return replace(obj, deleted=True, provenance=obj.provenance.touched(user, at=at))


def _require(sequence: Sequence[SequenceFrame], track_id: int) -> None:
    if not any(
        obj.track_id == track_id and not obj.deleted for item in sequence for obj in item.objects
    ):
        raise TrackError("no live object has this track id", field=f"track {track_id}")


def delete_track(
    sequence: Iterable[SequenceFrame], track_id: int, *, user: str, at: datetime | None = None
) -> list[ObjectChange]:
    """Soft-delete every live object of a track (boxes and regions).

    Raises:
        TrackError: No live object has ``track_id``.
    """
    ordered = _ordered(sequence)
    _require(ordered, track_id)
    when = at or utc_now()
    changes = ChangeSet()
    for item in ordered:
        for obj in item.objects:
            if obj.track_id == track_id and not obj.deleted:
                changes.update(item.frame.id, obj, _soft_deleted(obj, user, when))
    return changes.changes()


def split_track(
    sequence: Iterable[SequenceFrame],
    track_id: int,
    at_position: int,
    *,
    user: str,
    new_track_id: int | None = None,
    at: datetime | None = None,
) -> tuple[int, list[ObjectChange]]:
    """Give the track's objects from sequence index ``at_position`` on a new track id.

    Interpolated objects that no longer lie between two keyframes of their track are
    soft-deleted, so each part ends at its last keyframe.

    Returns:
        The new track id and the changes.

    Raises:
        TrackError: No live object has ``track_id``, or the split leaves one side empty.
    """
    ordered = _ordered(sequence)
    _require(ordered, track_id)
    when = at or utc_now()
    all_objects = [obj for item in ordered for obj in item.objects]
    new_id = new_track_id if new_track_id is not None else next_track_id(all_objects)
    if any(obj.track_id == new_id for obj in all_objects):
        raise TrackError("is in use already", field=f"track {new_id}")
    live = [
        (item, obj)
        for item in ordered
        for obj in item.objects
        if obj.track_id == track_id and not obj.deleted and not is_interpolated(obj)
    ]
    before = [obj for item, obj in live if item.position < at_position]
    after = [obj for item, obj in live if item.position >= at_position]
    if not before or not after:
        raise TrackError(
            f"splitting at frame {at_position} leaves one part without keyframes",
            field=f"track {track_id}",
        )
    changes = ChangeSet()
    edited: dict[int, AnnotationObject] = {}
    for item in ordered:
        if item.position < at_position:
            continue
        for obj in item.objects:
            if obj.track_id == track_id and not obj.deleted and obj.uid is not None:
                moved = replace(
                    obj, track_id=new_id, provenance=obj.provenance.touched(user, at=when)
                )
                changes.update(item.frame.id, obj, moved)
                edited[obj.uid] = moved
    retagged = _replace_objects(ordered, edited)
    changes.extend(reinterpolate(retagged, track_id, user=user, at=when))
    changes.extend(reinterpolate(retagged, new_id, user=user, at=when))
    return new_id, changes.changes()


def merge_tracks(
    sequence: Iterable[SequenceFrame],
    keep: int,
    absorb: int,
    *,
    user: str,
    at: datetime | None = None,
) -> list[ObjectChange]:
    """Give track ``absorb``'s objects the id ``keep`` and re-interpolate the result.

    Raises:
        TrackError: A track is unknown, the tracks are the same, their labels or kinds
            differ, or a frame holds a keyframe of both.
    """
    if keep == absorb:
        raise TrackError("cannot merge a track with itself", field=f"track {keep}")
    ordered = _ordered(sequence)
    _require(ordered, keep)
    _require(ordered, absorb)
    when = at or utc_now()
    summaries = {(s.track_id, s.kind): s for s in summarize_tracks(ordered)}
    kept_kinds = {kind for tid, kind in summaries if tid == keep}
    absorbed_kinds = {kind for tid, kind in summaries if tid == absorb}
    if kept_kinds != absorbed_kinds:
        raise TrackError(
            f"tracks {keep} and {absorb} hold different kinds of objects "
            f"({'/'.join(sorted(k.value for k in kept_kinds))} vs "
            f"{'/'.join(sorted(k.value for k in absorbed_kinds))})",
            field=f"track {absorb}",
        )
    for kind in kept_kinds:
        a, b = summaries[(keep, kind)], summaries[(absorb, kind)]
        if a.label_id != b.label_id:
            raise TrackError(
                f"tracks {keep} and {absorb} have different labels ({a.label_id} vs {b.label_id})",
                field=f"track {absorb}",
            )
        both = sorted(set(a.keyframes) & set(b.keyframes))
        if both:
            raise TrackError(
                f"both tracks have a keyframe on frame(s) {both}", field=f"track {absorb}"
            )
    changes = ChangeSet()
    edited: dict[int, AnnotationObject] = {}
    for item in ordered:
        for obj in item.objects:
            if obj.track_id == absorb and not obj.deleted and obj.uid is not None:
                moved = replace(
                    obj, track_id=keep, provenance=obj.provenance.touched(user, at=when)
                )
                changes.update(item.frame.id, obj, moved)
                edited[obj.uid] = moved
    changes.extend(reinterpolate(_replace_objects(ordered, edited), keep, user=user, at=when))
    return changes.changes()
