"""The bundled click model: a small network that turns clicks (and a box, and an earlier
mask) into a mask, in the spirit of RITM (Sofiiuk et al., "Reviving Iterative Training
with Mask Guidance for Interactive Segmentation").

It is split like SAM so that a click never waits on the image encoder:

- :class:`ClickEncoder` runs once per frame on the frame resized to
  :data:`ENCODER_SIZE` and yields a feature map at a quarter of that size (the cached
  *embedding*, together with the frame's pixels at up to :data:`IMAGE_SIDE` pixels);
- :class:`ClickDecoder` runs per click on a square crop (:data:`CROP` pixels) of the frame
  around the prompt: the crop's pixels, the encoder features of the crop (bilinearly sampled),
  disks at the positive and negative clicks, and the earlier mask.

The crop follows RITM's zoom-in. With one click and nothing else, the first pass looks
through square windows around the click (:data:`FIRST_SIDES`, one decoder batch) and
keeps the smallest whose mask stays off its border (a mask that runs into a side of its
window, where the frame goes on, is cut off there; with none, the largest); that mask's
bounding box (with the clicks, widened by :data:`ZOOM_MARGIN`) is the crop of a second
pass. With a box, the crop is the box widened a little; with an earlier mask, its
bounding box and the clicks. A crop whose mask runs into its border is widened and
decoded again (at most :data:`GROW_PASSES` times), so that a large object is not cut at a
crop that was too small.

The crop's probabilities go back to frame pixels through a guided filter (He et al.,
"Guided Image Filtering", 2010) guided by the frame's colours (:func:`paste_guided`): the
decoder's cells are coarse (a crop of a large object is several frame pixels per crop
pixel, and the decoder works at half the crop's resolution), and the filter moves the
mask's boundary onto the nearby colour edge of the image, the edge-aware upsampling used
for coarse segmentation logits.

This module holds the networks and the geometry of crops; the adapter to the
:class:`~roadmark.models.promptable.PromptableModel` interface is
:mod:`roadmark.models.click_model`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import cv2
import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn
from torch.nn import functional as F

from roadmark.models.architectures import Architecture, check_options, register

ARCH_NAME = "roadmark_click"
ENCODER_SIZE = (128, 256)  # (height, width) the encoder sees
FEATURE_STRIDE = 4
FEATURES = 32
CROP = 96  # the decoder's crop is CROP x CROP pixels
IMAGE_SIDE = 1024  # the embedding keeps the frame's pixels at up to this longest side
CLICK_RADIUS = 4.0  # disk radius of a click in crop pixels
ZOOM_MARGIN = 0.4  # widen the zoom-in box by this fraction of its size on each side
BOX_MARGIN = 0.1
MIN_CROP = 48.0  # smallest crop side in frame pixels
# the first click's windows (square, frame pixels): the smallest whose mask stays inside
# is kept; one small window and growing crops measured a little better on the held-out
# frames than three sizes at once (NoC@85 7.05 vs 7.33 on one checkpoint)
FIRST_SIDES: tuple[float, ...] = (64.0,)
GROW_PASSES = 2  # passes that widen a crop whose mask runs into its border (at most)
GROW_MARGIN = 1.0  # each of them widens the crop by this fraction of its size per side
BORDER_PIXELS = 2  # a mask "touches" a crop side with at least this many pixels on it
GUIDE_PIXELS = 60_000  # the edge-aware paste works on at most this many pixels
GUIDE_EPS = 2e-3  # the guided filter's regularization (guide in [0, 1])
REFINE_WIDTH = 8  # channels of the full-resolution refinement head
GUIDE_RADIUS = 1.0  # the guided filter's radius in decoder cells (two crop pixels each)
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def _conv(cin: int, cout: int, *, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class _Residual(nn.Module):
    def __init__(self, channels: int, dilation: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv(channels, channels, dilation=dilation),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


class ClickEncoder(nn.Module):
    """Image -> features at 1/4 resolution (run once per frame)."""

    def __init__(self, features: int = FEATURES) -> None:
        super().__init__()
        self.stem = nn.Sequential(_conv(3, 16, stride=2), _conv(16, features, stride=2))
        self.quarter = nn.Sequential(_Residual(features), _Residual(features))
        self.eighth = nn.Sequential(
            _conv(features, 64, stride=2), _Residual(64, 2), _Residual(64, 4)
        )
        self.lift = nn.Conv2d(64, features, 1)
        self.out = nn.Conv2d(features, features, 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        quarter = self.quarter(self.stem(image))
        coarse = self.lift(self.eighth(quarter))
        coarse = F.interpolate(
            coarse, size=quarter.shape[-2:], mode="bilinear", align_corners=False
        )
        return self.out(F.relu(quarter + coarse))


class Refinement(nn.Module):
    """A residual on the decoder's upsampled logits, computed at the crop's full resolution.

    It sees what the half-resolution decoder cannot resolve: the crop's pixels, the click
    disks and the earlier mask at every crop pixel, beside the coarse probabilities. Its
    last convolution starts at zero, so a decoder that gains this head computes exactly
    what it computed before until the head has learned something (ControlNet's "zero
    convolution").
    """

    GUIDES = 3 + 3 + 1  # crop pixels, click disks and earlier mask, coarse probability

    def __init__(self, width: int = REFINE_WIDTH) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(self.GUIDES, width, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=2, dilation=2),
            nn.ReLU(inplace=True),
        )
        self.out = nn.Conv2d(width, 1, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(cast(torch.Tensor, self.out.bias))

    def forward(self, x: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        """``coarse`` logits (``B x 1 x CROP x CROP``) refined with the decoder's input ``x``."""
        guides = torch.cat([x[:, :3], x[:, -3:], torch.sigmoid(coarse)], 1)
        return coarse + self.out(self.body(guides))


class ClickDecoder(nn.Module):
    """Crop pixels + crop features + click disks + earlier mask -> mask logits.

    The first layer has stride 2, so the network works at half the crop's resolution and
    its logits are upsampled bilinearly to the crop (boundaries fall between cells); with
    ``refine``, a :class:`Refinement` head corrects them at the crop's full resolution.
    """

    def __init__(self, features: int = FEATURES, refine: bool = False) -> None:
        super().__init__()
        cin = 3 + features + 3
        self.e1 = nn.Sequential(_conv(cin, 24, stride=2), _conv(24, 24))
        self.e2 = nn.Sequential(_conv(24, 32, stride=2), _conv(32, 32))
        self.e3 = nn.Sequential(_conv(32, 48, stride=2), _Residual(48, 2), _Residual(48, 4))
        self.d2 = _conv(48 + 32, 32)
        self.d1 = _conv(32 + 24, 24)
        self.head = nn.Conv2d(24, 1, 1)
        self.refine = Refinement() if refine else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.e1(x)
        e2 = self.e2(e1)
        e3 = self.e3(e2)
        d2 = self.d2(torch.cat([F.interpolate(e3, size=e2.shape[-2:], mode="bilinear"), e2], 1))
        d1 = self.d1(torch.cat([F.interpolate(d2, size=e1.shape[-2:], mode="bilinear"), e1], 1))
        coarse = F.interpolate(self.head(d1), size=x.shape[-2:], mode="bilinear")
        return coarse if self.refine is None else self.refine(x, coarse)


class ClickNet(nn.Module):
    """The two halves in one module (one state dict, one model file).

    ``refine`` gives the decoder a full-resolution :class:`Refinement` head (the manifest's
    ``arch_options`` say so; model files without it load as before).
    """

    def __init__(self, features: int = FEATURES, refine: bool = False) -> None:
        super().__init__()
        self.encoder = ClickEncoder(features)
        self.decoder = ClickDecoder(features, refine)

    @property
    def refines(self) -> bool:
        """Whether the decoder has the full-resolution refinement head."""
        return self.decoder.refine is not None

    def with_refinement(self) -> ClickNet:
        """A copy of this network with a (zero-initialised) refinement head added: it
        computes the same masks until the head is trained."""
        net = ClickNet(self.encoder.out.out_channels, refine=True)
        result = net.load_state_dict(self.state_dict(), strict=False)
        assert not result.unexpected_keys, result.unexpected_keys
        assert all(k.startswith("decoder.refine.") for k in result.missing_keys)
        return net.train(self.training)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """The encoder (the decoder is called through :attr:`decoder`)."""
        return self.encoder(image)


@dataclass(frozen=True)
class _ClickArchitecture(Architecture):
    """:class:`ClickNet` in the architecture registry (task ``promptable``)."""

    def build(self, num_classes: int, options: Mapping[str, Any] | None = None) -> nn.Module:
        kwargs = check_options(self, options or {})
        return ClickNet(**kwargs).eval()


register(
    _ClickArchitecture(
        ARCH_NAME,
        "promptable",
        classes_key="decoder.head.weight",  # one output: the mask
        options={"features": int, "refine": bool},
        mean=MEAN,
        std=STD,
        output="masks",
    )
)


# -- crops ----------------------------------------------------------------------------------


Window = tuple[float, float, float, float]  # x0, y0, x1, y1 in frame pixels (continuous)


def widen(window: Window, margin: float, width: int, height: int) -> Window:
    """``window`` widened by ``margin`` of its size per side, at least :data:`MIN_CROP`
    wide and high, kept inside the frame (shifted, not cut, where it can be)."""
    x0, y0, x1, y1 = window
    w, h = x1 - x0, y1 - y0
    w2 = min(max(w * (1 + 2 * margin), MIN_CROP), width)
    h2 = min(max(h * (1 + 2 * margin), MIN_CROP), height)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    nx0 = min(max(cx - w2 / 2, 0.0), width - w2)
    ny0 = min(max(cy - h2 / 2, 0.0), height - h2)
    return (nx0, ny0, nx0 + w2, ny0 + h2)


def mask_window(mask: NDArray[np.bool_]) -> Window | None:
    """The bounding box of a mask's pixels, or ``None`` for an empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return (float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))


def square_window(x: float, y: float, side: float, width: int, height: int) -> Window:
    """A ``side`` x ``side`` window centred on ``(x, y)``, kept inside the frame."""
    half = side / 2
    return widen((x - half, y - half, x + half, y + half), 0.0, width, height)


def touches_border(probability: NDArray[np.float32], window: Window,
                   frame_size: tuple[int, int]) -> bool:
    """Whether a crop's mask runs into a side of its window that is not the frame's edge
    (the object likely goes on beyond the crop)."""
    height, width = frame_size
    mask = probability > 0.5
    x0, y0, x1, y1 = window
    sides = (
        (x0 > 0.5, mask[:, 0]),
        (y0 > 0.5, mask[0, :]),
        (x1 < width - 0.5, mask[:, -1]),
        (y1 < height - 0.5, mask[-1, :]),
    )
    return any(inside and int(np.count_nonzero(line)) >= BORDER_PIXELS for inside, line in sides)


def union_window(a: Window | None, b: Window | None) -> Window | None:
    if a is None:
        return b
    if b is None:
        return a
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def crop_matrix(window: Window, scale_x: float = 1.0, scale_y: float = 1.0,
                shape: tuple[int, int] = (CROP, CROP)) -> NDArray:
    """Affine matrix from crop pixels to source pixels (for ``cv2.WARP_INVERSE_MAP``);
    ``scale_*`` convert frame pixels to the source's pixels; ``shape`` is the crop's
    ``(rows, cols)``."""
    x0, y0, x1, y1 = window
    ax = (x1 - x0) * scale_x / shape[1]
    ay = (y1 - y0) * scale_y / shape[0]
    return np.array(
        [[ax, 0.0, x0 * scale_x + 0.5 * ax - 0.5], [0.0, ay, y0 * scale_y + 0.5 * ay - 0.5]],
        dtype=np.float64,
    )


def crop_pixels(source: NDArray, window: Window, frame_size: tuple[int, int], *,
                nearest: bool = False) -> NDArray:
    """The ``CROP x CROP`` crop of ``window`` (frame pixels) from ``source`` (the frame at
    any scale; ``frame_size`` is the frame's ``(height, width)``)."""
    height, width = frame_size
    matrix = crop_matrix(window, source.shape[1] / width, source.shape[0] / height)
    return cv2.warpAffine(
        source,
        matrix,
        (CROP, CROP),
        flags=(cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR) | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )


def click_maps(
    points: Sequence[tuple[float, float, bool]], window: Window
) -> NDArray[np.float32]:
    """Two ``CROP x CROP`` maps (positive, negative) with a disk at every click."""
    x0, y0, x1, y1 = window
    maps = np.zeros((2, CROP, CROP), dtype=np.float32)
    grid = np.arange(CROP, dtype=np.float32) + 0.5
    for x, y, positive in points:
        cx = (x - x0) / (x1 - x0) * CROP
        cy = (y - y0) / (y1 - y0) * CROP
        disk = (grid[None, :] - cx) ** 2 + (grid[:, None] - cy) ** 2 <= CLICK_RADIUS**2
        maps[0 if positive else 1][disk] = 1.0
    return maps


def normalize(image: NDArray[np.uint8]) -> NDArray[np.float32]:
    """``H x W x 3`` uint8 RGB -> ``3 x H x W`` normalized float32."""
    scaled = image.astype(np.float32) / 255.0
    centred = (scaled - np.asarray(MEAN, dtype=np.float32)) / np.asarray(STD, dtype=np.float32)
    return np.ascontiguousarray(centred.transpose(2, 0, 1), dtype=np.float32)


def encoder_input(image: NDArray[np.uint8]) -> NDArray[np.float32]:
    """A frame as the encoder's input (resized to :data:`ENCODER_SIZE`, normalized)."""
    height, width = ENCODER_SIZE
    small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return normalize(cast(NDArray[np.uint8], small))


def feature_crops(
    features: torch.Tensor, windows: Sequence[Window], frame_size: tuple[int, int],
    batch_index: Sequence[int] | None = None,
) -> torch.Tensor:
    """Bilinear ``CROP x CROP`` crops of encoder features (``B x C x h x w``), one per
    window, taken from the feature map ``batch_index[i]`` (0 for all by default)."""
    height, width = frame_size
    grids = []
    base = (torch.arange(CROP, dtype=features.dtype, device=features.device) + 0.5) / CROP
    for x0, y0, x1, y1 in windows:
        # frame pixels -> grid_sample's [-1, 1] (align_corners=False: -1 is the left edge)
        gx = (x0 + base * (x1 - x0)) / width * 2 - 1
        gy = (y0 + base * (y1 - y0)) / height * 2 - 1
        grids.append(torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], dim=-1))
    grid = torch.stack(grids)
    index = list(batch_index) if batch_index is not None else [0] * len(windows)
    source = features[index] if features.shape[0] != len(windows) or index != list(
        range(len(windows))) else features
    return F.grid_sample(source, grid, mode="bilinear", padding_mode="border",
                         align_corners=False)


