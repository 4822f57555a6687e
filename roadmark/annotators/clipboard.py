"""Copy and paste of objects, within a frame and across frames.

Copying takes the selected live objects of the open frame, in z-order, as they are (the
clipboard holds the immutable objects, not their uids, so later edits or deletes of the
originals do not change what is pasted). Pasting makes one :class:`AddObjects` command:
one undo step, however many objects.

A pasted object is new human work by the pasting user (``source = human``); it keeps its
label, geometry, attributes and crowd flag. Objects of ``hasInstances`` labels get
instance ids no object of the target frame has. A track id is kept only on another frame
where the track has no object of that kind yet (a track has one box and one region per
frame). Pasting on the frame copied from shifts the copies by :data:`PASTE_OFFSET` pixels
per paste, so they do not lie exactly over the originals; geometry outside the target
frame is cut off at its border, and objects left with no area are skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from roadmark.annotators.geometry import clip_to_image, translate
from roadmark.annotators.tools.base import ToolContext
from roadmark.core.annotation import AnnotationObject, Box, Geometry, Provenance
from roadmark.core.document import FrameDocument
from roadmark.core.edits import AddObjects, describe
from roadmark.core.errors import GeometryError

HUMAN = "human"
PASTE_OFFSET = 10.0


@dataclass(frozen=True)
class Clipboard:
    """Copied objects.

    Attributes:
        frame_id: The frame they were copied from.
        objects: The objects, bottom first.
    """

    frame_id: int
    objects: tuple[AnnotationObject, ...]

    def __len__(self) -> int:
        return len(self.objects)


def copy_objects(document: FrameDocument, uids: Sequence[int]) -> Clipboard | None:
    """The live objects ``uids`` of the document, in z-order; ``None`` when there are none."""
    chosen = set(uids)
    objects = tuple(obj for obj in document.live() if obj.uid in chosen)
    return Clipboard(document.frame.id, objects) if objects else None


def _fit(
    obj: AnnotationObject, dx: float, dy: float, width: int, height: int
) -> Geometry | None:
    geometry = translate(obj.geometry, dx, dy) if dx or dy else obj.geometry
    if isinstance(geometry, Box):
        x0, x1 = max(geometry.x0, 0.0), min(geometry.x1, float(width))
        y0, y1 = max(geometry.y0, 0.0), min(geometry.y1, float(height))
        return Box(x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None
    try:
        return clip_to_image(geometry, width, height)
    except GeometryError:
        return None


def paste_command(
    context: ToolContext, clipboard: Clipboard, *, times: int = 1
) -> AddObjects | None:
    """A command adding copies of the clipboard's objects on top of the open frame.

    Args:
        context: The tool context (open document, user, schema).
        clipboard: What was copied.
        times: How many pastes onto the frame copied from this is (the copies move down
            and right by ``times * PASTE_OFFSET``); ignored on other frames.

    Returns:
        The command, or ``None`` when no copied object overlaps the frame.
    """
    document = context.doc()
    same_frame = document.frame.id == clipboard.frame_id
    shift = PASTE_OFFSET * max(times, 1) if same_frame else 0.0
    next_instance = document.next_instance_id()
    tracked = {(obj.track_id, obj.kind) for obj in document.live() if obj.track_id is not None}
    pasted: list[AnnotationObject] = []
    for obj in clipboard.objects:
        geometry = _fit(obj, shift, shift, document.width, document.height)
        if geometry is None:
            continue
        label = context.schema.label(obj.label_id)
        instance_id = None
        if label.has_instances:
            instance_id, next_instance = next_instance, next_instance + 1
        track_id = obj.track_id
        if same_frame or (track_id, obj.kind) in tracked:
            track_id = None
        if track_id is not None:
            tracked.add((track_id, obj.kind))
        pasted.append(
            AnnotationObject(
                label_id=obj.label_id,
                geometry=geometry,
                provenance=Provenance.new(HUMAN, context.user),
                instance_id=instance_id,
                track_id=track_id,
                attributes=dict(obj.attributes),
                crowd=obj.crowd,
            )
        )
    if not pasted:
        return None
    return AddObjects(document.frame.id, pasted, text=f"Paste {describe(len(pasted))}")
