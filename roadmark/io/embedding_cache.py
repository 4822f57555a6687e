"""Image embeddings of promptable models, cached beside the project.

``NAME.roadmark`` keeps its cache in ``NAME.roadmark-cache/``; embeddings live in
``embeddings/<model digest>/<frame digest>.npz`` (uncompressed numpy archives of float16
arrays). The key is the frame's *content* (a hash of its decoded pixels, so a frame whose
image file is replaced is computed again, and the same pixels in two projects or two
frames share one entry) and the model's digest (a retrained or replaced model never
reuses another's embeddings). The cache is always safe to delete; writes are atomic
(a temporary file renamed into place), so a killed writer leaves no half entry, and an
unreadable entry counts as missing.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from roadmark.io.store import PROJECT_SUFFIX

CACHE_SUFFIX = ".roadmark-cache"
EMBEDDINGS = "embeddings"
_DIGEST = re.compile(r"^[0-9a-f]{16,128}$")

Embedding = dict[str, NDArray]


def cache_folder(project_file: str | Path) -> Path:
    """``NAME.roadmark-cache`` beside ``NAME.roadmark``."""
    project_file = Path(project_file)
    stem = project_file.name.removesuffix(PROJECT_SUFFIX)
    return project_file.with_name(stem + CACHE_SUFFIX)


def pixels_digest(image: NDArray) -> str:
    """A digest of a frame's pixels (its size included)."""
    digest = hashlib.blake2b(digest_size=20)
    digest.update(repr((image.shape, str(image.dtype))).encode())
    digest.update(np.ascontiguousarray(image).data)
    return digest.hexdigest()


def folder_bytes(folder: Path) -> int:
    """Bytes of all files under ``folder`` (0 when it does not exist)."""
    if not folder.is_dir():
        return 0
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


class EmbeddingCache:
    """Embeddings of one model, on disk.

    Args:
        folder: The project's cache folder (:func:`cache_folder`).
        model_digest: The model's digest (hex).
    """

    def __init__(self, folder: str | Path, model_digest: str) -> None:
        if not _DIGEST.match(model_digest):
            raise ValueError(f"not a model digest: {model_digest!r}")
        self.root = Path(folder)
        self.folder = self.root / EMBEDDINGS / model_digest[:32]

    @classmethod
    def for_project(cls, project_file: str | Path, model_digest: str) -> EmbeddingCache:
        return cls(cache_folder(project_file), model_digest)

    def path(self, frame_digest: str) -> Path:
        if not _DIGEST.match(frame_digest):
            raise ValueError(f"not a frame digest: {frame_digest!r}")
        return self.folder / f"{frame_digest}.npz"

    def __contains__(self, frame_digest: str) -> bool:
        return self.path(frame_digest).is_file()

    def get(self, frame_digest: str) -> Embedding | None:
        """The cached embedding, or ``None`` (missing or unreadable: it is removed)."""
        path = self.path(frame_digest)
        try:
            with np.load(path, allow_pickle=False) as data:
                return {key: data[key] for key in data.files}
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
            path.unlink(missing_ok=True)
            return None

    def put(self, frame_digest: str, embedding: Embedding) -> Path:
        """Store an embedding (atomically); returns its file.

        Raises:
            OSError: The cache folder cannot be written.
        """
        path = self.path(frame_digest)
        self.folder.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=self.folder)
        try:
            with os.fdopen(handle, "wb") as file:
                arrays: dict[str, Any] = embedding
                np.savez(file, **arrays)
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return path

    def nbytes(self) -> int:
        """Bytes this model's embeddings take."""
        return folder_bytes(self.folder)

    def __len__(self) -> int:
        return sum(1 for _ in self.folder.glob("*.npz")) if self.folder.is_dir() else 0

    def clear(self) -> None:
        """Delete this model's embeddings."""
        shutil.rmtree(self.folder, ignore_errors=True)
