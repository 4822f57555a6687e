"""SAM-family checkpoints through Hugging Face ``transformers`` (an optional extra:
``pip install -e '.[sam]'``).

``roadmark model new OUT --transformers DIR`` wraps a local Hugging Face-format folder
(``config.json`` plus ``model.safetensors``, or safetensors shards with their index) into
a roadmark model folder: the files are copied beside a roadmark manifest (kind
``transformers``, task ``promptable``). The class is chosen from the config's
``model_type`` (:data:`FAMILIES`). Nothing is ever downloaded (``local_files_only``) and
only safetensors are read: a folder holding a pickle (``.bin``, ``.pt``, ``.pth``,
``.pkl``, ``.ckpt``) or no safetensors is refused.

Frames are prepared as the checkpoints' own processors do (SAM, SAM-HQ: longest side
resized to the model's input size and padded; SAM 2, EdgeTAM: resized to the square input)
with ImageNet normalization. Clicks are all sent again with every click, as SAM's own
predictor does; an earlier mask without any click or box is sent as its bounding box.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from numpy.typing import NDArray

from roadmark.models.errors import ModelError, ModelFileError, UnsafeModelFileError
from roadmark.models.files import MANIFEST_NAME, file_digest
from roadmark.models.manifest import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    InputSpec,
    ModelClass,
    ModelManifest,
)
from roadmark.models.promptable import Candidates, Embedding, PromptableModel, Prompts
from roadmark.models.sam_decoder import SamDecoder, frame_masks

CONFIG_NAME = "config.json"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
INSTALL_HINT = "SAM-family models need transformers: pip install -e '.[sam]'"


@dataclass(frozen=True)
class Family:
    """How to run one ``model_type``: its class and how frames are fitted to its input.

    ``video_class`` (with its ``session_class``) is the ``transformers`` class that tracks
    masks through a video with the checkpoint's memory (:mod:`roadmark.models.sam_video`).
    Only the video checkpoints' ``model_type`` (``sam2_video``, ``edgetam_video``,
    ``sam3_tracker_video``) has one: an image checkpoint (``sam2``, ...) holds no
    memory-encoder weights, so as a video model it would track with random memory.
    """

    model_type: str
    class_name: str
    pad: bool  # longest side resized and padded (SAM) or stretched to the square (SAM 2)
    video_class: str | None = None
    session_class: str | None = None

    @property
    def supports_video(self) -> bool:
        return self.video_class is not None


FAMILIES = {
    f.model_type: f
    for f in (
        Family("sam", "SamModel", pad=True),
        Family("sam_hq", "SamHQModel", pad=True),
        Family("sam2", "Sam2Model", pad=False),
        Family("edgetam", "EdgeTamModel", pad=False),
        Family("sam3_tracker", "Sam3TrackerModel", pad=False),
        Family("sam2_video", "Sam2Model", pad=False, video_class="Sam2VideoModel",
               session_class="Sam2VideoInferenceSession"),
        Family("edgetam_video", "EdgeTamModel", pad=False, video_class="EdgeTamVideoModel",
               session_class="EdgeTamVideoInferenceSession"),
        Family("sam3_tracker_video", "Sam3TrackerModel", pad=False,
               video_class="Sam3TrackerVideoModel",
               session_class="Sam3TrackerVideoInferenceSession"),
    )
}


def _transformers() -> Any:
    try:
        import transformers
    except ImportError as error:
        raise ModelError(INSTALL_HINT, field="transformers") from error
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    return transformers


# -- the folder ------------------------------------------------------------------------------


def check_folder(folder: Path) -> tuple[dict[str, Any], list[Path]]:
    """The config and safetensors files of a Hugging Face-format folder, checked.

    Raises:
        UnsafeModelFileError: The folder holds a pickle.
        ModelFileError: No folder, no ``config.json``, no safetensors, or a ``model_type``
            roadmark does not run (the message lists the ones it does).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFileError("is not a folder (a Hugging Face model folder)", path=str(folder))
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
    if pickles:
        raise UnsafeModelFileError(
            f"refused: the folder holds pickle files {pickles}, which can run code; roadmark "
            "reads safetensors only (convert the weights to model.safetensors)",
            path=str(folder),
            field=pickles[0],
        )
    weights = sorted(folder.glob("*.safetensors"))
    if not weights:
        raise ModelFileError(
            "holds no .safetensors weights (roadmark reads safetensors only)", path=str(folder)
        )
    config_file = folder / CONFIG_NAME
    if not config_file.is_file():
        raise ModelFileError(f"has no {CONFIG_NAME}", path=str(folder))
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelFileError(f"is not valid JSON ({error})", path=str(config_file)) from error
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type not in FAMILIES:
        raise ModelFileError(
            f"model_type {model_type!r} is not a promptable model roadmark runs; known: "
            f"{', '.join(FAMILIES)}",
            path=str(config_file),
            field="model_type",
        )
    return config, weights


def _classes(family: Family) -> str:
    video = f" (video: {family.video_class})" if family.video_class else ""
    return f"{family.class_name}{video}"


