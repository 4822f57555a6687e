"""Mask tracking with a SAM 2-class video checkpoint: masks on one frame in, masks on the
following frames out, carried by the model's video memory.

A tracker is opened from the same roadmark model folder that ``roadmark model new OUT
--transformers DIR`` makes (safetensors only, local files only, nothing downloaded); the
checkpoint must be a video one: its ``config.json`` says ``model_type`` ``sam2_video``,
``edgetam_video`` or ``sam3_tracker_video`` (:data:`~roadmark.models.sam.FAMILIES`).
:func:`is_video_model` says so without loading any weights.

:meth:`VideoTracker.track` feeds the frames one at a time through a ``transformers``
inference session (the streaming mode of ``Sam2VideoModel``): the objects' masks are the
prompts on the first frame (SAM 2 takes a prompt mask as given on its conditioning frame),
then each following frame is segmented from the memory of the earlier ones. Frames are
stretched to the model's square input with ImageNet normalization, as the checkpoints' own
video processors do; masks come back at the frame's size.

Each tracked mask carries its **quality** in ``[0, 1]``: the IoU the mask decoder predicts
for the mask it chose, times the probability that the object is present at all (the
sigmoid of SAM 2's object score). An occluded or lost object gets a quality near 0 and,
usually, an empty mask.

Tracking stops between frames when its :class:`~roadmark.core.jobs.CancelToken` is
cancelled: :class:`~roadmark.core.jobs.JobCancelled` is raised.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from numpy.typing import NDArray
from torch.nn import functional as F

from roadmark.core.jobs import CancelToken, ProgressReporter
from roadmark.models.errors import ModelError
from roadmark.models.files import MANIFEST_NAME
from roadmark.models.manifest import IMAGENET_MEAN, IMAGENET_STD
from roadmark.models.promptable import PromptError
from roadmark.models.runner import resolve_device
from roadmark.models.sam import CONFIG_NAME, FAMILIES, Checkpoint, load_checkpoint


@dataclass(frozen=True)
class TrackedMasks:
    """The tracked objects on one following frame.

    Attributes:
        masks: ``K x H x W`` bool, one per prompted object in prompt order, frame size.
        quality: ``K`` predicted quality in ``[0, 1]`` (see the module doc).
    """

    masks: NDArray[np.bool_]
    quality: NDArray[np.float32]

    def __post_init__(self) -> None:
        if self.masks.ndim != 3 or self.quality.shape != (self.masks.shape[0],):
            raise ValueError("masks must be K x H x W with one quality each")


def is_video_model(path: str | Path) -> bool:
    """Whether ``path`` is a roadmark model folder of a video checkpoint (reads the
    manifest and ``config.json`` only; anything else, a file included, is ``False``)."""
    folder = Path(path)
    try:
        manifest = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
        config = json.loads((folder / CONFIG_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(manifest, dict) or manifest.get("kind") != "transformers":
        return False
    model_type = config.get("model_type") if isinstance(config, dict) else None
    family = FAMILIES.get(model_type) if isinstance(model_type, str) else None
    return family is not None and family.supports_video


class VideoTracker:
    """A SAM 2-class video model carrying masks through following frames.

    Attributes:
        name: The model's name (``model:NAME`` is the source of what it makes).
        digest: SHA-256 of its files.
        family: The checkpoint's ``model_type`` (``sam2_video``, ...).
        device: Where it runs (``cpu``, ``cuda:0``; float16 on a GPU).
    """

    def __init__(self, checkpoint: Checkpoint) -> None:
        import transformers

        family = checkpoint.family
        session = getattr(transformers, family.session_class or "", None)
        if session is None:
            raise ModelError(
                f"this transformers ({transformers.__version__}) has no "
                f"{family.session_class}; upgrade it: pip install -U transformers",
                field="transformers",
            )
        self.module = checkpoint.module.eval()
        self.session_class: Any = session
        self.name = checkpoint.name
        self.digest = checkpoint.digest
        self.family = family.model_type
        self.device = "cpu"
        self.side = int(self.module.config.image_size)

    def to(self, device: str) -> VideoTracker:
        """Move the model to ``device`` (float16 on a GPU); returns ``self``."""
        self.device = device
        self.module.to(device, torch.float16 if device.startswith("cuda") else torch.float32)
        return self

    @property
    def dtype(self) -> torch.dtype:
        dtype: torch.dtype = next(self.module.parameters()).dtype
        return dtype

    def _pixels(self, image: NDArray[np.uint8]) -> torch.Tensor:
        resized = cv2.resize(image, (self.side, self.side), interpolation=cv2.INTER_LINEAR)
        scaled = (resized.astype(np.float32) / 255.0 - np.asarray(IMAGENET_MEAN, np.float32)) / (
            np.asarray(IMAGENET_STD, np.float32)
        )
        return torch.from_numpy(scaled.transpose(2, 0, 1).copy()).to(self.device, self.dtype)

    def _mask_input(self, mask: NDArray[np.bool_]) -> torch.Tensor:
        tensor = torch.from_numpy(mask.astype(np.float32))[None, None].to(self.device)
        resized = F.interpolate(tensor, size=(self.side, self.side), mode="bilinear",
                                align_corners=False, antialias=True)
        return (resized >= 0.5).to(self.dtype)

    @torch.inference_mode()
    def track(
        self,
        frames: Sequence[NDArray[np.uint8]],
        masks: Sequence[NDArray[np.bool_]],
        *,
        cancel: CancelToken | None = None,
        progress: ProgressReporter | None = None,
    ) -> list[TrackedMasks]:
        """Carry ``masks`` (on ``frames[0]``) through ``frames[1:]``.

        Args:
            frames: ``H x W x 3`` RGB frames, all the same size; the first is the one the
                masks are on.
            masks: One ``H x W`` bool mask per object (none empty).
            cancel: Checked before each following frame.
            progress: Called with (frames done, frames to do) after each following frame.

        Returns:
            One :class:`TrackedMasks` per following frame, objects in the order of ``masks``.

        Raises:
            PromptError: No mask, an empty mask, or sizes that do not match.
            JobCancelled: ``cancel`` was cancelled.
        """
        height, width = _check(frames, masks)
        session = self.session_class(
            video_height=height,
            video_width=width,
            inference_device=self.device,
            inference_state_device=self.device,
            video_storage_device=self.device,
            dtype=self.dtype,
        )
        first = session.add_new_frame(self._pixels(frames[0]))
        ids = list(range(1, len(masks) + 1))
        for obj_id, mask in zip(ids, masks, strict=True):
            session.add_mask_inputs(session.obj_id_to_idx(obj_id), first, self._mask_input(mask))
        session.obj_with_new_inputs = list(ids)
        scores: list[torch.Tensor] = []
        decoder = getattr(self.module, "mask_decoder", None)
        hook = (
            decoder.register_forward_hook(lambda _m, _i, out: scores.append(out[1].detach()))
            if decoder is not None
            else None
        )
        try:
            self.module(inference_session=session, frame_idx=first)
            out: list[TrackedMasks] = []
            total = len(frames) - 1
            for done, frame in enumerate(frames[1:]):
                if cancel is not None:
                    cancel.raise_if_cancelled(f"tracking cancelled after {done} of {total} frames")
                scores.clear()
                result = self.module(inference_session=session, frame=self._pixels(frame))
                out.append(self._tracked(result, scores, len(ids), height, width))
                if progress is not None:
                    progress(done + 1, total)
        finally:
            if hook is not None:
                hook.remove()
        return out

    def _tracked(
        self, result: Any, scores: list[torch.Tensor], count: int, height: int, width: int
    ) -> TrackedMasks:
        logits = result.pred_masks.float().reshape(count, 1, *result.pred_masks.shape[-2:])
        logits = F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False)
        masks = (logits[:, 0] > 0).cpu().numpy()
        present = torch.sigmoid(result.object_score_logits.float().reshape(count)).cpu().numpy()
        if len(scores) == count:  # the decoder ran once per object, in object order
            iou = np.array([float(s.float().max()) for s in scores], dtype=np.float32)
        else:
            iou = np.ones(count, dtype=np.float32)
        quality = np.clip(iou * present, 0.0, 1.0).astype(np.float32)
        return TrackedMasks(np.ascontiguousarray(masks), quality)


def _check(
    frames: Sequence[NDArray[np.uint8]], masks: Sequence[NDArray[np.bool_]]
) -> tuple[int, int]:
    if len(frames) < 2:
        raise PromptError("tracking needs the prompt frame and at least one more", field="frames")
    if not masks:
        raise PromptError("tracking needs at least one object mask", field="masks")
    height, width = frames[0].shape[:2]
    for index, frame in enumerate(frames):
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.shape[:2] != (height, width):
            raise PromptError(
                f"frame {index} is {frame.shape}, expected {(height, width, 3)}",
                field=f"frames[{index}]",
            )
    for index, mask in enumerate(masks):
        if mask.shape != (height, width):
            raise PromptError(
                f"mask is {mask.shape}, the frame is {(height, width)}", field=f"masks[{index}]"
            )
        if not mask.any():
            raise PromptError("an object mask is empty", field=f"masks[{index}]")
    return int(height), int(width)


def load_tracker(path: str | Path, *, device: str = "auto") -> VideoTracker:
    """Open the video tracker of a roadmark model folder made from a video checkpoint, on
    ``device`` (``auto``: CUDA when there is one, else the CPU).

    Raises:
        ModelFileError, UnsafeModelFileError: Missing, unsafe or unfitting files, or a
            checkpoint without video memory (the message lists the video ``model_type``\\ s).
        ModelError: ``transformers`` is not installed.
        DeviceError: ``device`` is not available.
    """
    tracker = VideoTracker(load_checkpoint(Path(path), video=True))
    return tracker.to(str(resolve_device(device)))
