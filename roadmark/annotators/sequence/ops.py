"""Sequence tools on a project: what the GUI (or a script) asks for, as change plans.

These functions read the store and the frame pixels and return plain plans; they write
nothing. :func:`plan_propagation` propagates along the optical flow,
:func:`plan_model_propagation` with a video model's memory (SAM 2). :func:`propagated_to_check`
is the review queue of propagation: the flow-propagated objects whose flow was unreliable
(their ``confidence``, the share of their area the forward-backward check trusts, is below
:data:`REVIEW_BELOW`) and the model-tracked ones whose predicted quality is below
:data:`~roadmark.annotators.sequence.model_propagation.WEAK_QUALITY`, in project order; editing
one, or confirming it with :func:`confirm_command`, makes it a human keyframe and takes it
off the queue. The GUI runs them in a worker thread and applies a plan as one undoable command;
scripts apply it with :func:`~roadmark.annotators.changes.apply_changes`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from roadmark.annotators.changes import (
    ObjectChange,
    as_keyframe,
    is_machine_made,
    is_model_tracked,
    is_propagated,
)
from roadmark.annotators.errors import ToolInputError
from roadmark.annotators.sequence.model_propagation import (
    WEAK_QUALITY,
    MaskTracker,
    is_weak,
    object_mask,
    tracked_objects,
)
from roadmark.annotators.sequence.propagation import (
    FlowMethod,
    PropagationResult,
    estimate_flow,
    propagate_objects,
    propagation_changes,
)
from roadmark.annotators.sequence.tracks import load_sequence, reinterpolate
from roadmark.core.annotation import AnnotationObject, Frame
from roadmark.core.document import FrameDocument
from roadmark.core.edits import UpdateObjects, describe
from roadmark.core.jobs import CancelToken, ProgressReporter
from roadmark.io.frames import Image
from roadmark.io.store import Project

REVIEW_BELOW = 0.9  # propagated objects whose flow is trusted on less of their area


class PixelSource(Protocol):
    """Anything that decodes a stored frame (:class:`roadmark.io.frames.FrameLoader`)."""

    def load(self, path: str, video_frame: int | None = None) -> Image: ...


@dataclass(frozen=True)
class PropagationPlan:
    """Propagating one frame's objects to the next frame of its sequence.

    Attributes:
        source: The frame the objects come from.
        target: The next frame of the sequence.
        result: The propagated objects and the unreliable areas (on ``target``).
        changes: What to write on ``target`` (tracks that have a keyframe there are
            skipped, interpolated objects replaced).
    """

    source: Frame
    target: Frame
    result: PropagationResult
    changes: list[ObjectChange]


def next_frame(project: Project, frame: Frame) -> Frame | None:
    """The frame after ``frame`` in its sequence, or ``None`` at the end."""
    later = [
        other
        for other in project.frames()
        if other.sequence == frame.sequence
        and (other.sequence_index, other.id) > (frame.sequence_index, frame.id)
    ]
    return min(later, key=lambda f: (f.sequence_index, f.id), default=None)


def plan_propagation(
    project: Project,
    pixels: PixelSource,
    frame: Frame,
    *,
    method: FlowMethod = "dis",
    user: str | None = None,
) -> PropagationPlan:
    """Propagate ``frame``'s live objects to the next frame of its sequence.

    Raises:
        ToolInputError: ``frame`` is the last of its sequence, has no objects, or the two
            frames differ in size.
        FrameSourceError: A frame's pixels cannot be read.
    """
    target = next_frame(project, frame)
    if target is None:
        raise ToolInputError(
            f"frame {frame.name} is the last of sequence {frame.sequence!r}", field="frame"
        )
    objects = project.objects(frame.id).live()
    if not objects:
        raise ToolInputError(f"frame {frame.name} has no objects to propagate", field="frame")
    first = pixels.load(frame.path, frame.video_frame)
    second = pixels.load(target.path, target.video_frame)
    flow = estimate_flow(first, second, method=method)
    who = user or project.user
    result = propagate_objects(objects, flow, user=who)
    changes = propagation_changes(target.id, project.objects(target.id), result.objects, user=who)
    return PropagationPlan(frame, target, result, changes)


@dataclass(frozen=True)
class ModelPropagationPlan:
    """Propagating one frame's objects through the next frames with a video model.

    Attributes:
        source: The frame the objects come from.
        targets: The frames they were carried to, in sequence order.
        model: The tracker's name.
        objects: For each target, the tracked objects (before the changes skip tracks that
            have a keyframe there).
        changes: What to write on the targets.
    """

    source: Frame
    targets: list[Frame]
    model: str
    objects: list[list[AnnotationObject]]
    changes: list[ObjectChange]

    @property
    def weak(self) -> int:
        """How many of the written objects are weak (queued for review)."""
        return sum(1 for change in self.changes if is_weak(change.after))


def following_frames(project: Project, frame: Frame, count: int) -> list[Frame]:
    """Up to ``count`` frames after ``frame`` in its sequence, in order."""
    later = sorted(
        (
            other
            for other in project.frames()
            if other.sequence == frame.sequence
            and (other.sequence_index, other.id) > (frame.sequence_index, frame.id)
        ),
        key=lambda f: (f.sequence_index, f.id),
    )
    return later[:count]


def plan_model_propagation(
    project: Project,
    pixels: PixelSource,
    frame: Frame,
    tracker: MaskTracker,
    *,
    frames: int = 1,
    uids: Iterable[int] = (),
    cancel: CancelToken | None = None,
    progress: ProgressReporter | None = None,
    user: str | None = None,
) -> ModelPropagationPlan:
    """Carry ``frame``'s objects (those in ``uids``, or all live ones when it is empty)
    through the next ``frames`` frames of its sequence with ``tracker``.

    Raises:
        ToolInputError: ``frame`` is the last of its sequence, has no objects (or none of
            ``uids``), or the frames differ in size.
        FrameSourceError: A frame's pixels cannot be read.
        Whatever the tracker raises (a cancelled run, a model error).
    """
    targets = following_frames(project, frame, max(1, frames))
    if not targets:
        raise ToolInputError(
            f"frame {frame.name} is the last of sequence {frame.sequence!r}", field="frame"
        )
    chosen = set(uids)
    objects = [o for o in project.objects(frame.id).live() if not chosen or o.uid in chosen]
    first = pixels.load(frame.path, frame.video_frame)
    height, width = first.shape[:2]
    masks = [object_mask(obj, height, width) for obj in objects]
    objects = [obj for obj, mask in zip(objects, masks, strict=True) if mask.any()]
    masks = [mask for mask in masks if mask.any()]
    if not objects:
        raise ToolInputError(f"frame {frame.name} has no objects to propagate", field="frame")
    images = [first]
    for target in targets:
        image = pixels.load(target.path, target.video_frame)
        if image.shape[:2] != first.shape[:2]:
            raise ToolInputError(
                f"frames differ in size ({width}x{height} vs {image.shape[1]}x"
                f"{image.shape[0]})",
                field="image",
            )
        images.append(image)
    tracked = tracker.track(images, masks, cancel=cancel, progress=progress)
    who = user or project.user
    made: list[list[AnnotationObject]] = []
    changes: list[ObjectChange] = []
    for target, answer in zip(targets, tracked, strict=True):
        moved, _ = tracked_objects(objects, answer, model=tracker.name, user=who)
        made.append(moved)
        changes.extend(propagation_changes(target.id, project.objects(target.id), moved, user=who))
    return ModelPropagationPlan(frame, targets, tracker.name, made, changes)


def plan_interpolation(
    project: Project, sequence: str, track_ids: Iterable[int], *, user: str | None = None
) -> list[ObjectChange]:
    """Bring the interpolated objects of ``track_ids`` in ``sequence`` up to date."""
    frames = load_sequence(project, sequence)
    changes: list[ObjectChange] = []
    for track_id in sorted(set(track_ids)):
        changes.extend(reinterpolate(frames, track_id, user=user or project.user))
    return changes


@dataclass(frozen=True)
class ReviewItem:
    """A frame with propagated objects to check.

    Attributes:
        frame: The frame.
        uids: The objects to check, in z-order.
        confidence: The lowest confidence among them.
    """

    frame: Frame
    uids: tuple[int, ...]
    confidence: float


def needs_check(
    obj: AnnotationObject, below: float = REVIEW_BELOW, *, weak_below: float = WEAK_QUALITY
) -> bool:
    """A live propagated object whose flow was trusted on less than ``below`` of its area,
    or a live model-tracked one whose predicted quality is below ``weak_below``."""
    confidence = obj.provenance.confidence
    if obj.deleted or confidence is None:
        return False
    if is_model_tracked(obj):
        return confidence < weak_below
    return is_propagated(obj) and confidence < below


def propagated_to_check(project: Project, *, below: float = REVIEW_BELOW) -> list[ReviewItem]:
    """Frames with propagated objects to check, in project order."""
    items: list[ReviewItem] = []
    for frame in project.frames():
        chosen = [obj for obj in project.objects(frame.id) if needs_check(obj, below)]
        if chosen:
            items.append(
                ReviewItem(
                    frame,
                    tuple(obj.uid for obj in chosen if obj.uid is not None),
                    min(float(obj.provenance.confidence or 0.0) for obj in chosen),
                )
            )
    return items


def confirm_command(
    document: FrameDocument, uids: Iterable[int], user: str
) -> UpdateObjects | None:
    """ONE command making the chosen propagated or interpolated objects human keyframes, as
    a person who checked them would (``None``: none of them is machine-made)."""
    chosen = set(uids)
    before = [obj for obj in document.live() if obj.uid in chosen and is_machine_made(obj)]
    if not before:
        return None
    after = [as_keyframe(obj, user) for obj in before]
    return UpdateObjects(document.frame.id, before, after, text=f"Confirm {describe(len(before))}")
