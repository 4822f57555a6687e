"""The model manifest: what a roadmark model file holds and how to feed and read it.

A roadmark model is a manifest plus weights, in one file (``.roadmodel``) or a folder
(``manifest.json`` beside the weights file it names). The manifest says:

- ``kind``: ``torchvision`` (an architecture from :mod:`roadmark.models.architectures`
  plus a state dict), ``torchscript`` or ``export`` (a ``torch.export`` program), or
  ``transformers`` (a SAM-family checkpoint: a folder with the Hugging Face
  ``config.json`` and ``model.safetensors``, see :mod:`roadmark.models.sam`);
- ``task``: ``segmentation``, ``detection`` or ``promptable`` (prompts in, masks out:
  :mod:`roadmark.models.promptable`; output ``masks``);
- ``classes``: the model's outputs in order, each ``{"name", "label"}`` where ``label`` is
  the schema label it stands for (``null``: predicted but not labeled, like a detector's
  background class);
- ``input``: normalization (``mean``/``std`` applied to pixels scaled to ``[0, 1]``),
  inference ``size`` (``[height, width]``; ``null`` = the frame's own size) and a fixed
  ``batch`` size for programs exported with one;
- ``output``: how to read the result. Segmentation: ``logits`` (a ``(B, C, h, w)`` tensor)
  or ``dict:KEY`` (a dict holding it, torchvision's ``dict:out``). Detection:
  ``torchvision`` (a list of dicts with ``boxes``, ``labels``, ``scores`` per image) or
  ``tensors`` (a tuple ``(boxes (B, K, 4), scores (B, K), labels (B, K))``, padding
  entries with score <= 0).
- ``training`` (optional): how the model was trained by ``roadmark train`` (frames,
  epochs) and its validation figures on held-out frames (mIoU per class, box mAP).

This module does not import torch.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from roadmark.core.schema import LabelSchema
from roadmark.models.errors import ClassMappingError, ModelFileError

FORMAT_NAME = "roadmark-model"
FORMAT_VERSION = 1
KINDS = ("torchvision", "torchscript", "export", "transformers")
TASKS = ("segmentation", "detection", "promptable")
DETECTION_OUTPUTS = ("torchvision", "tensors")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MIN_TEMPERATURE = 0.05  # calibration temperatures outside this range are refused
MAX_TEMPERATURE = 20.0
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")
_FIELDS = {
    "format",
    "version",
    "name",
    "kind",
    "task",
    "arch",
    "arch_options",
    "classes",
    "input",
    "output",
    "weights",
    "schema",
    "description",
    "training",
    "program_sha256",
    "calibration",
}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_INPUT_FIELDS = {"mean", "std", "size", "batch"}


@dataclass(frozen=True)
class ModelClass:
    """One output class of a model and the schema label it stands for (or ``None``)."""

    name: str
    label: str | None


@dataclass(frozen=True)
class InputSpec:
    """How frames are turned into the model's input.

    Attributes:
        mean: Per-channel mean (RGB) subtracted from pixels scaled to ``[0, 1]``.
        std: Per-channel standard deviation they are divided by.
        size: ``(height, width)`` the frame is resized to, ``None`` to keep its size.
        batch: The program's fixed batch size, ``None`` when any batch size works.
    """

    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    size: tuple[int, int] | None = None
    batch: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean": list(self.mean),
            "std": list(self.std),
            "size": list(self.size) if self.size else None,
            "batch": self.batch,
        }


@dataclass(frozen=True)
class ModelManifest:
    """Everything roadmark needs to know about a model besides its weights."""

    name: str
    kind: str
    task: str
    classes: tuple[ModelClass, ...]
    input: InputSpec
    output: str
    arch: str | None = None
    arch_options: Mapping[str, Any] = field(default_factory=dict)
    weights: str | None = None
    schema: str | None = None
    description: str = ""
    training: Mapping[str, Any] = field(default_factory=dict)  # how it was trained, metrics
    program_sha256: str | None = None  # a program's digest when it was made (see programs.py)
    calibration: Mapping[str, Any] = field(default_factory=dict)  # temperature and ECE

    @property
    def temperature(self) -> float:
        """Segmentation logits are divided by this before the softmax (1: uncalibrated)."""
        return float(self.calibration.get("temperature", 1.0))

    def with_calibration(self, calibration: Mapping[str, Any]) -> ModelManifest:
        """A copy with the ``calibration`` record (see :mod:`roadmark.models.calibration`)."""
        return replace(self, calibration=dict(calibration))

    @property
    def output_key(self) -> str | None:
        """The dict key of a ``dict:KEY`` segmentation output, else ``None``."""
        return self.output.split(":", 1)[1] if self.output.startswith("dict:") else None

    def with_weights(self, weights: str | None) -> ModelManifest:
        return replace(self, weights=weights)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "name": self.name,
            "kind": self.kind,
            "task": self.task,
        }
        if self.arch is not None:
            out["arch"] = self.arch
            out["arch_options"] = dict(self.arch_options)
        out["classes"] = [{"name": c.name, "label": c.label} for c in self.classes]
        out["input"] = self.input.to_dict()
        out["output"] = self.output
        if self.weights is not None:
            out["weights"] = self.weights
        if self.schema is not None:
            out["schema"] = self.schema
        if self.description:
            out["description"] = self.description
        if self.training:
            out["training"] = dict(self.training)
        if self.program_sha256 is not None:
            out["program_sha256"] = self.program_sha256
        if self.calibration:
            out["calibration"] = dict(self.calibration)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_json(cls, text: str | bytes, *, source: str | None = None) -> ModelManifest:
        """Parse and validate a manifest.

        Raises:
            ModelFileError: Naming ``source`` and the field that is wrong.
        """
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ModelFileError(f"manifest is not valid JSON ({error})", path=source) from error
        return cls.from_dict(data, source=source)

    @classmethod
    def from_dict(cls, data: Any, *, source: str | None = None) -> ModelManifest:
        """Validate a parsed manifest (see the module doc for the fields).

        Raises:
            ModelFileError: Naming ``source`` and the field that is wrong.
        """

        def fail(message: str, where: str | None = None) -> ModelFileError:
            return ModelFileError(message, path=source, field=where)

        if not isinstance(data, dict):
            raise fail("manifest must be a JSON object")
        if data.get("format") != FORMAT_NAME:
            raise fail(f"not a roadmark model manifest (format is not {FORMAT_NAME!r})", "format")
        version = data.get("version")
        if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
            raise fail(
                f"unsupported manifest version {version!r} (this roadmark reads "
                f"{FORMAT_VERSION}); update roadmark",
                "version",
            )
        unknown = set(data) - _FIELDS
        if unknown:
            raise fail(f"unknown field(s) {sorted(unknown)}")
        name = data.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise fail(f"must be 1-128 letters, digits, '.', '_', '+' or '-', got {name!r}", "name")
        kind = data.get("kind")
        if kind not in KINDS:
            raise fail(f"must be one of {list(KINDS)}, got {kind!r}", "kind")
        task = data.get("task")
        if task not in TASKS:
            raise fail(f"must be one of {list(TASKS)}, got {task!r}", "task")
        arch = data.get("arch")
        if kind == "torchvision":
            if not isinstance(arch, str):
                raise fail("a torchvision model needs the architecture name", "arch")
        elif arch is not None:
            raise fail(f"only torchvision models name an architecture, not {kind}", "arch")
        options = data.get("arch_options", {})
        if not isinstance(options, dict):
            raise fail("must be an object", "arch_options")
        classes = _parse_classes(data.get("classes"), fail)
        input_spec = _parse_input(data.get("input", {}), fail)
        output = _check_output(task, data.get("output"), fail)
        weights = data.get("weights")
        if weights is not None and (
            not isinstance(weights, str)
            or "/" in weights
            or "\\" in weights
            or weights in (".", "..")
        ):
            raise fail(f"must be a file name inside the model folder, got {weights!r}", "weights")
        schema = data.get("schema")
        description = data.get("description", "")
        if schema is not None and not isinstance(schema, str):
            raise fail("must be text", "schema")
        if not isinstance(description, str):
            raise fail("must be text", "description")
        training = data.get("training", {})
        if not isinstance(training, dict):
            raise fail("must be an object", "training")
        program_sha256 = data.get("program_sha256")
        if program_sha256 is not None and not (
            isinstance(program_sha256, str) and _SHA256.match(program_sha256)
        ):
            raise fail("must be 64 lower-case hex digits", "program_sha256")
        if program_sha256 is not None and kind == "torchvision":
            raise fail("only programs (torchscript, export) carry a digest", "program_sha256")
        calibration = data.get("calibration", {})
        if not isinstance(calibration, dict):
            raise fail("must be an object", "calibration")
        temperature = calibration.get("temperature", 1.0)
        if (
            isinstance(temperature, bool)
            or not isinstance(temperature, int | float)
            or not MIN_TEMPERATURE <= temperature <= MAX_TEMPERATURE
        ):
            raise fail(
                f"must be a number in [{MIN_TEMPERATURE}, {MAX_TEMPERATURE}], got {temperature!r}",
                "calibration.temperature",
            )
        return cls(
            name=name,
            kind=kind,
            task=task,
            classes=classes,
            input=input_spec,
            output=output,
            arch=arch,
            arch_options=options,
            weights=weights,
            schema=schema,
            description=description,
            training=training,
            program_sha256=program_sha256,
            calibration=calibration,
        )

    def label_ids(self, schema: LabelSchema, *, source: str | None = None) -> list[int | None]:
        """Schema label id of each class (``None`` for classes that stand for no label).

        Raises:
            ClassMappingError: A class names a label the schema does not have (the message
                names the model file and the class).
        """
        out: list[int | None] = []
        for index, model_class in enumerate(self.classes):
            if model_class.label is None:
                out.append(None)
                continue
            label = schema.by_name.get(model_class.label)
            if label is None:
                raise ClassMappingError(
                    f"class {model_class.name!r} maps to label {model_class.label!r}, which "
                    f"schema {schema.name!r} does not have; fix the mapping (roadmark model "
                    "new --classes NAME=LABEL) or use a project with that label",
                    path=source,
                    field=f"classes[{index}]",
                )
            if not label.drawable:
                raise ClassMappingError(
                    f"class {model_class.name!r} maps to label {label.name!r}, which is never "
                    "drawn (negative id)",
                    path=source,
                    field=f"classes[{index}]",
                )
            out.append(label.id)
        if all(label_id is None for label_id in out):
            raise ClassMappingError(
                "no class maps to a label of the schema, so nothing could be predicted",
                path=source,
                field="classes",
            )
        return out


def _parse_classes(raw: Any, fail: Any) -> tuple[ModelClass, ...]:
    if not isinstance(raw, list) or len(raw) < 1:
        raise fail("must be a non-empty list of {name, label}", "classes")
    seen: set[str] = set()
    out = []
    for index, entry in enumerate(raw):
        where = f"classes[{index}]"
        if not isinstance(entry, dict) or set(entry) - {"name", "label"}:
            raise fail("must be an object with 'name' and 'label'", where)
        name, label = entry.get("name"), entry.get("label")
        if not isinstance(name, str) or not name:
            raise fail("'name' must be non-empty text", where)
        if label is not None and (not isinstance(label, str) or not label):
            raise fail("'label' must be a label name or null", where)
        if name in seen:
            raise fail(f"duplicate class name {name!r}", where)
        seen.add(name)
        out.append(ModelClass(name, label))
    return tuple(out)


def _parse_input(raw: Any, fail: Any) -> InputSpec:
    if not isinstance(raw, dict):
        raise fail("must be an object", "input")
    unknown = set(raw) - _INPUT_FIELDS
    if unknown:
        raise fail(f"unknown field(s) {sorted(unknown)}", "input")
    values = {}
    for key, default in (("mean", (0.0, 0.0, 0.0)), ("std", (1.0, 1.0, 1.0))):
        value = raw.get(key, list(default))
        if (
            not isinstance(value, list)
            or len(value) != 3
            or not all(isinstance(v, int | float) and math.isfinite(v) for v in value)
        ):
            raise fail("must be three numbers (R, G, B)", f"input.{key}")
        values[key] = tuple(float(v) for v in value)
    if any(v <= 0 for v in values["std"]):
        raise fail("must be positive", "input.std")
    size = raw.get("size")
    if size is not None:
        if (
            not isinstance(size, list)
            or len(size) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 8 for v in size)
        ):
            raise fail("must be [height, width] (integers >= 8) or null", "input.size")
        size = (size[0], size[1])
    batch = raw.get("batch")
    if batch is not None and (not isinstance(batch, int) or isinstance(batch, bool) or batch < 1):
        raise fail("must be a positive integer or null", "input.batch")
    return InputSpec(values["mean"], values["std"], size, batch)  # type: ignore[arg-type]


def _check_output(task: str, output: Any, fail: Any) -> str:
    """``output`` when it is a way to read a ``task`` model's result."""
    if not isinstance(output, str):
        raise fail("must name how to read the model's result", "output")
    if task == "promptable":
        if output != "masks":
            raise fail(f"promptable output must be 'masks', got {output!r}", "output")
    elif task == "segmentation":
        if output != "logits" and not (output.startswith("dict:") and len(output) > 5):
            raise fail(
                f"segmentation output must be 'logits' or 'dict:KEY', got {output!r}", "output"
            )
    elif output not in DETECTION_OUTPUTS:
        raise fail(
            f"detection output must be one of {list(DETECTION_OUTPUTS)}, got {output!r}", "output"
        )
    return output


