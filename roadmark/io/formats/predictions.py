"""Model predictions as image files, to evaluate a model with other tools (export only).

Per frame that has a stored prediction (the newest of any model):

- ``<name>_pred_labelIds.png``: the predicted schema label id of every frame pixel
  (``uint8``, ``uint16`` when the schema has ids above 255; 0 where the model's class maps
  to no label), the Cityscapes ``_labelIds.png`` layout;
- ``<name>_uncertainty.png``: ``uint8``, 255 = most uncertain, by the measure the queue
  uses (``1 - margin`` between the two most likely classes; see
  :mod:`roadmark.core.prediction`);
- ``<name>_pred_boxes.json`` for detection models: boxes ``[x0, y0, x1, y1]`` in frame
  pixels with label name, label id and score.

``<name>`` is the image file name without its suffix (and without Cityscapes'
``_leftImg8bit``), plus ``_NNNNNN`` for a video frame. Maps are stored at a reduced
resolution and scaled to the frame size here with nearest-neighbour sampling. Frames
without a prediction are skipped with a warning. ``predictions.json`` lists the frames,
the model and the files written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

import cv2
import numpy as np

from roadmark.core.prediction import FramePrediction
from roadmark.io.formats import Capability, DatasetFormat, register_format
from roadmark.io.formats.common import ExportContext, ExportFrame
from roadmark.io.formats.errors import FormatError

SUFFIX_LABELS = "_pred_labelIds.png"
SUFFIX_UNCERTAINTY = "_uncertainty.png"
SUFFIX_BOXES = "_pred_boxes.json"


def frame_stem(path: str, video_frame: int | None) -> str:
    """The name prefix of a frame's files (see the module doc)."""
    stem = PurePosixPath(path).stem
    stem = stem.removesuffix("_leftImg8bit")
    return stem if video_frame is None else f"{stem}_{video_frame:06d}"


def _write_png(path: Path, array: np.ndarray) -> None:
    if not cv2.imwrite(str(path), np.ascontiguousarray(array)):
        raise FormatError("cannot write the image", path=str(path))


@register_format
class PredictionsFormat(DatasetFormat):
    """Predicted label maps, uncertainty maps and boxes of a model."""

    id = "predictions"
    version = "1.0"
    title = "Model predictions (label id and uncertainty PNGs, boxes JSON)"
    capabilities = frozenset({Capability.EXPORT, Capability.LABEL_MAPS, Capability.SCORES})
    output = "folder"

    def write(self, frames: Iterable[ExportFrame], target: Path, context: ExportContext) -> None:
        target.mkdir(parents=True, exist_ok=True)
        index: list[dict[str, Any]] = []
        used: set[str] = set()
        for item in frames:
            frame = item.frame
            prediction = context.prediction(frame.id)
            if prediction is None:
                context.warnings.warn("has no prediction; skipped", path=frame.path)
                continue
            stem = frame_stem(frame.path, frame.video_frame)
            if stem in used:
                stem = f"{stem}_{frame.id}"
            used.add(stem)
            files = self._write_frame(target, stem, prediction, context)
            index.append(
                {"frame": frame.path, "video_frame": frame.video_frame, "model": prediction.model}
                | {"files": files}
            )
        if not index:
            raise FormatError(
                "no exported frame has a prediction; run `roadmark prelabel` first",
                field="--frames",
            )
        context.stats["frames_with_predictions"] = len(index)
        (target / "predictions.json").write_text(
            json.dumps({"format": self.id, "version": self.version, "frames": index}, indent=1),
            encoding="utf-8",
        )

    def _write_frame(
        self, target: Path, stem: str, prediction: FramePrediction, context: ExportContext
    ) -> list[str]:
        files = []
        maps = prediction.maps
        if maps is not None:
            size = (maps.frame_width, maps.frame_height)
            labels = cv2.resize(maps.label_ids, size, interpolation=cv2.INTER_NEAREST)
            uncertainty = 255 - cv2.resize(maps.margin, size, interpolation=cv2.INTER_NEAREST)
            _write_png(target / f"{stem}{SUFFIX_LABELS}", labels)
            _write_png(target / f"{stem}{SUFFIX_UNCERTAINTY}", uncertainty.astype(np.uint8))
            files += [f"{stem}{SUFFIX_LABELS}", f"{stem}{SUFFIX_UNCERTAINTY}"]
        if prediction.task == "detection":
            names = {label.id: label.name for label in context.schema}
            boxes = [
                {
                    "label": names.get(b.label_id, str(b.label_id)),
                    "label_id": b.label_id,
                    "score": round(float(b.score), 5),
                    "box": [round(v, 2) for v in (b.box.x0, b.box.y0, b.box.x1, b.box.y1)],
                }
                for b in prediction.boxes
                if not b.flip_only
            ]
            (target / f"{stem}{SUFFIX_BOXES}").write_text(json.dumps(boxes, indent=1))
            files.append(f"{stem}{SUFFIX_BOXES}")
        return files
