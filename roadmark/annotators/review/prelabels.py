"""Accepting a model's predictions as labels, as one undoable command (Qt-free).

A stored :class:`~roadmark.core.prediction.FramePrediction` stays apart from the human
labels. :func:`proposals` turns it into :class:`Proposal` s: the objects accepting would
add (regions vectorized from the label map, boxes from the detections), each with
provenance source ``model:NAME`` and the model's confidence, and a stable ``key`` that a
view can use to point at one of them. :func:`accept_command` builds ONE
:class:`~roadmark.core.edits.AddObjects` command adding the chosen proposals under the
frame's existing objects (human labels stay on top); executed through the
:class:`~roadmark.core.session.EditSession`, it is committed in one transaction and undone
and redone as one step.

Typical use (the editor, or the guided review)::

    prediction = read_prediction(project, frame_id)          # roadmark.io.predictions
    found = proposals(prediction, project.schema, user=project.user)
    command = accept_command(session.document, found, min_confidence=0.8)
    if command is not None:
        session.execute(command)                             # one undo step

    accept_command(document, found, keys=[found[3].key])     # one box or one region

Proposals already on the frame (a live object with the same source, label and geometry,
from an earlier accept) are left out, so accepting twice adds nothing twice.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import cv2
import numpy as np
import shapely.affinity

from roadmark.analysis.pixel_outline import traced_region
from roadmark.core.annotation import AnnotationObject, ObjectKind, Provenance, Region, utc_now
from roadmark.core.document import FrameDocument
from roadmark.core.edits import AddObjects, EditError, describe
from roadmark.core.prediction import NO_LABEL, FramePrediction, SegmentationMaps
from roadmark.core.schema import LabelSchema

MODEL_SOURCE_PREFIX = "model:"
_SAME_TOLERANCE = 1e-3


def model_source(model: str) -> str:
    """The provenance source of objects accepted from ``model``: ``model:NAME``."""
    return f"{MODEL_SOURCE_PREFIX}{model}"


@dataclass(frozen=True)
class AcceptOptions:
    """How predictions become proposals.

    Attributes:
        min_box_score: Detections scoring below this are not proposed.
        min_area: Connected pieces of a label smaller than this many map pixels are left
            out (speckles).
    """

    min_box_score: float = 0.5
    min_area: int = 4


@dataclass(frozen=True)
class Proposal:
    """One object a model proposes for a frame, not yet part of the labels.

    Attributes:
        key: Stable name within the prediction: ``box:N`` (N-th predicted box) or
            ``region:LABEL`` (a label without instances, all its pieces) or
            ``region:LABEL:K`` (the K-th piece of a label with instances).
        object: The object accepting would add (no uid, no instance id yet; provenance
            source ``model:NAME`` and the model's confidence).
        instance: Its label has instances (it gets an instance id when accepted).
    """

    key: str
    object: AnnotationObject
    instance: bool = False

    @property
    def kind(self) -> ObjectKind:
        return self.object.kind

    @property
    def label_id(self) -> int:
        return self.object.label_id

    @property
    def confidence(self) -> float:
        """The model's confidence: mean top-1 probability of a region, a box's score."""
        value = self.object.provenance.confidence
        return 0.0 if value is None else float(value)


def proposals(
    prediction: FramePrediction,
    schema: LabelSchema,
    *,
    user: str,
    options: AcceptOptions | None = None,
    at: datetime | None = None,
) -> list[Proposal]:
    """What accepting ``prediction`` could add (pure: nothing is stored).

    Regions come from the label map, vectorized along map-pixel edges and scaled to frame
    pixels: one region per label without instances, one per connected piece for
    ``hasInstances`` labels. Boxes come from detections scoring at least
    ``options.min_box_score`` (boxes seen only on the mirrored frame are never proposed).

    Args:
        prediction: The frame's prediction (with maps for a segmentation model).
        schema: The project's label schema.
        user: Who accepts (recorded in the provenance).
        options: Thresholds.
        at: Time stamp (now by default).
    """
    options = options or AcceptOptions()
    source = model_source(prediction.model)
    when = at or utc_now()

    def provenance(confidence: float) -> Provenance:
        return Provenance.new(source, user, at=when, confidence=round(confidence, 4))

    out: list[Proposal] = []
    if prediction.maps is not None:
        for key, label_id, region, confidence in _map_regions(
            prediction.maps, schema, options.min_area
        ):
            obj = AnnotationObject(label_id, region, provenance(confidence))
            out.append(Proposal(key, obj, instance=schema.by_id[label_id].has_instances))
    for index, predicted in enumerate(prediction.boxes):
        if predicted.flip_only or predicted.score < options.min_box_score:
            continue
        label = schema.by_id.get(predicted.label_id)
        if label is None or not label.drawable or predicted.box.area <= 0:
            continue
        geometry = predicted.mask if predicted.mask is not None else predicted.box
        obj = AnnotationObject(predicted.label_id, geometry, provenance(predicted.score))
        out.append(Proposal(f"box:{index}", obj, instance=label.has_instances))
    return out


def _map_regions(
    maps: SegmentationMaps, schema: LabelSchema, min_area: int
) -> Iterable[tuple[str, int, Region, float]]:
    """``(key, label_id, region, confidence)`` for the label map's pieces."""
    labels = maps.label_ids
    sx, sy = maps.scale
    for label_id in np.unique(labels).tolist():
        label = schema.by_id.get(label_id)
        if label_id == NO_LABEL or label is None or not label.drawable:
            continue
        mask = (labels == label_id).astype(np.uint8)
        count, components, stats, _ = cv2.connectedComponentsWithStats(
            mask, connectivity=8, ltype=cv2.CV_32S
        )
        keep = [k for k in range(1, count) if stats[k, cv2.CC_STAT_AREA] >= min_area]
        if not keep:
            continue
        if label.has_instances:
            pieces = []
            for number, k in enumerate(keep):
                left, top, w, h = (int(v) for v in stats[k, :4])
                piece = components[top : top + h, left : left + w] == k
                pieces.append((f"region:{label_id}:{number}", piece, (left, top)))
        else:
            kept = np.zeros(count, dtype=bool)
            kept[keep] = True  # a table lookup: a quarter of np.isin's time at 1024x512
            pieces = [(f"region:{label_id}", kept[components], (0, 0))]
        for key, piece, (left, top) in pieces:
            region = traced_region(piece, offset=(float(left), float(top)))
            if region is None:
                continue
            if (sx, sy) != (1.0, 1.0):
                region = shapely.affinity.scale(region, xfact=sx, yfact=sy, origin=(0.0, 0.0))
            h, w = piece.shape
            window = maps.confidence[top : top + h, left : left + w]
            yield key, label_id, region, float(window[piece].mean()) / 255.0


def is_on_frame(proposal: Proposal, objects: Iterable[AnnotationObject]) -> bool:
    """Whether a live object with the proposal's source, label and geometry exists."""
    mine = proposal.object
    bounds = mine.bounds
    for obj in objects:
        if (
            obj.deleted
            or obj.label_id != mine.label_id
            or obj.kind is not mine.kind
            or obj.provenance.source != mine.provenance.source
        ):
            continue
        other = obj.bounds
        if (
            max(
                abs(bounds.x0 - other.x0),
                abs(bounds.y0 - other.y0),
                abs(bounds.x1 - other.x1),
                abs(bounds.y1 - other.y1),
            )
            > _SAME_TOLERANCE
        ):
            continue
        if mine.kind is ObjectKind.BOX:
            return True
        if abs(mine.region.area - obj.region.area) <= _SAME_TOLERANCE * max(1.0, mine.region.area):
            return True
    return False


def select_proposals(
    found: Sequence[Proposal],
    *,
    min_confidence: float | None = None,
    keys: Collection[str] | None = None,
    kinds: Collection[ObjectKind] | None = None,
) -> list[Proposal]:
    """The proposals matching every given filter, in their order.

    Args:
        found: Proposals of one prediction.
        min_confidence: Keep those with at least this confidence.
        keys: Keep those with these keys (one box: ``["box:3"]``).
        kinds: Keep those of these kinds (boxes only, regions only).

    Raises:
        EditError: A key that is not among the proposals.
    """
    if keys is not None:
        known = {p.key for p in found}
        unknown = sorted(set(keys) - known)
        if unknown:
            raise EditError(f"no such proposal(s) {unknown}; known: {sorted(known)}")
    return [
        p
        for p in found
        if (min_confidence is None or p.confidence >= min_confidence)
        and (keys is None or p.key in keys)
        and (kinds is None or p.kind in kinds)
    ]


def accept_command(
    document: FrameDocument,
    found: Sequence[Proposal],
    *,
    min_confidence: float | None = None,
    keys: Collection[str] | None = None,
    kinds: Collection[ObjectKind] | None = None,
) -> AddObjects | None:
    """ONE command adding the chosen proposals to the open frame, under its objects.

    Proposals already on the frame are skipped; labels with instances get new instance
    ids following the frame's. Run it with ``session.execute(command)``; undo removes
    exactly these objects again (soft delete), redo brings them back.

    Args:
        document: The open frame.
        found: Proposals of that frame's prediction (:func:`proposals`).
        min_confidence: Only proposals at or above this confidence.
        keys: Only these proposals (``Proposal.key``).
        kinds: Only these kinds.

    Returns:
        The command, or ``None`` when nothing is left to add.

    Raises:
        EditError: An unknown key.
    """
    chosen = select_proposals(found, min_confidence=min_confidence, keys=keys, kinds=kinds)
    live = document.live()
    chosen = [p for p in chosen if not is_on_frame(p, live)]
    if not chosen:
        return None
    next_instance = document.next_instance_id()
    objects = []
    for proposal in chosen:
        obj = proposal.object
        if proposal.instance:
            obj = replace(obj, instance_id=next_instance)
            next_instance += 1
        objects.append(obj)
    models = sorted({p.object.provenance.source[len(MODEL_SOURCE_PREFIX) :] for p in chosen})
    text = f"Accept {describe(len(objects))} from {', '.join(models)}"
    return AddObjects(document.frame.id, objects, at_bottom=True, text=text)
