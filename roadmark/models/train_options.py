"""The settings, progress reports and results of a training run, and its error type
(see :mod:`roadmark.models.training`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roadmark.models.augment import Augment
from roadmark.models.errors import ModelError


class TrainingError(ModelError):
    """Training cannot start: nothing to learn from, or a model that cannot be trained."""


@dataclass(frozen=True)
class TrainOptions:
    """How to train.

    Attributes:
        task: ``segmentation`` or ``detection`` (with ``init``: taken from that model).
        arch: Architecture of a new model (default per task: LRASPP, Faster R-CNN).
        arch_options: Builder options of a new model (e.g. detection ``min_size``).
        init: A roadmark model to start from (fine-tuning); random weights when ``None``.
        backbone_weights: A new model's backbone starts from this local ImageNet state
            dict (:mod:`roadmark.models.backbone`); not with ``init``.
        input_size: ``(height, width)`` frames are resized to (new models: ``None`` keeps
            the frame size; with ``init``: that model's size unless given).
        epochs: Epochs to run.
        batch_size: Samples per step.
        lr: Learning rate (default: 1e-3 segmentation, 1e-4 detection; a third of that
            when fine-tuning).
        weight_decay: AdamW weight decay.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        amp: Mixed precision on a GPU.
        crop: Segmentation training crop (default: up to 512x1024).
        augment: Augmentation settings.
        use_class_weights: Weight rare classes up in the segmentation loss.
        min_epoch_samples: Samples per epoch at least.
        val_fraction: Share of labeled frames held out (the last ones).
        train_frame_ids: Train on exactly these frames (with ``val_frame_ids``: an
            explicit split).
        val_frame_ids: Validate on exactly these frames.
        workers: Sample-loading processes (``None``: chosen).
        seed: Seed for initialization, sampling and augmentation.
        compact_weights: Store int8 convolution/linear weights with per-channel scales and
            float16 for the rest (about a quarter of the float32 size; see
            roadmark.models.files.compact_state_dict).
        overwrite: Replace ``out`` if it exists.
        description: Text for the manifest.
    """

    task: str = "segmentation"
    arch: str | None = None
    arch_options: Mapping[str, Any] = field(default_factory=dict)
    init: Path | None = None
    backbone_weights: Path | None = None
    input_size: tuple[int, int] | None = None
    epochs: int = 20
    batch_size: int = 4
    lr: float | None = None
    weight_decay: float = 1e-4
    device: str = "auto"
    amp: bool = True
    crop: tuple[int, int] | None = None
    augment: Augment = field(default_factory=Augment)
    use_class_weights: bool = True
    min_epoch_samples: int = 16
    val_fraction: float = 0.2
    train_frame_ids: Sequence[int] | None = None
    val_frame_ids: Sequence[int] | None = None
    workers: int | None = None
    seed: int = 0
    compact_weights: bool = False
    overwrite: bool = False
    description: str = ""


@dataclass(frozen=True)
class TrainUpdate:
    """Progress, reported after every step (``kind == "step"``) and epoch (``"epoch"``).

    Attributes:
        kind: ``step`` or ``epoch``.
        epoch: 1-based epoch.
        epochs: Epochs planned.
        step: Steps done in this epoch.
        steps: Steps per epoch.
        loss: The step's loss, or the epoch's mean training loss.
        val_loss: Mean loss on the held-out frames (segmentation), after an epoch.
        score: The validation score (mIoU or box mAP), after an epoch.
        metrics: All validation figures, after an epoch.
        saved: This epoch was the best so far and was written to the model file.
    """

    kind: str
    epoch: int
    epochs: int
    step: int
    steps: int
    loss: float
    val_loss: float | None = None
    score: float | None = None
    metrics: Mapping[str, Any] | None = None
    saved: bool = False


@dataclass(frozen=True)
class TrainResult:
    """What a run did.

    Attributes:
        out: The model file (``None`` when cancelled before anything was saved).
        name: Model name.
        task: ``segmentation`` or ``detection``.
        device: Where it ran.
        train_frames: Frames trained on.
        val_frames: Frames validated on.
        epochs: Epochs completed.
        best_epoch: The epoch whose weights were saved.
        metrics: Validation figures of the saved model.
        losses: Training loss of every step.
        history: Per epoch: ``epoch``, ``loss``, ``val_loss``, ``score``, ``seconds``.
        cancelled: Stopped by the cancel event.
        seconds: Wall time.
        calibration: The temperature fitted on the held-out frames with ECE before and
            after (:mod:`roadmark.models.calibration`); ``None`` without held-out frames,
            for detection, or when cancelled.
    """

    out: Path | None
    name: str
    task: str
    device: str
    train_frames: int
    val_frames: int
    epochs: int
    best_epoch: int | None
    metrics: Mapping[str, Any]
    losses: list[float]
    history: list[dict[str, Any]]
    cancelled: bool
    seconds: float
    calibration: dict[str, Any] | None = None

    @property
    def seconds_per_epoch(self) -> float | None:
        times = [entry["seconds"] for entry in self.history]
        return sum(times) / len(times) if times else None


Progress = Callable[[TrainUpdate], None]
