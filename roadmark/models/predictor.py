"""Running a loaded model on a batch of frames and summarizing what it says, on the device.

:class:`Predictor` takes frames as a ``uint8`` ``(B, H, W, 3)`` tensor already on the
device, normalizes and resizes them there, runs the model under ``torch.inference_mode``
(channels-last; autocast to bf16/fp16 on a GPU; on a CPU the batch norms folded into the
convolutions), and reduces the output on the device to what is stored (the batch never
waits on the host: checks such as "every logit is finite" are flags that travel with the
result and are read after the copy):

- segmentation: logits are resized to the map resolution (frame size / ``map_stride``;
  an exact 2x reduction averages 2x2 blocks), then the winning class (mapped to schema
  label ids through a lookup table), the top-1 probability, the top-1 minus top-2 margin
  and the normalized entropy, each quantized to ``uint8`` (4 bytes a pixel leave the
  device); on a CPU one compiled pass does it all (:mod:`roadmark.models.cpu_summary`);
- detection: boxes with their schema labels and scores, and with ``flip`` the same frames
  mirrored, each box's best same-label IoU with the mirrored pass, plus the mirrored
  boxes the plain pass missed. Boxes are decoded in fp32 (``auto`` precision runs
  detectors in fp32; an explicit bf16/fp16 autocasts only the backbone), since a bf16
  grid is 8-16 px coarse at 2048 px. Which boxes are kept is a mask applied on the host.

The caller's model is never changed: a GPU run works on a moved copy (see
:func:`~roadmark.models.device.placed_module`), and every step runs inside the device's
CUDA context so that ``cuda:1`` records its events on its own stream.

:meth:`Predictor.to_host` starts the copy to (pinned) host memory without waiting, so the
runner can queue the next batch while this one is still on its way.
"""

from __future__ import annotations

