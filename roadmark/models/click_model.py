"""The bundled click model behind the :class:`~roadmark.models.promptable.PromptableModel`
interface (the network and its crops are in :mod:`roadmark.models.click_net`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import cv2
import numpy as np
import torch
from numpy.typing import NDArray

from roadmark.models.click_net import (
    BOX_MARGIN,
    IMAGE_SIDE,
    ZOOM_MARGIN,
    ClickNet,
    Window,
    click_maps,
    crop_pixels,
    encoder_input,
    feature_crops,
    mask_window,
    normalize,
    paste,
    union_window,
    widen,
)
from roadmark.models.files import LoadedModel
from roadmark.models.promptable import Candidates, Embedding, PromptableModel, Prompts

STABILITY_OFFSET = 0.2  # stability score: IoU of the masks at p > 0.5 -/+ this


def stability(probability: NDArray[np.float32]) -> float:
    """SAM's stability score on probabilities: IoU of the masks at two thresholds."""
    low = probability > 0.5 - STABILITY_OFFSET
    high = probability > 0.5 + STABILITY_OFFSET
    union = int(low.sum())
    return float(high.sum()) / union if union else 0.0


def decoder_input(
    embedding: Embedding,
    features: torch.Tensor,
    window: Window,
    points: Sequence[tuple[float, float, bool]],
    mask: NDArray[np.bool_] | None,
) -> torch.Tensor:
    """The decoder's ``1 x C x CROP x CROP`` input for one crop."""
    height, width = PromptableModel.frame_size(embedding)
    pixels = crop_pixels(embedding["image"], window, (height, width))
    feats = feature_crops(features, [window], (height, width))
    maps = click_maps(points, window)
    if mask is not None:
        previous = crop_pixels(mask.astype(np.float32), window, (height, width))
    else:
        previous = np.zeros(maps.shape[1:], dtype=np.float32)
    extra = np.concatenate([normalize(pixels), maps, previous[None]], axis=0)
    extra_t = torch.from_numpy(extra)[None]
    return torch.cat([extra_t[:, :3], feats, extra_t[:, 3:]], 1)


class ClickModel(PromptableModel):
    """The click network of a roadmark model file (task ``promptable``, arch
    ``roadmark_click``)."""

    family = "click"

    def __init__(self, loaded: LoadedModel) -> None:
        if not isinstance(loaded.module, ClickNet):
            raise TypeError("not a click network")
        self.net: ClickNet = loaded.module
        self.name = loaded.name
        self.digest = loaded.digest
        self.device = "cpu"

    def to(self, device: str) -> ClickModel:
        self.device = device
        half = device.startswith("cuda")
        self.net.encoder.to(device, torch.float16 if half else torch.float32)
        return self

    @torch.inference_mode()
    def encode(self, images: Sequence[NDArray[np.uint8]]) -> list[Embedding]:
        if not images:
            return []
        batch = torch.from_numpy(np.stack([encoder_input(image) for image in images]))
        batch = batch.to(self.device, next(self.net.encoder.parameters()).dtype)
        features = self.net.encoder(batch).to("cpu", torch.float16).numpy()
        out = []
        for image, feature in zip(images, features, strict=True):
            height, width = image.shape[:2]
            scale = min(1.0, IMAGE_SIDE / max(height, width))
            small = image
            if scale < 1.0:
                size = (max(round(width * scale), 1), max(round(height * scale), 1))
                small = cast(
                    NDArray[np.uint8], cv2.resize(image, size, interpolation=cv2.INTER_AREA)
                )
            out.append(
                {
                    "features": feature,
                    "image": np.ascontiguousarray(small),
                    "frame_size": np.array([height, width], dtype=np.int64),
                }
            )
        return out

    @torch.inference_mode()
    def decode(self, embedding: Embedding, prompts: Prompts) -> Candidates:
        height, width = self.frame_size(embedding)
        prompts.check(height, width)
        features = torch.from_numpy(embedding["features"].astype(np.float32))[None]
        points = list(prompts.points)
        masks: list[NDArray[np.bool_]] = []
        scores: list[float] = []
        previous = prompts.mask if prompts.mask is not None and prompts.mask.any() else None
        clicks = _points_window(points)
        if prompts.box is not None:
            window = widen(
                union_window(prompts.box, clicks) or prompts.box, BOX_MARGIN, width, height
            )
        elif previous is not None:
            window = widen(
                union_window(mask_window(previous), clicks) or (0, 0, width, height),
                ZOOM_MARGIN,
                width,
                height,
            )
        else:
            # RITM's zoom-in: look at the whole frame first, then at what it found.
            first = self._run(
                embedding, features, (0.0, 0.0, float(width), float(height)), points, None
            )
            previous = first[0]
            masks.append(first[0])
            scores.append(first[1])
            found = mask_window(previous)
            window = widen(
                union_window(found, clicks) or (0, 0, width, height), ZOOM_MARGIN, width, height
            )
        mask, score = self._run(embedding, features, window, points, previous)
        masks.insert(0, mask)
        scores.insert(0, score)
        return Candidates.ranked(np.stack(masks), np.asarray(scores))

    def _run(
        self,
        embedding: Embedding,
        features: torch.Tensor,
        window: Window,
        points: Sequence[tuple[float, float, bool]],
        previous: NDArray[np.bool_] | None,
    ) -> tuple[NDArray[np.bool_], float]:
        height, width = self.frame_size(embedding)
        x = decoder_input(embedding, features, window, points, previous)
        logits = self.net.decoder(x)[0, 0]
        probability = torch.sigmoid(logits).numpy()
        pasted, row0, col0 = paste(probability, window, (height, width))
        mask = np.zeros((height, width), dtype=bool)
        mask[row0 : row0 + pasted.shape[0], col0 : col0 + pasted.shape[1]] = pasted > 0.5
        return mask, stability(probability)


def _points_window(points: Sequence[tuple[float, float, bool]]) -> Window | None:
    positives = [(x, y) for x, y, positive in points if positive]
    if not positives:
        return None
    xs, ys = zip(*positives, strict=True)
    return (min(xs), min(ys), max(xs) + 1.0, max(ys) + 1.0)
