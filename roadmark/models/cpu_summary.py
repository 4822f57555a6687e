"""A segmentation model's per-pixel summary on a CPU (see :meth:`Predictor.summarize
<roadmark.models.predictor.Predictor.summarize>`).

On a CPU the summary (label, confidence, margin and normalized entropy at map resolution,
1024x512 for a 2048x1024 frame) cost as much as the model itself when PyTorch's operations
made it: the upsampled logits (19 floats a pixel, 40 MB a frame) were written once and read
about ten times, 72-84 ms a frame on one thread against 40-60 ms for the LRASPP forward
pass at 512x256. :func:`fused_summary` runs the compiled kernel
(``roadmark.models.fast_summary``, ``csrc/summary_module.c``): each map row's logits are
interpolated into a buffer of all classes and read there from the CPU's caches (13-17 ms a
frame with AVX2, about 24 without; ``benchmarks/summary.py``). Its exponentials and
logarithm are polynomials accurate to about 1e-7, so against PyTorch's operations the maps
are one level apart at a few thousandths of a percent of the pixels (a trained model's),
and the label differs only where two classes tie to within float rounding.

Where the kernel was not built (no C compiler), :func:`striped_summary` summarizes the
upsampled logits with PyTorch in stripes of rows, which keeps each pass over the classes in
the CPU's caches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import torch

try:
    from roadmark.models import fast_summary
except ImportError:  # built without a C compiler: PyTorch's operations in stripes
    fast_summary = None  # type: ignore[assignment]

STRIPE_ROWS = 16  # map rows summarized at once (cache-sized passes over the classes)

Stats = Callable[..., dict[str, torch.Tensor]]


def fused_summary(
    logits: torch.Tensor,
    target: tuple[int, int],
    lut: torch.Tensor,
    middle: tuple[int, int] | None = None,
) -> dict[str, torch.Tensor] | None:
    """The quantized maps of ``(B, C, h, w)`` CPU logits interpolated to ``target``
    (bilinear, ``align_corners=False``) in one pass, or ``None`` where the compiled kernel
    is missing or the labels do not fit it.

    Args:
        logits: The model's logits (divided by the temperature already).
        target: ``(height, width)`` of the maps.
        lut: The schema label of each class, ``uint8`` or ``int32`` (the label map's type).
        middle: Interpolate the logits to this ``(height, width)`` first, as the model's
            own upsampling to its input size would (see :func:`head_logits`).
    """
    batch, classes, height, width = (int(n) for n in logits.shape)
    if fast_summary is None or lut.dtype not in (torch.uint8, torch.int32):
        return None
    if min(batch, classes, height, width, *target, *(middle or ())) < 1 or len(lut) != classes:
        return None  # nothing to summarize: PyTorch's operations say what is wrong
    values = logits.detach().to(torch.float32)  # any layout: channels-last is read as it is
    out_h, out_w = target
    maps = {
        "label_ids": torch.empty((batch, out_h, out_w), dtype=lut.dtype),
        "confidence": torch.empty((batch, out_h, out_w), dtype=torch.uint8),
        "margin": torch.empty((batch, out_h, out_w), dtype=torch.uint8),
        "entropy": torch.empty((batch, out_h, out_w), dtype=torch.uint8),
    }
    mid_h, mid_w = middle or (0, 0)
    fast_summary.summarize(
        values.numpy(), out_h, out_w, lut.contiguous().numpy(), maps["label_ids"].numpy(),
        maps["confidence"].numpy(), maps["margin"].numpy(), maps["entropy"].numpy(), mid_h,
        mid_w,
    )
    return maps


def head_logits(
    module: torch.nn.Module, key: str | None
) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """For torchvision's LRASPP, FCN and DeepLabV3 (exactly those classes, whose
    ``forward`` is known) read at their ``"out"`` entry (``key``), a function from the
    input to the logits *before* the model's own upsampling to the input size, which
    :func:`fused_summary` then does itself (``middle``) row by row: PyTorch's upsampling
    of LRASPP's 19 classes to 512x256 took about 5 ms a frame and wrote 10 MB that the
    summary read again. ``None`` for any other module, or where the compiled kernel is
    missing."""
    from torchvision.models.segmentation import FCN, LRASPP, DeepLabV3

    if fast_summary is None or key != "out":
        return None
    if type(module) is LRASPP:
        lraspp = cast(Any, module)
        return lambda x: cast(torch.Tensor, lraspp.classifier(lraspp.backbone(x)))
    if type(module) in (FCN, DeepLabV3):  # the auxiliary head is not run: only "out" is read
        simple = cast(Any, module)
        return lambda x: cast(torch.Tensor, simple.classifier(simple.backbone(x)["out"]))
    return None


def striped_summary(logits: torch.Tensor, stats: Stats) -> dict[str, torch.Tensor]:
    """``stats`` of upsampled ``(B, C, H, W)`` CPU logits, a stripe of rows at a time.

    Each stripe is copied out first: in the whole map one class's rows lie 2 MB after the
    previous class's, so a stripe's 19 classes fell into the same cache sets and evicted
    each other (a pass 1.3 ms against 0.27 in the copy). The copy is the stripe's own, which
    ``stats`` may overwrite (``scratch=True``).
    """
    stripes = [
        stats(logits[:, :, row : row + STRIPE_ROWS].clone(
            memory_format=torch.contiguous_format), scratch=True)
        for row in range(0, logits.shape[2], STRIPE_ROWS)
    ]
    return {key: torch.cat([part[key] for part in stripes], dim=1) for key in stripes[0]}
