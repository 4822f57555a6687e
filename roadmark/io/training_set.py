"""Which frames and objects of a project a model may learn from (no torch here).

A model learns only from labels people made or checked:

- a frame is *labeled* when a person finished it (status done, in review or accepted), or
  when it is untouched (new or pre-labeled) and every live object on it came from an
  imported dataset (``import:FORMAT``: the ground truth of an existing dataset). Frames in
  progress (half-labeled) and rejected frames are left out;
- on a labeled frame, an object is *trusted* unless it is a model's label that no person
  has verified. Untrusted objects still occlude what lies below them, and their pixels
  are ignored by the loss, so an unchecked guess never teaches the model.

Held-out frames for validation are the last ones in sequence order: neighbouring frames of a
video look alike, so a block at the end is a more honest test than scattered frames.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from roadmark.core.annotation import AnnotationObject, Frame, FrameStatus
from roadmark.io.store import Project

FINISHED = (FrameStatus.DONE, FrameStatus.IN_REVIEW, FrameStatus.ACCEPTED)
UNTOUCHED = (FrameStatus.NEW, FrameStatus.PRELABELED)


def is_trusted(obj: AnnotationObject) -> bool:
    """A live object made, imported or verified by a person."""
    return not obj.deleted and (not obj.provenance.is_model or obj.provenance.verified)


def is_labeled(frame: Frame, objects: Sequence[AnnotationObject]) -> bool:
    """Whether ``frame`` (with its ``objects``) is ground truth a model may learn from."""
    if frame.status in FINISHED:
        return True
    if frame.status not in UNTOUCHED:
        return False
    live = [obj for obj in objects if not obj.deleted]
    return bool(live) and all(obj.provenance.source.startswith("import:") for obj in live)


@dataclass(frozen=True)
class LabeledFrame:
    """A labeled frame and its live objects in z-order."""

    frame: Frame
    objects: tuple[AnnotationObject, ...]


def labeled_frames(project: Project) -> list[LabeledFrame]:
    """The project's labeled frames (see the module doc), in sequence order."""
    out = []
    for frame in project.frames():
        if frame.status not in FINISHED and frame.status not in UNTOUCHED:
            continue
        objects = [obj for obj in project.objects(frame.id) if not obj.deleted]
        if is_labeled(frame, objects):
            out.append(LabeledFrame(frame, tuple(objects)))
    return out


def count_labeled_frames(project: Project) -> int:
    """How many frames :func:`labeled_frames` would return."""
    return len(labeled_frames(project))


def split_frames(
    frames: Sequence[LabeledFrame], val_fraction: float = 0.2
) -> tuple[list[LabeledFrame], list[LabeledFrame]]:
    """``(train, validation)``: the last ``ceil(n * val_fraction)`` frames are held out.

    A single frame is not split (it trains, and there is nothing to validate on).
    """
    frames = list(frames)
    if len(frames) < 2 or val_fraction <= 0:
        return frames, []
    held = min(len(frames) - 1, max(1, math.ceil(len(frames) * val_fraction)))
    return frames[:-held], frames[-held:]