def paste(probability: NDArray[np.float32], window: Window, frame_size: tuple[int, int]
          ) -> tuple[NDArray[np.float32], int, int]:
    """A crop's probabilities (any ``rows x cols`` over the window) mapped back onto the
    frame pixels the window covers.

    Returns:
        ``(probabilities, row0, col0)``: the array covers the integer pixels of the window.
    """
    height, width = frame_size
    x0, y0, x1, y1 = window
    col0, row0 = max(int(np.floor(x0)), 0), max(int(np.floor(y0)), 0)
    col1, row1 = min(int(np.ceil(x1)), width), min(int(np.ceil(y1)), height)
    matrix = crop_matrix(window, shape=(probability.shape[0], probability.shape[1]))
    forward = cv2.invertAffineTransform(matrix)
    forward[0, 2] += forward[0, 0] * col0
    forward[1, 2] += forward[1, 1] * row0
    out = cv2.warpAffine(
        probability,
        forward,
        (max(col1 - col0, 1), max(row1 - row0, 1)),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return cast(NDArray[np.float32], out), row0, col0


def guided_filter(guide: NDArray[np.float32], source: NDArray[np.float32], radius: int,
                  eps: float) -> NDArray[np.float32]:
    """He et al.'s guided filter ("Guided Image Filtering", 2010) with a colour guide.

    ``source`` (``H x W``) is smoothed where ``guide`` (``H x W x 3`` in ``[0, 1]``) is flat
    and keeps the guide's edges: upsampled mask probabilities snap to the image's colour
    edges (the edge-aware upsampling of coarse segmentation logits).
    """
    size = (2 * radius + 1, 2 * radius + 1)

    def box(values: NDArray[np.float32]) -> NDArray[np.float32]:
        return cast(NDArray[np.float32], cv2.boxFilter(values, cv2.CV_32F, size,
                                                       borderType=cv2.BORDER_REFLECT))

    mean_i = box(guide)
    mean_p = box(source)
    cov_ip = box(guide * source[..., None]) - mean_i * mean_p[..., None]
    # the 3 x 3 covariance of the guide per pixel (symmetric: six entries)
    pairs = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))
    var = {
        (a, b): box(guide[..., a] * guide[..., b]) - mean_i[..., a] * mean_i[..., b]
        for a, b in pairs
    }
    s00, s01, s02 = var[0, 0] + eps, var[0, 1], var[0, 2]
    s11, s12, s22 = var[1, 1] + eps, var[1, 2], var[2, 2] + eps
    # inverse by the adjugate
    i00 = s11 * s22 - s12 * s12
    i01 = s02 * s12 - s01 * s22
    i02 = s01 * s12 - s02 * s11
    i11 = s00 * s22 - s02 * s02
    i12 = s01 * s02 - s00 * s12
    i22 = s00 * s11 - s01 * s01
    det = s00 * i00 + s01 * i01 + s02 * i02
    c0, c1, c2 = cov_ip[..., 0], cov_ip[..., 1], cov_ip[..., 2]
    a0 = (i00 * c0 + i01 * c1 + i02 * c2) / det
    a1 = (i01 * c0 + i11 * c1 + i12 * c2) / det
    a2 = (i02 * c0 + i12 * c1 + i22 * c2) / det
    b = mean_p - a0 * mean_i[..., 0] - a1 * mean_i[..., 1] - a2 * mean_i[..., 2]
    out = (box(a0) * guide[..., 0] + box(a1) * guide[..., 1] + box(a2) * guide[..., 2]
           + box(b))
    return cast(NDArray[np.float32], out)


