"""Box-to-mask pre-labels: every box of a frame becomes an instance mask candidate.

The boxes are a detector's stored predictions (``roadmark prelabel --model DET --refine
M``) or the frames' human boxes (``--refine M`` alone). Each box is a box prompt for the
promptable model; the best mask is vectorized (pixel edges, simplified) and stored as a
prediction of the promptable model, kept apart from the labels like any model label:
one :class:`~roadmark.core.prediction.PredictedBox` per box, with the mask and the
decoder's quality score as its confidence. The guided review proposes the masks as
regions; weak ones (quality under :data:`WEAK_QUALITY`) are listed as uncertain regions
so the review visits them first.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from roadmark.core.annotation import Frame, ObjectKind, Region
from roadmark.core.jobs import CancelToken, ProgressReporter
from roadmark.core.prediction import FramePrediction, PredictedBox, RegionKind, UncertainRegion
from roadmark.io.predictions import read_prediction, write_predictions
from roadmark.io.store import Project
from roadmark.models.embedding import Embedder, frame_pixels, project_cache
from roadmark.models.promptable import PromptableModel, Prompts

WEAK_QUALITY = 0.8


@dataclass(frozen=True)
class RefineResult:
    """What :func:`refine_boxes` did."""

    frames: int
    boxes: int
    masks: int
    weak: int
    seconds: float
    model: str


def _boxes(project: Project, frame: Frame, detector: str | None) -> list[PredictedBox]:
    if detector is not None:
        prediction = read_prediction(project, frame.id, detector, with_maps=False)
        if prediction is None:
            return []
        return [b for b in prediction.boxes if not b.flip_only]
    return [
        PredictedBox(obj.label_id, 1.0, obj.geometry)
        for obj in project.objects(frame.id).live()
        if obj.kind is ObjectKind.BOX
    ]


def refine_boxes(
    project: Project,
    model: PromptableModel,
    frames: Sequence[Frame],
    *,
    vectorize: Callable[[NDArray[np.bool_]], Region | None],
    detector: str | None = None,
    progress: ProgressReporter | None = None,
    cancel: CancelToken | None = None,
) -> RefineResult:
    """Turn the boxes of ``frames`` into stored mask predictions of ``model``.

    Args:
        vectorize: Mask -> region (the editor's :func:`roadmark.annotators.tools.smart.mask_region`,
            so pre-labels and clicks give the same outlines).
        detector: Refine this model's predicted boxes; ``None``: the human boxes.

    Raises:
        JobCancelled: ``cancel`` was cancelled (frames done so far are stored).
        FrameSourceError: A frame cannot be read.
    """
    start = time.perf_counter()
    embedder = Embedder(model, project_cache(project, model))
    done_frames = boxes_seen = masks = weak = 0
    for index, frame in enumerate(frames):
        if cancel is not None:
            cancel.raise_if_cancelled("cancelled; the frames refined so far are stored")
        boxes = _boxes(project, frame, detector)
        if boxes:
            embedding = embedder.get(frame_pixels(project, frame))
            refined: list[PredictedBox] = []
            regions: list[UncertainRegion] = []
            for predicted in boxes:
                b = predicted.box
                box = (max(b.x0, 0.0), max(b.y0, 0.0), min(b.x1, frame.width),
                       min(b.y1, frame.height))
                if box[2] - box[0] < 1 or box[3] - box[1] < 1:
                    continue
                candidates = model.decode(embedding, Prompts(box=box))
                region = vectorize(candidates.masks[0])
                if region is None:
                    continue
                quality = float(candidates.scores[0])
                refined.append(PredictedBox(predicted.label_id, quality, b, mask=region))
                if quality < WEAK_QUALITY:
                    weak += 1
                    regions.append(
                        UncertainRegion(
                            kind=RegionKind.BOX_SCORE,
                            box=b,
                            area=float(region.area),
                            mean_uncertainty=1.0 - quality,
                            classes=(predicted.label_id,),
                            score=float(region.area) * (1.0 - quality),
                        )
                    )
            boxes_seen += len(boxes)
            masks += len(refined)
            regions.sort(key=lambda r: -r.score)
            refined.sort(key=lambda p: -p.score)
            write_predictions(
                project,
                [
                    FramePrediction(
                        frame_id=frame.id,
                        model=model.name,
                        model_digest=model.digest,
                        task="detection",
                        boxes=tuple(refined),
                        regions=tuple(regions),
                    )
                ],
            )
            done_frames += 1
        if progress is not None:
            progress(index + 1, len(frames))
    return RefineResult(done_frames, boxes_seen, masks, weak, time.perf_counter() - start,
                        model.name)
