"""Training a segmentation or detection model on a project's own labels.

:func:`train` learns from the frames people labeled (see
:mod:`roadmark.io.training_set`), starting from random weights or from a roadmark model
(``init``, fine-tuning), and writes the result as a normal roadmark model file: the
manifest (with a ``training`` record: frames, epochs, validation figures) plus weights.

- Segmentation: cross-entropy with ignored pixels (255: ``ignoreInEval`` labels, labels
  the model has no class for, unverified model labels) and class weights that lift rare
  classes (:func:`~roadmark.models.train_data.class_weights`); DeepLab/FCN auxiliary
  heads add half their loss. Samples are scaled, cropped, flipped and recoloured.
- Detection: torchvision's own losses; samples are zoomed, flipped and recoloured.
- An epoch is one pass over the training frames, but at least ``min_epoch_samples``
  samples (a small set is repeated, each time with new augmentation), so a handful of
  frames still gets a useful number of steps.
- On a GPU: mixed precision (bf16, or fp16 with gradient scaling), channels-last.
- After each epoch the model is validated on the held-out frames (mIoU per class, or COCO
  box mAP); whenever the score improves, the checkpoint is written to ``out`` (atomically,
  so ``out`` always holds the best model so far). Without held-out frames the lowest
  training loss decides. Cancelling stops after the current step and keeps that best
  checkpoint.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, RandomSampler

from roadmark.core.jobs import CancelToken
from roadmark.io.store import Project
from roadmark.models.augment import IGNORE
from roadmark.models.backbone import load_backbone
from roadmark.models.calibration import collect_pixels
from roadmark.models.calibration import fit as fit_calibration
from roadmark.models.create import model_name
from roadmark.models.device import (
    amp_dtype,
    cpu_budget,
    cudnn_autotune,
    limit_worker_threads,
    on_device,
)
from roadmark.models.errors import ModelFileError
from roadmark.models.files import (
    build_torchvision,
    compact_state_dict,
    save_torchvision,
)
from roadmark.models.manifest import ModelManifest
from roadmark.models.metrics import box_metrics, confusion, segmentation_metrics
from roadmark.models.runner import resolve_device
from roadmark.models.train_data import ClassMap, LabeledDataset, class_weights, collate
from roadmark.models.train_options import (
    Progress,
    TrainingError,
    TrainOptions,
    TrainResult,
    TrainUpdate,
)
from roadmark.models.train_start import choose_frames, starting_manifest

__all__ = [
    "TrainOptions",
    "TrainResult",
    "TrainUpdate",
    "TrainingError",
    "train",
]

DEFAULT_CROP = (512, 1024)
SYNC_EVERY = 20  # GPU steps between copies of the losses to the host


def train(
    project: Project,
    out: Path,
    options: TrainOptions | None = None,
    *,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> TrainResult:
    """Train a model on ``project``'s labeled frames and write it to ``out``.

    Args:
        project: An open project.
        out: The ``.roadmodel`` file to write (the best checkpoint; see the module doc).
        options: What and how to train.
        progress: Called after every step and epoch, from the calling thread.
        cancel: Once cancelled, training stops after the current step (the best checkpoint so
            far stays in ``out``).

    Raises:
        TrainingError: No labeled frames, nothing of the model's classes on them, or a
            model that cannot be trained.
        ModelFileError: ``out`` exists (without ``overwrite``) or its folder does not;
            ``init`` is missing or corrupt.
        ClassMappingError: The model's classes do not fit the project's schema.
        DeviceError: The device does not exist.
    """
    options = options or TrainOptions()
    out = Path(out)
    if out.exists() and not options.overwrite:
        raise ModelFileError("exists already; choose another name or remove it", path=str(out))
    if not out.parent.is_dir():
        raise ModelFileError("the folder does not exist", path=str(out))
    if options.epochs < 1 or options.batch_size < 1:
        raise TrainingError("epochs and batch size must be at least 1", field="--epochs")
    if options.backbone_weights is not None and options.init is not None:
        raise TrainingError(
            "--backbone-weights starts a new model; --init has its weights already",
            field="--backbone-weights",
        )
    device = resolve_device(options.device)
    train_items, val_items = choose_frames(project, options)
    manifest, state_dict, started_from = starting_manifest(project, options, model_name(out))
    classes = ClassMap(manifest, project.schema, source=started_from)
    task = manifest.task
    size = manifest.input.size
    paths = [(project.frame_file(item.frame), item.frame.video_frame) for item in train_items]
    crop = options.crop
    if task == "segmentation" and crop is None:
        largest = size or max((i.frame.height, i.frame.width) for i in train_items)
        crop = (min(largest[0], DEFAULT_CROP[0]), min(largest[1], DEFAULT_CROP[1]))
    train_set = LabeledDataset(
        train_items,
        paths,
        classes,
        task,
        size,
        augment=options.augment,
        crop=crop,
        seed=options.seed,
    )
    val_set = LabeledDataset(
        val_items,
        [(project.frame_file(item.frame), item.frame.video_frame) for item in val_items],
        classes,
        task,
        size,
    )
    num_classes = len(manifest.classes)
    weights = None
    if task == "segmentation":
        counts = train_set.pixel_counts(num_classes)
        if counts.sum() == 0:
            raise TrainingError(
                "the labeled frames have no pixels of the model's classes (every labeled "
                "pixel is ignored)",
                path=project.location,
            )
        if options.use_class_weights:
            weights = torch.from_numpy(class_weights(counts)).to(device)
    elif sum(len(train_set.base(i)[1][1]) for i in range(len(train_set))) == 0:
        raise TrainingError(
            "the labeled frames have no objects of the model's classes to learn boxes from",
            path=project.location,
        )

    torch.manual_seed(options.seed)
    module = build_torchvision(manifest, state_dict, source=started_from)
    if options.backbone_weights is not None:
        loaded = load_backbone(module, options.backbone_weights)
        started_from = (
            f"{started_from}, backbone {loaded.file} ({loaded.matched}/{loaded.total} tensors)"
        )
    return _Trainer(
        manifest,
        module,
        classes,
        train_set,
        val_set,
        options,
        device,
        out,
        weights,
        started_from,
    ).run(progress, cancel)


class _Trainer:
    def __init__(
        self,
        manifest: ModelManifest,
        module: torch.nn.Module,
        classes: ClassMap,
        train_set: LabeledDataset,
        val_set: LabeledDataset,
        options: TrainOptions,
        device: torch.device,
        out: Path,
        weights: torch.Tensor | None,
        started_from: str,
    ) -> None:
        self.manifest = manifest
        self.task = manifest.task
        self.classes = classes
        self.train_set = train_set
        self.val_set = val_set
        self.options = options
        self.device = device
        self.out = out
        self.started_from = started_from
        cuda = device.type == "cuda"
        self.channels_last = cuda
        self.module = module.to(device)
        if self.channels_last:
            self.module = self.module.to(memory_format=torch.channels_last)
        self.amp_dtype = amp_dtype(device) if options.amp else None
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.loss_weights = weights
        spec = manifest.input
        self.mean = torch.tensor(spec.mean, device=device).view(1, 3, 1, 1) * 255.0
        self.std = torch.tensor(spec.std, device=device).view(1, 3, 1, 1) * 255.0
        batch = options.batch_size
        samples = max(len(train_set), options.min_epoch_samples)
        self.steps = max(1, samples // batch)
        generator = torch.Generator().manual_seed(options.seed)
        workers = options.workers
        if workers is None:
            cached = train_set.fully_cached
            workers = 0 if cached and not cuda else min(8, max(0, cpu_budget() - 1))
        # Spawned workers (a fork after OpenCV/Qt threads started can deadlock), one
        # thread each so that they do not oversubscribe the cores.
        self.loader = DataLoader(
            train_set,
            batch_size=batch,
            sampler=RandomSampler(train_set, num_samples=self.steps * batch, generator=generator),
            collate_fn=collate,
            drop_last=True,
            num_workers=workers,
            pin_memory=cuda,
            persistent_workers=workers > 0,
            worker_init_fn=limit_worker_threads if workers > 0 else None,
            multiprocessing_context="spawn" if workers > 0 else None,
        )
        fine_tuning = options.init is not None
        lr = options.lr or (1e-3 if self.task == "segmentation" else 1e-4)
        if options.lr is None and fine_tuning:
            lr /= 3
        params = [p for p in self.module.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=options.weight_decay)
        total = self.steps * options.epochs
        warmup = min(50, max(1, total // 10))

        def schedule(step: int) -> float:
            return float(min(1.0, (step + 1) / warmup) * (1 - min(step, total - 1) / total) ** 0.9)

        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, schedule)
        self.lr = lr
        self.best: tuple[dict[str, Any], dict[str, torch.Tensor]] | None = None

    # -- steps ---------------------------------------------------------------------------

    def _autocast(self) -> Any:
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _normalize(self, images: torch.Tensor) -> torch.Tensor:
        x = (images.to(self.device, non_blocking=True).float() - self.mean) / self.std
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def _step(self, images: Any, targets: Any) -> torch.Tensor | None:
        """One optimizer step; its loss stays on the device (None: skipped, every pixel of
        the crops is ignored and the loss would be NaN)."""
        if self.task == "segmentation" and not bool((targets != IGNORE).any()):
            return None  # the targets are on the host: no device sync
        self.module.train()
        with self._autocast():
            if self.task == "segmentation":
                target = targets.to(self.device, non_blocking=True).long()
                result = self.module(self._normalize(images))
                loss = self._seg_loss(result["out"], target, self.loss_weights)
                if "aux" in result:
                    loss = loss + 0.5 * self._seg_loss(result["aux"], target, self.loss_weights)
            else:
                inputs = [
                    image.to(self.device, non_blocking=True).float() / 255 for image in images
                ]
                goals = [{k: v.to(self.device) for k, v in t.items()} for t in targets]
                loss = sum(self.module(inputs, goals).values())
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return loss.detach()

    def _losses(self, pending: list[torch.Tensor]) -> list[float]:
        """Bring step losses to the host in one copy (the only sync of the loop).

        Raises:
            TrainingError: A loss is not finite.
        """
        if not pending:
            return []
        values = torch.stack([loss.float() for loss in pending]).cpu().tolist()
        pending.clear()
        if not all(math.isfinite(v) for v in values):
            raise TrainingError(
                "the loss is not finite (training diverged); try a lower learning rate",
                field="--lr",
            )
        return values

    @staticmethod
    def _seg_loss(
        logits: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None
    ) -> torch.Tensor:
        if logits.shape[-2:] != target.shape[-2:]:
            logits = F.interpolate(
                logits, size=target.shape[-2:], mode="bilinear", align_corners=False
            )
        return F.cross_entropy(logits.float(), target, weight=weights, ignore_index=IGNORE)

    # -- validation ----------------------------------------------------------------------

    @torch.no_grad()
    def recalibrate_norms(self, batches: int = 4) -> None:
        """Re-estimate batch-norm statistics as the plain average over a few training
        batches ("precise BN").

        The running averages kept during training remember the first steps of a model
        trained from scratch, whose activations are far larger than later; in eval mode
        such a model would predict one class everywhere for many epochs. The checkpoint
        gets the re-estimated statistics too.
        """
        norms = [m for m in self.module.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        if not norms:
            return
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average
        self.module.train()
        for count, (_, images, targets) in enumerate(self.loader):
            if count >= batches:
                break
            with self._autocast():
                if self.task == "segmentation":
                    self.module(self._normalize(images))
                else:
                    inputs = [im.to(self.device).float() / 255 for im in images]
                    goals = [{k: v.to(self.device) for k, v in t.items()} for t in targets]
                    self.module(inputs, goals)
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum

    @torch.inference_mode()
    def validate(self) -> tuple[float | None, dict[str, Any]]:
        """``(validation loss or None, figures)`` on the held-out frames."""
        self.module.eval()
        names = [c.name for c in self.manifest.classes]
        if self.task == "segmentation":
            n = len(names)
            matrix = torch.zeros((n, n), dtype=torch.int64, device=self.device)
            loss_sum = torch.zeros((), device=self.device)
            loss_count = torch.zeros((), device=self.device)
            for index in range(len(self.val_set)):
                _, image, target = self.val_set[index]
                target = target.to(self.device).long().unsqueeze(0)
                with self._autocast():
                    logits = self.module(self._normalize(image.unsqueeze(0)))["out"]
                if logits.shape[-2:] != target.shape[-2:]:
                    logits = F.interpolate(logits.float(), size=target.shape[-2:], mode="bilinear")
                valid = (target != IGNORE).any()  # a frame with every pixel ignored has no loss
                loss = F.cross_entropy(logits.float(), target, ignore_index=IGNORE)
                loss_sum += torch.where(valid, loss, 0.0)
                loss_count += valid
                matrix += confusion(logits.argmax(1), target, n)
            figures = segmentation_metrics(matrix.cpu().numpy(), names)
            count = float(loss_count)
            return (float(loss_sum) / count if count else None), figures
        truths, found, sizes = [], [], []
        for index in range(len(self.val_set)):
            _, image, target = self.val_set[index]
            # fp32: boxes decoded in bf16 are off by pixels and skew the mAP.
            result = self.module([image.to(self.device).float() / 255])[0]
            truths.append((target["boxes"].numpy(), target["labels"].numpy()))
            found.append(
                (
                    result["boxes"].float().cpu().numpy(),
                    result["scores"].float().cpu().numpy(),
                    result["labels"].cpu().numpy(),
                )
            )
            sizes.append((int(image.shape[1]), int(image.shape[2])))
        return None, box_metrics(truths, found, names, sizes)

    # -- saving --------------------------------------------------------------------------

    def save(self, record: dict[str, Any], calibration: Mapping[str, Any] | None = None) -> None:
        """Write the current weights to ``out`` atomically (replacing the previous best)."""
        state = {key: value.detach().cpu() for key, value in self.module.state_dict().items()}
        self.best = (record, {key: value.clone() for key, value in state.items()})
        if self.options.compact_weights:
            state = compact_state_dict(state)
        manifest = replace(
            self.manifest,
            training=record,
            description=self.options.description or self.manifest.description,
            calibration=dict(calibration or {}),
        )
        staging = self.out.with_name(f".{self.out.name}.saving")
        staging.unlink(missing_ok=True)
        save_torchvision(manifest, state, staging)
        os.replace(staging, self.out)

    def record(
        self, epoch: int, metrics: Mapping[str, Any], val_loss: float | None
    ) -> dict[str, Any]:
        return {
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "started_from": self.started_from,
            "train_frames": len(self.train_set),
            "val_frames": len(self.val_set),
            "epoch": epoch,
            "epochs": self.options.epochs,
            "samples_per_epoch": self.steps * self.options.batch_size,
            "lr": self.lr,
            "device": str(self.device),
            "validation": dict(metrics),
            "val_loss": None if val_loss is None else round(val_loss, 5),
        }

    def calibrate(self) -> dict[str, Any] | None:
        """Fit the best checkpoint's temperature on the held-out frames and write it into
        ``out`` with ECE before and after (segmentation with held-out frames only)."""
        if self.task != "segmentation" or not len(self.val_set) or self.best is None:
            return None
        record, state = self.best
        self.module.load_state_dict(state)
        self.module.eval()

        def logits_of(image: torch.Tensor) -> torch.Tensor:
            with self._autocast():
                logits: torch.Tensor = self.module(self._normalize(image.unsqueeze(0)))["out"]
                return logits

        samples = (self.val_set[index][1:] for index in range(len(self.val_set)))
        logits, targets, frames = collect_pixels(samples, logits_of, seed=self.options.seed)
        if not frames:
            return None
        result = fit_calibration(logits, targets, frames, "validation").to_dict()
        summary = {k: result[k] for k in ("temperature", "ece_before", "ece_after")}
        self.save(dict(record) | {"calibration": summary}, result)
        return result

    # -- the loop ------------------------------------------------------------------------

    def run(self, progress: Progress | None, cancel: CancelToken | None) -> TrainResult:
        with on_device(self.device), cudnn_autotune(self.device):
            return self._run(progress, cancel)

    def _run(self, progress: Progress | None, cancel: CancelToken | None) -> TrainResult:
        options = self.options
        # On a GPU the losses come to the host every SYNC_EVERY steps, not every step.
        sync_every = SYNC_EVERY if self.device.type == "cuda" else 1
        pending: list[torch.Tensor] = []
        start = time.perf_counter()
        losses: list[float] = []
        history: list[dict[str, Any]] = []
        best_score = -math.inf
        best_epoch: int | None = None
        best_metrics: Mapping[str, Any] = {}
        cancelled = False
        saved_any = False
        for epoch in range(1, options.epochs + 1):
            epoch_start = time.perf_counter()
            epoch_losses = []
            for step, (_, images, targets) in enumerate(self.loader, start=1):
                if cancel is not None and cancel.cancelled:
                    cancelled = True
                    break
                loss = self._step(images, targets)
                if loss is not None:
                    pending.append(loss)
                if len(pending) < sync_every and step < self.steps:
                    continue
                values = self._losses(pending)
                losses += values
                epoch_losses += values
                if progress is not None and values:
                    last = values[-1]
                    progress(TrainUpdate("step", epoch, options.epochs, step, self.steps, last))
            if cancelled:
                break
            epoch_losses += self._losses(pending)
            mean_loss = float(np.mean(epoch_losses)) if epoch_losses else math.nan
            train_seconds = time.perf_counter() - epoch_start
            val_loss: float | None = None
            metrics: dict[str, Any] = {}
            self.recalibrate_norms()
            if len(self.val_set):
                val_loss, metrics = self.validate()
                key = "miou" if self.task == "segmentation" else "map"
                score = metrics.get(key)
                score = -math.inf if score is None else float(score)
            else:
                score = -mean_loss
            saved = score > best_score or not saved_any
            if saved:
                best_score, best_epoch, best_metrics = score, epoch, metrics
                self.save(self.record(epoch, metrics, val_loss))
                saved_any = True
            history.append(
                {
                    "epoch": epoch,
                    "loss": round(mean_loss, 5),
                    "val_loss": None if val_loss is None else round(val_loss, 5),
                    "score": None
                    if not math.isfinite(score) or not len(self.val_set)
                    else round(score, 4),
                    "seconds": round(train_seconds, 3),
                }
            )
            if progress is not None:
                progress(
                    TrainUpdate(
                        "epoch",
                        epoch,
                        options.epochs,
                        self.steps,
                        self.steps,
                        mean_loss,
                        val_loss,
                        history[-1]["score"],
                        metrics,
                        saved,
                    )
                )
        calibration = None if cancelled else self.calibrate()
        return TrainResult(
            out=self.out if saved_any else None,
            name=self.manifest.name,
            task=self.task,
            device=str(self.device),
            train_frames=len(self.train_set),
            val_frames=len(self.val_set),
            epochs=len(history),
            best_epoch=best_epoch,
            metrics=best_metrics,
            losses=losses,
            history=history,
            cancelled=cancelled,
            seconds=time.perf_counter() - start,
            calibration=calibration,
        )