def paste_guided(probability: NDArray[np.float32], window: Window, image: NDArray[np.uint8],
                 frame_size: tuple[int, int]) -> tuple[NDArray[np.float32], int, int]:
    """:func:`paste` with edge-aware upsampling: the crop's probabilities (any ``rows x
    cols`` over the window, a crop pixel per decoder half-cell) are resampled to
    the window's frame pixels (at most :data:`GUIDE_PIXELS` of them, then resized) and
    passed through :func:`guided_filter` guided by the frame's pixels (``image``, the
    frame at any scale), so that the mask's boundary follows the image's edges rather
    than the crop's cells.

    Returns:
        ``(probabilities, row0, col0)`` as :func:`paste`.
    """
    height, width = frame_size
    x0, y0, x1, y1 = window
    col0, row0 = max(int(np.floor(x0)), 0), max(int(np.floor(y0)), 0)
    col1, row1 = min(int(np.ceil(x1)), width), min(int(np.ceil(y1)), height)
    out_w, out_h = max(col1 - col0, 1), max(row1 - row0, 1)
    f = min(1.0, float(np.sqrt(GUIDE_PIXELS / (out_w * out_h))))
    grid_w, grid_h = max(round(out_w * f), 1), max(round(out_h * f), 1)
    fx, fy = grid_w / out_w, grid_h / out_h
    # grid pixel u -> frame position col0 + (u + 0.5) / fx -> crop / image pixel indices
    kx, ky = probability.shape[1] / (x1 - x0), probability.shape[0] / (y1 - y0)
    to_crop = np.array(
        [[kx / fx, 0.0, (col0 + 0.5 / fx - x0) * kx - 0.5],
         [0.0, ky / fy, (row0 + 0.5 / fy - y0) * ky - 0.5]],
        dtype=np.float64,
    )
    sx, sy = image.shape[1] / width, image.shape[0] / height
    to_image = np.array(
        [[sx / fx, 0.0, (col0 + 0.5 / fx) * sx - 0.5],
         [0.0, sy / fy, (row0 + 0.5 / fy) * sy - 0.5]],
        dtype=np.float64,
    )
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    coarse = cv2.warpAffine(probability, to_crop, (grid_w, grid_h), flags=flags,
                            borderMode=cv2.BORDER_REPLICATE)
    guide = cv2.warpAffine(image, to_image, (grid_w, grid_h), flags=flags,
                           borderMode=cv2.BORDER_REPLICATE).astype(np.float32) / 255.0
    # the decoder's cells are two crop pixels
    radius = max(2, round(GUIDE_RADIUS * 2 * max(fx / kx, fy / ky)))
    fine = guided_filter(guide, coarse.astype(np.float32), radius, GUIDE_EPS)
    if (grid_w, grid_h) != (out_w, out_h):
        fine = cast(NDArray[np.float32],
                    cv2.resize(fine, (out_w, out_h), interpolation=cv2.INTER_LINEAR))
    return fine, row0, col0