def parse_class_list(text: str, *, source: str = "--classes") -> list[ModelClass]:
    """Classes from ``NAME[=LABEL],...``: a bare name maps to the label of that name,
    ``NAME=`` to no label.

    Raises:
        ModelFileError: Empty or duplicate names.
    """
    out: list[ModelClass] = []
    for index, part in enumerate(p.strip() for p in text.split(",")):
        name, has_label, label = part.partition("=")
        name, label = name.strip(), label.strip()
        if not name:
            raise ModelFileError(f"empty class name in {text!r}", field=f"{source}[{index}]")
        if any(c.name == name for c in out):
            raise ModelFileError(f"duplicate class name {name!r}", field=f"{source}[{index}]")
        out.append(ModelClass(name, (label or None) if has_label else name))
    return out


def default_classes(schema: LabelSchema, task: str) -> list[ModelClass]:
    """Classes for a new model on ``schema``.

    Segmentation: the labels with train ids, in train-id order (Cityscapes' 19), or, for a
    schema without train ids, a background class followed by every drawable label.
    Detection: a background class followed by the labels with instances (every drawable
    label when none has instances).
    """
    if task == "segmentation":
        by_train_id = schema.by_train_id
        if by_train_id:
            return [
                ModelClass(by_train_id[k].name, by_train_id[k].name) for k in sorted(by_train_id)
            ]
        return [ModelClass("__background__", None)] + [
            ModelClass(label.name, label.name)
            for label in schema
            if label.drawable and label.id != 0
        ]
    things = [label for label in schema if label.drawable and label.has_instances]
    if not things:
        things = [label for label in schema if label.drawable and label.id != 0]
    return [ModelClass("__background__", None)] + [ModelClass(lab.name, lab.name) for lab in things]


def classes_for_names(
    names: Sequence[str], schema: LabelSchema, aliases: Mapping[str, str] | None = None
) -> list[ModelClass]:
    """Classes for a list of output names (a pretrained model's categories), each mapped to
    the schema label of the same name (or its alias), else to no label."""
    aliases = aliases or {}
    out = []
    seen: set[str] = set()
    for index, name in enumerate(names):
        unique = name if name not in seen else f"{name}#{index}"
        seen.add(unique)
        target = aliases.get(name, name)
        out.append(ModelClass(unique, target if target in schema.by_name else None))
    return out