import copy
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
from roadmark.models.cpu_summary import fused_summary, head_logits, striped_summary
from roadmark.models.device import all_finite, amp_dtype, on_device, placed_module, record_event
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
    # Checks computed on the device: "finite" (bool: every logit/box/score is finite) and
    # "max_class" (int64: the largest class index a detector predicted, -1 for none).
    checks: dict[str, torch.Tensor] | None = None

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
        precision: ``auto`` (for torchvision segmentation models on a GPU: bf16 autocast
            from compute capability 8.0, fp16 below; fp32 otherwise, detection included),
            ``fp32``, ``bf16`` or ``fp16`` (detectors autocast only their backbone).
        map_stride: Segmentation maps are stored at frame size / this.
        flip: Also run detection models on mirrored frames (see the module doc).
        tta_flip: Segmentation: average the (calibrated) class probabilities of each
            frame and its mirror image (``--tta flip``): twice the work, steadier
            uncertainty.

    Raises:
        ClassMappingError: A class maps to a label the schema lacks.
        ModelError: Bad precision or stride, or a program that cannot run on the device.
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
        tta_flip: bool = False,
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
        self.tta_flip = tta_flip and self.manifest.task == "segmentation"
        ids = self.manifest.label_ids(schema, source=str(model.path))
        self.num_classes = len(ids)
        self._label_lut = torch.tensor(
            [NO_LABEL if i is None else i for i in ids], dtype=torch.int64, device=self.device
        )
        self._mapped = torch.tensor([i is not None for i in ids], device=self.device)
        self.label_dtype = torch.uint8 if max((i or 0) for i in ids) < 256 else torch.int32
        is_cuda = self.device.type == "cuda"
        torchvision_model = self.manifest.kind == "torchvision"
        detection = self.manifest.task == "detection"
        self.autocast_dtype: torch.dtype | None = None
        if is_cuda and precision in ("bf16", "fp16"):
            self.autocast_dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        elif is_cuda and precision == "auto" and torchvision_model and not detection:
            with on_device(self.device):
                self.autocast_dtype = amp_dtype(self.device)
        # channels-last on a CPU too (faster depthwise convolutions), batch norms folded there
        self.channels_last = torchvision_model
        spec = self.manifest.input
        self._mean = torch.tensor(spec.mean, device=self.device).view(1, 3, 1, 1) * 255.0
        self._std = torch.tensor(spec.std, device=self.device).view(1, 3, 1, 1) * 255.0
        module = placed_module(model, self.device, channels_last=self.channels_last,
                               fold=not is_cuda)
        # A detector under low precision autocasts its backbone only; boxes decode in fp32.
        autocast = self.autocast_dtype
        self._backbone_only = autocast is not None and detection and hasattr(module, "backbone")
        if autocast is not None and self._backbone_only:
            if module is model.module:
                module = copy.deepcopy(module)
            module.backbone = AutocastBackbone(module.backbone, autocast)
        if (
            isinstance(module, torch.nn.Module)
            and self.manifest.kind != "export"  # an exported module is fixed (eval() raises)
            and module.training
        ):
            if module is model.module:
                module = copy.deepcopy(module)
            module.eval()
        self.module = module
        cpu = self.device.type == "cpu"  # (a torchvision segmenter's upsampling: summarize)
        self._head = head_logits(module, self.manifest.output_key) if cpu else None

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

    def precision_context(self) -> Any:
        """The autocast the model runs under (none for fp32, and none around a detector
        whose backbone autocasts itself: its boxes decode in fp32)."""
        if self.autocast_dtype is not None and not self._backbone_only:
            return torch.autocast(self.device.type, dtype=self.autocast_dtype)
        return nullcontext()

    def forward(self, x: torch.Tensor) -> Any:
        """The model's raw output for a prepared batch (fixed-batch programs get chunks)."""
        fixed = self.manifest.input.batch
        with torch.inference_mode(), self.precision_context():
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

    def infer(
        self, frames: torch.Tensor, *, frame_size: tuple[int, int] | None = None
    ) -> DeviceBatch:
        """Run and summarize a batch of ``uint8 (B, H, W, 3)`` frames (on the device).

        Args:
            frames: The batch, at full size or already at the model's input size.
            frame_size: ``(height, width)`` of the frames in the project when ``frames``
                were decoded smaller (maps and boxes are made for this size).
        """
        with on_device(self.device), torch.inference_mode():
            return self._infer(frames, frame_size)

    def _infer(self, frames: torch.Tensor, frame_size: tuple[int, int] | None) -> DeviceBatch:
        size = frame_size or (int(frames.shape[1]), int(frames.shape[2]))
        sizes = [size] * int(frames.shape[0])
        x = self.prepare(frames)
        if self.manifest.task == "segmentation":
            if self._head is not None and not self.tta_flip:  # upsampled by the summary
                low, middle = self._head(x), (int(x.shape[-2]), int(x.shape[-1]))
                maps = self.summarize(low, sizes[0], middle=middle)
                return DeviceBatch(maps, None, sizes, checks={"finite": all_finite(low)})
            logits = segmentation_logits(self.forward(x), self.manifest.output_key)
            finite = all_finite(logits)
            if not self.tta_flip:
                return DeviceBatch(
                    self.summarize(logits, sizes[0]), None, sizes, checks={"finite": finite}
                )
            # Test-time flip: the mean of the calibrated class probabilities of the
            # frame and of its mirror image (as log-probabilities, which the summary
            # reads like logits).
            mirrored = segmentation_logits(self.forward(x.flip(-1)), self.manifest.output_key)
            finite = finite & all_finite(mirrored)
            t = self.manifest.temperature
            mean = torch.logaddexp(
                F.log_softmax(logits.float() / t, dim=1),
                F.log_softmax(mirrored.float().flip(-1) / t, dim=1),
            ) - math.log(2.0)
            return DeviceBatch(
                self.summarize(mean, sizes[0], temperature=1.0),
                None,
                sizes,
                checks={"finite": finite},
            )
        plain = detections(self.forward(x), self.manifest.output)
        flipped: list[dict[str, torch.Tensor]] | None = None
        if self.flip:
            flipped = detections(self.forward(x.flip(-1)), self.manifest.output)
        in_h, in_w = int(x.shape[-2]), int(x.shape[-1])
        sx, sy = sizes[0][1] / in_w, sizes[0][0] / in_h
        factor = torch.tensor([sx, sy, sx, sy], device=self.device)
        boxes = [
            self._match_flipped(p, None if flipped is None else flipped[i], in_w, factor)
            for i, p in enumerate(plain)
        ]
        found = plain + (flipped or [])
        finite = torch.ones((), dtype=torch.bool, device=self.device)
        max_class = torch.full((), -1, dtype=torch.int64, device=self.device)
        for item in found:
            kept = item["scores"] >= MIN_BOX_SCORE  # padding rows of fixed-size outputs aside
            corners = torch.where(kept.unsqueeze(-1), item["boxes"], 0.0)
            finite = finite & torch.isfinite(corners).all() & torch.isfinite(item["scores"]).all()
            if item["labels"].numel():
                labels = torch.where(kept, item["labels"].long(), -1)
                max_class = torch.maximum(max_class, labels.amax())
        return DeviceBatch(None, boxes, sizes, checks={"finite": finite, "max_class": max_class})

    def summarize(
        self, logits: torch.Tensor, frame_size: tuple[int, int], *,
        temperature: float | None = None, middle: tuple[int, int] | None = None,
    ) -> dict[str, torch.Tensor]:
        """Quantized per-pixel summary of ``(B, C, h, w)`` logits at map resolution.

        The logits are divided by ``temperature`` first (the manifest's calibrated one by
        default, :mod:`roadmark.models.calibration`); with ``middle`` they are interpolated
        to that size first (the model's own upsampling, :func:`cpu_summary.head_logits`).

        Raises:
            ClassMappingError: The model outputs another number of classes than its
                manifest lists.
        """
        if temperature is None:
            temperature = self.manifest.temperature
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
        if temperature != 1.0:
            logits = logits / temperature
        if logits.device.type == "cpu":  # one compiled pass where it was built
            fused = fused_summary(logits, target, self._label_lut.to(self.label_dtype), middle)
            if fused is not None:
                return fused
        if middle is not None and tuple(logits.shape[-2:]) != middle:
            logits = F.interpolate(logits, size=middle, mode="bilinear", align_corners=False)
        if tuple(logits.shape[-2:]) != target:
            logits = F.interpolate(logits, size=target, mode="bilinear", align_corners=False)
        if logits.device.type == "cpu":
            return striped_summary(logits, self._stats)
        return self._stats(logits)

    def _stats(self, logits: torch.Tensor, *, scratch: bool = False) -> dict[str, torch.Tensor]:
        """The quantized maps of ``(B, C, h, w)`` logits: label, confidence, margin and
        normalized entropy. ``scratch``: ``logits`` is a copy made for this call, which it
        may overwrite (the runner-up is found in it instead of in one more copy)."""
        log_norm = torch.logsumexp(logits, dim=1)
        top1, winner = logits.max(dim=1)
        if self.num_classes > 1:
            probabilities = (logits - log_norm.unsqueeze(1)).exp_()
            weighted = probabilities.mul_(logits).sum(dim=1)
            entropy = (log_norm - weighted) / math.log(self.num_classes)
            others = logits if scratch else logits.clone()  # the winner's logit set to -inf
            top2 = others.scatter_(1, winner.unsqueeze(1), float("-inf")).amax(dim=1)
            p2 = (top2 - log_norm).exp()
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
        factor: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """One image's boxes in frame pixels with ``keep`` masks (applied on the host, so
        that nothing here waits for the device)."""
        boxes, scores, labels, keep = self._mapped_boxes(plain)
        out = {"boxes": boxes * factor, "scores": scores, "labels": labels, "keep": keep}
        if mirrored is None:
            return out
        m_boxes, m_scores, m_labels, m_keep = self._mapped_boxes(mirrored)
        m_boxes = torch.stack(
            [
                input_width - m_boxes[:, 2],
                m_boxes[:, 1],
                input_width - m_boxes[:, 0],
                m_boxes[:, 3],
            ],
            dim=1,
        )
        pair_kept = keep.unsqueeze(1) & m_keep.unsqueeze(0)
        same = (labels.unsqueeze(1) == m_labels.unsqueeze(0)) & pair_kept
        iou = box_iou(boxes, m_boxes) * same
        out["flip_iou"] = iou.amax(dim=1) if iou.shape[1] else torch.zeros_like(scores)
        best_back = iou.amax(dim=0) if iou.shape[0] else torch.zeros_like(m_scores)
        missed = m_keep & (best_back < FLIP_MATCH_IOU) & (m_scores >= FLIP_ONLY_MIN_SCORE)
        out["flip_only_boxes"] = m_boxes * factor
        out["flip_only_scores"] = m_scores
        out["flip_only_labels"] = m_labels
        out["flip_only_iou"] = best_back
        out["flip_only_keep"] = missed
        return out

    def _mapped_boxes(
        self, found: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """fp32 boxes and scores, schema labels, and which to keep (score and mapping);
        class indices past the manifest are caught by the batch's ``max_class`` check."""
        classes = found["labels"].long().clamp(0, self.num_classes - 1)
        scores = found["scores"].float()
        keep = (scores >= MIN_BOX_SCORE) & self._mapped[classes]
        return found["boxes"].float(), scores, self._label_lut[classes], keep

    # -- leaving the device --------------------------------------------------------------

    def to_host(self, batch: DeviceBatch) -> DeviceBatch:
        """Start copying a batch to host memory; call :meth:`DeviceBatch.wait` before use.

        The copies go into pinned memory on the device's own stream, and the event that
        :meth:`DeviceBatch.wait` waits on is recorded on that stream too.
        """
        non_blocking = self.device.type == "cuda"

        def copy(tensor: torch.Tensor) -> torch.Tensor:
            if not non_blocking:
                return tensor.to("cpu")
            host = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
            return host.copy_(tensor, non_blocking=True)

        with on_device(self.device):
            maps = {k: copy(v) for k, v in batch.maps.items()} if batch.maps is not None else None
            boxes = (
                [{k: copy(v) for k, v in item.items()} for item in batch.boxes]
                if batch.boxes is not None
                else None
            )
            checks = (
                {k: copy(v) for k, v in batch.checks.items()} if batch.checks is not None else None
            )
            event = record_event(self.device)
        return DeviceBatch(maps, boxes, batch.frame_sizes, event, checks)

    def check(self, batch: DeviceBatch) -> None:
        """Fail a batch (on the host, after :meth:`DeviceBatch.wait`) whose device checks say
        the model produced non-finite numbers or classes its manifest does not list.

        Raises:
            ModelError: NaN or infinite logits, boxes or scores.
            ClassMappingError: A detector predicted a class past its manifest.
        """
        checks = batch.checks or {}
        if "finite" in checks and not bool(checks["finite"]):
            raise ModelError(
                "the model produced NaN or infinite outputs for this batch; nothing of it "
                "was stored (check the weights, or run with --precision fp32)",
                path=str(self.model.path),
                field="output",
            )
        if "max_class" in checks and int(checks["max_class"]) >= self.num_classes:
            raise ClassMappingError(
                f"the model predicts class {int(checks['max_class'])} but its manifest lists "
                f"only {self.num_classes} classes",
                path=str(self.model.path),
                field="classes",
            )

    def unpack(self, batch: DeviceBatch, frame_ids: Sequence[int]) -> list[FramePrediction]:
        """Per-frame predictions from a batch on the host (waits for its copy).

        Raises:
            ModelError: See :meth:`check`.
        """
        batch.wait()
        self.check(batch)
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


class AutocastBackbone(torch.nn.Module):
    """A detector's backbone run under autocast, its features handed on in fp32 so that
    the heads, box decoding and NMS run in full precision."""

    def __init__(self, backbone: torch.nn.Module, dtype: torch.dtype) -> None:
        super().__init__()
        self.body = backbone
        self.dtype = dtype
        self.out_channels = getattr(backbone, "out_channels", None)

    def forward(self, x: torch.Tensor) -> Any:
        with torch.autocast(x.device.type, dtype=self.dtype):
            features = self.body(x)
        if isinstance(features, dict):
            return {k: v.float() for k, v in features.items()}
        return features.float()


def _quantize(values: torch.Tensor) -> torch.Tensor:
    return (values * 255.0).round_().clamp_(0, 255).to(torch.uint8)


def _predicted_boxes(
    found: dict[str, torch.Tensor], width: int, height: int
) -> tuple[PredictedBox, ...]:
    out = []
    keep = found["keep"]
    flip_iou = found.get("flip_iou")
    for coords, score, label, iou in zip(
        found["boxes"][keep].tolist(),
        found["scores"][keep].tolist(),
        found["labels"][keep].tolist(),
        flip_iou[keep].tolist() if flip_iou is not None else [None] * int(keep.sum()),
        strict=True,
    ):
        box = Box.from_corners(*coords).clipped(width, height)
        out.append(PredictedBox(int(label), float(score), box, None if iou is None else float(iou)))
    if "flip_only_boxes" in found:
        missed = found["flip_only_keep"]
        for coords, score, label, iou in zip(
            found["flip_only_boxes"][missed].tolist(),
            found["flip_only_scores"][missed].tolist(),
            found["flip_only_labels"][missed].tolist(),
            found["flip_only_iou"][missed].tolist(),
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
    # Padding rows (score 0) stay: the predictor's keep mask drops them on the host, so
    # nothing here waits for the device to count the boxes.
    return [
        {"boxes": boxes[b], "scores": scores[b], "labels": labels[b]} for b in range(len(boxes))
    ]


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
