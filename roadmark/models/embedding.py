"""Embeddings ahead of time: a promptable model's image encoder over a project's frames,
in batches, into the cache beside the project (:mod:`roadmark.io.embedding_cache`).

``roadmark embed`` calls :func:`embed_frames` for a whole project (on a GPU machine, in
float16); the editor's background worker calls :meth:`Embedder.get` for the open frame and
the next ones. Either way a frame whose pixels and model did not change is never encoded
twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from roadmark.core.annotation import Frame
from roadmark.core.jobs import CancelToken, ProgressReporter
from roadmark.io.embedding_cache import EmbeddingCache, pixels_digest
from roadmark.io.store import Project
from roadmark.models.promptable import Embedding, PromptableModel
from roadmark.models.train_data import read_frame


@dataclass(frozen=True)
class EmbedReport:
    """What :func:`embed_frames` did.

    Attributes:
        computed: Frames encoded now.
        reused: Frames whose embedding was cached already.
        seconds: Wall time of the encoder (frames read and cache writes included).
        cache_bytes: Size of this model's embeddings in the cache afterwards.
    """

    computed: int
    reused: int
    seconds: float
    cache_bytes: int

    @property
    def seconds_per_frame(self) -> float | None:
        return self.seconds / self.computed if self.computed else None


class Embedder:
    """A model and its cache: the embedding of a frame's pixels, computed once.

    Thread-safe: the editor's background worker and the click path may ask at once; one
    lock keeps the model to one caller at a time.
    """

    def __init__(self, model: PromptableModel, cache: EmbeddingCache | None) -> None:
        self.model = model
        self.cache = cache
        self._lock = threading.Lock()
        self._memory: dict[str, Embedding] = {}
        self._order: list[str] = []
        self.keep_in_memory = 8

    def cached(self, image: NDArray[np.uint8], digest: str | None = None) -> Embedding | None:
        """The embedding if it is computed already (memory, then disk), else ``None``."""
        digest = digest or pixels_digest(image)
        found = self._memory.get(digest)
        if found is None and self.cache is not None:
            found = self.cache.get(digest)
            if found is not None:
                self._remember(digest, found)
        return found

    def get(self, image: NDArray[np.uint8]) -> Embedding:
        """The frame's embedding, computed (and cached) when it is missing."""
        digest = pixels_digest(image)
        found = self.cached(image, digest)
        if found is not None:
            return found
        with self._lock:
            found = self._memory.get(digest)
            if found is None:
                found = self.model.encode([image])[0]
                if self.cache is not None:
                    self.cache.put(digest, found)
                self._remember(digest, found)
        return found

    def _remember(self, digest: str, embedding: Embedding) -> None:
        self._memory[digest] = embedding
        self._order.append(digest)
        while len(self._order) > self.keep_in_memory:
            self._memory.pop(self._order.pop(0), None)


def frame_pixels(project: Project, frame: Frame) -> NDArray[np.uint8]:
    """A frame's RGB pixels.

    Raises:
        FrameSourceError: The image or video cannot be read.
    """
    return read_frame(project.frame_file(frame), frame.video_frame)


def project_cache(project: Project, model: PromptableModel) -> EmbeddingCache | None:
    """The model's cache beside a project file (``None`` for a database URL)."""
    location = str(project.location)
    if "://" in location:
        return None
    return EmbeddingCache.for_project(Path(location), model.digest)


def embed_frames(
    project: Project,
    model: PromptableModel,
    frames: Sequence[Frame],
    *,
    batch_size: int = 4,
    progress: ProgressReporter | None = None,
    cancel: CancelToken | None = None,
) -> EmbedReport:
    """Encode every frame of ``frames`` whose embedding is not cached, in batches.

    Raises:
        JobCancelled: ``cancel`` was cancelled (embeddings written so far stay).
        FrameSourceError: A frame cannot be read.
    """
    cache = project_cache(project, model)
    if cache is None:
        raise ValueError("embeddings are cached beside project files only")
    start = time.perf_counter()
    computed = reused = 0
    batch: list[tuple[str, NDArray[np.uint8]]] = []

    def flush() -> None:
        nonlocal computed
        if not batch:
            return
        for (digest, _), embedding in zip(
            batch, model.encode([image for _, image in batch]), strict=True
        ):
            cache.put(digest, embedding)
        computed += len(batch)
        batch.clear()

    for index, frame in enumerate(frames):
        if cancel is not None:
            cancel.raise_if_cancelled("cancelled; the embeddings computed so far are kept")
        image = frame_pixels(project, frame)
        digest = pixels_digest(image)
        if digest in cache or any(digest == d for d, _ in batch):
            reused += 1
        else:
            batch.append((digest, image))
            if len(batch) >= batch_size:
                flush()
        if progress is not None:
            progress(index + 1, len(frames))
    flush()
    return EmbedReport(computed, reused, time.perf_counter() - start, cache.nbytes())
