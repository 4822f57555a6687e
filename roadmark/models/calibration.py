"""Confidence that means what it says: temperature scaling of a segmenter's probabilities.

A network trained with cross-entropy on a few frames is over-confident: of the pixels it
gives 0.95, far fewer than 95 % are right, so the review queue (which ranks regions by the
expected number of wrong pixels, the sum of ``1 - confidence``) undercounts errors where
the model is wrong and sure. Temperature scaling (Guo et al., 2017, "On calibration of
modern neural networks") divides the logits by one number ``T`` fitted on held-out frames
by minimizing the negative log-likelihood; the winning class never changes, only how sure
the model says it is.

- :func:`fit_temperature` finds ``T`` (L-BFGS on ``log T``, so ``T`` stays positive);
- :func:`calibration_error` is the expected calibration error (ECE): pixels binned by
  confidence into 15 equal-width bins, the mean gap between confidence and accuracy,
  weighted by the bin's share of pixels;
- :func:`collect_pixels` samples (logits, class) pairs from labeled frames (at most
  ``max_pixels`` per frame, ignored pixels left out), so a fit on full-size frames stays
  small;
- :func:`calibrate_model` does all of it for a model file on a project's labeled frames
  (``roadmark model calibrate``) and writes ``T`` with the figures into the manifest's
  ``calibration`` record, which the predictor applies.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from roadmark.io.store import Project
from roadmark.io.training_set import labeled_frames
from roadmark.models.augment import IGNORE
from roadmark.models.errors import ModelError
from roadmark.models.manifest import MAX_TEMPERATURE, MIN_TEMPERATURE

ECE_BINS = 15
MAX_PIXELS_PER_FRAME = 20_000

LogitsFn = Callable[[torch.Tensor], torch.Tensor]  # uint8 (3, H, W) -> (1, C, h, w) logits


class CalibrationError(ModelError):
    """A model cannot be calibrated (no labeled pixels, a detector, ...)."""


@dataclass(frozen=True)
class Calibration:
    """A fitted temperature and what it changed.

    Attributes:
        temperature: Logits are divided by it before the softmax.
        ece_before: Expected calibration error at ``T = 1``.
        ece_after: ... at the fitted ``T``.
        nll_before: Mean negative log-likelihood at ``T = 1``.
        nll_after: ... at the fitted ``T``.
        pixels: Pixels the fit used.
        frames: Frames they came from.
        fitted_on: ``validation`` (held-out training frames) or ``labeled frames of P``.
    """

    temperature: float
    ece_before: float
    ece_after: float
    nll_before: float
    nll_after: float
    pixels: int
    frames: int
    fitted_on: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "temperature": round(self.temperature, 5),
            "ece_before": round(self.ece_before, 5),
            "ece_after": round(self.ece_after, 5),
            "nll_before": round(self.nll_before, 5),
            "nll_after": round(self.nll_after, 5),
            "pixels": self.pixels,
            "frames": self.frames,
            "fitted_on": self.fitted_on,
            "fitted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }


def calibration_error(
    logits: torch.Tensor, targets: torch.Tensor, temperature: float = 1.0, bins: int = ECE_BINS
) -> float:
    """Expected calibration error of ``(N, C)`` logits against ``(N,)`` classes."""
    if targets.numel() == 0:
        return 0.0
    probabilities = F.softmax(logits.float() / temperature, dim=1)
    confidence, winner = probabilities.max(dim=1)
    correct = (winner == targets).float()
    index = (confidence * bins).long().clamp_(max=bins - 1)
    count = torch.bincount(index, minlength=bins).float()
    conf_sum = torch.bincount(index, weights=confidence, minlength=bins)
    right_sum = torch.bincount(index, weights=correct, minlength=bins)
    return float((conf_sum - right_sum).abs().sum() / count.sum())


def fit_temperature(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """The temperature minimizing the NLL of ``(N, C)`` logits against ``(N,)`` classes.

    Raises:
        CalibrationError: No pixels to fit on.
    """
    if targets.numel() == 0:
        raise CalibrationError("no labeled pixels of the model's classes to calibrate on")
    logits = logits.detach().float()
    targets = targets.detach().long()
    log_t = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [log_t], lr=0.5, max_iter=100, line_search_fn="strong_wolfe", tolerance_grad=1e-7
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), targets)
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    temperature = float(log_t.detach().exp())
    if not math.isfinite(temperature):
        temperature = 1.0
    return min(max(temperature, MIN_TEMPERATURE), MAX_TEMPERATURE)


def collect_pixels(
    samples: Iterable[tuple[torch.Tensor, torch.Tensor]],
    logits_of: LogitsFn,
    *,
    max_pixels: int = MAX_PIXELS_PER_FRAME,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """``(logits (N, C), classes (N,), frames)`` sampled from labeled images.

    Args:
        samples: ``(image uint8 (3, H, W), target uint8 (H, W))`` pairs; ``255`` ignored.
        logits_of: The model: one image -> ``(1, C, h, w)`` logits (upsampled here).
        max_pixels: Most pixels taken from one frame (drawn at random).
        seed: Seed of the draw.
    """
    generator = torch.Generator().manual_seed(seed)
    all_logits, all_targets, frames = [], [], 0
    with torch.inference_mode():
        for image, target in samples:
            logits = logits_of(image).float()
            if logits.shape[-2:] != target.shape[-2:]:
                logits = F.interpolate(
                    logits, size=tuple(target.shape[-2:]), mode="bilinear", align_corners=False
                )
            flat = logits[0].flatten(1).t().cpu()
            goal = target.flatten().long().cpu()
            keep = torch.nonzero(goal != IGNORE).flatten()
            if keep.numel() == 0:
                continue
            if keep.numel() > max_pixels:
                keep = keep[torch.randperm(keep.numel(), generator=generator)[:max_pixels]]
            all_logits.append(flat[keep].clone())
            all_targets.append(goal[keep].clone())
            frames += 1
    if not all_logits:
        return torch.zeros((0, 0)), torch.zeros(0, dtype=torch.long), 0
    return torch.cat(all_logits), torch.cat(all_targets), frames


def fit(logits: torch.Tensor, targets: torch.Tensor, frames: int, fitted_on: str) -> Calibration:
    """Fit a temperature and measure ECE and NLL before and after."""
    temperature = fit_temperature(logits, targets)
    return Calibration(
        temperature=temperature,
        ece_before=calibration_error(logits, targets, 1.0),
        ece_after=calibration_error(logits, targets, temperature),
        nll_before=float(F.cross_entropy(logits.float(), targets)),
        nll_after=float(F.cross_entropy(logits.float() / temperature, targets)),
        pixels=int(targets.numel()),
        frames=frames,
        fitted_on=fitted_on,
    )


def calibrate_model(
    model_path: str | Path,
    project: Project,
    *,
    device: str = "auto",
    max_frames: int | None = None,
    max_pixels: int = MAX_PIXELS_PER_FRAME,
) -> Calibration:
    """Fit a segmentation model's temperature on ``project``'s labeled frames and write
    it into the model file's manifest (``calibration``).

    The frames are the ones a model may learn from (:mod:`roadmark.io.training_set`:
    finished by a person, or imported ground truth; unverified model labels ignored).

    Raises:
        CalibrationError: A detection model, or no labeled pixels of its classes.
        ModelFileError: The model file cannot be read or rewritten.
    """
    from roadmark.models.files import load_model, rewrite_manifest
    from roadmark.models.predictor import Predictor, segmentation_logits
    from roadmark.models.runner import resolve_device
    from roadmark.models.train_data import ClassMap, LabeledDataset

    loaded = load_model(model_path)
    manifest = loaded.manifest
    if manifest.task != "segmentation":
        raise CalibrationError(
            "only segmentation models are calibrated (a detector's scores are not "
            "per-pixel class probabilities)",
            path=str(model_path),
        )
    items = labeled_frames(project)
    if max_frames is not None:
        items = items[:max_frames]
    if not items:
        raise CalibrationError(
            "the project has no labeled frames (finish or import some first)",
            path=project.location,
        )
    classes = ClassMap(manifest, project.schema, source=str(model_path))
    dataset = LabeledDataset(
        items,
        [(project.frame_file(item.frame), item.frame.video_frame) for item in items],
        classes,
        "segmentation",
        manifest.input.size,
    )
    predictor = Predictor(loaded, project.schema, device=resolve_device(device), precision="fp32")

    def logits_of(image: torch.Tensor) -> torch.Tensor:
        frames = image.permute(1, 2, 0).unsqueeze(0).to(predictor.device)
        output = predictor.forward(predictor.prepare(frames))
        return segmentation_logits(output, manifest.output_key)

    samples = (dataset[index][1:] for index in range(len(dataset)))
    logits, targets, frames = collect_pixels(samples, logits_of, max_pixels=max_pixels)
    name = Path(project.location).name if project.location else "the project"
    calibration = fit(logits, targets, frames, f"labeled frames of {name}")
    rewrite_manifest(model_path, manifest.with_calibration(calibration.to_dict()))
    return calibration
