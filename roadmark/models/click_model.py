"""The bundled click model behind the :class:`~roadmark.models.promptable.PromptableModel`
interface (the network and its crops are in :mod:`roadmark.models.click_net`, the tiles
along thin objects in :mod:`roadmark.models.click_tiles`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np
import torch
from numpy.typing import NDArray

from roadmark.models.click_geodesic import honour_negatives
from roadmark.models.click_net import (
    BOX_MARGIN,
    FIRST_SIDES,
    GROW_MARGIN,
    GROW_PASSES,
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
    paste_guided,
    square_window,
    touches_border,
    union_window,
    widen,
)
from roadmark.models.click_parts import Part, keep_parts, mask_parts, part_of
from roadmark.models.click_tiles import LATER_TILES, MAX_TILES, merge_tiles, tile_windows
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
    edge_aware = True  # paste masks with the guided filter (False: bilinear only)
    # decode a thin object again through tiles along it (:mod:`~roadmark.models.click_tiles`):
    # NoC@85 on the selection drive 5.09 -> 4.21 (thin 9.29 -> 6.16); click-to-preview p95
    # 73-78 ms with it, within its 80 ms target (README, Benchmarks)
    tiled = True
    # a click works on its part of the mask (:mod:`~roadmark.models.click_parts`)
    parts = True
    # a negative click the decoder overruled is honoured by a geodesic split of the mask
    # (:mod:`~roadmark.models.click_geodesic`)
    honour_clicks = True

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
        previous = prompts.mask if prompts.mask is not None and prompts.mask.any() else None
        anchors = [(x, y) for x, y, positive in points if positive]
        if prompts.box is not None:
            window = widen(
                union_window(prompts.box, _points_window(anchors)) or prompts.box, BOX_MARGIN,
                width, height
            )
            boxed = self._run(embedding, features, [window], points, previous)[0]
            return Candidates.ranked(self._final(embedding, boxed)[None],
                                     np.asarray([boxed.score]))
        others: list[Part] = []
        if previous is not None and self.parts:
            # the last click works on its part of the mask (or starts a new part)
            parts = mask_parts(previous)
            k = part_of(parts, points[-1])
            x, y, positive = points[-1]
            if k is None:
                anchors, others, previous = [(x, y)], parts, None
            else:
                anchors = [(px, py) for px, py in anchors if parts[k].holds(px, py)]
                if positive and (x, y) not in anchors:
                    anchors.append((x, y))
                others = [part for j, part in enumerate(parts) if j != k]
        last, alternatives = self._object(embedding, features, points, anchors, previous,
                                          prompts.mask)
        masks = [self._final(embedding, last), *(one.mask for one in alternatives)]
        if others:
            # the other parts stay as they were, the decoded part stays out of their reach
            masks = [keep_parts(mask, others) for mask in masks]
        if self.honour_clicks:
            masks[0] = honour_negatives(masks[0], embedding["image"], points)
        scores = [last.score, *(min(one.score, last.score) for one in alternatives)]
        return Candidates.ranked(np.stack(masks), np.asarray(scores))

    def _object(
        self,
        embedding: Embedding,
        features: torch.Tensor,
        points: Sequence[tuple[float, float, bool]],
        anchors: Sequence[tuple[float, float]],
        previous: NDArray[np.bool_] | None,
        earlier: NDArray[np.bool_] | None,
    ) -> tuple[_Pass, list[_Pass]]:
        """The decoder's passes over one part: ``previous`` is the part's mask (``None``
        for a new part, whose first click is the first of ``anchors``); the crop covers it
        and the positive clicks in ``anchors``. ``earlier`` is the user's earlier mask
        (the decoder sees it in the crop). Returns the last pass and, for a new part, the
        other candidates."""
        height, width = self.frame_size(embedding)
        alternatives: list[_Pass] = []
        start = previous
        if start is None:
            # the first click: windows of a few sizes around it; the smallest whose mask
            # stays inside it (the others are candidates), then zoom in on that mask
            x, y = anchors[0]
            windows = [square_window(x, y, side, width, height) for side in FIRST_SIDES]
            found = self._run(embedding, features, windows, points, earlier)
            inside = [k for k, one in enumerate(found) if not one.touches]
            pick = inside[0] if inside else len(found) - 1
            alternatives = [found[pick], *(one for k, one in enumerate(found) if k != pick)]
            start = found[pick].mask
            earlier = start if earlier is None else earlier | start
        window = widen(
            union_window(mask_window(start), _points_window(anchors)) or (0, 0, width, height),
            ZOOM_MARGIN,
            width,
            height,
        )
        last = self._run(embedding, features, [window], points, earlier)[0]
        for _ in range(GROW_PASSES):
            if not last.touches:
                break
            window = widen(union_window(window, mask_window(last.mask)) or window, GROW_MARGIN,
                           width, height)
            last = self._run(embedding, features, [window], points, last.mask)[0]
        if self.tiled:
            last = self._tiles(embedding, features, points, anchors,
                               start if previous is not None else last.mask, last,
                               first=previous is None)
        return last, alternatives

    def _run(
        self,
        embedding: Embedding,
        features: torch.Tensor,
        windows: Sequence[Window],
        points: Sequence[tuple[float, float, bool]],
        previous: NDArray[np.bool_] | None,
    ) -> list[_Pass]:
        """One decoder batch, one crop per window."""
        size = self.frame_size(embedding)
        out = []
        for probability, window in zip(
            self._probabilities(embedding, features, windows, points, previous), windows,
            strict=True,
        ):
            out.append(_Pass(_frame_mask(*paste(probability, window, size), size),
                             stability(probability), probability, window,
                             touches_border(probability, window, size)))
        return out

    def _probabilities(
        self,
        embedding: Embedding,
        features: torch.Tensor,
        windows: Sequence[Window],
        points: Sequence[tuple[float, float, bool]],
        previous: NDArray[np.bool_] | None,
    ) -> NDArray[np.float32]:
        """The decoder's probabilities of one batch, one ``CROP x CROP`` crop per window."""
        x = torch.cat([decoder_input(embedding, features, window, points, previous)
                       for window in windows])
        return cast(NDArray[np.float32], torch.sigmoid(self.net.decoder(x)[:, 0]).numpy())

    def _tiles(
        self,
        embedding: Embedding,
        features: torch.Tensor,
        points: Sequence[tuple[float, float, bool]],
        positives: Sequence[tuple[float, float]],
        shape: NDArray[np.bool_],
        last: _Pass,
        first: bool,
    ) -> _Pass:
        """``last`` decoded again through tiles along the object (its part's earlier
        ``shape``, with ``positives`` in tiles) when it is thin
        (:func:`~roadmark.models.click_tiles.tile_windows`, fewer tiles for a part's
        ``first`` click, whose mask is the hover preview; one decoder batch), the
        tiles' probabilities merged over frame pixels; ``last`` itself otherwise."""
        windows = tile_windows(shape, positives, last.window,
                               MAX_TILES if first else LATER_TILES)
        if not windows:
            return last
        # the earlier mask of the tiles is this click's single-crop mask: it already has
        # this click in it (the user's earlier mask, where there is one, gives the shape);
        # measured better on the selection drive (seed 29) than the user's earlier mask
        probabilities = self._probabilities(embedding, features, windows, points, last.mask)
        merged, window = merge_tiles(list(probabilities), windows,
                                     (last.probability, last.window))
        size = self.frame_size(embedding)
        return _Pass(_frame_mask(*paste(merged, window, size), size), stability(merged), merged,
                     window, last.touches)

    def _final(self, embedding: Embedding, found: _Pass) -> NDArray[np.bool_]:
        """The last pass's mask, pasted with edge-aware upsampling (:attr:`edge_aware`)."""
        if not self.edge_aware:
            return found.mask
        size = self.frame_size(embedding)
        return _frame_mask(*paste_guided(found.probability, found.window, embedding["image"],
                                         size), size)


@dataclass(frozen=True)
class _Pass:
    """One crop's decoder pass: its mask on the frame (bilinear paste), stability score,
    crop probabilities, window, and whether the mask runs into the window's border."""

    mask: NDArray[np.bool_]
    score: float
    probability: NDArray[np.float32]
    window: Window
    touches: bool


def _frame_mask(pasted: NDArray[np.float32], row0: int, col0: int,
                size: tuple[int, int]) -> NDArray[np.bool_]:
    """A frame-size mask of pasted probabilities above 0.5 (``row0``, ``col0``: where the
    pasted array starts)."""
    mask = np.zeros(size, dtype=bool)
    mask[row0 : row0 + pasted.shape[0], col0 : col0 + pasted.shape[1]] = pasted > 0.5
    return mask


def _points_window(positives: Sequence[tuple[float, float]]) -> Window | None:
    if not positives:
        return None
    xs, ys = zip(*positives, strict=True)
    return (min(xs), min(ys), max(xs) + 1.0, max(ys) + 1.0)
