"""Starting a new model from a local ImageNet backbone (``roadmark train --backbone-weights``).

torchvision's segmentation and detection builders wrap a classification network: the
segmenters keep ``mobilenet_v3_large().features`` or a ResNet under ``backbone``, the
detectors under ``backbone.body``. An ImageNet classifier's state dict (torchvision's own
``mobilenet_v3_large-*.pth`` or ``resnet50-*.pth``, or any file with the same names) fits
that backbone once the classifier's own prefix (``features.``) is dropped.
:func:`load_backbone` loads every tensor whose name and shape match, and refuses a file
that fits less than :data:`MIN_MATCHED` of the backbone (the wrong network), naming the
file. The head stays random. Nothing is downloaded: the file is the user's, read with
``weights_only=True``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from roadmark.models.errors import ModelFileError
from roadmark.models.files import load_state_dict_file

MIN_MATCHED = 0.9  # share of the backbone's tensors the file must provide
_PREFIXES = ("", "features.", "backbone.", "module.")


@dataclass(frozen=True)
class BackboneLoad:
    """What a backbone file gave a model.

    Attributes:
        file: The file's name.
        matched: Backbone tensors loaded from it.
        total: Tensors the backbone has.
    """

    file: str
    matched: int
    total: int

    def to_dict(self) -> dict[str, object]:
        return {"file": self.file, "matched": self.matched, "total": self.total}


def backbone_of(module: nn.Module) -> nn.Module:
    """The classification network inside a torchvision segmenter or detector.

    Raises:
        ModelFileError: The model has no ``backbone``.
    """
    backbone = getattr(module, "backbone", None)
    if not isinstance(backbone, nn.Module):
        raise ModelFileError(
            "this architecture has no backbone to load", field="--backbone-weights"
        )
    body = getattr(backbone, "body", None)  # detectors: backbone = body + FPN
    return body if isinstance(body, nn.Module) else backbone


def load_backbone(module: nn.Module, path: Path) -> BackboneLoad:
    """Load an ImageNet classifier's weights into ``module``'s backbone (in place).

    Raises:
        ModelFileError: Unreadable file, or one that fits less than :data:`MIN_MATCHED`
            of the backbone (the message names the file and how much fitted).
        UnsafeModelFileError: The file would run code on loading.
    """
    source = load_state_dict_file(Path(path))
    backbone = backbone_of(module)
    own = backbone.state_dict()
    found: dict[str, torch.Tensor] = {}
    for key, tensor in own.items():
        for prefix in _PREFIXES:
            candidate = source.get(prefix + key)
            if candidate is not None and candidate.shape == tensor.shape:
                found[key] = candidate.to(tensor.dtype)
                break
    if len(found) < MIN_MATCHED * len(own):
        raise ModelFileError(
            f"fits only {len(found)} of the backbone's {len(own)} tensors; use the ImageNet "
            "weights of the architecture's own backbone (e.g. mobilenet_v3_large for "
            "lraspp_mobilenet_v3_large)",
            path=str(path),
            field="--backbone-weights",
        )
    backbone.load_state_dict(found, strict=False)
    return BackboneLoad(Path(path).name, len(found), len(own))
