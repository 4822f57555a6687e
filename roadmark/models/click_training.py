"""Training and scoring the click model (``scripts/make_click_model.py`` on generated
drives; ``roadmark train --task promptable`` on a project's own labeled objects).

Each step encodes a few frames and decodes several objects of each, with prompts drawn as
the tool will see them (RITM's recipe, simplified):

- a first click in a square window around it, of a few sizes (:data:`FIRST_CLICK_SIDES`,
  jittered; now and then the whole frame): the object may fill a part of the window or
  run on beyond it (the first pass and the growing crops of the tool);
- a box around the object (widened a little, jittered);
- a refinement: an earlier mask (the object's mask coarsened, eroded or dilated, cut, or
  merged with a neighbor), a positive click inside the object and a few clicks at the
  centers of the earlier mask's errors, in the zoom-in crop.

The loss is binary cross-entropy plus Dice on the crop. Held-out frames are scored with
the standard simulated clicker (:mod:`roadmark.models.clicker`) as NoC@85 and NoC@90.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from numpy.typing import NDArray
from torch.nn import functional as F

from roadmark.core.annotation import AnnotationObject
from roadmark.core.jobs import CancelToken
from roadmark.models.click_model import ClickModel, decoder_input
from roadmark.models.click_net import (
    ARCH_NAME,
    BOX_MARGIN,
    CLICK_RADIUS,
    CROP,
    ENCODER_SIZE,
    MEAN,
    STD,
    ZOOM_MARGIN,
    ClickNet,
    Window,
    crop_pixels,
    encoder_input,
    mask_window,
    square_window,
    union_window,
    widen,
)
from roadmark.models.click_objects import SIZE_BUCKETS, narrow, size_bucket
from roadmark.models.clicker import MAX_CLICKS, Click, ClickRun, next_click, noc, simulate
from roadmark.models.errors import ModelError
from roadmark.models.files import compact_state_dict, save_torchvision
from roadmark.models.manifest import InputSpec, ModelClass, ModelManifest
from roadmark.models.promptable import Embedding, Prompts

MIN_AREA = 400  # objects smaller than this (pixels) are neither trained on nor scored
DRIVE_FRAMES = 160  # length of the generated drives the click model learns from
VAL_SEED = 30  # the held-out drive NoC is measured on
VAL_FRAMES = (10, 50, 90, 130)
FRAMES_PER_STEP = 2  # frames encoded per training step
OBJECTS_PER_FRAME = 6  # objects decoded per frame and step
MAX_ITERATIONS = 3  # RITM's iterative training: passes of self-correction per step (at most)
# the sides (frame pixels, jittered) of the square windows first clicks are trained in
FIRST_CLICK_SIDES = (64.0, 160.0, 400.0)


@dataclass
class ClickFrame:
    """One frame of training or scoring material.

    Attributes:
        image: ``H x W x 3`` RGB.
        objects: ``H x W`` map of visible objects: 0 none, ``k`` the ``k``-th object.
        ids: The object numbers large enough to use (at least :data:`MIN_AREA` pixels).
    """

    image: NDArray[np.uint8]
    objects: NDArray[np.int32]
    ids: list[int]

    @classmethod
    def from_map(cls, image: NDArray[np.uint8], objects: NDArray[np.integer]) -> ClickFrame:
        counts = np.bincount(objects.ravel().astype(np.int64))
        ids = [int(k) for k in np.flatnonzero(counts >= MIN_AREA) if k != 0]
        return cls(image, objects.astype(np.int32), ids)


def _numbered(numbers: dict[int, int]) -> Callable[[AnnotationObject], int | None]:
    """Each object's number, by identity (``None``: not numbered, not painted)."""
    return lambda obj: numbers.get(id(obj))


def demo_click_frames(seed: int, indices: Sequence[int]) -> list[ClickFrame]:
    """Frames of a generated drive (:mod:`roadmark.demo.drive`) with their visible objects."""
    from roadmark.core.raster import paint
    from roadmark.demo.drive import render_frame

    out = []
    for index in indices:
        frame = render_frame(index, frames=DRIVE_FRAMES, seed=seed)
        number = {id(obj): k + 1 for k, obj in enumerate(frame.objects)}
        height, width = frame.image.shape[:2]
        objects = paint(frame.objects, _numbered(number), height, width)
        out.append(ClickFrame.from_map(frame.image, objects))
    return out