def wrap_transformers(out: Path, source: Path, *, name: str | None = None) -> ModelManifest:
    """Write a roadmark model folder for a SAM-family checkpoint folder (see the module doc)
    and check that it loads.

    Raises:
        ModelFileError, UnsafeModelFileError: See :func:`check_folder`; ``out`` exists; the
            weights do not fit the config.
        ModelError: ``transformers`` is not installed.
    """
    out = Path(out)
    config, weights = check_folder(source)
    _transformers()
    if out.exists():
        raise ModelFileError("exists already; choose another name or remove it", path=str(out))
    if not out.parent.is_dir():
        raise ModelFileError("the folder does not exist", path=str(out))
    index = sorted(Path(source).glob("*.safetensors.index.json"))
    main = index[0].name if index else weights[0].name
    manifest = ModelManifest(
        name=name or out.name.removesuffix(".roadmodel"),
        kind="transformers",
        task="promptable",
        classes=(ModelClass("object", None),),
        input=InputSpec(mean=IMAGENET_MEAN, std=IMAGENET_STD),
        output="masks",
        weights=main,
        description=f"{_classes(FAMILIES[config['model_type']])} from {Path(source).name}",
    )
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        target = staging / "model"
        target.mkdir()
        for file in [Path(source) / CONFIG_NAME, *weights, *index]:
            shutil.copy2(file, target / file.name)
        (target / MANIFEST_NAME).write_text(manifest.to_json() + "\n", encoding="utf-8")
        load_transformers_model(target)
        os.replace(target, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


# -- running ---------------------------------------------------------------------------------


class TransformersModel(PromptableModel):
    """A SAM-family model behind the promptable interface."""

    def __init__(self, module: Any, family: Family, *, name: str, digest: str) -> None:
        self.module = module.eval()
        self.spec = family
        self.family = family.model_type
        self.name = name
        self.digest = digest
        self.device = "cpu"
        self.side = int(module.config.prompt_encoder_config.image_size)
        # SAM's decoder with the per-embedding work done once (the others run the module)
        self.fast = SamDecoder(self.module) if SamDecoder.supports(self.module) else None

    @property
    def supports_video(self) -> bool:
        """A video checkpoint (``sam2_video``, ...): :func:`roadmark.models.sam_video.load_tracker`
        carries masks through following frames with its memory."""
        return self.spec.supports_video

    def to(self, device: str) -> TransformersModel:
        self.device = device
        self.module.to(device, torch.float16 if device.startswith("cuda") else torch.float32)
        return self

    def _geometry(self, height: int, width: int) -> tuple[float, float, int, int]:
        """Scale factors (x, y) from frame to model input, and the resized size (h, w)."""
        if self.spec.pad:
            scale = self.side / max(height, width)
            return scale, scale, round(height * scale), round(width * scale)
        return self.side / width, self.side / height, self.side, self.side

    def _pixels(self, image: NDArray[np.uint8]) -> NDArray[np.float32]:
        height, width = image.shape[:2]
        _, _, rh, rw = self._geometry(height, width)
        resized = cv2.resize(image, (rw, rh), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        scaled = (resized / 255.0 - np.asarray(IMAGENET_MEAN, np.float32)) / np.asarray(
            IMAGENET_STD, np.float32
        )
        out = np.zeros((3, self.side, self.side), dtype=np.float32)
        out[:, :rh, :rw] = scaled.transpose(2, 0, 1)
        return out

    @torch.inference_mode()
    def encode(self, images: Sequence[NDArray[np.uint8]]) -> list[Embedding]:
        if not images:
            return []
        batch = torch.from_numpy(np.stack([self._pixels(image) for image in images]))
        dtype = next(self.module.parameters()).dtype
        result = self.module.get_image_embeddings(batch.to(self.device, dtype))
        parts = _flatten(result)
        out = []
        for index, image in enumerate(images):
            embedding: Embedding = {
                key: value[index].to("cpu", torch.float16).numpy() for key, value in parts.items()
            }
            embedding["frame_size"] = np.array(image.shape[:2], dtype=np.int64)
            out.append(embedding)
        return out

    @torch.inference_mode()
    def decode(self, embedding: Embedding, prompts: Prompts) -> Candidates:
        height, width = self.frame_size(embedding)
        prompts.check(height, width)
        sx, sy, rh, rw = self._geometry(height, width)
        dtype = next(self.module.parameters()).dtype
        fast = self.fast if self.fast is not None and "emb0" in embedding else None
        kwargs = {} if fast is not None else _unflatten(embedding, self.device, dtype)
        points = list(prompts.points)
        box = prompts.box
        if not points and box is None and prompts.mask is not None:
            rows = np.flatnonzero(prompts.mask.any(axis=1))
            cols = np.flatnonzero(prompts.mask.any(axis=0))
            box = (float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))
        if points:
            coords = [[x * sx, y * sy] for x, y, _ in points]
            kwargs["input_points"] = torch.tensor([[coords]], dtype=dtype, device=self.device)
            kwargs["input_labels"] = torch.tensor(
                [[[1 if positive else 0 for _, _, positive in points]]], device=self.device
            )
        if box is not None:
            x0, y0, x1, y1 = box
            kwargs["input_boxes"] = torch.tensor(
                [[[x0 * sx, y0 * sy, x1 * sx, y1 * sy]]], dtype=dtype, device=self.device
            )
        multimask = len(points) <= 1 and box is None
        if fast is not None:
            prepared = fast.prepare(embedding["emb0"], self.device, dtype)
            pred, iou = fast(
                prepared,
                input_points=kwargs.get("input_points"),
                input_labels=kwargs.get("input_labels"),
                input_boxes=kwargs.get("input_boxes"),
                multimask_output=multimask,
            )
        else:
            output = self.module(multimask_output=multimask, **kwargs)
            pred, iou = output.pred_masks[0, 0], output.iou_scores[0, 0]
        scores = iou.float().cpu().numpy()
        # K x h x w logits at the model's mask resolution -> frame-size masks
        masks = frame_masks(pred.float(), self.side, (rh, rw), (height, width))
        return Candidates.ranked(masks, scores)


def _flatten(result: Any) -> dict[str, torch.Tensor]:
    """``get_image_embeddings``' output (a tensor, a list of tensors, or SAM-HQ's
    ``(tensor, [intermediate])``) as named tensors."""
    if torch.is_tensor(result):
        return {"emb0": result}
    if isinstance(result, tuple) and len(result) == 2 and torch.is_tensor(result[0]):
        out = {"emb0": result[0]}
        out.update({f"inter{i}": t for i, t in enumerate(result[1])})
        return out
    return {f"emb{i}": t for i, t in enumerate(result)}


def _unflatten(embedding: Embedding, device: str, dtype: torch.dtype) -> dict[str, Any]:
    def tensors(prefix: str) -> list[torch.Tensor]:
        keys = sorted(
            (k for k in embedding if k.startswith(prefix)), key=lambda k: int(k[len(prefix) :])
        )
        return [torch.from_numpy(embedding[k]).to(device, dtype)[None] for k in keys]

    embs = tensors("emb")
    if not embs:
        raise ModelFileError("the embedding holds no image embedding", field="emb0")
    inter = tensors("inter")
    kwargs: dict[str, Any] = {"image_embeddings": embs[0] if len(embs) == 1 else embs}
    if inter:
        kwargs["intermediate_embeddings"] = inter
    return kwargs


@dataclass(frozen=True)
class Checkpoint:
    """A loaded SAM-family module with what roadmark knows of it."""

    module: Any
    family: Family
    name: str
    digest: str


def load_checkpoint(path: Path, *, video: bool = False) -> Checkpoint:
    """Load the module of a roadmark model folder of kind ``transformers`` (local files,
    safetensors only): its image class, or with ``video`` its video class.

    Raises:
        ModelFileError, UnsafeModelFileError: Missing, unsafe or unfitting files; ``video``
            for a checkpoint that is no video checkpoint.
        ModelError: ``transformers`` is not installed.
    """
    path = Path(path)
    manifest_file = path / MANIFEST_NAME
    if not manifest_file.is_file():
        raise ModelFileError(f"a transformers model is a folder with {MANIFEST_NAME}",
                             path=str(path))
    manifest = ModelManifest.from_json(manifest_file.read_bytes(), source=str(manifest_file))
    config, weights = check_folder(path)
    family = FAMILIES[config["model_type"]]
    class_name = family.class_name
    if video:
        if family.video_class is None:
            video_types = ", ".join(t for t, f in FAMILIES.items() if f.supports_video)
            raise ModelFileError(
                f"model_type {family.model_type!r} has no video memory; tracking needs a "
                f"video checkpoint ({video_types})",
                path=str(path / CONFIG_NAME),
                field="model_type",
            )
        class_name = family.video_class
    transformers = _transformers()
    model_class = getattr(transformers, class_name, None)
    if model_class is None:
        raise ModelError(
            f"this transformers ({transformers.__version__}) has no {class_name}; "
            "upgrade it: pip install -U transformers",
            field="transformers",
        )
    try:
        module = model_class.from_pretrained(
            str(path), local_files_only=True, use_safetensors=True
        )
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelFileError(f"does not load as {class_name} ({first})",
                             path=str(path)) from error
    digest = file_digest(manifest_file, path / CONFIG_NAME, *weights)
    return Checkpoint(module, family, manifest.name, digest)


def load_transformers_model(path: Path) -> TransformersModel:
    """Open a roadmark model folder of kind ``transformers`` (local files only).

    Raises:
        ModelFileError, UnsafeModelFileError: Missing, unsafe or unfitting files.
        ModelError: ``transformers`` is not installed.
    """
    checkpoint = load_checkpoint(path)
    return TransformersModel(
        checkpoint.module, checkpoint.family, name=checkpoint.name, digest=checkpoint.digest
    )
