"""Running a loaded model on a batch of frames and summarizing what it says, on the device.

:class:`Predictor` takes frames as a ``uint8`` ``(B, H, W, 3)`` tensor already on the
device, normalizes and resizes them there, runs the model under ``torch.inference_mode``
(with autocast to bf16/fp16 and channels-last on a GPU), and reduces the output on the
device to what is stored:

- segmentation: logits are resized to the map resolution (frame size / ``map_stride``;
  an exact 2x reduction averages 2x2 blocks), then the winning class (mapped to schema
  label ids through a lookup table), the top-1 probability, the top-1 minus top-2 margin
  and the normalized entropy, each quantized to ``uint8``: 4 bytes per map pixel leave
  the device instead of ``4 * classes``;
- detection: boxes with their schema labels and scores, and with ``flip`` the same frames
  mirrored, each box's best same-label IoU with the mirrored pass, plus the mirrored
  boxes the plain pass missed.

:meth:`Predictor.to_host` starts the copy to (pinned) host memory without waiting, so the
runner can queue the next batch while this one is still on its way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.ops import box_iou

from roadmark.core.annotation import Box
from roadmark.core.prediction import NO_LABEL, FramePrediction, PredictedBox, SegmentationMaps
from roadmark.core.schema import LabelSchema
from roadmark.models.errors import ClassMappingError, ModelError
from roadmark.models.files import LoadedModel

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
MIN_BOX_SCORE = 0.05  # detections below are not kept at all
FLIP_MATCH_IOU = 0.5  # a mirrored box matching nothing above this is "found only mirrored"
FLIP_ONLY_MIN_SCORE = 0.3


@dataclass
class DeviceBatch:
    """A batch's summarized output, on the device or (after :meth:`Predictor.to_host`) the
    host. Segmentation fills ``maps``; detection fills ``boxes``."""

    maps: dict[str, torch.Tensor] | None
    boxes: list[dict[str, torch.Tensor]] | None
    frame_sizes: list[tuple[int, int]]  # (height, width) of each frame
    event: Any = None  # a CUDA event recorded after the copy to the host

    def wait(self) -> None:
        """Block until the copy to the host has finished (no-op on the CPU)."""
        if self.event is not None:
            self.event.synchronize()


class Predictor:
    """A model bound to a device and a label schema.

    Args:
        model: The loaded model.
        schema: The project's label schema (the model's classes map onto it).
        device: Where to run.
        precision: ``auto`` (bf16 or fp16 autocast for torchvision models on a GPU, fp32
            otherwise), ``fp32``, ``bf16`` or ``fp16``.
        map_stride: Segmentation maps are stored at frame size / this.
        flip: Also run detection models on mirrored frames (see the module doc).

    Raises:
        ClassMappingError: A class maps to a label the schema lacks.
        ModelError: Bad precision or stride.
    """

    def __init__(
        self,
        model: LoadedModel,
        schema: LabelSchema,
        *,
        device: torch.device | str = "cpu",
        precision: str = "auto",
        map_stride: int = 2,
        flip: bool = True,
    ) -> None:
        if precision not in PRECISIONS:
            raise ModelError(f"precision must be one of {list(PRECISIONS)}", field="--precision")
        if map_stride < 1:
            raise ModelError("map stride must be >= 1", field="--map-stride")
        if model.manifest.task == "promptable":
            raise ModelError(
                f"{model.name!r} is a promptable (click-to-mask) model; pre-label with a "
                "segmentation or detection model, and pass this one as --refine",
                field="task",
            )
        self.model = model
        self.manifest = model.manifest
        self.device = torch.device(device)
        self.map_stride = map_stride
        self.flip = flip and self.manifest.task == "detection"
        ids = self.manifest.label_ids(schema, source=str(model.path))
        self.num_classes = len(ids)
        self._label_lut = torch.tensor(
            [NO_LABEL if i is None else i for i in ids], dtype=torch.int64, device=self.device
        )
        self._mapped = torch.tensor([i is not None for i in ids], device=self.device)
        self.label_dtype = torch.uint8 if max((i or 0) for i in ids) < 256 else torch.int32
        is_cuda = self.device.type == "cuda"
        self.autocast_dtype: torch.dtype | None = None
        if is_cuda and precision in ("bf16", "fp16"):
            self.autocast_dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        elif is_cuda and precision == "auto" and self.manifest.kind == "torchvision":
            bf16 = torch.cuda.is_bf16_supported()
            self.autocast_dtype = torch.bfloat16 if bf16 else torch.float16
        self.channels_last = is_cuda and self.manifest.kind == "torchvision"
        spec = self.manifest.input
        self._mean = torch.tensor(spec.mean, device=self.device).view(1, 3, 1, 1) * 255.0
        self._std = torch.tensor(spec.std, device=self.device).view(1, 3, 1, 1) * 255.0
        module = model.module
        if isinstance(module, torch.nn.Module) and self.device.type != "cpu":
            module = module.to(self.device)
            if self.channels_last:
                module = module.to(memory_format=torch.channels_last)
        if isinstance(module, torch.nn.Module) and self.manifest.kind != "export":
            module.eval()  # the module of an exported program is fixed (eval() raises)
        self.module = module

    # -- running -------------------------------------------------------------------------

    def prepare(self, frames: torch.Tensor) -> torch.Tensor:
        """``uint8 (B, H, W, 3)`` frames on the device -> the model's float input."""
        x = frames.permute(0, 3, 1, 2).float()
        size = self.manifest.input.size
        if size is not None and tuple(x.shape[-2:]) != tuple(size):
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
        x = (x - self._mean) / self._std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def forward(self, x: torch.Tensor) -> Any:
        """The model's raw output for a prepared batch (fixed-batch programs get chunks)."""
        autocast = (
            torch.autocast(self.device.type, dtype=self.autocast_dtype)
            if self.autocast_dtype is not None
            else nullcontext()
        )
        fixed = self.manifest.input.batch
        with torch.inference_mode(), autocast:
            if fixed is None or fixed == x.shape[0]:
                return self.module(x)
            outputs = []
            for start in range(0, x.shape[0], fixed):
                chunk = x[start : start + fixed]
                real = chunk.shape[0]
                if real < fixed:  # pad the last chunk by repeating its last frame
                    chunk = torch.cat([chunk, chunk[-1:].expand(fixed - real, *chunk.shape[1:])])
                outputs.append((self.module(chunk), real))
            return _concat_outputs(outputs)

    def infer(self, frames: torch.Tensor) -> DeviceBatch:
        """Run and summarize a batch of ``uint8 (B, H, W, 3)`` frames (on the device)."""
        sizes = [(int(frames.shape[1]), int(frames.shape[2]))] * int(frames.shape[0])
        x = self.prepare(frames)
        with torch.inference_mode():
            if self.manifest.task == "segmentation":
                logits = segmentation_logits(self.forward(x), self.manifest.output_key)
                return DeviceBatch(self.summarize(logits, sizes[0]), None, sizes)
            plain = detections(self.forward(x), self.manifest.output)
            mirrored = None
            if self.flip:
                mirrored = detections(self.forward(x.flip(-1)), self.manifest.output)
            in_h, in_w = int(x.shape[-2]), int(x.shape[-1])
            scale = (sizes[0][1] / in_w, sizes[0][0] / in_h)
            boxes = [
                self._match_flipped(p, None if mirrored is None else mirrored[i], in_w, scale)
                for i, p in enumerate(plain)
            ]
            return DeviceBatch(None, boxes, sizes)

    def summarize(
        self, logits: torch.Tensor, frame_size: tuple[int, int]
    ) -> dict[str, torch.Tensor]:
        """Quantized per-pixel summary of ``(B, C, h, w)`` logits at map resolution.

        Raises:
            ClassMappingError: The model outputs another number of classes than its
                manifest lists.
        """
        if logits.ndim != 4 or logits.shape[1] != self.num_classes:
            raise ClassMappingError(
                f"the model outputs {tuple(logits.shape)} but its manifest lists "
                f"{self.num_classes} classes (expected (batch, {self.num_classes}, h, w))",
                path=str(self.model.path),
                field="classes",
            )
        height, width = frame_size
        target = (math.ceil(height / self.map_stride), math.ceil(width / self.map_stride))
        logits = logits.float()
        if tuple(logits.shape[-2:]) != target:
            logits = F.interpolate(logits, size=target, mode="bilinear", align_corners=False)
        log_norm = torch.logsumexp(logits, dim=1)
        top1, winner = logits.max(dim=1)
        if self.num_classes > 1:
            top2 = logits.scatter(1, winner.unsqueeze(1), float("-inf")).amax(dim=1)
            p2 = (top2 - log_norm).exp()
            probabilities = (logits - log_norm.unsqueeze(1)).exp_()
            entropy = (log_norm - (probabilities * logits).sum(dim=1)) / math.log(self.num_classes)
        else:
            p2 = torch.zeros_like(top1)
            entropy = torch.zeros_like(top1)
        p1 = (top1 - log_norm).exp()
        return {
            "label_ids": self._label_lut[winner].to(self.label_dtype),
            "confidence": _quantize(p1),
            "margin": _quantize(p1 - p2),
            "entropy": _quantize(entropy),
        }

    def _match_flipped(
        self,
        plain: dict[str, torch.Tensor],
        mirrored: dict[str, torch.Tensor] | None,
        input_width: int,
        scale: tuple[float, float],
    ) -> dict[str, torch.Tensor]:
        boxes, scores, labels = self._keep_mapped(plain)
        sx, sy = scale
        factor = torch.tensor([sx, sy, sx, sy], device=boxes.device)
        out = {"boxes": boxes * factor, "scores": scores, "labels": labels}
        if mirrored is None:
            return out
        m_boxes, m_scores, m_labels = self._keep_mapped(mirrored)
        m_boxes = torch.stack(
            [
                input_width - m_boxes[:, 2],
                m_boxes[:, 1],
                input_width - m_boxes[:, 0],
                m_boxes[:, 3],
            ],
            dim=1,
        )
        same = labels.unsqueeze(1) == m_labels.unsqueeze(0)
        iou = box_iou(boxes.float(), m_boxes.float()) * same
        out["flip_iou"] = iou.amax(dim=1) if iou.shape[1] else torch.zeros_like(scores)
        best_back = iou.amax(dim=0) if iou.shape[0] else torch.zeros_like(m_scores)
        missed = (best_back < FLIP_MATCH_IOU) & (m_scores >= FLIP_ONLY_MIN_SCORE)
        out["flip_only_boxes"] = m_boxes[missed]
        out["flip_only_scores"] = m_scores[missed]
        out["flip_only_labels"] = m_labels[missed]
        out["flip_only_iou"] = best_back[missed]
        out["flip_only_boxes"] = out["flip_only_boxes"] * factor
        return out

    def _keep_mapped(
        self, found: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        labels = found["labels"].long()
        if labels.numel() and int(labels.max()) >= self.num_classes:
            raise ClassMappingError(
                f"the model predicts class {int(labels.max())} but its manifest lists only "
                f"{self.num_classes} classes",
                path=str(self.model.path),
                field="classes",
            )
        keep = (found["scores"] >= MIN_BOX_SCORE) & self._mapped[labels]
        return (
            found["boxes"][keep].float(),
            found["scores"][keep].float(),
            self._label_lut[labels[keep]],
        )

    # -- leaving the device --------------------------------------------------------------

    def to_host(self, batch: DeviceBatch) -> DeviceBatch:
        """Start copying a batch to host memory; call :meth:`DeviceBatch.wait` before use."""
        non_blocking = self.device.type == "cuda"

        def copy(tensor: torch.Tensor) -> torch.Tensor:
            return tensor.to("cpu", non_blocking=non_blocking)

        maps = {k: copy(v) for k, v in batch.maps.items()} if batch.maps is not None else None
        boxes = (
            [{k: copy(v) for k, v in item.items()} for item in batch.boxes]
            if batch.boxes is not None
            else None
        )
        event = None
        if non_blocking:
            event = torch.cuda.Event()
            event.record()
        return DeviceBatch(maps, boxes, batch.frame_sizes, event)

    def unpack(self, batch: DeviceBatch, frame_ids: Sequence[int]) -> list[FramePrediction]:
        """Per-frame predictions from a batch on the host (after :meth:`DeviceBatch.wait`)."""
        batch.wait()
        out = []
        for index, frame_id in enumerate(frame_ids):
            height, width = batch.frame_sizes[index]
            maps = None
            boxes: tuple[PredictedBox, ...] = ()
            if batch.maps is not None:
                labels = batch.maps["label_ids"][index].numpy()
                maps = SegmentationMaps(
                    label_ids=labels if labels.dtype == np.uint8 else labels.astype(np.uint16),
                    confidence=batch.maps["confidence"][index].numpy(),
                    margin=batch.maps["margin"][index].numpy(),
                    entropy=batch.maps["entropy"][index].numpy(),
                    frame_width=width,
                    frame_height=height,
                )
            if batch.boxes is not None:
                boxes = _predicted_boxes(batch.boxes[index], width, height)
            out.append(
                FramePrediction(
                    frame_id=frame_id,
                    model=self.model.name,
                    model_digest=self.model.digest,
                    task=self.manifest.task,
                    maps=maps,
                    boxes=boxes,
                )
            )
        return out


def _quantize(values: torch.Tensor) -> torch.Tensor:
    return (values * 255.0).round_().clamp_(0, 255).to(torch.uint8)


def _predicted_boxes(
    found: dict[str, torch.Tensor], width: int, height: int
) -> tuple[PredictedBox, ...]:
    out = []
    flip_iou = found.get("flip_iou")
    for k, (coords, score, label) in enumerate(
        zip(
            found["boxes"].tolist(), found["scores"].tolist(), found["labels"].tolist(), strict=True
        )
    ):
        box = Box.from_corners(*coords).clipped(width, height)
        out.append(
            PredictedBox(
                int(label), float(score), box, None if flip_iou is None else float(flip_iou[k])
            )
        )
    if "flip_only_boxes" in found:
        for coords, score, label, iou in zip(
            found["flip_only_boxes"].tolist(),
            found["flip_only_scores"].tolist(),
            found["flip_only_labels"].tolist(),
            found["flip_only_iou"].tolist(),
            strict=True,
        ):
            box = Box.from_corners(*coords).clipped(width, height)
            out.append(PredictedBox(int(label), float(score), box, float(iou), flip_only=True))
    out.sort(key=lambda b: (b.flip_only, -b.score))
    return tuple(out)


def segmentation_logits(output: Any, key: str | None) -> torch.Tensor:
    """The logits tensor from a segmentation model's output.

    Raises:
        ModelError: The output is not what the manifest says.
    """
    if key is not None:
        if not isinstance(output, dict) or key not in output:
            got = sorted(output) if isinstance(output, dict) else type(output).__name__
            raise ModelError(f"the model's output has no {key!r} entry (got {got})", field="output")
        output = output[key]
    if not isinstance(output, torch.Tensor) or output.ndim != 4:
        raise ModelError(
            f"expected a (batch, classes, h, w) logits tensor, got {_describe(output)}",
            field="output",
        )
    return output


def detections(output: Any, kind: str) -> list[dict[str, torch.Tensor]]:
    """Per-image ``boxes``/``scores``/``labels`` from a detection model's output.

    Raises:
        ModelError: The output is not what the manifest says.
    """
    if kind == "torchvision":
        # Scripted torchvision detectors return (losses, detections).
        if isinstance(output, tuple) and len(output) == 2 and isinstance(output[1], list):
            output = output[1]
        if not isinstance(output, list) or not all(
            isinstance(d, dict) and {"boxes", "scores", "labels"} <= set(d) for d in output
        ):
            raise ModelError(
                f"expected a list of dicts with boxes, scores, labels; got {_describe(output)}",
                field="output",
            )
        return output
    if not isinstance(output, tuple | list) or len(output) != 3:
        raise ModelError(
            f"expected a tuple (boxes, scores, labels), got {_describe(output)}", field="output"
        )
    boxes, scores, labels = output
    if boxes.ndim != 3 or boxes.shape[-1] != 4 or scores.shape != boxes.shape[:2]:
        raise ModelError(
            f"expected boxes (B, K, 4) and scores (B, K), got {tuple(boxes.shape)} and "
            f"{tuple(scores.shape)}",
            field="output",
        )
    out = []
    for b in range(boxes.shape[0]):
        keep = scores[b] > 0
        out.append({"boxes": boxes[b][keep], "scores": scores[b][keep], "labels": labels[b][keep]})
    return out


def _concat_outputs(outputs: list[tuple[Any, int]]) -> Any:
    first = outputs[0][0]
    if isinstance(first, torch.Tensor):
        return torch.cat([out[:real] for out, real in outputs])
    if isinstance(first, dict):
        return {key: torch.cat([out[key][:real] for out, real in outputs]) for key in first}
    if isinstance(first, tuple) and len(first) == 2 and isinstance(first[1], list):
        return [d for out, real in outputs for d in out[1][:real]]
    if isinstance(first, list):
        return [d for out, real in outputs for d in out[:real]]
    if isinstance(first, tuple):
        return tuple(torch.cat([out[i][:real] for out, real in outputs]) for i in range(len(first)))
    raise ModelError(
        f"cannot join the outputs of a fixed-batch program: {_describe(first)}", field="output"
    )


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    if isinstance(value, dict):
        return f"a dict with keys {sorted(map(str, value))}"
    if isinstance(value, tuple | list):
        return f"a {type(value).__name__} of {len(value)}"
    return type(value).__name__