def validation_frames() -> list[ClickFrame]:
    """The held-out generated frames NoC is measured on (script, benchmark, tests)."""
    return demo_click_frames(VAL_SEED, VAL_FRAMES)


@dataclass(frozen=True)
class ClickTrainResult:
    """What a training run measured: NoC on the held-out frames, time, steps."""

    noc85: float
    noc90: float
    objects: int
    steps: int
    seconds: float
    losses: tuple[float, ...]


# -- prompts as the tool makes them ---------------------------------------------------------


def _interior_click(rng: np.random.Generator, gt: NDArray[np.bool_]) -> Click:
    padded = np.pad(gt.astype(np.uint8), 1)
    distance = cv2.distanceTransform(padded, cv2.DIST_L2, 3)[1:-1, 1:-1]
    top = float(distance.max())  # below 1 on a line one pixel wide (DIST_L2's 3x3 mask)
    deep = distance >= min(max(top * (0.3 if rng.random() < 0.7 else 0.0), 1.0), top)
    rows, cols = np.nonzero(deep)
    pick = int(rng.integers(len(rows)))
    return (cols[pick] + 0.5, rows[pick] + 0.5, True)


def _corrupt(rng: np.random.Generator, gt: NDArray[np.bool_], objects: NDArray[np.int32]
             ) -> NDArray[np.bool_]:
    """A plausible earlier mask of the object: right in part, wrong at the edges."""
    choice = rng.random()
    window = mask_window(gt)
    assert window is not None
    size = max(window[2] - window[0], window[3] - window[1])
    if choice < 0.3:
        height, width = gt.shape
        f = float(rng.uniform(0.05, 0.25))
        small = cv2.resize(gt.astype(np.float32), (max(int(width * f), 1), max(int(height * f), 1)),
                           interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR) > 0.5
    if choice < 0.6:
        k = max(size * rng.uniform(0.03, 0.15), 1.0)
        if rng.random() < 0.5:  # erode by k pixels
            return cv2.distanceTransform(gt.astype(np.uint8), cv2.DIST_L2, 3) > k
        return cv2.distanceTransform((~gt).astype(np.uint8), cv2.DIST_L2, 3) <= k
    if choice < 0.8:
        rows, cols = np.nonzero(gt)
        angle = rng.uniform(0, 2 * math.pi)
        proj = cols * math.cos(angle) + rows * math.sin(angle)
        cut = np.quantile(proj, rng.uniform(0.4, 0.85))
        out = np.zeros_like(gt)
        keep = proj <= cut
        out[rows[keep], cols[keep]] = True
        return out
    grown = cv2.dilate(gt.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    neighbors = np.unique(objects[grown & ~gt])
    neighbors = neighbors[neighbors != 0]
    if neighbors.size == 0:
        return gt.copy()
    chosen: NDArray[np.bool_] = gt | (objects == int(rng.choice(neighbors)))
    return chosen


def _local(gt: NDArray[np.bool_]) -> tuple[int, int, int, int]:
    """Rows and columns around the object (its box and as much again on each side)."""
    window = mask_window(gt)
    assert window is not None
    x0, y0, x1, y1 = (int(v) for v in window)
    mx, my = x1 - x0, y1 - y0
    height, width = gt.shape
    return max(y0 - my, 0), min(y1 + my, height), max(x0 - mx, 0), min(x1 + mx, width)


def _jitter(rng: np.random.Generator, window: Window, amount: float) -> Window:
    x0, y0, x1, y1 = window
    w, h = x1 - x0, y1 - y0
    d = rng.uniform(-amount, amount, 4) * np.array([w, h, w, h])
    return (x0 + d[0], y0 + d[1], max(x1 + d[2], x0 + d[0] + 2), max(y1 + d[3], y0 + d[1] + 2))


def draw_prompt(
    rng: np.random.Generator, gt: NDArray[np.bool_], objects: NDArray[np.int32]
) -> tuple[Window, list[Click], NDArray[np.bool_] | None]:
    """A crop window, clicks and an earlier mask for one training sample."""
    height, width = gt.shape
    full = (0.0, 0.0, float(width), float(height))
    r0, r1, c0, c1 = _local(gt)
    local = gt[r0:r1, c0:c1]
    box = mask_window(gt)
    assert box is not None
    r = rng.random()
    if r < 0.3:
        first = _shift(_interior_click(rng, local), c0, r0)
        if rng.random() < 0.1:
            return full, [first], None
        # the first click's windows: squares of a few sizes around the click (the object
        # may fill a part of one, or run on beyond it)
        side = float(rng.choice(FIRST_CLICK_SIDES)) * float(np.exp(rng.uniform(-0.4, 0.4)))
        return square_window(first[0], first[1], side, width, height), [first], None
    if r < 0.45:
        window = widen(_jitter(rng, box, 0.08), BOX_MARGIN, width, height)
        clicks = [_shift(_interior_click(rng, local), c0, r0)] if rng.random() < 0.3 else []
        return window, clicks, None
    previous_local = _corrupt(rng, local, objects[r0:r1, c0:c1])
    clicks = [_interior_click(rng, local)]
    current = previous_local
    for _ in range(int(rng.integers(0, 3))):
        click = next_click(local, current)
        if click is None:
            break
        clicks.append(click)
        current = current.copy()
        row, col = int(click[1]), int(click[0])
        current[max(row - 3, 0) : row + 4, max(col - 3, 0) : col + 4] = click[2]
    clicks = [_shift(c, c0, r0) for c in clicks]
    previous = np.zeros_like(gt)
    previous[r0:r1, c0:c1] = previous_local
    positives = [(x, y) for x, y, p in clicks if p]
    xs, ys = zip(*positives, strict=True)
    click_box = (min(xs), min(ys), max(xs) + 1, max(ys) + 1)
    base = union_window(mask_window(previous), click_box) or box
    window = widen(_jitter(rng, base, 0.05), ZOOM_MARGIN * rng.uniform(0.7, 1.3), width, height)
    return window, clicks, previous if previous_local.any() else None


def _shift(click: Click, dx: int, dy: int) -> Click:
    return (click[0] + dx, click[1] + dy, click[2])


# -- training -------------------------------------------------------------------------------


def boundary_weights(target: torch.Tensor, weight: float) -> torch.Tensor:
    """Per-pixel loss weights: 1, and ``1 + weight`` within two crop pixels of the target's
    boundary (on both sides). A thin object is boundary all through, so its pixels count
    as much as a large object's many interior pixels."""
    grown = F.max_pool2d(target, 5, stride=1, padding=2)
    shrunk = -F.max_pool2d(-target, 5, stride=1, padding=2)
    return 1.0 + weight * (grown - shrunk)


def _loss(logits: torch.Tensor, target: torch.Tensor, boundary_weight: float = 0.0
          ) -> torch.Tensor:
    if boundary_weight:
        weights = boundary_weights(target, boundary_weight)
        bce = (F.binary_cross_entropy_with_logits(logits, target, reduction="none") * weights
               ).sum() / weights.sum()
    else:
        bce = F.binary_cross_entropy_with_logits(logits, target)
    prob = torch.sigmoid(logits)
    inter = (prob * target).sum((1, 2, 3))
    dice = 1 - (2 * inter + 1) / (prob.sum((1, 2, 3)) + target.sum((1, 2, 3)) + 1)
    return bce + dice.mean()


def train_click_net(
    net: ClickNet,
    frames: Sequence[ClickFrame],
    *,
    steps: int,
    frames_per_step: int = FRAMES_PER_STEP,
    objects_per_frame: int = OBJECTS_PER_FRAME,
    lr: float = 2e-3,
    seed: int = 0,
    max_iterations: int = MAX_ITERATIONS,
    progress: Callable[[int, float], None] | None = None,
    cancel: CancelToken | None = None,
    refine_lr: float | None = None,
    boundary_weight: float = 0.0,
    narrow_weight: float = 1.0,
) -> list[float]:
    """Train ``net`` in place; returns the mean loss of every 50 steps.

    ``refine_lr`` is the peak learning rate of the decoder's refinement head (default
    ``lr``); ``boundary_weight`` weights the cross-entropy of the pixels near an object's
    boundary (:func:`boundary_weights`; 0: every pixel alike); a narrow object
    (:func:`narrow`: a pole, a strip along a facade) is drawn ``narrow_weight`` times as
    often as another object of its frame.

    As in RITM's iterative training, each step first runs the decoder (without gradients)
    0 to ``max_iterations`` times on the refinement samples: every pass adds a click at the
    center of the largest error of the network's own mask and makes that mask the earlier
    mask of the next pass, so the network learns to correct its own mistakes (the
    situation of every click after the first), not only the drawn corruptions.

    Raises:
        ModelError: No frame has an object to train on.
    """
    usable = [f for f in frames if f.ids]
    if not usable:
        raise ModelError(
            f"no labeled object of at least {MIN_AREA} pixels to train the click model on",
            field="frames",
        )
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    inputs = [torch.from_numpy(encoder_input(f.image)) for f in usable]
    chances = [draw_chances(f, narrow_weight) for f in usable]
    head = net.decoder.refine
    head_params = {id(p) for p in head.parameters()} if head is not None else set()
    groups: list[dict[str, Any]] = [
        {"params": [p for p in net.parameters() if id(p) not in head_params], "lr": lr}
    ]
    if head is not None:
        groups.append({"params": list(head.parameters()),
                       "lr": lr if refine_lr is None else refine_lr})
    optimizer = torch.optim.AdamW(groups, lr=lr, weight_decay=1e-4)
    warmup = max(steps // 20, 1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min((step + 1) / warmup, 0.5 * (1 + math.cos(math.pi * step / max(steps, 1)))),
    )
    net.train()
    losses: list[float] = []
    window_losses: list[float] = []
    for step in range(steps):
        if cancel is not None and cancel.cancelled:
            break
        picks = rng.choice(len(usable), size=min(frames_per_step, len(usable)), replace=False)
        features = net.encoder(torch.stack([inputs[i] for i in picks]))
        rows, targets, refine = [], [], []
        for slot, index in enumerate(picks):
            frame = usable[index]
            height, width = frame.objects.shape
            embedding: Embedding = {
                "image": frame.image,
                "frame_size": np.array([height, width], dtype=np.int64),
            }
            for obj in rng.choice(frame.ids, size=min(objects_per_frame, len(frame.ids)),
                                  replace=False, p=chances[index]):
                gt = frame.objects == int(obj)
                window, clicks, previous = draw_prompt(rng, gt, frame.objects)
                refine.append(previous is not None)
                rows.append(decoder_input(embedding, features[slot : slot + 1], window, clicks,
                                          previous))
                target = crop_pixels(gt.astype(np.float32), window, (height, width))
                targets.append(torch.from_numpy((target > 0.5).astype(np.float32))[None])
        batch = torch.cat(rows)
        target_batch = torch.stack(targets)
        iterations = int(rng.integers(0, max_iterations + 1))
        if iterations and any(refine):
            batch = self_corrected(net, batch, target_batch, refine, iterations)
        logits = net.decoder(batch)
        loss = _loss(logits, target_batch, boundary_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        window_losses.append(float(loss.detach()))
        if len(window_losses) == 50 or step == steps - 1:
            losses.append(float(np.mean(window_losses)))
            window_losses = []
        if progress is not None:
            progress(step + 1, float(loss))
    net.eval()
    return losses


def draw_chances(frame: ClickFrame, narrow_weight: float) -> NDArray[np.float64] | None:
    """The chance of each of ``frame.ids`` to be drawn (``None``: alike)."""
    if narrow_weight == 1.0:
        return None
    weights = np.array([narrow_weight if narrow(frame.objects == k) else 1.0
                        for k in frame.ids])
    return weights / weights.sum()


def self_corrected(net: ClickNet, batch: torch.Tensor, targets: torch.Tensor,
                   refine: Sequence[bool], iterations: int) -> torch.Tensor:
    """``batch`` after ``iterations`` passes of the network's own corrections on the rows
    ``refine`` marks (clicks at its errors' centers in crop pixels, its mask as the earlier
    mask); the other rows are returned unchanged."""
    rows = torch.tensor([i for i, flag in enumerate(refine) if flag])
    x = batch[rows].clone()
    gts = targets[rows, 0].numpy() > 0.5
    was_training = net.decoder.training
    net.decoder.eval()
    with torch.no_grad():
        for _ in range(iterations):
            predicted = (net.decoder(x)[:, 0] > 0).numpy()
            for k in range(x.shape[0]):
                click = next_click(gts[k], predicted[k])
                if click is None:
                    continue
                channel = -3 if click[2] else -2
                x[k, channel] = torch.maximum(
                    x[k, channel], torch.from_numpy(_disk(click[0], click[1]))
                )
                x[k, -1] = torch.from_numpy(predicted[k].astype(np.float32))
    net.decoder.train(was_training)
    out = batch.clone()
    out[rows] = x
    return out


def _disk(x: float, y: float) -> NDArray[np.float32]:
    """A click disk at crop pixel ``(x, y)``, as :func:`click_maps` draws it."""
    grid = np.arange(CROP, dtype=np.float32) + 0.5
    inside = (grid[None, :] - x) ** 2 + (grid[:, None] - y) ** 2 <= CLICK_RADIUS**2
    return inside.astype(np.float32)


# -- scoring --------------------------------------------------------------------------------


def click_runs(model: ClickModel | Any, frames: Sequence[ClickFrame], *, limit: int | None = None,
               stop_at: float = 0.9, max_clicks: int = MAX_CLICKS) -> list[ClickRun]:
    """Simulated click sessions on every usable object of ``frames`` (the first ``limit``).

    ``model`` is any :class:`~roadmark.models.promptable.PromptableModel`.
    """
    runs: list[ClickRun] = []
    for frame in frames:
        embedding = model.encode([frame.image])[0]
        for obj in frame.ids:
            if limit is not None and len(runs) >= limit:
                return runs
            gt = frame.objects == obj

            def predict(
                clicks: Sequence[Click],
                previous: NDArray[np.bool_] | None,
                embedding: Embedding = embedding,
            ) -> NDArray[np.bool_]:
                prompts = Prompts(points=tuple(clicks), mask=previous)
                mask: NDArray[np.bool_] = model.decode(embedding, prompts).masks[0]
                return mask

            runs.append(simulate(predict, gt, stop_at=stop_at, max_clicks=max_clicks))
    return runs


def noc_by_size(model: Any, frames: Sequence[ClickFrame], *, limit: int | None = None
                ) -> dict[str, dict[str, float | None]]:
    """NoC@85, NoC@90 and the object count for all scored objects (``"all"``) and per
    :data:`SIZE_BUCKETS` (the objects :func:`score` scores, in the same order)."""
    runs = click_runs(model, frames, limit=limit)
    buckets = [size_bucket(frame.objects == obj) for frame in frames for obj in frame.ids]
    out = {}
    for name in ("all", *SIZE_BUCKETS):
        chosen = [run for run, b in zip(runs, buckets, strict=False) if name in ("all", b)]
        out[name] = {"objects": len(chosen),  # NoC of no object: None (not NaN)
                     "noc85": round(noc(chosen, 0.85), 2) if chosen else None,
                     "noc90": round(noc(chosen, 0.90), 2) if chosen else None}
    return out


def score(model: Any, frames: Sequence[ClickFrame], *, limit: int | None = None,
          max_clicks: int = MAX_CLICKS) -> tuple[float, float, int]:
    """``(NoC@85, NoC@90, objects scored)`` on ``frames`` (an object not reached within
    ``max_clicks`` counts as :data:`~roadmark.models.clicker.MAX_CLICKS`)."""
    runs = click_runs(model, frames, limit=limit, max_clicks=max_clicks)
    return noc(runs, 0.85), noc(runs, 0.90), len(runs)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    return fn(), time.perf_counter() - start


def click_manifest(name: str, *, description: str = "", training: dict[str, Any] | None = None,
                   refine: bool = False) -> ModelManifest:
    """The manifest of a click model (task ``promptable``, arch ``roadmark_click``;
    ``refine``: its decoder has the full-resolution refinement head)."""
    return ModelManifest(
        name=name,
        kind="torchvision",
        task="promptable",
        classes=(ModelClass("object", None),),
        input=InputSpec(mean=MEAN, std=STD, size=ENCODER_SIZE),
        output="masks",
        arch=ARCH_NAME,
        arch_options={"refine": True} if refine else {},
        description=description,
        training=training or {},
    )


def save_click_model(net: ClickNet, out: Path, *, name: str, description: str = "",
                     training: dict[str, Any] | None = None) -> Path:
    """Write a click model file (compact weights: int8 convolutions, float16 rest)."""
    manifest = click_manifest(name, description=description, training=training,
                              refine=net.refines)
    return save_torchvision(manifest, compact_state_dict(net.state_dict()), out)


# -- fine-tuning on a project ----------------------------------------------------------------


def project_click_frames(project: Any, items: Sequence[Any]) -> list[ClickFrame]:
    """Click-model material from a project's labeled frames (:class:`LabeledFrame` s): each
    trusted region is one object, its visible part after z-order."""
    from roadmark.core.annotation import ObjectKind
    from roadmark.core.raster import paint
    from roadmark.io.training_set import is_trusted
    from roadmark.models.train_data import read_frame

    out = []
    for item in items:
        frame = item.frame
        regions = [o for o in item.objects if o.kind is ObjectKind.REGION and is_trusted(o)]
        number = {id(obj): k + 1 for k, obj in enumerate(regions)}
        objects = paint(regions, _numbered(number), frame.height, frame.width)
        image = read_frame(project.frame_file(frame), frame.video_frame)
        out.append(ClickFrame.from_map(image, objects))
    return out


def fine_tune(
    project: Any,
    out: Path,
    *,
    init: Path,
    epochs: int,
    val_fraction: float = 0.2,
    seed: int = 0,
    overwrite: bool = False,
    progress: Callable[[int, float], None] | None = None,
    score_objects: int = 40,
    max_clicks: int = MAX_CLICKS,
) -> ClickTrainResult:
    """Fine-tune a click model on the project's labeled objects and score it (NoC) on the
    held-out frames, before and after; writes ``out`` (the same kind of model file). An
    epoch is as many steps as it takes to draw each training object once on average.

    Raises:
        ModelError: No labeled frames or objects, or ``init`` is not a click model.
        ModelFileError: ``out`` exists (without ``overwrite``).
    """
    from roadmark.io.training_set import labeled_frames, split_frames
    from roadmark.models.errors import ModelFileError
    from roadmark.models.files import load_model

    start = time.perf_counter()
    loaded = load_model(init)
    if not isinstance(loaded.module, ClickNet):
        raise ModelError(f"{init} is not a click model ({ARCH_NAME})", field="--init")
    out = Path(out)
    if out.exists() and not overwrite:
        raise ModelFileError("exists already; pass --overwrite to replace it", path=str(out))
    items = labeled_frames(project)
    if not items:
        raise ModelError(
            "has no labeled frames to learn from: finish some frames (status done) first",
            path=str(project.location),
        )
    train_items, val_items = split_frames(items, val_fraction)
    train_frames = project_click_frames(project, train_items)
    val_frames = project_click_frames(project, val_items)
    objects = sum(len(f.ids) for f in train_frames)
    steps = epochs * max(1, math.ceil(objects / (FRAMES_PER_STEP * OBJECTS_PER_FRAME)))
    before = ClickModel(loaded)
    noc85_before = (score(before, val_frames, limit=score_objects, max_clicks=max_clicks)[0]
                    if val_frames else None)
    losses = train_click_net(loaded.module, train_frames, steps=steps, seed=seed,
                             lr=5e-4, progress=progress)
    after = ClickModel(loaded)
    noc85, noc90, count = (score(after, val_frames, limit=score_objects, max_clicks=max_clicks)
                           if val_frames
                           else (float("nan"), float("nan"), 0))
    training = {
        "init": loaded.name,
        "frames": len(train_frames),
        "val_frames": len(val_frames),
        "steps": steps,
        "noc85_before": None if noc85_before is None else round(noc85_before, 3),
        "noc85": None if count == 0 else round(noc85, 3),
        "noc90": None if count == 0 else round(noc90, 3),
        "val_objects": count,
    }
    if out.exists():
        out.unlink()
    save_click_model(loaded.module, out, name=out.name.removesuffix(".roadmodel"),
                     description=f"{loaded.name} fine-tuned on {project.location}",
                     training=training)
    return ClickTrainResult(noc85, noc90, count, steps, time.perf_counter() - start,
                            tuple(losses))
