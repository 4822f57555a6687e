"""Promptable segmentation: clicks, a box or an earlier mask in, candidate masks out.

A promptable model is split in two, so that a click never waits for the expensive part:

- :meth:`PromptableModel.encode` runs the image encoder once per frame (in batches, on a
  GPU where there is one); its output, an :data:`Embedding` of plain numpy arrays, is
  cached beside the project (:mod:`roadmark.io.embedding_cache`);
- :meth:`PromptableModel.decode` runs the prompt decoder on a cached embedding for each
  click and returns :class:`Candidates`: masks of the frame's size with the quality the
  model predicts for each (SAM's predicted IoU; the click model's stability score).

Two families implement it: the bundled click model (:mod:`roadmark.models.click_model`)
and SAM-family checkpoints through ``transformers`` (:mod:`roadmark.models.sam`).
:func:`load_promptable` opens either from a roadmark model file or folder.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from roadmark.models.errors import ModelError, ModelFileError

Embedding = dict[str, NDArray[Any]]
BUNDLED_CLICK_MODEL = "click.roadmodel"


class PromptError(ModelError):
    """A prompt the model cannot use (no point or box, a point outside the frame)."""


@dataclass(frozen=True)
class Prompts:
    """What the annotator said about the object, in frame pixels.

    Attributes:
        points: ``(x, y, positive)`` clicks; ``positive`` False marks background.
        box: ``(x0, y0, x1, y1)`` around the object, or ``None``.
        mask: An earlier mask of the object (frame size, bool) to refine, or ``None``.
    """

    points: tuple[tuple[float, float, bool], ...] = ()
    box: tuple[float, float, float, float] | None = None
    mask: NDArray[np.bool_] | None = field(default=None, compare=False)

    def check(self, height: int, width: int) -> None:
        """Refuse prompts that do not fit a ``height x width`` frame.

        Raises:
            PromptError: No positive point, box or mask; a coordinate outside the frame or
                not finite; an inverted box; a mask of another size.
        """
        for index, (x, y, _) in enumerate(self.points):
            if not (math.isfinite(x) and math.isfinite(y) and 0 <= x <= width and 0 <= y <= height):
                raise PromptError(
                    f"point ({x}, {y}) is outside the {width}x{height} frame",
                    field=f"points[{index}]",
                )
        if self.box is not None:
            x0, y0, x1, y1 = self.box
            if not all(math.isfinite(v) for v in self.box):
                raise PromptError("box coordinates must be finite numbers", field="box")
            if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
                raise PromptError(
                    f"box {self.box} must satisfy 0 <= x0 < x1 <= {width}, 0 <= y0 < y1 <= "
                    f"{height}",
                    field="box",
                )
        if self.mask is not None and self.mask.shape != (height, width):
            raise PromptError(
                f"mask is {self.mask.shape}, the frame is {(height, width)}", field="mask"
            )
        has_mask = self.mask is not None and bool(self.mask.any())
        if not any(p[2] for p in self.points) and self.box is None and not has_mask:
            raise PromptError(
                "needs a positive point, a box or an earlier mask", field="points"
            )


@dataclass(frozen=True)
class Candidates:
    """Candidate masks for one prompt, best first.

    Attributes:
        masks: ``K x H x W`` bool, frame size.
        scores: ``K`` predicted quality in ``[0, 1]`` (higher is better), descending.
    """

    masks: NDArray[np.bool_]
    scores: NDArray[np.float32]

    def __post_init__(self) -> None:
        if self.masks.ndim != 3 or self.scores.shape != (self.masks.shape[0],):
            raise ValueError("masks must be K x H x W with one score each")

    def __len__(self) -> int:
        return int(self.masks.shape[0])

    @classmethod
    def ranked(cls, masks: NDArray[np.bool_], scores: NDArray[Any]) -> Candidates:
        """Candidates sorted by score, highest first (empty masks last)."""
        scores = np.asarray(scores, dtype=np.float32).copy()
        empty = ~masks.reshape(masks.shape[0], -1).any(axis=1)
        scores[empty] = np.minimum(scores[empty], 0.0)
        order = np.argsort(-scores, kind="stable")
        return cls(np.ascontiguousarray(masks[order]), np.clip(scores[order], 0.0, 1.0))


class PromptableModel(ABC):
    """An image encoder (once per frame) and a prompt decoder (once per click).

    Attributes:
        name: The model's name (``model:NAME`` becomes the source of regions it makes).
        digest: SHA-256 of its files: embeddings are cached under it, so a retrained or
            replaced model never reuses another's embeddings.
        family: ``click``, ``sam``, ``sam_hq``, ``sam2``, ... (what the adapter wraps).
        device: Where the encoder runs (``cpu``, ``cuda:0``).
    """

    name: str
    digest: str
    family: str
    device: str = "cpu"

    @abstractmethod
    def encode(self, images: Sequence[NDArray[np.uint8]]) -> list[Embedding]:
        """Embeddings of ``H x W x 3`` RGB frames (one batch; float16 arrays)."""

    @abstractmethod
    def decode(self, embedding: Embedding, prompts: Prompts) -> Candidates:
        """Candidate masks for ``prompts`` on the frame ``embedding`` was made from.

        Raises:
            PromptError: The prompts do not fit the frame.
        """

    def to(self, device: str) -> PromptableModel:
        """Move the encoder to ``device`` (float16 on a GPU); returns ``self``."""
        self.device = device
        return self

    @property
    def supports_video(self) -> bool:
        """Whether :meth:`track` carries masks through following frames."""
        return False

    @staticmethod
    def frame_size(embedding: Embedding) -> tuple[int, int]:
        """The ``(height, width)`` of the frame an embedding was made from."""
        size = embedding.get("frame_size")
        if size is None or size.shape != (2,):
            raise ModelFileError("the embedding does not record its frame size", field="frame_size")
        return int(size[0]), int(size[1])


def bundled_click_model() -> Path:
    """The click model shipped in the package (``roadmark/assets/models/click.roadmodel``)."""
    return Path(str(resources.files("roadmark.assets") / "models" / BUNDLED_CLICK_MODEL))


def load_promptable(path: str | Path) -> PromptableModel:
    """Open a promptable model: a roadmark model of task ``promptable`` (the click model) or
    a folder made by ``roadmark model new OUT --transformers DIR`` (a SAM-family model).

    Raises:
        ModelFileError: Not a promptable model, or missing/corrupt/unsafe files (the
            message names the file and the field).
    """
    from roadmark.models.files import read_manifest

    path = Path(path)
    manifest = read_manifest(path)
    if manifest.task != "promptable":
        raise ModelFileError(
            f"is a {manifest.task} model; click-to-mask needs a promptable model (the bundled "
            "click model, or `roadmark model new OUT --transformers DIR` for SAM)",
            path=str(path),
            field="task",
        )
    if manifest.kind == "transformers":
        from roadmark.models.sam import load_transformers_model

        return load_transformers_model(path)
    from roadmark.models.click_model import ClickModel
    from roadmark.models.files import load_model

    return ClickModel(load_model(path))
