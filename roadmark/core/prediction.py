"""Model predictions, kept apart from human labels until a person accepts them.

A segmentation model leaves, per frame, a summary of its class probabilities
(:class:`SegmentationMaps`: the winning label, the top-1 probability, the margin between the
two most likely classes and the normalized entropy, each quantized to ``uint8``); a detection
model leaves :class:`PredictedBox` es with scores. Both leave :class:`UncertainRegion` s: the
places where the model is unsure, each scored by the number of pixels it expects to have
wrong, which is the order the review queue shows them in.

Maps are stored at *map resolution*: the frame size divided by the map stride (2 by
default) and rounded up. Every torchvision segmenter predicts at 1/8 of its input
resolution and upsamples, so a stride of 2 keeps all the detail the model has while cutting
the per-frame work on the host (PNG encoding, region extraction) four times.

Uncertainty measure: ``1 - margin`` by default (``margin`` = top-1 minus top-2
probability), or the normalized entropy. ``benchmarks/prelabel.py`` measures how
many of a model's wrong pixels each measure puts in its most uncertain 10 % of the area.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import shapely
import shapely.errors
from numpy.typing import NDArray

from roadmark.core.annotation import Box, Region, as_region
from roadmark.core.errors import RoadmarkError

QUANT = 255.0
UNCERTAINTY_MEASURES = ("margin", "entropy")
DEFAULT_MEASURE = "margin"
NO_LABEL = 0  # label-map value of pixels whose class maps to no schema label


class RegionKind:
    """Why a region is uncertain."""

    PIXELS = "pixels"  # a connected patch of uncertain pixels
    BOX_SCORE = "box_score"  # a box scored between "clearly right" and "clearly background"
    BOX_FLIP = "box_flip"  # the horizontally flipped frame gives a different answer

    ALL = (PIXELS, BOX_SCORE, BOX_FLIP)


@dataclass(frozen=True, eq=False)
class SegmentationMaps:
    """Per-pixel summary of a segmentation model's output, at map resolution.

    Attributes:
        label_ids: ``(h, w)`` schema label id of the most likely class (``uint8``, or
            ``uint16`` for schemas with ids above 255); 0 where that class maps to no label.
        confidence: ``(h, w)`` ``uint8``, top-1 probability times 255.
        margin: ``(h, w)`` ``uint8``, top-1 minus top-2 probability, times 255.
        entropy: ``(h, w)`` ``uint8``, entropy divided by ``log(classes)``, times 255.
        frame_width: Width of the frame the maps cover, in pixels.
        frame_height: Height of the frame.
    """

    label_ids: NDArray[np.unsignedinteger]
    confidence: NDArray[np.uint8]
    margin: NDArray[np.uint8]
    entropy: NDArray[np.uint8]
    frame_width: int
    frame_height: int

    def __post_init__(self) -> None:
        shape = self.label_ids.shape
        if len(shape) != 2:
            raise RoadmarkError(f"prediction maps must be 2-D, got shape {shape}")
        for name in ("confidence", "margin", "entropy"):
            array = getattr(self, name)
            if array.shape != shape or array.dtype != np.uint8:
                raise RoadmarkError(
                    f"map {name!r} must be uint8 of shape {shape}, got {array.dtype} {array.shape}"
                )
        if self.label_ids.dtype not in (np.uint8, np.uint16):
            raise RoadmarkError(f"label map must be uint8 or uint16, got {self.label_ids.dtype}")
        if self.frame_width < shape[1] or self.frame_height < shape[0]:
            raise RoadmarkError(
                f"maps of {shape[1]}x{shape[0]} are larger than their frame "
                f"({self.frame_width}x{self.frame_height})"
            )

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` of the maps."""
        return (int(self.label_ids.shape[0]), int(self.label_ids.shape[1]))

    @property
    def scale(self) -> tuple[float, float]:
        """``(sx, sy)``: frame pixels per map pixel along x and y."""
        height, width = self.shape
        return (self.frame_width / width, self.frame_height / height)

    def uncertainty(self, measure: str = DEFAULT_MEASURE) -> NDArray[np.float32]:
        """Per-pixel uncertainty in ``[0, 1]`` (1 = most uncertain).

        Args:
            measure: ``margin`` (``1 - margin``) or ``entropy`` (normalized entropy).

        Raises:
            RoadmarkError: Unknown measure.
        """
        return pixel_uncertainty(self.margin, self.entropy, measure)

    def wrong_probability(self) -> NDArray[np.float32]:
        """Per-pixel probability that the winning label is wrong (``1 - confidence``)."""
        return wrong_probability_of(self.confidence)

    def expected_errors(self) -> float:
        """Wrong pixels the model expects on the whole frame, in frame pixels (the sum
        of ``1 - confidence``): what the review queue's coverage is measured against."""
        sx, sy = self.scale
        return float(self.wrong_probability().sum(dtype=np.float64)) * sx * sy


def wrong_probability_of(confidence: NDArray[np.uint8]) -> NDArray[np.float32]:
    """Probability that the winning label is wrong, from a quantized confidence map."""
    return 1.0 - confidence.astype(np.float32) / QUANT


