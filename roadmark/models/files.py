"""Reading and writing roadmark model files, safely.

A model is one file (``NAME.roadmodel``) or a folder (``manifest.json`` plus the weights
file the manifest names):

- ``torchvision``: a ``torch.save`` archive of ``{"roadmark_manifest": JSON text,
  "state_dict": {...}}`` (folder: ``weights.pt`` holds the bare state dict);
- ``torchscript``: a TorchScript archive with the manifest as extra file
  ``roadmark.json`` (folder: ``model.torchscript.pt``);
- ``export``: a ``torch.export`` archive (``.pt2``) with the same extra file (folder:
  ``model.pt2``).

Nothing downloads and no Python code from a file runs: state dicts load with
``torch.load(weights_only=True)``, which refuses pickled objects other than tensors and
plain containers; every pickle inside a ``.pt2`` archive is checked the same way before
torch opens the archive (torch itself would fall back to unrestricted unpickling for some
of them). TorchScript and export files are programs, run by torch's interpreter, which
calls torch operators only; they are still code, so take them from sources you trust.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from roadmark.models import (
    click_net,  # noqa: F401  (registers the click architecture)
    programs,
)
from roadmark.models.architectures import architecture
from roadmark.models.errors import ModelFileError, UnsafeModelFileError
from roadmark.models.manifest import ModelManifest

MODEL_SUFFIX = ".roadmodel"
MANIFEST_NAME = "manifest.json"
EXTRA_FILE = programs.EXTRA_FILE
MANIFEST_KEY = "roadmark_manifest"
INT8_SCALE_SUFFIX = ".int8_scale"  # see compact_state_dict
FOLDER_WEIGHTS = {
    "torchvision": "weights.pt",
    "torchscript": "model.torchscript.pt",
    "export": "model.pt2",
    "transformers": "model.safetensors",
}


@dataclass(eq=False)
class LoadedModel:
    """A model ready to run.

    Attributes:
        manifest: Its manifest.
        module: The callable model (an ``nn.Module``, TorchScript module or the module of
            an exported program), on the CPU, in eval mode.
        path: Where it was loaded from.
        digest: SHA-256 of its files (tells retrained versions of one name apart).
        program: For ``export`` models, the ``ExportedProgram`` itself (a GPU run moves it
            with torch's device pass; moving only ``module`` leaves lifted constants and
            factory ops on the CPU).
    """

    manifest: ModelManifest
    module: Callable[..., Any]
    path: Path
    digest: str
    program: Any = None

    @property
    def name(self) -> str:
        return self.manifest.name


# -- safe loading --------------------------------------------------------------------------


def safe_torch_load(source: Path | bytes, *, name: str) -> Any:
    """``torch.load`` with ``weights_only=True`` on the CPU, with clear errors.

    Raises:
        UnsafeModelFileError: The pickle holds objects that would run code.
        ModelFileError: Missing, unreadable or corrupt file.
    """
    try:
        if isinstance(source, bytes):
            return torch.load(io.BytesIO(source), map_location="cpu", weights_only=True)
        return torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        detail = str(error).strip().splitlines()
        reason = next((line for line in detail if "GLOBAL" in line or "global" in line), "")
        raise UnsafeModelFileError(
            "refused to load: the file holds pickled objects that would run code, and "
            "roadmark loads weights only (tensors and plain containers)"
            + (f" [{reason.strip()}]" if reason else ""),
            path=name,
        ) from error
    except FileNotFoundError as error:
        raise ModelFileError("no such file", path=name) from error
    except (RuntimeError, EOFError, ValueError, OSError, zipfile.BadZipFile) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelFileError(f"is not a readable torch file ({first})", path=name) from error


def load_state_dict_file(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a weights file (a bare state dict, or a checkpoint holding one
    under ``state_dict`` or ``model``).

    Raises:
        UnsafeModelFileError, ModelFileError: See :func:`safe_torch_load`; or the file
            does not hold a state dict.
    """
    data = safe_torch_load(path, name=str(path))
    return _state_dict_from(data, name=str(path))


def _state_dict_from(data: Any, *, name: str) -> dict[str, torch.Tensor]:
    if isinstance(data, Mapping):
        for key in ("state_dict", "model"):
            inner = data.get(key)
            if isinstance(inner, Mapping):
                data = inner
                break
    if (
        not isinstance(data, Mapping)
        or not data
        or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in data.items())
    ):
        raise ModelFileError("does not hold a state dict (names to tensors)", path=name)
    return _expand_compact(dict(data), name=name)


