"""Sequence tools on a project: what the GUI (or a script) asks for, as change plans.

These functions read the store and the frame pixels and return plain plans; they write
nothing. The GUI runs them in a worker thread and applies a plan as one undoable command;
scripts apply it with :func:`~roadmark.annotators.changes.apply_changes`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from roadmark.annotators.changes import ObjectChange
from roadmark.annotators.errors import ToolInputError
from roadmark.annotators.propagation import (
    FlowMethod,
    PropagationResult,
    estimate_flow,
    propagate_objects,
    propagation_changes,
)
from roadmark.annotators.tracks import load_sequence, reinterpolate
from roadmark.core.annotation import Frame
from roadmark.io.frames import Image
from roadmark.io.store import Project


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


def plan_interpolation(
    project: Project, sequence: str, track_ids: Iterable[int], *, user: str | None = None
) -> list[ObjectChange]:
    """Bring the interpolated objects of ``track_ids`` in ``sequence`` up to date."""
    frames = load_sequence(project, sequence)
    changes: list[ObjectChange] = []
    for track_id in sorted(set(track_ids)):
        changes.extend(reinterpolate(frames, track_id, user=user or project.user))
    return changes