def pixel_uncertainty(
    margin: NDArray[np.uint8], entropy: NDArray[np.uint8], measure: str = DEFAULT_MEASURE
) -> NDArray[np.float32]:
    """Uncertainty in ``[0, 1]`` from quantized margin and entropy maps.

    Raises:
        RoadmarkError: ``measure`` is not one of :data:`UNCERTAINTY_MEASURES`.
    """
    if measure == "margin":
        return 1.0 - margin.astype(np.float32) / QUANT
    if measure == "entropy":
        return entropy.astype(np.float32) / QUANT
    raise RoadmarkError(
        f"unknown uncertainty measure {measure!r}; use one of {list(UNCERTAINTY_MEASURES)}",
        field="measure",
    )


@dataclass(frozen=True)
class PredictedBox:
    """One detection, in frame pixels.

    Attributes:
        label_id: Schema label id.
        score: The model's score in ``[0, 1]``.
        box: The box.
        flip_iou: Best IoU with a same-label detection on the horizontally flipped frame
            (mapped back), ``None`` when no flipped pass was run.
        flip_only: Found only on the flipped frame (the plain pass missed it); such boxes
            are never accepted, they only mark a place to look at.
        mask: The object's instance mask inside the box (a region in frame pixels), from
            a promptable model (box-to-mask pre-labels); accepting proposes the region.
    """

    label_id: int
    score: float
    box: Box
    flip_iou: float | None = None
    flip_only: bool = False
    mask: Region | None = None

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "label": self.label_id,
            "score": round(float(self.score), 5),
            "box": [
                round(float(v), 3) for v in (self.box.x0, self.box.y0, self.box.x1, self.box.y1)
            ],
        }
        if self.flip_iou is not None:
            out["flip_iou"] = round(float(self.flip_iou), 4)
        if self.flip_only:
            out["flip_only"] = True
        if self.mask is not None:
            out["mask"] = shapely.to_wkb(self.mask, hex=True)
        return out

    @classmethod
    def from_json(cls, data: dict[str, object]) -> PredictedBox:
        """Inverse of :meth:`to_json`.

        Raises:
            RoadmarkError: Missing or malformed fields.
        """
        try:
            x0, y0, x1, y1 = (float(v) for v in data["box"])  # type: ignore[attr-defined]
            flip_iou = data.get("flip_iou")
            mask = data.get("mask")
            region = None
            if mask is not None:
                region = as_region(shapely.from_wkb(str(mask)))
            return cls(
                label_id=int(data["label"]),  # type: ignore[call-overload]
                score=float(data["score"]),  # type: ignore[arg-type]
                box=Box(x0, y0, x1, y1),
                flip_iou=None if flip_iou is None else float(flip_iou),  # type: ignore[arg-type]
                flip_only=bool(data.get("flip_only", False)),
                mask=region,
            )
        except (KeyError, TypeError, ValueError, shapely.errors.GEOSException) as error:
            raise RoadmarkError(f"malformed predicted box {data!r} ({error})") from error


@dataclass(frozen=True)
class UncertainRegion:
    """A place where a model is unsure, in frame pixels.

    Attributes:
        kind: One of :class:`RegionKind` (``pixels``, ``box_score``, ``box_flip``).
        box: Bounding box.
        area: Area in frame pixels (uncertain pixels, or the box's area).
        mean_uncertainty: Mean uncertainty in ``[0, 1]`` over the region.
        classes: Schema label ids the model predicts there, most pixels first.
        score: Expected number of wrong pixels (the queue's sort key).
        outline: The region's own shape in frame pixels (a pixel region's mask,
            vectorized); ``None`` for a box region or one stored without it. Zoom,
            highlight and accept use it; the box is its bounding box.
        frame_id: The frame, once stored.
        model: Name of the model that produced it, once stored.
        uid: The store's id, once stored.
        resolved: A person has dealt with it.
    """

    kind: str
    box: Box
    area: float
    mean_uncertainty: float
    classes: tuple[int, ...]
    score: float
    outline: Region | None = None
    frame_id: int | None = None
    model: str | None = None
    uid: int | None = None
    resolved: bool = False

    @property
    def shape(self) -> Region:
        """The outline, or the box as a polygon when there is none."""
        return self.outline if self.outline is not None else self.box.to_polygon()


@dataclass(frozen=True, eq=False)
class FramePrediction:
    """Everything one model predicted for one frame.

    Attributes:
        frame_id: The frame.
        model: Model name (objects accepted from it get source ``model:NAME``).
        model_digest: Content hash of the model file, to tell retrained versions apart.
        task: ``segmentation`` or ``detection``.
        maps: The segmentation summary, ``None`` for a detection model.
        boxes: Detections, best score first.
        regions: Uncertain regions, highest score first.
        expected_errors: Wrong pixels the model expects on the whole frame (segmentation;
            ``None`` when unknown), see :meth:`SegmentationMaps.expected_errors`.
        created_at: When it was predicted.
        uid: The store's id, once stored.
    """

    frame_id: int
    model: str
    model_digest: str
    task: str
    maps: SegmentationMaps | None = None
    boxes: tuple[PredictedBox, ...] = ()
    regions: tuple[UncertainRegion, ...] = field(default=())
    expected_errors: float | None = None
    created_at: datetime | None = None
    uid: int | None = None