def compact_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Weights in about a quarter of their float32 size, for models shipped in the package.

    Convolution and linear weights become int8 with one float32 scale per output channel
    (symmetric, round to nearest; stored under ``<name>`` + :data:`INT8_SCALE_SUFFIX`); other
    floating-point tensors become float16; integer tensors stay as they are. Loading a
    model expands them back to float32 (see :func:`load_model`).
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        value = value.detach().cpu()
        if value.is_floating_point() and value.ndim >= 2 and value.numel() >= 1024:
            rows = value.float().reshape(value.shape[0], -1)
            scale = rows.abs().amax(dim=1).clamp_min(1e-12) / 127.0
            quantized = torch.round(rows / scale[:, None]).clamp(-127, 127).to(torch.int8)
            out[key] = quantized.reshape(value.shape).contiguous()
            out[key + INT8_SCALE_SUFFIX] = scale.contiguous()
        elif value.is_floating_point():
            out[key] = value.half().contiguous()
        else:
            out[key] = value.contiguous()
    return out


def _expand_compact(state: dict[str, torch.Tensor], *, name: str) -> dict[str, torch.Tensor]:
    """Undo :func:`compact_state_dict` (a plain state dict is returned as it is)."""
    scales = {
        key.removesuffix(INT8_SCALE_SUFFIX): value
        for key, value in state.items()
        if key.endswith(INT8_SCALE_SUFFIX)
    }
    if not scales:
        return state
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.endswith(INT8_SCALE_SUFFIX):
            if key.removesuffix(INT8_SCALE_SUFFIX) not in state:
                raise ModelFileError("an int8 scale without its weights", path=name, field=key)
            continue
        scale = scales.get(key)
        if scale is not None:
            if value.dtype != torch.int8 or tuple(scale.shape) != (value.shape[0],):
                raise ModelFileError(
                    f"int8 weights {tuple(value.shape)} ({value.dtype}) do not fit their "
                    f"scale {tuple(scale.shape)}",
                    path=name,
                    field=key,
                )
            value = value.float() * scale.float().view(-1, *([1] * (value.ndim - 1)))
        out[key] = value
    return out


def file_digest(*paths: Path) -> str:
    """SHA-256 (hex) of the files' contents, in order."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def archive_kind(path: Path) -> str | None:
    """``torchvision``, ``torchscript`` or ``export`` for a torch zip archive, else None."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return None
    if any("/code/" in name for name in names):
        return "torchscript"
    if any(name.endswith("/archive_format") for name in names):
        return "export"
    if any(name.endswith("/data.pkl") for name in names):
        return "torchvision"
    return None


def _extra_manifest(path: Path) -> bytes | None:
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if name.endswith(f"/extra/{EXTRA_FILE}"):
                return archive.read(name)
    return None


def check_pt2_archive(path: Path) -> None:
    """Check every pickle inside a ``torch.export`` archive with ``weights_only=True``.

    See :func:`roadmark.models.programs.check_pt2_archive`.

    Raises:
        UnsafeModelFileError: A pickle would run code, or the archive's layout could let
            torch read a member unchecked.
        ModelFileError: The archive is corrupt.
    """

    def load_pickle(data: bytes, name: str) -> None:
        safe_torch_load(data, name=name)

    programs.check_pt2_archive(path, load_pickle)


# -- reading models ------------------------------------------------------------------------


def _model_files(path: Path) -> tuple[ModelManifest, Path, str]:
    """The manifest, the file holding the weights/program, and the kind of that file."""
    if path.is_dir():
        manifest_file = path / MANIFEST_NAME
        if not manifest_file.is_file():
            raise ModelFileError(f"model folder has no {MANIFEST_NAME}", path=str(path))
        manifest = ModelManifest.from_json(manifest_file.read_bytes(), source=str(manifest_file))
        weights_name = manifest.weights or FOLDER_WEIGHTS[manifest.kind]
        weights = path / weights_name
        if not weights.is_file():
            raise ModelFileError(
                f"the weights file {weights_name!r} is missing", path=str(path), field="weights"
            )
        return manifest, weights, manifest.kind
    if not path.is_file():
        raise ModelFileError("no such model file or folder", path=str(path))
    kind = archive_kind(path)
    if kind is None:
        raise ModelFileError(
            "is not a roadmark model (not a torch archive); make one with `roadmark model new`",
            path=str(path),
        )
    if kind == "torchvision":
        data = safe_torch_load(path, name=str(path))
        if not isinstance(data, Mapping) or MANIFEST_KEY not in data:
            raise ModelFileError(
                "holds weights but no roadmark manifest; wrap it with `roadmark model new OUT "
                "--arch NAME --weights FILE`",
                path=str(path),
            )
        manifest = ModelManifest.from_json(str(data[MANIFEST_KEY]), source=str(path))
        return manifest, path, kind
    text = _extra_manifest(path)
    if text is None:
        raise ModelFileError(
            f"is a {kind} program without a roadmark manifest; wrap it with `roadmark model "
            f"new OUT --{'torchscript' if kind == 'torchscript' else 'exported'} FILE ...`",
            path=str(path),
        )
    return ModelManifest.from_json(text, source=str(path)), path, kind


