"""What a training run starts from: the model (manifest and starting weights) and the
frames to train and validate on. :func:`roadmark.models.training.train` runs it.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from roadmark.io.store import Project
from roadmark.io.training_set import LabeledFrame, labeled_frames, split_frames
from roadmark.models.architectures import architecture, architectures
from roadmark.models.files import load_model
from roadmark.models.manifest import InputSpec, ModelManifest, default_classes
from roadmark.models.train_options import TrainingError, TrainOptions

__all__ = ["DEFAULT_ARCH", "choose_frames", "starting_manifest"]

DEFAULT_ARCH = {
    "segmentation": "lraspp_mobilenet_v3_large",
    "detection": "fasterrcnn_mobilenet_v3_large_fpn",
}

def starting_manifest(
    project: Project, options: TrainOptions, name: str
) -> tuple[ModelManifest, dict[str, torch.Tensor] | None, str]:
    """The manifest and starting weights (``None``: random) of the model to train.

    Raises:
        ModelFileError: ``init`` is missing or corrupt (or would run code).
        TrainingError: ``init`` is not a torchvision model, or is made for another task.
        ClassMappingError: Its classes do not fit the project's schema.
    """
    schema = project.schema
    if options.init is not None:
        loaded = load_model(options.init)
        manifest = loaded.manifest
        if manifest.kind != "torchvision" or not isinstance(loaded.module, torch.nn.Module):
            raise TrainingError(
                f"only torchvision models can be trained; this is a {manifest.kind} program",
                path=str(options.init),
                field="kind",
            )
        size = options.input_size or manifest.input.size
        manifest = replace(
            manifest, name=name, input=replace(manifest.input, size=size), training={}
        )
        manifest.label_ids(schema, source=str(options.init))
        return manifest, dict(loaded.module.state_dict()), str(options.init)
    if options.task not in DEFAULT_ARCH:
        raise TrainingError(
            f"task must be segmentation or detection, got {options.task!r}", field="--task"
        )
    arch = architecture(options.arch or DEFAULT_ARCH[options.task])
    if arch.task != options.task:
        raise TrainingError(
            f"{arch.name} is a {arch.task} model; for {options.task} use one of "
            f"{', '.join(architectures(options.task))}",
            field="--arch",
        )
    manifest = ModelManifest(
        name=name,
        kind="torchvision",
        task=arch.task,
        classes=tuple(default_classes(schema, arch.task)),
        input=InputSpec(arch.mean, arch.std, options.input_size, None),
        output=arch.output,
        arch=arch.name,
        arch_options=dict(options.arch_options),
        schema=schema.name,
    )
    manifest = ModelManifest.from_dict(manifest.to_dict(), source="--arch")
    manifest.label_ids(schema, source="--arch")
    return manifest, None, f"random ({arch.name})"


def choose_frames(
    project: Project, options: TrainOptions
) -> tuple[list[LabeledFrame], list[LabeledFrame]]:
    """The frames to train on and the held-out frames to validate on: those the options
    name, else the project's labeled frames split by ``val_fraction``.

    Raises:
        TrainingError: No labeled frames, a named frame that is not labeled, or nothing
            left to train on.
    """
    frames = labeled_frames(project)
    if not frames:
        raise TrainingError(
            "has no labeled frames to learn from: finish some frames (status done) or import "
            "a labeled dataset first",
            path=project.location,
        )
    if options.train_frame_ids is None and options.val_frame_ids is None:
        return split_frames(frames, options.val_fraction)
    by_id = {item.frame.id: item for item in frames}
    chosen = []
    for ids, what in ((options.train_frame_ids, "train"), (options.val_frame_ids, "val")):
        missing = [i for i in ids or () if i not in by_id]
        if missing:
            raise TrainingError(
                f"frame(s) {missing[:5]} are not labeled frames of the project",
                path=project.location,
                field=f"{what}_frame_ids",
            )
        chosen.append([by_id[i] for i in ids or ()])
    if not chosen[0]:
        held_out = set(options.val_frame_ids or ())
        chosen[0] = [item for item in frames if item.frame.id not in held_out]
    if not chosen[0]:
        raise TrainingError("no frames left to train on", path=project.location)
    return chosen[0], chosen[1]
