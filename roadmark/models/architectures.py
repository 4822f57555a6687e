"""The torchvision architectures roadmark can wrap, in a registry.

Every builder is called with ``weights=None, weights_backbone=None``: nothing is ever
downloaded. Weights come from a local state-dict file (for example torchvision's own
``.pth`` files already in a user's torch cache), and the class count is read from it.

Options a manifest may pass to a builder are listed per architecture, with their types;
anything else (``weights`` in particular, which would download) is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torchvision import models

from roadmark.models.errors import ModelFileError
from roadmark.models.manifest import IMAGENET_MEAN, IMAGENET_STD

# Pretrained torchvision categories whose names differ from Cityscapes labels.
CATEGORY_ALIASES = {"motorbike": "motorcycle", "stop sign": "traffic sign"}

_AUX_OPTIONS: dict[str, type] = {"aux_loss": bool}
_RCNN_OPTIONS: dict[str, type] = {
    "min_size": int,
    "max_size": int,
    "box_score_thresh": float,
    "box_nms_thresh": float,
    "box_detections_per_img": int,
    "rpn_pre_nms_top_n_test": int,
    "rpn_post_nms_top_n_test": int,
}
_ONE_STAGE_OPTIONS: dict[str, type] = {
    "min_size": int,
    "max_size": int,
    "score_thresh": float,
    "nms_thresh": float,
    "detections_per_img": int,
    "topk_candidates": int,
}
_SSD_OPTIONS: dict[str, type] = {
    "score_thresh": float,
    "nms_thresh": float,
    "detections_per_img": int,
    "topk_candidates": int,
}


@dataclass(frozen=True)
class Architecture:
    """A torchvision model roadmark can build.

    Attributes:
        name: torchvision's builder name.
        task: ``segmentation`` or ``detection``.
        classes_key: State-dict entry whose first dimension counts the classes.
        anchors: That dimension is ``anchors * classes`` (RetinaNet 9, SSDlite 6).
        options: Builder keyword arguments a manifest may set, with their types.
        mean: Input normalization mean (detection models normalize inside: zeros).
        std: Input normalization std.
        output: How to read the result (see :mod:`roadmark.models.manifest`).
    """

    name: str
    task: str
    classes_key: str
    anchors: int = 1
    options: Mapping[str, type] = field(default_factory=dict)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    output: str = "dict:out"

    def build(self, num_classes: int, options: Mapping[str, Any] | None = None) -> nn.Module:
        """The model with random weights (eval mode), never downloading anything.

        Raises:
            ModelFileError: An option this architecture does not take, or of the wrong type.
        """
        kwargs = check_options(self, options or {})
        model: nn.Module = models.get_model(
            self.name, weights=None, weights_backbone=None, num_classes=num_classes, **kwargs
        )
        return model.eval()

    def classes_in(self, state_dict: Mapping[str, torch.Tensor]) -> int:
        """How many classes a state dict of this architecture has.

        Raises:
            ModelFileError: The state dict lacks the classifier of this architecture.
        """
        tensor = state_dict.get(self.classes_key)
        if tensor is None or tensor.ndim < 1 or tensor.shape[0] % self.anchors:
            raise ModelFileError(
                f"these weights are not {self.name} weights (no {self.classes_key!r})",
                field="weights",
            )
        return int(tensor.shape[0]) // self.anchors

    def pretrained_categories(self, num_classes: int) -> list[str] | None:
        """Category names of torchvision's pretrained weights with ``num_classes`` classes.

        Read from torchvision's weight metadata (in the package, no download).
        """
        for weights in models.get_model_weights(self.name):
            categories = weights.meta.get("categories")
            if categories and len(categories) == num_classes:
                return list(categories)
        return None


def check_options(arch: Architecture, options: Mapping[str, Any]) -> dict[str, Any]:
    """Validated builder options.

    Raises:
        ModelFileError: Unknown option or wrong type.
    """
    out: dict[str, Any] = {}
    for key, value in options.items():
        kind = arch.options.get(key)
        if kind is None:
            allowed = ", ".join(sorted(arch.options)) or "none"
            raise ModelFileError(
                f"{arch.name} takes no option {key!r} (allowed: {allowed})",
                field=f"arch_options.{key}",
            )
        if not _has_type(value, kind):
            raise ModelFileError(
                f"must be {kind.__name__}, got {value!r}", field=f"arch_options.{key}"
            )
        out[key] = kind(value)
    return out


def _has_type(value: Any, kind: type) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind is float:
        return isinstance(value, int | float)
    return isinstance(value, int) and value > 0


_REGISTRY: dict[str, Architecture] = {}


def register(arch: Architecture) -> Architecture:
    """Add an architecture.

    Raises:
        ValueError: The name is registered already.
    """
    if arch.name in _REGISTRY:
        raise ValueError(f"architecture {arch.name!r} is registered already")
    _REGISTRY[arch.name] = arch
    return arch


def architecture(name: str) -> Architecture:
    """The architecture called ``name``.

    Raises:
        ModelFileError: Unknown name (the message lists the known ones).
    """
    found = _REGISTRY.get(name)
    if found is None:
        raise ModelFileError(
            f"unknown architecture {name!r}; known: {', '.join(architectures())}", field="arch"
        )
    return found


def architectures(task: str | None = None) -> list[str]:
    """Registered architecture names (of ``task``), in registration order."""
    return [name for name, arch in _REGISTRY.items() if task is None or arch.task == task]


_DET: dict[str, Any] = {"mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0), "output": "torchvision"}

for _name in ("lraspp_mobilenet_v3_large",):
    register(Architecture(_name, "segmentation", "classifier.low_classifier.weight"))
for _name in (
    "deeplabv3_mobilenet_v3_large",
    "deeplabv3_resnet50",
    "deeplabv3_resnet101",
    "fcn_resnet50",
    "fcn_resnet101",
):
    register(Architecture(_name, "segmentation", "classifier.4.weight", options=_AUX_OPTIONS))
for _name in (
    "fasterrcnn_mobilenet_v3_large_fpn",
    "fasterrcnn_mobilenet_v3_large_320_fpn",
    "fasterrcnn_resnet50_fpn",
    "fasterrcnn_resnet50_fpn_v2",
):
    register(
        Architecture(
            _name,
            "detection",
            "roi_heads.box_predictor.cls_score.weight",
            options=_RCNN_OPTIONS,
            **_DET,
        )
    )
for _name in ("retinanet_resnet50_fpn", "retinanet_resnet50_fpn_v2"):
    register(
        Architecture(
            _name,
            "detection",
            "head.classification_head.cls_logits.weight",
            anchors=9,
            options=_ONE_STAGE_OPTIONS,
            **_DET,
        )
    )
register(
    Architecture(
        "fcos_resnet50_fpn",
        "detection",
        "head.classification_head.cls_logits.weight",
        options=_ONE_STAGE_OPTIONS,
        **_DET,
    )
)
register(
    Architecture(
        "ssdlite320_mobilenet_v3_large",
        "detection",
        "head.classification_head.module_list.0.1.weight",
        anchors=6,
        options=_SSD_OPTIONS,
        **_DET,
    )
)