def read_manifest(path: str | Path) -> ModelManifest:
    """A model's manifest, without building the model.

    Raises:
        ModelFileError: Missing or malformed file (see :func:`load_model`).
    """
    return _model_files(Path(path))[0]


def load_model(path: str | Path) -> LoadedModel:
    """Load a model file or folder on the CPU, in eval mode.

    Raises:
        UnsafeModelFileError: A weights pickle would run code.
        ModelFileError: Missing, corrupt or inconsistent files (the message names the file
            and the field).
    """
    path = Path(path)
    manifest, weights, kind = _model_files(path)
    name = str(path)
    if kind != manifest.kind:
        raise ModelFileError(
            f"the manifest says {manifest.kind!r} but the weights file is a {kind} archive",
            path=name,
            field="kind",
        )
    program = None
    if kind == "transformers":
        raise ModelFileError(
            "is a SAM-family promptable model; use it with `roadmark segment`, `roadmark embed` "
            "or `roadmark prelabel --refine`",
            path=name,
            field="kind",
        )
    if kind == "torchvision":
        data = safe_torch_load(weights, name=str(weights))
        state_dict = _state_dict_from(data, name=str(weights))
        module: Callable[..., Any] = build_torchvision(manifest, state_dict, source=name)
    elif kind == "torchscript":
        programs.check_digest(weights, manifest.program_sha256, model=path)
        module = _load_torchscript(weights)
    else:
        programs.check_digest(weights, manifest.program_sha256, model=path)
        program = _load_exported(weights)
        module = program.module()
    digest_files = [path / MANIFEST_NAME, weights] if path.is_dir() else [path]
    return LoadedModel(manifest, module, path, file_digest(*digest_files), program)


def build_torchvision(
    manifest: ModelManifest, state_dict: Mapping[str, torch.Tensor] | None, *, source: str | None
) -> nn.Module:
    """The manifest's architecture with ``state_dict`` loaded (random weights if None).

    Raises:
        ModelFileError: Unknown architecture, bad options, or weights that do not fit.
    """
    try:
        arch = architecture(manifest.arch or "")
        if arch.task != manifest.task:
            raise ModelFileError(
                f"{arch.name} is a {arch.task} model, not {manifest.task}", field="task"
            )
        options = dict(manifest.arch_options)
        if state_dict is not None and "aux_loss" in arch.options:
            options.setdefault("aux_loss", any(k.startswith("aux_classifier.") for k in state_dict))
        module = arch.build(len(manifest.classes), options)
    except ModelFileError as error:
        error.path = error.path or source
        raise
    if state_dict is not None:
        found = arch.classes_in(state_dict) if arch.classes_key in state_dict else None
        if found is not None and found != len(manifest.classes):
            raise ModelFileError(
                f"the weights have {found} classes but the manifest lists {len(manifest.classes)}",
                path=source,
                field="classes",
            )
        result = module.load_state_dict(state_dict, strict=False)
        if result.missing_keys or result.unexpected_keys:
            raise ModelFileError(
                f"the weights do not fit {arch.name}: {len(result.missing_keys)} missing "
                f"(e.g. {result.missing_keys[:2]}), {len(result.unexpected_keys)} unexpected "
                f"(e.g. {result.unexpected_keys[:2]})",
                path=source,
                field="weights",
            )
    return module.eval()


