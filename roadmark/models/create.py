"""Making roadmark models: wrapping a torchvision architecture, or a TorchScript or
``torch.export`` program, with a manifest.

A torchvision model without weights starts from random initialization (the starting point
for training). With a weights file (a state dict, for example one of torchvision's own
``.pth`` files from the torch cache), the class count is read from the weights; when it
matches torchvision's pretrained categories, the class names come from torchvision's
metadata (shipped in the package) and are mapped to the schema labels of the same name.

Programs are tried once on a blank input before they are written, so a wrong output
format or class count is reported when the model is made, not halfway through a run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from roadmark.core.schema import LabelSchema
from roadmark.models.architectures import CATEGORY_ALIASES, architecture
from roadmark.models.errors import ClassMappingError, ModelError, ModelFileError
from roadmark.models.files import (
    LoadedModel,
    build_torchvision,
    load_model,
    load_program,
    load_state_dict_file,
    save_program,
    save_torchvision,
)
from roadmark.models.manifest import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    InputSpec,
    ModelClass,
    ModelManifest,
    classes_for_names,
    default_classes,
)
from roadmark.models.predictor import detections, segmentation_logits

TRIAL_SIZE = (128, 128)
BACKGROUND = ModelClass("__background__", None)


def _with_background(classes: Sequence[ModelClass]) -> list[ModelClass]:
    """Detection classes with the background class first (added when missing)."""
    classes = list(classes)
    if classes and classes[0].label is None:
        return classes
    return [BACKGROUND, *classes]


def model_name(out: Path) -> str:
    """A model name from its file or folder name (suffix dropped)."""
    return Path(out).name.split(".")[0] or "model"


def new_torchvision_model(
    out: Path,
    arch_name: str,
    *,
    schema: LabelSchema,
    classes: Sequence[ModelClass] | None = None,
    weights: Path | None = None,
    name: str | None = None,
    input_size: tuple[int, int] | None = None,
    options: Mapping[str, Any] | None = None,
    folder: bool = False,
    seed: int | None = None,
) -> LoadedModel:
    """Wrap a torchvision architecture as a roadmark model and write it to ``out``.

    Args:
        out: The ``.roadmodel`` file (or folder, with ``folder``) to write.
        arch_name: A registered architecture.
        schema: The label schema the classes map onto.
        classes: The model's classes (default: from the weights' categories, else from
            the schema, see :func:`~roadmark.models.manifest.default_classes`). A
            detector's background class is added first when missing.
        weights: A local state-dict file; random initialization when ``None``.
        name: Model name (default: from ``out``).
        input_size: ``(height, width)`` frames are resized to (default: frame size).
        options: Builder options (see the architecture's list).
        folder: Write a folder (``manifest.json`` + ``weights.pt``) instead of one file.
        seed: Seed for the random initialization.

    Raises:
        ModelFileError: Unknown architecture, unreadable or unfitting weights, ``out``
            exists.
        UnsafeModelFileError: The weights file would run code when unpickled.
        ClassMappingError: Classes that do not fit the weights or the schema.
    """
    arch = architecture(arch_name)
    options = dict(options or {})
    state_dict = load_state_dict_file(Path(weights)) if weights is not None else None
    source = str(weights) if weights is not None else "--classes"
    if state_dict is not None:
        count = arch.classes_in(state_dict)
        if "aux_loss" in arch.options and any(k.startswith("aux_classifier.") for k in state_dict):
            options.setdefault("aux_loss", True)
        if classes is None:
            categories = arch.pretrained_categories(count)
            if categories is not None:
                classes = classes_for_names(categories, schema, CATEGORY_ALIASES)
            else:
                classes = default_classes(schema, arch.task)
        elif arch.task == "detection":
            classes = _with_background(classes)
        if len(classes) != count:
            raise ClassMappingError(
                f"the weights have {count} classes but {len(classes)} are given; list "
                f"them in output order with --classes",
                path=str(weights),
                field="classes",
            )
    else:
        classes = list(classes) if classes is not None else default_classes(schema, arch.task)
        if arch.task == "detection":
            classes = _with_background(classes)
    manifest = ModelManifest(
        name=name or model_name(out),
        kind="torchvision",
        task=arch.task,
        classes=tuple(classes),
        input=InputSpec(arch.mean, arch.std, input_size, None),
        output=arch.output,
        arch=arch.name,
        arch_options=options,
        schema=schema.name,
    )
    manifest = ModelManifest.from_dict(manifest.to_dict(), source=source)  # validate
    manifest.label_ids(schema, source=source)
    if seed is not None:
        torch.manual_seed(seed)
    module = build_torchvision(manifest, state_dict, source=str(weights) if weights else None)
    save_torchvision(manifest, module.state_dict(), Path(out), folder=folder)
    return load_model(out)


def wrap_program(
    out: Path,
    source: Path,
    *,
    kind: str,
    task: str,
    classes: Sequence[ModelClass],
    schema: LabelSchema,
    output: str | None = None,
    input_size: tuple[int, int] | None = None,
    batch: int | None = None,
    mean: tuple[float, float, float] | None = None,
    std: tuple[float, float, float] | None = None,
    name: str | None = None,
    folder: bool = False,
) -> LoadedModel:
    """Wrap a TorchScript file or ``torch.export`` program as a roadmark model.

    Args:
        out: The ``.roadmodel`` file (or folder) to write.
        source: The TorchScript (``torch.jit.save``) or ``.pt2`` (``torch.export.save``)
            file.
        kind: ``torchscript`` or ``export``.
        task: ``segmentation`` or ``detection``.
        classes: The model's output classes in order.
        schema: The label schema they map onto.
        output: How to read the result (see :mod:`roadmark.models.manifest`); found by a
            trial run when ``None``.
        input_size: ``(height, width)`` the program expects (frames are resized to it).
        batch: The program's fixed batch size, if it has one.
        mean: Normalization mean (ImageNet's for segmentation, zeros for detection).
        std: Normalization std (ImageNet's for segmentation, ones for detection).
        name: Model name (default: from ``out``).
        folder: Write a folder instead of one file.

    Raises:
        ModelFileError: The program does not load or does not run on a test input.
        ClassMappingError: The program's class count or the mapping does not fit.
    """
    if kind not in ("torchscript", "export"):
        raise ModelError(f"kind must be torchscript or export, got {kind!r}", field="kind")
    program = load_program(Path(source), kind)
    runnable = program.module() if kind == "export" else program
    found_output = _trial_output(runnable, task, len(classes), input_size, batch, Path(source))
    if (
        output is not None
        and output != found_output
        and not (
            task == "segmentation"
            and output.startswith("dict:")
            and found_output.startswith("dict:")
        )
    ):
        raise ModelFileError(
            f"--output says {output!r} but the program returns {found_output!r}",
            path=str(source),
            field="output",
        )
    segmentation = task == "segmentation"
    manifest = ModelManifest(
        name=name or model_name(out),
        kind=kind,
        task=task,
        classes=tuple(classes),
        input=InputSpec(
            mean or (IMAGENET_MEAN if segmentation else (0.0, 0.0, 0.0)),
            std or (IMAGENET_STD if segmentation else (1.0, 1.0, 1.0)),
            input_size,
            batch,
        ),
        output=output or found_output,
        schema=schema.name,
    )
    manifest = ModelManifest.from_dict(manifest.to_dict(), source=str(source))
    manifest.label_ids(schema, source="--classes")
    save_program(manifest, program, Path(out), folder=folder)
    return load_model(out)


def _trial_output(
    module: Any,
    task: str,
    num_classes: int,
    input_size: tuple[int, int] | None,
    batch: int | None,
    source: Path,
) -> str:
    """Run the program once on a blank input; return its output format."""
    height, width = input_size or TRIAL_SIZE
    x = torch.zeros(batch or 1, 3, height, width)
    try:
        with torch.inference_mode():
            result = module(x)
    except Exception as error:  # the program's own failure, whatever its type
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelFileError(
            f"the program fails on a blank {tuple(x.shape)} input ({first}); give the input "
            "size it expects with --input-size HxW (and --batch-size for a fixed batch)",
            path=str(source),
        ) from error
    if task == "segmentation":
        if isinstance(result, dict):
            key = "out" if "out" in result else next(iter(result), "")
            found = f"dict:{key}"
        else:
            found = "logits"
        try:
            logits = segmentation_logits(result, found.partition(":")[2] or None)
        except ModelError as error:
            raise ModelFileError(error.message, path=str(source), field="output") from error
        if logits.shape[1] != num_classes:
            raise ClassMappingError(
                f"the program outputs {logits.shape[1]} classes but {num_classes} are given",
                path=str(source),
                field="classes",
            )
        return found
    found = (
        "torchvision"
        if isinstance(result, list | tuple)
        and (isinstance(result, list) or (len(result) == 2 and isinstance(result[1], list)))
        else "tensors"
    )
    try:
        detections(result, found)
    except ModelError as error:
        raise ModelFileError(error.message, path=str(source), field="output") from error
    return found