def _load_torchscript(path: Path) -> Callable[..., Any]:
    try:
        with programs.guarded_torch_load():
            return torch.jit.load(str(path), map_location="cpu").eval()
    except (RuntimeError, ValueError, OSError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelFileError(
            f"is not a loadable TorchScript file ({first})", path=str(path)
        ) from error


def _load_exported(path: Path) -> Any:
    check_pt2_archive(path)
    try:
        with programs.guarded_torch_load():
            return torch.export.load(str(path))
    except (RuntimeError, ValueError, OSError, KeyError, AssertionError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelFileError(
            f"is not a loadable torch.export program ({first})", path=str(path)
        ) from error


# -- writing models ------------------------------------------------------------------------


@contextmanager
def _atomic_target(out: Path, *, folder: bool) -> Iterator[Path]:
    """A temporary path beside ``out``, moved to ``out`` only when the block succeeds."""
    out = Path(out)
    if out.exists():
        raise ModelFileError("exists already; choose another name or remove it", path=str(out))
    if not out.parent.is_dir():
        raise ModelFileError("the folder does not exist", path=str(out))
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        target = staging / ("model" if folder else out.name)
        if folder:
            target.mkdir()
        yield target
        os.replace(target, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def save_torchvision(
    manifest: ModelManifest,
    state_dict: Mapping[str, torch.Tensor],
    out: Path,
    *,
    folder: bool = False,
) -> Path:
    """Write a torchvision-kind model (one file, or a folder with ``folder``)."""
    state = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    with _atomic_target(out, folder=folder) as target:
        if folder:
            manifest = manifest.with_weights(FOLDER_WEIGHTS["torchvision"])
            torch.save(state, target / FOLDER_WEIGHTS["torchvision"])
            (target / MANIFEST_NAME).write_text(manifest.to_json() + "\n", encoding="utf-8")
        else:
            torch.save(
                {MANIFEST_KEY: manifest.with_weights(None).to_json(), "state_dict": state}, target
            )
    return Path(out)


def save_program(manifest: ModelManifest, module: Any, out: Path, *, folder: bool = False) -> Path:
    """Write a TorchScript module or an exported program with its manifest.

    The manifest records the program's :func:`~roadmark.models.programs.program_digest`;
    loading refuses the program once its bytes differ from it.

    Raises:
        ModelFileError: torch wrote the program differently on the second pass (the digest
            could not be recorded).
    """

    def write(file: Path, embedded: ModelManifest) -> None:
        extra = {EXTRA_FILE: embedded.to_json()}
        with programs.guarded_torch_load():  # torch's log lines stay off the terminal
            if manifest.kind == "torchscript":
                torch.jit.save(module, str(file), _extra_files=extra)
            else:
                torch.export.save(module, str(file), extra_files=extra)

    with _atomic_target(out, folder=folder) as target:
        if folder:
            manifest = manifest.with_weights(FOLDER_WEIGHTS[manifest.kind])
            file = target / FOLDER_WEIGHTS[manifest.kind]
            write(file, manifest)
            manifest = replace(manifest, program_sha256=programs.program_digest(file))
            (target / MANIFEST_NAME).write_text(manifest.to_json() + "\n", encoding="utf-8")
        else:
            # The digest leaves the embedded manifest out, so the archive can carry it.
            manifest = manifest.with_weights(None)
            write(target, manifest)
            digest = programs.program_digest(target)
            write(target, replace(manifest, program_sha256=digest))
            if programs.program_digest(target) != digest:
                raise ModelFileError(
                    "torch wrote the program differently twice; its digest cannot be "
                    "recorded (write a folder model with --folder instead)",
                    path=str(out),
                )
    return Path(out)


def load_program(path: Path, kind: str) -> Any:
    """A TorchScript module or ``ExportedProgram`` from a bare file, checked as on load."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError("no such file", path=str(path))
    found = archive_kind(path)
    wanted = "torchscript" if kind == "torchscript" else "export"
    if found != wanted:
        what = {"torchscript": "a TorchScript", "export": "a torch.export (.pt2)"}[wanted]
        raise ModelFileError(f"is not {what} file", path=str(path))
    if kind == "torchscript":
        return _load_torchscript(path)
    return _load_exported(path)


def rewrite_manifest(path: str | Path, manifest: ModelManifest) -> None:
    """Replace a model's manifest, keeping its weights (atomically: a failure leaves the
    old file as it was).

    Raises:
        ModelFileError: The model cannot be read, or ``manifest`` is of another kind.
    """
    path = Path(path)
    old, _weights, kind = _model_files(path)
    if manifest.kind != kind or manifest.task != old.task:
        raise ModelFileError("a new manifest must keep the model's kind and task", path=str(path))
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
    try:
        if path.is_dir():
            target = staging / MANIFEST_NAME
            target.write_text(manifest.with_weights(old.weights).to_json() + "\n", encoding="utf-8")
            os.replace(target, path / MANIFEST_NAME)
            return
        target = staging / path.name
        if kind == "torchvision":
            data = safe_torch_load(path, name=str(path))
            state = data["state_dict"]  # as stored (compact int8 weights stay compact)
            torch.save(
                {MANIFEST_KEY: manifest.with_weights(None).to_json(), "state_dict": state}, target
            )
        else:
            extra = {EXTRA_FILE: manifest.with_weights(None).to_json()}
            if kind == "torchscript":
                torch.jit.save(_load_torchscript(path), str(target), _extra_files=extra)
            else:
                torch.export.save(_load_exported(path), str(target), extra_files=extra)
        os.replace(target, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
